/**
 * A Proxy-Wasm ABI 0.2.1 host that behaves like Envoy (docs/host.md): load-time validation,
 * the VM start sequence, a root context per plugin configuration (with Envoy's canary), the stream callback order, deferred local replies that pass back
 * through the module's response callbacks, status conversion, and the failure policies.
 * It runs any Proxy-Wasm module, not only ours.
 */
import { readFileSync } from 'node:fs';
import type { Header, LocalReply, RootContext, StreamContext } from './context.js';
import {
  type DataAction,
  dataAction,
  type HeadersAction,
  headersAction,
  type LogLevelName,
  type TrailersAction,
  trailersAction,
} from './enums.js';
import { type VmHooks, WasmTrap } from './host-vm.js';
import { Metrics } from './metrics.js';
import type { StreamInfo } from './properties.js';
import { validateModule } from './validate.js';
import { WasmVm } from './vm.js';
import { hoistStart, type ModuleInfo } from './wasm-binary.js';

export type { Header, LocalReply } from './context.js';
export type { StreamInfo } from './properties.js';

export type FailurePolicy = 'FAIL_CLOSED' | 'FAIL_OPEN' | 'FAIL_RELOAD';

export class WasmLoadError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('; '));
  }
}

/** on_vm_start or on_configure said no (Envoy: "Unable to create Wasm plugin", or a NACK). */
export class PluginConfigError extends Error {}

export interface HostOptions {
  /** vm_config.vm_id (shared data and queues are per vm_id). */
  vmId?: string;
  /** vm_config.configuration, readable as VM_CONFIGURATION. */
  vmConfiguration?: Uint8Array;
  logLevel?: LogLevelName;
  log?: (level: LogLevelName, message: string) => void;
  /** Wall clock in ms (tests pass a fake one). */
  now?: () => number;
  /** vm_config.environment_variables. */
  environment?: Record<string, string>;
  httpCall?: VmHooks['httpCall'];
  /** xds.node.id, as a root context may read it. */
  nodeId?: string;
  /**
   * Makes named host functions return a status instead of doing their work, to exercise a
   * module's handling of host failures (the fail-closed paths of a filter).
   */
  faults?: Record<string, number>;
}

export interface PluginOptions {
  name: string;
  rootId?: string;
  configuration: Uint8Array;
  failurePolicy?: FailurePolicy;
  allowOnHeadersStopIteration?: boolean;
  /** Run Envoy's canary (a throw-away VM configured first); default true. */
  canary?: boolean;
  /** FAIL_RELOAD: minimum time between VM reloads (reload_config.backoff base, default 1 s). */
  reloadBackoffMs?: number;
}

/** Envoy's header maps have lower-case keys. Always a copy: the module may change the map. */
function lowerCaseKeys(headers: Header[]): Header[] {
  return headers.map(([k, v]) => [k.toLowerCase(), v]);
}

/** Bodies are replaced, never written in place: every stream starts from this one. */
const NO_BODY = Buffer.alloc(0);

export const FAIL_STREAM_REPLY: LocalReply = {
  status: 503,
  details: 'wasm_fail_stream',
  body: new Uint8Array(),
  headers: [],
  grpcStatus: 14,
};

export class ProxyWasmHost {
  vm: WasmVm;
  readonly metrics = new Metrics();
  readonly plugins = new Set<Plugin>();
  private readonly module: WebAssembly.Module;
  readonly vmId: string;
  readonly logLevel: LogLevelName;
  readonly hooks: VmHooks;
  private lastReload = Number.NEGATIVE_INFINITY;
  /** VMs started (1 + reloads), for tests of FAIL_RELOAD. */
  starts = 0;

  private constructor(
    readonly bytes: Uint8Array,
    readonly info: ModuleInfo,
    private readonly opts: HostOptions,
  ) {
    this.module = new WebAssembly.Module(hoistStart(bytes) as Uint8Array<ArrayBuffer>);
    this.vmId = opts.vmId ?? '';
    this.logLevel = opts.logLevel ?? 'info';
    const log = opts.log ?? ((level: LogLevelName, message: string) => process.stderr.write(`[wasm ${level}] ${message}\n`));
    this.hooks = {
      log,
      now: opts.now ?? Date.now,
      ...(opts.httpCall ? { httpCall: opts.httpCall } : {}),
      ...(opts.faults ? { faults: opts.faults } : {}),
    };
    this.vm = this.startVm();
  }

  /** Loads a module from bytes or a file path, as vm_config.code does; Envoy's load errors throw WasmLoadError. */
  static load(code: Uint8Array | string, opts: HostOptions = {}): ProxyWasmHost {
    const bytes = typeof code === 'string' ? new Uint8Array(readFileSync(code)) : code;
    const verdict = validateModule(bytes);
    if (!verdict.ok || !verdict.info) throw new WasmLoadError(verdict.errors);
    try {
      return new ProxyWasmHost(bytes, verdict.info, opts);
    } catch (e) {
      if (e instanceof WasmLoadError) throw e;
      throw new WasmLoadError([`Failed to start Wasm module: ${(e as Error).message}`]);
    }
  }

  private startVm(): WasmVm {
    this.starts++;
    const vm = new WasmVm(this.module, this.info, this.vmId, this.metrics, this.logLevel, this.hooks, this.opts.environment);
    vm.startVm();
    return vm;
  }

  /** A new root context configured with `configuration`; throws PluginConfigError when refused. */
  configure(options: PluginOptions): Plugin {
    if (options.canary !== false) {
      // Envoy configures a throw-away clone first; a refusal there never touches the live VM.
      // The clone shares the stats store, as Envoy's stats scope is shared.
      const canary = new WasmVm(
        this.module,
        this.info,
        `${this.vmId}#canary`,
        this.metrics,
        this.logLevel,
        { ...this.hooks, log: () => {} },
        this.opts.environment,
      );
      canary.startVm();
      startRoot(canary, options, this.opts);
    }
    const root = startRoot(this.vm, options, this.opts);
    const plugin = new Plugin(this, root, options);
    this.plugins.add(plugin);
    return plugin;
  }

  /** Delivers proxy_on_tick to roots whose period has elapsed. */
  tick(): void {
    const now = this.hooks.now();
    for (const p of this.plugins) {
      const root = p.root;
      if (root.tickPeriodMs > 0 && now >= root.nextTickAt && !this.vm.failed) {
        root.nextTickAt = now + root.tickPeriodMs;
        try {
          this.vm.call(root, 'proxy_on_tick', root.id);
        } catch {
          // the VM is now failed; the next stream applies the failure policy
        }
      }
    }
  }

  /** FAIL_RELOAD: a new VM, every live plugin configured again in it (with backoff). */
  reloadIfDue(backoffMs: number): boolean {
    const now = this.hooks.now();
    if (now - this.lastReload < backoffMs) return false;
    this.lastReload = now;
    const vm = this.startVm();
    for (const p of this.plugins) p.root = startRoot(vm, p.options, this.opts);
    this.vm = vm;
    return true;
  }
}

function startRoot(vm: WasmVm, options: PluginOptions, hostOpts: HostOptions): RootContext {
  const root: RootContext = {
    kind: 'root',
    id: vm.allocContextId(),
    plugin: {
      name: options.name,
      rootId: options.rootId ?? '',
      vmId: vm.vmId.replace(/#canary$/, ''),
      ...(hostOpts.nodeId ? { nodeId: hostOpts.nodeId } : {}),
    },
    vmConfiguration: hostOpts.vmConfiguration ?? new Uint8Array(),
    tickPeriodMs: 0,
    nextTickAt: 0,
    doneDeferred: false,
  };
  vm.contexts.set(root.id, root);
  try {
    vm.call(root, 'proxy_on_context_create', root.id, 0);
    if (vm.call(root, 'proxy_on_vm_start', root.id, root.vmConfiguration.length) === 0)
      throw new PluginConfigError('Unable to create Wasm plugin: proxy_on_vm_start returned false');
    root.configuration = options.configuration;
    const ok = vm.call(root, 'proxy_on_configure', root.id, options.configuration.length);
    if (ok === 0) throw new PluginConfigError(`Unable to create Wasm plugin ${options.name}: proxy_on_configure returned false`);
    return root;
  } catch (e) {
    vm.contexts.delete(root.id);
    if (e instanceof WasmTrap)
      throw new PluginConfigError(`Unable to create Wasm plugin ${options.name}: the module trapped (${e.message})`);
    throw e;
  } finally {
    delete root.configuration;
  }
}

export class Plugin {
  private active = 0;
  private retired = false;

  constructor(
    readonly host: ProxyWasmHost,
    public root: RootContext,
    readonly options: PluginOptions,
  ) {}

  get failurePolicy(): FailurePolicy {
    return this.options.failurePolicy ?? 'FAIL_CLOSED';
  }

  newStream(info: StreamInfo = {}): HttpStream {
    const host = this.host;
    if (host.vm.failed && this.failurePolicy === 'FAIL_RELOAD') host.reloadIfDue(this.options.reloadBackoffMs ?? 1000);
    const vm = host.vm;
    const mode = !vm.failed ? 'normal' : this.failurePolicy === 'FAIL_OPEN' ? 'skip' : 'fail';
    const ctx: StreamContext = {
      kind: 'stream',
      id: vm.allocContextId(),
      root: this.root,
      info,
      phase: 'request_headers',
      requestHeaders: [],
      requestTrailers: [],
      responseHeaders: [],
      responseTrailers: [],
      requestHeadersPaused: false,
      requestBody: NO_BODY,
      responseBody: NO_BODY,
      filterState: new Map(),
      continued: { request: false, response: false },
      closed: false,
    };
    this.active++;
    return new HttpStream(this, vm, ctx, mode, () => this.streamDone());
  }

  private streamDone(): void {
    this.active--;
    if (this.retired && this.active === 0) this.shutdown();
  }

  /** Envoy releases this configuration: the root ends once its in-flight streams have. */
  retire(): void {
    this.retired = true;
    if (this.active === 0) this.shutdown();
  }

  private shutdown(): void {
    this.host.plugins.delete(this);
    const vm = this.host.vm;
    if (vm.failed || !vm.contexts.has(this.root.id)) return;
    try {
      const done = vm.call(this.root, 'proxy_on_done', this.root.id);
      if (done === 0) {
        this.root.doneDeferred = true;
        return;
      }
      vm.call(this.root, 'proxy_on_delete', this.root.id);
    } catch {
      // a trap at shutdown fails the VM; nothing else to do
    }
    vm.contexts.delete(this.root.id);
  }
}

export interface HeadersOutcome {
  /** What the filter chain does next; 'LocalReply' when the module (or a failure) answered. */
  action: HeadersAction | 'LocalReply';
  localReply?: LocalReply;
  /** The filter was skipped (FAIL_OPEN after a failure). */
  skipped?: boolean;
}

/** One HTTP stream through the filter, driven in Envoy's callback order. */
export class HttpStream {
  private created = false;
  private finished = false;
  /** Response headers the module produced for its own local reply (after its callbacks). */
  replyHeaders?: Header[];

  constructor(
    readonly plugin: Plugin,
    private readonly vm: WasmVm,
    readonly ctx: StreamContext,
    private readonly mode: 'normal' | 'skip' | 'fail',
    private readonly onFinished: () => void,
  ) {}

  get filterState(): Map<string, Uint8Array> {
    return this.ctx.filterState;
  }

  get localReply(): LocalReply | undefined {
    return this.ctx.localReply;
  }

  /** Request headers as the module left them (it may add or replace some). */
  get requestHeaders(): Header[] {
    return this.ctx.requestHeaders;
  }

  get responseHeaders(): Header[] {
    return this.ctx.responseHeaders;
  }

  private ensureCreated(): void {
    if (this.created) return;
    this.created = true;
    this.vm.contexts.set(this.ctx.id, this.ctx);
    this.vm.call(this.ctx, 'proxy_on_context_create', this.ctx.id, this.ctx.root.id);
  }

  private failStream(): LocalReply {
    const reply = { ...FAIL_STREAM_REPLY, body: new Uint8Array() };
    this.ctx.localReply = reply;
    this.ctx.responseCodeDetails = reply.details;
    return reply;
  }

  /** Runs a callback; a trap fails the VM and the stream (503 wasm_fail_stream). */
  private invoke(name: string, ...args: number[]): number | LocalReply {
    try {
      this.ensureCreated();
      const r = this.vm.call(this.ctx, name, this.ctx.id, ...args) ?? 0;
      this.vm.flushQueues();
      return r;
    } catch (e) {
      if (!(e instanceof WasmTrap)) throw e;
      this.plugin.host.hooks.log('critical', `wasm trap in ${name}: ${e.message}`);
      return this.failStream();
    }
  }

  /** The module called proxy_send_local_response: send it now, through its response callbacks. */
  private sendPendingReply(): LocalReply | undefined {
    const reply = this.ctx.pendingReply;
    if (!reply) return undefined;
    delete this.ctx.pendingReply;
    this.ctx.localReply = reply;
    this.ctx.responseCodeDetails = reply.details;
    const headers: Header[] = [[':status', String(reply.status)]];
    if (reply.body.length) headers.push(['content-length', String(reply.body.length)], ['content-type', 'text/plain']);
    headers.push(...reply.headers);
    this.ctx.responseHeaders = headers;
    this.ctx.requestHeadersPaused = false;
    this.ctx.phase = 'response_headers';
    const r = this.invoke('proxy_on_response_headers', headers.length, reply.body.length ? 0 : 1);
    if (typeof r === 'object') return r;
    if (reply.body.length) {
      this.ctx.responseBody = Buffer.from(reply.body);
      this.ctx.phase = 'response_body';
      const b = this.invoke('proxy_on_response_body', reply.body.length, 1);
      if (typeof b === 'object') return b;
    }
    this.replyHeaders = this.ctx.responseHeaders;
    return reply;
  }

  onRequestHeaders(headers: Header[], endOfStream = false): HeadersOutcome {
    this.ctx.requestHeaders = lowerCaseKeys(headers);
    if (this.mode === 'skip') return { action: 'Continue', skipped: true };
    if (this.mode === 'fail') return { action: 'LocalReply', localReply: this.failStream() };
    this.ctx.phase = 'request_headers';
    const r = this.invoke('proxy_on_request_headers', this.ctx.requestHeaders.length, endOfStream ? 1 : 0);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    const reply = this.sendPendingReply();
    if (reply) return { action: 'LocalReply', localReply: reply };
    const action = headersAction(r, Boolean(this.plugin.options.allowOnHeadersStopIteration));
    this.ctx.requestHeadersPaused = action !== 'Continue' && !this.ctx.continued.request;
    return { action };
  }

  onRequestBody(chunk: Uint8Array, endOfStream: boolean): { action: DataAction | 'LocalReply'; localReply?: LocalReply } {
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue' };
    this.ctx.requestBody = Buffer.concat([this.ctx.requestBody, chunk]);
    this.ctx.phase = 'request_body';
    const r = this.invoke('proxy_on_request_body', this.ctx.requestBody.length, endOfStream ? 1 : 0);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    const reply = this.sendPendingReply();
    if (reply) return { action: 'LocalReply', localReply: reply };
    return { action: dataAction(r) };
  }

  onRequestTrailers(trailers: Header[]): { action: TrailersAction | 'LocalReply'; localReply?: LocalReply } {
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue' };
    this.ctx.requestTrailers = trailers;
    this.ctx.phase = 'request_trailers';
    const r = this.invoke('proxy_on_request_trailers', trailers.length);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    return { action: trailersAction(r) };
  }

  onResponseHeaders(headers: Header[], endOfStream = false): HeadersOutcome {
    this.ctx.responseHeaders = lowerCaseKeys(headers);
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue', ...(this.mode === 'skip' ? { skipped: true } : {}) };
    this.ctx.requestHeadersPaused = false;
    this.ctx.phase = 'response_headers';
    const r = this.invoke('proxy_on_response_headers', this.ctx.responseHeaders.length, endOfStream ? 1 : 0);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    const reply = this.sendPendingReply();
    if (reply) return { action: 'LocalReply', localReply: reply };
    return { action: headersAction(r, Boolean(this.plugin.options.allowOnHeadersStopIteration)) };
  }

  onResponseBody(chunk: Uint8Array, endOfStream: boolean): { action: DataAction | 'LocalReply'; localReply?: LocalReply } {
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue' };
    this.ctx.responseBody = Buffer.concat([this.ctx.responseBody, chunk]);
    this.ctx.phase = 'response_body';
    const r = this.invoke('proxy_on_response_body', this.ctx.responseBody.length, endOfStream ? 1 : 0);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    return { action: dataAction(r) };
  }

  get responseBody(): Buffer {
    return this.ctx.responseBody;
  }

  get requestBody(): Buffer {
    return this.ctx.requestBody;
  }

  /**
   * The end of the stream, in Envoy's order: proxy_on_log (before filters are destroyed;
   * request headers readable again, read-only), proxy_on_done (ignored for streams),
   * proxy_on_delete.
   */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    try {
      if (this.mode === 'normal' && !this.vm.failed) {
        this.ctx.phase = 'log';
        this.invoke('proxy_on_log');
        this.ctx.phase = 'done';
        if (!this.vm.failed) this.invoke('proxy_on_done');
        if (!this.vm.failed && this.created) this.vm.call(this.ctx, 'proxy_on_delete', this.ctx.id);
      }
    } catch {
      // a trap in a teardown callback fails the VM; later streams apply the failure policy
    } finally {
      this.vm.contexts.delete(this.ctx.id);
      this.onFinished();
    }
  }
}
