/** `perimeter diff A B`: which rules changed between two published versions, per workload. */
import { diffVersions } from '../../control/serve/diff.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { arg, DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { found, guard, openHistory } from '../support/history.js';
import { paint } from '../support/output.js';

const ARGS = { from: arg('<from>'), to: arg('<to>') };
const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory', DEFAULT_STATE),
  json: flag.bool('--json', 'machine-readable output'),
};

export const diffCommand = defineCommand({
  path: ['diff'],
  description: 'which rules changed between two versions, per workload (#seq or version digest prefix)',
  args: ARGS,
  flags: FLAGS,
  run: runDiff,
});

function runDiff(o: OptionsOf<typeof FLAGS, typeof ARGS>): number {
  const [a, b] = [o.from, o.to];
  const h = openHistory(o.state);
  const [ea, eb] = [found(h.find(a)), found(h.find(b))];
  const pa: Map<string, CompiledPolicy> = guard(() => h.policies(ea));
  const pb: Map<string, CompiledPolicy> = guard(() => h.policies(eb));
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
