/**
 * Runs a policy decision through the production artifact: filter/build/perimeter.wasm in the
 * Envoy-faithful host, fed the request exactly as Envoy would present it (peer URI SAN,
 * request headers, destination port, jwt_authn claims in dynamic metadata). Used by
 * `perimeter check`, the differential test and the benchmarks.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PolicyRequest } from '../control/eval/request.js';
import { candidateOf, parseDecisionRecord } from '../control/flows/event.js';
import { type Header, type LocalReply, type Plugin, ProxyWasmHost, type StreamInfo } from './host/host.js';

const here = dirname(fileURLToPath(import.meta.url));
export const FILTER_WASM = join(here, '..', 'filter', 'build', 'perimeter.wasm');
export const FILTER_NAME = 'perimeter.authz';
export const RECORD_KEY = 'wasm.perimeter_decision';
/** Where Envoy's jwt_authn filter puts the verified payload (payload_in_metadata). */
export const JWT_METADATA_NAMESPACE = 'envoy.filters.http.jwt_authn';
export const JWT_PAYLOAD_KEY = 'jwt_payload';

/** The decision record the filter writes to filter state, parsed. */
export interface FilterDecision {
  decision: 'allow' | 'deny';
  enforced: boolean;
  mode: string;
  perimeter: string;
  rule: string;
  version: string;
  audit?: string;
  staged?: string;
  /** When the staged candidate decides otherwise: its verdict and `perimeter/rule`. */
  candidate?: { decision: 'allow' | 'deny'; rule: string };
  /** The 403 (or other local reply) Envoy would send. */
  localReply?: LocalReply;
  record: string;
}

export function parseRecord(record: string): Omit<FilterDecision, 'localReply' | 'record'> {
  const f = parseDecisionRecord(record);
  const label = f.rule ?? '';
  const slash = label.indexOf('/');
  return {
    decision: f.decision === 'allow' ? 'allow' : 'deny',
    enforced: f.enforced === '1',
    mode: f.mode ?? '',
    perimeter: slash < 0 ? '' : label.slice(0, slash),
    rule: slash < 0 ? label : label.slice(slash + 1),
    version: f.version ?? '',
    ...(f.audit ? { audit: f.audit } : {}),
    ...(f.staged ? { staged: f.staged } : {}),
    ...candidateOf(f.candidate),
  };
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
    ...(req.claims ? { metadata: { [JWT_METADATA_NAMESPACE]: { [JWT_PAYLOAD_KEY]: req.claims } } } : {}),
  };
  if (req.port === undefined) delete info.destination;
  return { info, headers };
}

export class FilterRunner {
  readonly host: ProxyWasmHost;
  private clockMs = Date.now();
  private current: { policy: Uint8Array; plugin: Plugin } | undefined;

  constructor(wasm: string | Uint8Array = FILTER_WASM) {
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
    const plugin = this.host.configure({ name: FILTER_NAME, rootId: 'perimeter', configuration: policy, canary: false });
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
    const raw = stream.filterState.get(RECORD_KEY);
    const record = raw ? Buffer.from(raw).toString('utf8') : '';
    return { ...parseRecord(record), record, ...(outcome.localReply ? { localReply: outcome.localReply } : {}) };
  }
}
