/**
 * `perimeter rollback`: with --policy, bring back the rules a promote replaced (promote.ts does
 * both directions); without, republish an old version on the running server.
 */
import { reasonOf } from '../../contracts/problem.js';
import { StoreWriter } from '../../control/ha/store-writer.js';
import { adminPost } from '../support/admin-client.js';
import { arg, DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { STORE_FLAGS, withStore } from '../support/store.js';
import { UsageError } from '../support/targets.js';
import { runPromote } from './promote.js';

const ARGS = { target: arg('<version|perimeter>', 'a perimeter (with --policy), or #seq or version digest prefix') };
const FLAGS = {
  policy: flag.string('--policy <dir>', 'roll back a perimeter in this policy directory'),
  state: flag.withDefault('--state <dir>', 'state directory of the running server', DEFAULT_STATE),
  dryRun: flag.bool('--dry-run', 'with --policy: show what would change, write nothing'),
  json: flag.bool('--json', 'machine-readable output'),
  ...STORE_FLAGS,
};

export const rollbackCommand = defineCommand({
  path: ['rollback'],
  description:
    'with --policy: bring back the rules a promote replaced (they become live, the promoted ones are staged again); without: republish an old version on the running server until the policy directory next changes',
  args: ARGS,
  flags: FLAGS,
  run: (o) => (o.policy ? runPromote(o.target, 'rollback', { ...o, policy: o.policy }) : runRollback(o.target, o)),
});

async function runRollback(to: string, o: OptionsOf<typeof FLAGS, typeof ARGS>): Promise<number> {
  const r = o.store
    ? await withStore(o, async (s) => {
        const w = await new StoreWriter(s).rollback(to);
        if (!w.ok) throw new UsageError(reasonOf(w));
        const e = w.value.entry;
        return { version: e.version, seq: e.seq, summary: e.summary, workloads: e.workloads.length };
      })
    : ((await adminPost(o.state, '/rollback', { to })) as { version: string; seq: number; summary: string[]; workloads: number });
  if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else
    process.stdout.write(
      `rolled back: now serving ${r.version} as #${r.seq} (until the policy directory changes)\n${r.summary.map((l) => `  ${l}\n`).join('')}`,
    );
  return 0;
}
