/**
 * `perimeter flows`: the flows the control server has recorded from its sidecars' access logs
 * (`<state>/flows`), busiest first. Reads the store while the server writes it.
 */
import { join } from 'node:path';
import { printable } from '../control/flows/recorded.js';
import { type Flow, FlowStore } from '../control/flows/store.js';
import { paint, table } from './output.js';
import { UsageError } from './targets.js';

export interface FlowsOptions {
  state: string;
  to?: string;
  denied?: boolean;
  disagree?: boolean;
  since?: string;
  limit: string;
  json?: boolean;
}

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

function verdicts(f: Flow, stream: NodeJS.WriteStream): string {
  const parts: string[] = [];
  if (f.allowed) parts.push(paint(`${f.allowed} allowed`, 'green', stream));
  if (f.denied) parts.push(paint(`${f.denied} denied`, 'red', stream));
  if (f.wouldDeny) parts.push(paint(`${f.wouldDeny} would deny`, 'yellow', stream));
  if (f.disagree) parts.push(paint(`${f.disagree} candidate would ${f.lastCandidate.replace(':', ' (')})`, 'blue', stream));
  return parts.join(', ');
}

export async function runFlows(o: FlowsOptions): Promise<number> {
  const limit = Number(o.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit ${o.limit}: expected a positive integer`);
  const sinceMs = o.since ? sinceArg(o.since) : undefined;
  const flows = await FlowStore.read(o.state, {
    ...(o.to ? { to: o.to } : {}),
    ...(o.denied ? { denied: true } : {}),
    ...(o.disagree ? { disagree: true } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
  });
  if (!flows)
    throw new UsageError(
      `no flows recorded under ${join(o.state, 'flows')}: is perimeter serve running there, with sidecars sending access logs?`,
    );
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ flows: flows.slice(0, limit), total: flows.length }, null, 2)}\n`);
    return 0;
  }
  if (flows.length === 0) {
    process.stdout.write('no flows match\n');
    return 0;
  }
  const iso = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
  process.stdout.write(
    `${table(
      ['SOURCE', 'DESTINATION', 'METHOD', 'PATH', 'REQUESTS', 'VERDICTS', 'LAST SEEN', 'LAST RULE'],
      flows
        .slice(0, limit)
        .map(inert)
        .map((f) => [
          f.source ?? 'unauthenticated',
          f.destination,
          f.method,
          f.template,
          String(f.count),
          verdicts(f, process.stdout),
          iso(f.lastMs),
          f.lastRule,
        ]),
    )}\n`,
  );
  if (flows.length > limit) process.stdout.write(`… and ${flows.length - limit} more (--limit)\n`);
  return 0;
}
