/** Recorded requests for flow tests: `n` requests of one caller to one workload. */
import type { FlowEvent } from '../../control/flows/event.js';

export const SHOP = 'spiffe://shop.example/ns/';

export interface Requests {
  source: string | undefined;
  destination: string;
  method?: string;
  /** `N` is replaced by a different number in each request. */
  path?: string;
  decision?: 'allow' | 'deny';
  enforced?: boolean;
  n: number;
}

export function requests(r: Requests): FlowEvent[] {
  const decision = r.decision ?? 'allow';
  const enforced = r.enforced ?? true;
  return Array.from({ length: r.n }, (_, i) => ({
    timeMs: 1_700_000_000_000 + i,
    source: r.source,
    destination: r.destination,
    method: r.method ?? 'GET',
    host: r.destination,
    path: (r.path ?? '/x/N').replace('N', String(100 + i)),
    port: 15443,
    status: decision === 'allow' || !enforced ? 200 : 403,
    decision,
    enforced,
    mode: enforced ? 'enforce' : 'simulate',
    rule: 'r',
    version: 'v',
  }));
}
