/** `perimeter diff A B`: which rules changed between two published versions, per workload. */
import { diffVersions } from '../../control/serve/diff.js';
import { findEntry, type HistoryEntry } from '../../control/serve/history.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { arg, DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { found, guard, openHistory } from '../support/history.js';
import { paint } from '../support/output.js';
import { STORE_FLAGS, storedPolicies, storeOfState, withStore } from '../support/store.js';

const ARGS = { from: arg('<from>'), to: arg('<to>') };
const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory', DEFAULT_STATE),
  json: flag.bool('--json', 'machine-readable output'),
  ...STORE_FLAGS,
};

export const diffCommand = defineCommand({
  path: ['diff'],
  description: 'which rules changed between two versions, per workload (#seq or version digest prefix)',
  args: ARGS,
  flags: FLAGS,
  run: runDiff,
});

async function runDiff(flags: OptionsOf<typeof FLAGS, typeof ARGS>): Promise<number> {
  const o = storeOfState(flags);
  const [a, b] = [o.from, o.to];
  let ea: HistoryEntry;
  let eb: HistoryEntry;
  let pa: Map<string, CompiledPolicy>;
  let pb: Map<string, CompiledPolicy>;
  if (o.store) {
    [ea, eb, pa, pb] = await withStore(o, async (s) => {
      const entries = await s.entries();
      const [x, y] = [found(findEntry(entries, a)), found(findEntry(entries, b))];
      return [x, y, await storedPolicies(s, x), await storedPolicies(s, y)] as const;
    });
  } else {
    const h = openHistory(o.state);
    [ea, eb] = [found(h.find(a)), found(h.find(b))];
    pa = guard(() => h.policies(ea));
    pb = guard(() => h.policies(eb));
  }
  const diffs = diffVersions(pa, pb);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ from: ea, to: eb, workloads: diffs }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`#${ea.seq} ${ea.version} → #${eb.seq} ${eb.version}\n`);
  if (diffs.length === 0) {
    process.stdout.write('no workload changed\n');
    return 0;
  }
  for (const d of diffs) {
    process.stdout.write(`\n${paint(d.workload, 'bold')}${d.status === 'changed' ? '' : ` (${d.status})`}\n`);
    for (const m of d.modes) process.stdout.write(`  ${paint('~', 'yellow')} mode ${m}\n`);
    for (const r of d.rulesAdded) process.stdout.write(`  ${paint('+', 'green')} ${r}\n`);
    for (const r of d.rulesRemoved) process.stdout.write(`  ${paint('-', 'red')} ${r}\n`);
    for (const r of d.rulesChanged) process.stdout.write(`  ${paint('~', 'yellow')} ${r}\n`);
  }
  return 0;
}
