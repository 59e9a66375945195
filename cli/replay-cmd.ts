import { join } from 'node:path';
import { printable } from '../control/flows/recorded.js';
import { type Change, replay } from '../control/flows/replay.js';
import { FlowStore } from '../control/flows/store.js';
import { inert, sinceArg } from './flows-cmd.js';
import { loadAndCompile } from './load-policy.js';
import { paint, table } from './output.js';
import { UsageError } from './targets.js';

export interface ReplayOptions {
  candidate: string;
  policy: string;
  state: string;
  since?: string;
  json?: boolean;
}

export const EXIT_NEWLY_DENIED = 3;

export async function runReplay(o: ReplayOptions): Promise<number> {
  const sinceMs = o.since ? sinceArg(o.since) : undefined;
  const current = loadAndCompile([o.policy]);
  const candidate = loadAndCompile([o.candidate]);
  const flows = await FlowStore.read(o.state, sinceMs !== undefined ? { sinceMs } : {});
  if (!flows) throw new UsageError(`no flows recorded under ${join(o.state, 'flows')}: nothing to replay`);
  const r = replay(current, candidate, flows);
  const newlyDenied = r.flows.filter((f) => f.change === 'newly denied');
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          requests: r.requests,
          flows: r.flows.map((f) => ({ ...f, flow: { ...f.flow, source: f.flow.source ?? null } })),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    const colour: Record<Change, 'red' | 'green' | 'dim'> = { 'newly denied': 'red', 'newly allowed': 'green', unchanged: 'dim' };
    const changed = r.flows.filter((f) => f.change !== 'unchanged');
    if (changed.length)
      process.stdout.write(
        `${table(
          ['CHANGE', 'SOURCE', 'DESTINATION', 'METHOD', 'PATH', 'REQUESTS', 'EXAMPLE', 'CANDIDATE RULE'],
          changed
            .map((c) => ({ ...c, flow: inert(c.flow), rule: printable(c.rule) }))
            .map((f) => [
              paint(f.change, colour[f.change], process.stdout),
              f.flow.source ?? 'unauthenticated',
              f.flow.destination,
              f.flow.method,
              f.flow.template,
              String(f.flow.count),
              f.flow.lastPath,
              f.rule,
            ]),
        )}\n`,
      );
    const n = (c: Change) => `${r.flows.filter((f) => f.change === c).length} flows (${r.requests[c]} requests)`;
    process.stdout.write(`${n('newly denied')} newly denied, ${n('newly allowed')} newly allowed, ${n('unchanged')} unchanged\n`);
  }
  return newlyDenied.length > 0 ? EXIT_NEWLY_DENIED : 0;
}
