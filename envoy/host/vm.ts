/**
 * One instance of a Proxy-Wasm module, with the host functions Envoy registers bound to it.
 * Hand-written on purpose: no Proxy-Wasm host exists for Node.
 * It follows proxy-wasm-cpp-host and Envoy's Wasm context: restricted calls during start-up
 * and inside the allocator, results copied in through the module's allocator (never for empty
 * values), every pointer bounds-checked, and effective context reset on each call into the VM.
 */
import { ENV_FUNCTIONS, WASI_FUNCTIONS, WASI_MODULES } from './abi-table.js';
import { type Context, type Header, ownHeaderMap, type RootContext, type StreamContext } from './context.js';
import { BufferType, type LogLevelName, MapType } from './enums.js';
import { HeaderMap } from './header-map.js';
import { type DnsAnswer, EMPTY, type HostFunctions, type HostVm, type VmHooks, WasmTrap } from './host-vm.js';
import { buffersImports } from './imports-buffers.js';
import { dnsImports, encodeDnsAnswers } from './imports-dns.js';
import { headersImports } from './imports-headers.js';
import { httpCallsImports } from './imports-http-calls.js';
import { lifecycleImports } from './imports-lifecycle.js';
import { localReplyImports } from './imports-local-reply.js';
import { loggingImports } from './imports-logging.js';
import { metricsImports } from './imports-metrics.js';
import { propertiesImports } from './imports-properties.js';
import { sharedDataImports, sharedQueues } from './imports-shared-data.js';
import { wasiImports } from './imports-wasi.js';
import type { Metrics, VmMetrics } from './metrics.js';
import { ModuleMemory } from './module-memory.js';
import { HOISTED_START, type ModuleInfo } from './wasm-binary.js';

const RESTRICTED_START = new Set([
  'proxy_log',
  'emscripten_notify_memory_growth',
  'fd_write',
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_time_get',
  'clock_res_get',
  'random_get',
  'poll_oneoff',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  // cpp-host HEAD admits the stub file calls too; of those, this host registers these two.
  'fd_prestat_get',
  'fd_prestat_dir_name',
]);
const RESTRICTED_ALLOC = new Set(['proxy_log', 'fd_write', 'clock_time_get', 'poll_oneoff']);

export type WasmFunction = (a?: number, b?: number, c?: number, d?: number, e?: number) => unknown;

/** The callbacks Envoy makes on an HTTP stream, each the module's export or undefined. */
export interface StreamCallbacks {
  readonly contextCreate: WasmFunction | undefined;
  readonly requestHeaders: WasmFunction | undefined;
  readonly requestBody: WasmFunction | undefined;
  readonly requestTrailers: WasmFunction | undefined;
  readonly responseHeaders: WasmFunction | undefined;
  readonly responseBody: WasmFunction | undefined;
  readonly responseTrailers: WasmFunction | undefined;
  readonly log: WasmFunction | undefined;
  readonly done: WasmFunction | undefined;
  readonly delete: WasmFunction | undefined;
}

function streamCallbacks(exports: Record<string, WebAssembly.ExportValue>): StreamCallbacks {
  const fn = (name: string) => (typeof exports[name] === 'function' ? (exports[name] as WasmFunction) : undefined);
  return {
    contextCreate: fn('proxy_on_context_create'),
    requestHeaders: fn('proxy_on_request_headers'),
    requestBody: fn('proxy_on_request_body'),
    requestTrailers: fn('proxy_on_request_trailers'),
    responseHeaders: fn('proxy_on_response_headers'),
    responseBody: fn('proxy_on_response_body'),
    responseTrailers: fn('proxy_on_response_trailers'),
    log: fn('proxy_on_log'),
    done: fn('proxy_on_done'),
    delete: fn('proxy_on_delete'),
  };
}

export class WasmVm extends ModuleMemory implements HostVm {
  readonly instance: WebAssembly.Instance;
  readonly contexts = new Map<number, Context>();
  private nextContextId = 1;
  /** The context host calls act on (the callee of the current VM call, or set_effective_context). */
  current: Context | undefined;
  restricted: 'instantiate' | 'start' | 'alloc' | undefined = 'instantiate';
  /** The host function a restricted phase refused, for the load error. */
  private refusedCall: string | undefined;
  failed = false;
  /** Host calls made by the module (for benchmarks: calls per request). */
  hostCalls = 0;
  private readonly exportsByName: Record<string, WebAssembly.ExportValue>;
  /** The stream callbacks the module exports, looked up once. */
  readonly callbacks: StreamCallbacks;
  tokens = 0;
  readonly metrics: VmMetrics;
  readonly httpCallouts = new Map<number, { root: RootContext; response?: { headers: Header[]; body: Uint8Array; trailers: Header[] } }>();

  constructor(
    module: WebAssembly.Module,
    readonly info: ModuleInfo,
    readonly vmId: string,
    stats: Metrics,
    readonly logLevel: LogLevelName,
    readonly hooks: VmHooks,
    private readonly env: Record<string, string> = {},
  ) {
    super();
    this.metrics = stats.forVm();
    let memoryImport: WebAssembly.Memory | undefined;
    const imports: WebAssembly.Imports = { env: this.envImports() as WebAssembly.ModuleImports };
    for (const m of WASI_MODULES) imports[m] = this.wasiImports() as WebAssembly.ModuleImports;
    for (const imp of info.imports) {
      if (imp.kind === 'memory') {
        memoryImport ??= new WebAssembly.Memory({ initial: 1, maximum: 16384 });
        (imports[imp.module] as Record<string, unknown>)[imp.name] = memoryImport;
      }
    }
    this.instance = new WebAssembly.Instance(module, imports); // the start function was hoisted: startVm runs it
    this.exportsByName = this.instance.exports;
    this.callbacks = streamCallbacks(this.exportsByName);
    this.allocatorName = this.has('malloc') ? 'malloc' : 'proxy_on_memory_allocate';
    this.allocator = this.exportsByName[this.allocatorName] as WasmFunction; // validate.ts requires one
    this.memoryImport = memoryImport;
  }

  private memoryImport: WebAssembly.Memory | undefined;
  /** The allocator Envoy calls: malloc first, then proxy_on_memory_allocate. */
  private readonly allocatorName: string;
  private readonly allocator: WasmFunction;

  get memory(): WebAssembly.Memory {
    const m = (this.exportsByName.memory as WebAssembly.Memory | undefined) ?? this.memoryImport;
    if (!m) throw new WasmTrap('module has no memory');
    return m;
  }

  has(name: string): boolean {
    return typeof this.exportsByName[name] === 'function';
  }

  /**
   * Runs the start function, then _initialize (+ main / __main_void) or _start, restricted, as
   * cpp-host does. Envoy's V8 runs the start function while it instantiates the module, before
   * any context exists: a host call there dereferences a null context in Envoy, so here it fails
   * the load with the message Envoy gives for a start function that fails. A call outside the
   * start-up allow-list from _initialize traps as cpp-host's restricted_callback does.
   */
  startVm(): void {
    let entry = HOISTED_START;
    try {
      this.restricted = 'instantiate';
      if (this.has(HOISTED_START)) this.call(undefined, HOISTED_START);
      this.restricted = 'start';
      entry = this.has('_initialize') ? '_initialize' : '_start';
      if (this.has('_initialize')) {
        this.call(undefined, '_initialize');
        entry = this.has('main') ? 'main' : '__main_void';
        if (this.has('main')) this.call(undefined, 'main', 0, 0);
        else if (this.has('__main_void')) this.call(undefined, '__main_void');
      } else if (this.has('_start')) this.call(undefined, '_start');
    } catch (e) {
      if (!(e instanceof WasmTrap)) throw e;
      const refused = this.refusedCall;
      if (entry === HOISTED_START)
        throw new WasmTrap(
          refused
            ? `Failed to create new Wasm instance\nthe start function called ${refused}: Envoy runs it while instantiating, before any context exists (keep top-level code free of host calls, or export it as _initialize)`
            : `Failed to create new Wasm instance\n${e.message}`,
        );
      throw new WasmTrap(
        refused
          ? `Function: ${entry} failed: Uncaught Error: restricted_callback\n${refused} is not allowed during start-up`
          : `Function: ${entry} failed: ${e.message}`,
      );
    } finally {
      this.restricted = undefined;
      this.refusedCall = undefined;
    }
  }

  allocContextId(): number {
    return this.nextContextId++;
  }

  // Streams live outside `contexts`: a map keyed by ever-growing ids rehashes as streams come
  // and go, which is garbage on every request; an array with swap-removal is not.
  private readonly streams: StreamContext[] = [];

  /** A stream's context exists (Envoy has created it for the module). */
  openStream(ctx: StreamContext): void {
    this.streams.push(ctx);
  }

  closeStream(ctx: StreamContext): void {
    const i = this.streams.indexOf(ctx);
    if (i < 0) return;
    const last = this.streams.length - 1;
    this.streams[i] = this.streams[last] as StreamContext;
    this.streams.pop();
  }

  /** The root or open stream with this id. */
  contextById(id: number): Context | undefined {
    const root = this.contexts.get(id);
    if (root) return root;
    return this.streams.find((s) => s.id === id);
  }

  /**
   * Calls an export as the given context. A trap marks the VM failed and is rethrown as
   * WasmTrap; an absent export returns undefined. Every callback takes at most five i32
   * arguments (validate.ts checks their types): they are passed positionally, so the request
   * path makes no argument arrays; a missing one is 0 to the module, as undefined converts.
   */
  call(ctx: Context | undefined, name: string, a?: number, b?: number, c?: number, d?: number, e?: number): number | undefined {
    const f = this.exportsByName[name];
    if (typeof f !== 'function') return undefined;
    return this.callExport(ctx, f as WasmFunction, name, a, b, c, d, e);
  }

  /** call() with the export already looked up (the stream callbacks, on every request). */
  callExport(
    ctx: Context | undefined,
    f: WasmFunction,
    name: string,
    a?: number,
    b?: number,
    c?: number,
    d?: number,
    e?: number,
  ): number | undefined {
    if (this.failed) throw new WasmTrap('VM has failed');
    const saved = this.current;
    this.current = ctx;
    try {
      const r = f(a, b, c, d, e);
      return typeof r === 'number' ? r : r === undefined ? 0 : Number(r);
    } catch (err) {
      this.failed = true;
      throw new WasmTrap(`${name}: ${(err as Error).message}`);
    } finally {
      this.current = saved;
    }
  }

  /** Allocates in the module, restricted meanwhile. */
  malloc(size: number): number {
    const saved = this.restricted;
    this.restricted = 'alloc';
    try {
      return (this.callExport(this.current, this.allocator, this.allocatorName, size) ?? 0) >>> 0;
    } finally {
      this.restricted = saved;
    }
  }

  // === host functions ===

  /** What every host call does first: count, refuse in restricted phases, injected faults. */
  private admit(name: string): number | undefined {
    this.hostCalls++;
    if (this.restricted) {
      const allowed = this.restricted === 'start' ? RESTRICTED_START : this.restricted === 'alloc' ? RESTRICTED_ALLOC : undefined;
      if (!allowed?.has(name)) {
        this.refusedCall = name;
        throw new WasmTrap(
          this.restricted === 'instantiate'
            ? `${name} called with no context (from the start function)`
            : `restricted_callback: ${name} is not allowed ${this.restricted === 'start' ? 'during start-up' : 'inside the allocator'}`,
        );
      }
    }
    return this.hooks.faults?.[name];
  }

  private guard(name: string, impl: (...a: never[]) => number | undefined): (...a: unknown[]) => number | undefined {
    const f = impl as (...a: unknown[]) => number | undefined;
    // One wrapper per arity: the request path makes its host calls without rest arrays or spreads.
    switch (f.length) {
      case 1:
        return (a) => this.admit(name) ?? f(a);
      case 2:
        return (a, b) => this.admit(name) ?? f(a, b);
      case 3:
        return (a, b, c) => this.admit(name) ?? f(a, b, c);
      case 4:
        return (a, b, c, d) => this.admit(name) ?? f(a, b, c, d);
      case 5:
        return (a, b, c, d, e) => this.admit(name) ?? f(a, b, c, d, e);
      default:
        return (...args: unknown[]) => this.admit(name) ?? f(...args);
    }
  }

  stream(): StreamContext | undefined {
    return this.current?.kind === 'stream' ? this.current : undefined;
  }

  root(): RootContext | undefined {
    const c = this.current;
    return c?.kind === 'root' ? c : c?.root;
  }

  headerMap(type: number): HeaderMap | undefined {
    const s = this.stream();
    if (!s) return undefined;
    const inLog = s.phase === 'log';
    switch (type) {
      case MapType.RequestHeaders:
        return s.phase === 'request_headers' || s.requestHeadersPaused || inLog ? s.requestHeaders : undefined;
      case MapType.RequestTrailers:
        return s.phase === 'request_trailers' || inLog ? s.requestTrailers : undefined;
      case MapType.ResponseHeaders:
        return s.phase === 'response_headers' || s.phase === 'response_body' || s.phase === 'response_trailers' || inLog
          ? s.responseHeaders
          : undefined;
      case MapType.ResponseTrailers:
        return s.phase === 'response_trailers' || inLog ? s.responseTrailers : undefined;
      default:
        return undefined;
    }
  }

  writableHeaderMap(type: number): HeaderMap | undefined {
    const s = this.stream();
    // In on_log the maps are Envoy's const view of the finished stream.
    if (!s || s.phase === 'log' || !this.headerMap(type)) return undefined;
    ownHeaderMap(s, type);
    return this.headerMap(type);
  }

  callout(type: number): HeaderMap | undefined {
    const r = [...this.httpCallouts.values()].find((c) => c.response && c.root === this.root());
    if (!r?.response) return undefined;
    return type === MapType.HttpCallResponseHeaders
      ? HeaderMap.of(r.response.headers)
      : type === MapType.HttpCallResponseTrailers
        ? HeaderMap.of(r.response.trailers)
        : undefined;
  }

  private envImports(): Record<string, unknown> {
    const impl: HostFunctions = {
      ...loggingImports(this),
      ...propertiesImports(this),
      ...headersImports(this),
      ...buffersImports(this),
      ...localReplyImports(this),
      ...httpCallsImports(this),
      ...metricsImports(this),
      ...sharedDataImports(this),
      ...lifecycleImports(this),
      ...dnsImports(this),
    };
    return Object.fromEntries(Object.keys(ENV_FUNCTIONS).map((name) => [name, this.guard(name, impl[name] as (...a: never[]) => number)]));
  }

  /** Queues that got items during a call; the host delivers proxy_on_queue_ready afterwards. */
  readonly pendingQueueReady = new Set<number>();

  flushQueues(): void {
    if (this.pendingQueueReady.size === 0) return;
    for (const id of [...this.pendingQueueReady]) {
      this.pendingQueueReady.delete(id);
      const q = sharedQueues.get(id);
      const root = q ? this.contexts.get(q.root) : undefined;
      if (root?.kind === 'root' && q?.vmId === this.vmId) this.call(root, 'proxy_on_queue_ready', root.id, id);
    }
  }

  buffer(type: number): Uint8Array | undefined {
    const c = this.current;
    if (type === BufferType.PluginConfiguration) return c?.kind === 'root' ? c.configuration : undefined;
    if (type === BufferType.VmConfiguration) return this.root()?.vmConfiguration;
    const s = this.stream();
    // Envoy's Context::getBuffer always has a body buffer: the data being decoded (or buffered)
    // in the body and trailers callbacks, an empty one anywhere else (never NotFound).
    if (type === BufferType.HttpRequestBody)
      return s && (s.phase === 'request_body' || s.phase === 'request_trailers') ? s.requestBody : EMPTY;
    if (type === BufferType.HttpResponseBody)
      return s && (s.phase === 'response_body' || s.phase === 'response_trailers') ? s.responseBody : EMPTY;
    if (type === BufferType.HttpCallResponseBody)
      return [...this.httpCallouts.values()].find((x) => x.response && x.root === this.root())?.response?.body;
    if (type === BufferType.CallData) return this.callData;
    return undefined;
  }

  /** The call-data buffer (Envoy's buffer_ set before a callback such as envoy_on_resolve_dns). */
  private callData: Uint8Array | undefined;
  private dnsToken = 0;

  nextDnsToken(): number {
    // As Envoy's Wasm::nextDnsToken: from 1, never 0.
    this.dnsToken = (this.dnsToken + 1) >>> 0 || 1;
    return this.dnsToken;
  }

  deliverDns(root: RootContext, token: number, answers: DnsAnswer[] | undefined): void {
    if (this.failed || !this.contexts.has(root.id) || !this.exportsByName.envoy_on_resolve_dns) return;
    const data = answers ? encodeDnsAnswers(answers) : EMPTY;
    this.callData = data;
    try {
      this.call(root, 'envoy_on_resolve_dns', root.id, token, data.length);
    } catch {
      // A trap here fails the VM; the next stream applies the failure policy.
    } finally {
      this.callData = undefined;
    }
  }

  deliverHttpResponse(token: number, response: { headers: Header[]; body: Uint8Array; trailers: Header[] } | undefined): void {
    const callout = this.httpCallouts.get(token);
    if (!callout || this.failed) return;
    if (response) callout.response = response;
    try {
      this.call(
        callout.root,
        'proxy_on_http_call_response',
        callout.root.id,
        token,
        response ? response.headers.length : 0,
        response ? response.body.length : 0,
        response ? response.trailers.length : 0,
      );
    } catch {
      // A trap here fails the VM; the next stream applies the failure policy.
    } finally {
      this.httpCallouts.delete(token);
    }
  }

  private wasiImports(): Record<string, unknown> {
    const impl = wasiImports(this, this.env);
    return Object.fromEntries(Object.keys(WASI_FUNCTIONS).map((name) => [name, this.guard(name, impl[name] as (...a: never[]) => number)]));
  }
}
