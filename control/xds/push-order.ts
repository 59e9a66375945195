/** The order in which a change is pushed on one ADS stream (make before break). */
import { TYPE } from '../../contracts/type-urls.js';

/** CDS → EDS → LDS → RDS → SDS → ECDS (xds_protocol "eventual consistency"); others after, by name. */
const ORDER: readonly string[] = [TYPE.cluster, TYPE.endpoint, TYPE.listener, TYPE.route, TYPE.secret, TYPE.extensionConfig];

function rank(t: string): number {
  const i = ORDER.indexOf(t);
  return i < 0 ? ORDER.length : i;
}

function byRank(a: string, b: string): number {
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

export function pushOrder(types: Iterable<string>): string[] {
  return [...types].sort(byRank);
}

/** LDS and CDS: a SotW response is the full state, and an empty first request means wildcard. */
export function isFullState(typeUrl: string): boolean {
  return typeUrl === TYPE.listener || typeUrl === TYPE.cluster;
}
