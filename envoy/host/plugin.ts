/**
 * A plugin configuration in a VM, as Envoy holds one: its root context (created through Envoy's
 * start sequence, on_vm_start then on_configure), the streams it opens, the failure policy
 * applied when the VM has failed, and its end once retired and its streams are done.
 */
import { newStreamContext, type RootContext } from './context.js';
import { type VmHooks, WasmTrap } from './host-vm.js';
import type { StreamInfo } from './properties.js';
import { HttpStream } from './stream.js';
import type { WasmVm } from './vm.js';

/** Streams kept for reuse per plugin: as many as a sidecar has in flight at once, roughly. */
const RELEASED_KEPT = 256;
const NO_INFO: StreamInfo = Object.freeze({});

export type FailurePolicy = 'FAIL_CLOSED' | 'FAIL_OPEN' | 'FAIL_RELOAD';

/** on_vm_start or on_configure said no (Envoy: "Unable to create Wasm plugin", or a NACK). */
export class PluginConfigError extends Error {}

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

/** What a plugin needs of its host. */
export interface PluginHost {
  readonly vm: WasmVm;
  readonly hooks: VmHooks;
  readonly plugins: Set<Plugin>;
  reloadIfDue(backoffMs: number): boolean;
}

export function startRoot(
  vm: WasmVm,
  options: PluginOptions,
  hostOpts: { nodeId?: string | undefined; vmConfiguration?: Uint8Array | undefined },
): RootContext {
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
    // As cpp-host's ContextBase::onStart: the plugin (and its configuration) is set while the
    // root is created, not while the VM starts (on_vm_start is meant to be plugin-independent).
    root.configuration = options.configuration;
    vm.call(root, 'proxy_on_context_create', root.id, 0);
    delete root.configuration;
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
  /** Released streams, reused by newStream: a request through a warm plugin allocates no stream. */
  private readonly released: HttpStream[] = [];

  constructor(
    readonly host: PluginHost,
    public root: RootContext,
    readonly options: PluginOptions,
  ) {}

  get failurePolicy(): FailurePolicy {
    return this.options.failurePolicy ?? 'FAIL_CLOSED';
  }

  newStream(info: StreamInfo = NO_INFO): HttpStream {
    const host = this.host;
    if (host.vm.failed && this.failurePolicy === 'FAIL_RELOAD') host.reloadIfDue(this.options.reloadBackoffMs ?? 1000);
    const vm = host.vm;
    const mode = !vm.failed ? 'normal' : this.failurePolicy === 'FAIL_OPEN' ? 'skip' : 'fail';
    const id = vm.allocContextId();
    this.active++;
    const reused = this.released.pop();
    if (reused) {
      reused.reopen(vm, this.root, id, info, mode);
      return reused;
    }
    return new HttpStream(this, vm, newStreamContext(this.root, id, info), mode);
  }

  /** A stream has ended (finish). */
  streamDone(): void {
    this.active--;
    if (this.retired && this.active === 0) this.shutdown();
  }

  /** A finished stream its caller is done with: the next newStream reuses it. */
  recycle(stream: HttpStream): void {
    if (!this.retired && this.released.length < RELEASED_KEPT) this.released.push(stream);
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
