/**
 * A Proxy-Wasm ABI 0.2.1 host that behaves like Envoy (docs/host.md): load-time validation,
 * the VM start sequence, a root context per plugin configuration (with Envoy's canary), the stream callback order, deferred local replies that pass back
 * through the module's response callbacks, status conversion, and the failure policies.
 * It runs any Proxy-Wasm module, not only ours.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import type { LogLevelName } from './enums.js';
import { type DnsAnswer, type VmHooks, WasmTrap } from './host-vm.js';
import { Metrics } from './metrics.js';
import { Plugin, type PluginOptions, startRoot } from './plugin.js';
import { validateModule } from './validate.js';
import { WasmVm } from './vm.js';
import { hoistStart, type ModuleInfo } from './wasm-binary.js';

export type { Header, LocalReply } from './context.js';
export { HeaderMap } from './header-map.js';
export { type FailurePolicy, Plugin, PluginConfigError, type PluginOptions } from './plugin.js';
export type { StreamInfo } from './properties.js';
export { type HeadersOutcome, HttpStream } from './stream.js';

export class WasmLoadError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('; '));
  }
}

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
  /** Name lookups for envoy_resolve_dns (default: the system resolver, TTL 0, as getaddrinfo gives none). */
  resolveDns?: VmHooks['resolveDns'];
  /** xds.node.id, as a root context may read it. */
  nodeId?: string;
  /**
   * Makes named host functions return a status instead of doing their work, to exercise a
   * module's handling of host failures (the fail-closed paths of a filter).
   */
  faults?: Record<string, number>;
}

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
      resolveDns: opts.resolveDns ?? systemDns,
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
      // A failed start carries Envoy's message first, then what this host saw.
      if (e instanceof WasmTrap) throw new WasmLoadError(e.message.split('\n'));
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

/** Addresses as Envoy prints them (`1.2.3.4:0`, `[::1]:0`), from the system resolver. */
async function systemDns(name: string): Promise<DnsAnswer[]> {
  const all = await lookup(name, { all: true });
  return all.map((a) => ({ address: a.family === 6 ? `[${a.address}]:0` : `${a.address}:0`, ttlSeconds: 0 }));
}
