/** What commands that read recorded flows share: the `--since` argument, and flows made inert for printing. */
import { printable } from '../../control/flows/recorded.js';
import type { Flow } from '../../control/flows/store.js';
import { UsageError } from './targets.js';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m`, `2h`, `7d` (before now) or an ISO date. */
export function sinceArg(v: string, now = Date.now()): number {
  const m = /^(\d+)([smhd])$/.exec(v);
  if (m) return now - Number(m[1]) * (UNITS[m[2] as string] as number);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--since ${v}: expected a duration (30m, 2h, 7d) or a date (2026-11-24T05:00:00Z)`);
  return t;
}

/** A flow's recorded strings, inert before anything colours them (recorded values came from the network). */
export function inert(f: Flow): Flow {
  const out = { ...f };
  for (const k of [
    'source',
    'destination',
    'method',
    'template',
    'lastPath',
    'lastHost',
    'lastRule',
    'lastVersion',
    'lastCandidate',
  ] as const)
    if (typeof out[k] === 'string') out[k] = printable(out[k] as string);
  return out;
}
