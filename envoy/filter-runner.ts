/**
 * Runs a policy decision through the production artifact: filter/build/perimeter.wasm in the
 * Envoy-faithful host, fed the request exactly as Envoy would present it (peer URI SAN,
 * request headers, destination port, jwt_authn claims in dynamic metadata). Used by
 * `perimeter check`, the differential test and the benchmarks.
 */
import { existsSync } from 'node:fs';
import { DECISION_KEY, type DecisionRecord, parseDecisionRecord } from '../contracts/decision-record.js';
import { RESOURCE_NAME, ROOT_ID } from '../contracts/ecds.js';
import { JWT_METADATA } from '../contracts/jwt.js';
import { BUILT_MODULE } from '../contracts/module.js';
import type { PolicyRequest } from '../contracts/request.js';
import { type Header, type LocalReply, type Plugin, ProxyWasmHost, type StreamInfo } from './host/host.js';

/** What the filter decided for one request: its decision record, and the local reply Envoy would send. */
export interface FilterDecision extends DecisionRecord {
  /** The 403 (or other local reply) Envoy would send. */
  localReply?: LocalReply;
  /** The record as the filter wrote it. */
  record: string;
}

/** Envoy's view of a request: what the filter can read through the host. */
export function toEnvoy(req: PolicyRequest): { info: StreamInfo; headers: Header[] } {
  const headers: Header[] = [
    [':method', req.method],
    [':path', req.path],
  ];
  if (req.host !== undefined) headers.push([':authority', req.host]);
  headers.push([':scheme', 'https']);
  // Each line of a repeated header is its own pair, as in Envoy's header map.
  for (const [k, v] of Object.entries(req.headers ?? {}))
    for (const line of typeof v === 'string' ? [v] : v) headers.push([k.toLowerCase(), line]);
  const info: StreamInfo = {
    connection:
      req.principal !== undefined
        ? { uriSanPeerCertificate: req.principal, tlsVersion: 'TLSv1.3', mtls: true }
        : { tlsVersion: 'TLSv1.3', mtls: false },
    destination: { address: '127.0.0.1', port: req.port ?? 0 },
    source: { address: '127.0.0.1', port: 40000 },
    ...(req.claims ? { metadata: { [JWT_METADATA.filter]: { [JWT_METADATA.key]: req.claims } } } : {}),
  };
  if (req.port === undefined) delete info.destination;
  return { info, headers };
}

export class FilterRunner {
  readonly host: ProxyWasmHost;
  private clockMs = Date.now();
  private current: { policy: Uint8Array; plugin: Plugin } | undefined;

  constructor(wasm: string | Uint8Array = BUILT_MODULE) {
    if (typeof wasm === 'string' && !existsSync(wasm)) throw new Error(`${wasm} does not exist: run npm run build`);
    this.host = ProxyWasmHost.load(wasm, { vmId: 'perimeter', now: () => this.clockMs, log: () => {} });
  }

  /**
   * The plugin configured with these CompiledPolicy bytes. A different policy is applied the way
   * Envoy applies an update: a new root context in the same VM, the previous one retired.
   */
  plugin(policy: Uint8Array): Plugin {
    const cur = this.current;
    if (cur && (cur.policy === policy || Buffer.compare(cur.policy, policy) === 0)) return cur.plugin;
    const plugin = this.host.configure({ name: RESOURCE_NAME, rootId: ROOT_ID, configuration: policy, canary: false });
    cur?.plugin.retire();
    this.current = { policy, plugin };
    return plugin;
  }

  decide(policy: Uint8Array, req: PolicyRequest): FilterDecision {
    this.clockMs = req.nowMs ?? Date.now();
    const { info, headers } = toEnvoy(req);
    const stream = this.plugin(policy).newStream(info);
    const outcome = stream.onRequestHeaders(headers, true);
    stream.finish();
    const raw = stream.filterState.get(DECISION_KEY);
    const record = raw ? Buffer.from(raw).toString('utf8') : '';
    stream.release();
    return { ...parseDecisionRecord(record), record, ...(outcome.localReply ? { localReply: outcome.localReply } : {}) };
  }
}
