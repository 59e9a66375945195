import { join } from 'node:path';
import { printable } from '../../control/flows/recorded.js';
import { type Change, replay } from '../../control/flows/replay.js';
import { FlowStore } from '../../control/flows/store.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadAndCompile } from '../support/load-policy.js';
import { paint, table } from '../support/output.js';
import { inert, sinceArg } from '../support/recorded.js';
import { UsageError } from '../support/targets.js';

const FLAGS = {
  candidate: flag.required('--candidate <dir>', 'the candidate policy directory'),
  policy: flag.required('--policy <dir>', 'the current policy directory'),
  state: flag.withDefault('--state <dir>', 'the control server state directory (its recorded flows)', DEFAULT_STATE),
  since: flag.string('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date'),
  json: flag.bool('--json', 'machine-readable output'),
};

export const replayCommand = defineCommand({
  path: ['replay'],
  description:
    'decide the recorded flows with the current policy and a candidate; exit 3 if the candidate denies observed traffic the current policy allows',
  flags: FLAGS,
  run: runReplay,
});

export const EXIT_NEWLY_DENIED = 3;

async function runReplay(o: OptionsOf<typeof FLAGS>): Promise<number> {
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
