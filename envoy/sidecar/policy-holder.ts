/**
 * The sidecar's side of ECDS: each Perimeter filter config that arrives is configured in the
 * Proxy-Wasm host before it is ACKed (a module that refuses it, or bytes that are not a filter
 * config, become a NACK and the current plugin stays). Accepted configs replace the plugin in one
 * assignment, the old one retiring once its streams end, as Envoy does. No plugin means no policy:
 * requests are denied.
 */
import type { Any } from '@bufbuild/protobuf/wkt';
import { readFilterConfig, vmId } from '../../contracts/ecds.js';
import { reasonOf } from '../../contracts/problem.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { type Plugin, PluginConfigError, type ProxyWasmHost } from '../host/host.js';

export class PolicyHolder {
  current: { plugin: Plugin; version: string; policyVersion: string } | undefined;
  private staged = new Map<string, { plugin: Plugin; policyVersion: string }>();

  constructor(
    private readonly host: ProxyWasmHost,
    private readonly resourceName: string,
    private readonly moduleSha256: string,
    private readonly warn: (msg: string) => void = () => {},
  ) {}

  /** Validates one delivered resource; returns the NACK message, or undefined to ACK. */
  check(name: string, version: string, resource: Any): string | undefined {
    if (name !== this.resourceName) return `unexpected resource ${name} (this sidecar's filter is ${this.resourceName})`;
    const read = readFilterConfig(resource);
    if (!read.ok) return reasonOf(read);
    const cfg = read.value;
    if (cfg.vmId && cfg.vmId !== vmId({ filename: '', sha256: this.moduleSha256 }))
      this.warn(`the control server names VM ${cfg.vmId}; this sidecar runs module ${this.moduleSha256.slice(0, 12)}`);
    try {
      const plugin = this.host.configure({ name: cfg.name, rootId: cfg.rootId, configuration: cfg.policy, failurePolicy: 'FAIL_CLOSED' });
      this.staged.get(version)?.plugin.retire();
      this.staged.set(version, { plugin, policyVersion: policyVersionOf(cfg.policy) });
      return undefined;
    } catch (e) {
      if (e instanceof PluginConfigError) return e.message;
      throw e;
    }
  }

  /** The update was accepted: switch to its plugin (or to none, if the resource was removed). */
  adopt(version: string | undefined): void {
    const next = version === undefined ? undefined : this.staged.get(version);
    if (version !== undefined) this.staged.delete(version);
    for (const p of this.staged.values()) p.plugin.retire();
    this.staged.clear();
    if (version !== undefined && !next) return;
    const old = this.current;
    this.current = next && version !== undefined ? { ...next, version } : undefined;
    if (old && old.plugin !== next?.plugin) old.plugin.retire();
  }
}

/** The CompiledPolicy version, for logs; '' when the module (--wasm) takes some other configuration. */
function policyVersionOf(bytes: Uint8Array): string {
  try {
    return CompiledPolicy.decode(bytes).version;
  } catch {
    return '';
  }
}
