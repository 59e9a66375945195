/** `perimeter map`: the dependency map (SVG or DOT) from the policy and the recorded flows. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../control/compile/compile.js';
import { buildMap, toDot, toSvg } from '../../control/flows/map.js';
import { FlowStore } from '../../control/flows/store.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadPolicy } from '../support/load-policy.js';
import { sinceArg } from '../support/recorded.js';
import { UsageError } from '../support/targets.js';

const FLAGS = {
  policy: flag.required('--policy <dir>', 'policy directory'),
  state: flag.withDefault('--state <dir>', 'the control server state directory (its recorded flows)', DEFAULT_STATE),
  since: flag.string('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date'),
  format: flag.withDefault('--format <format>', 'svg or dot', 'svg'),
  out: flag.string('--out <file>', 'write to a file instead of stdout'),
};

export const mapCommand = defineCommand({
  path: ['map'],
  description: 'the dependency map: workloads grouped by perimeter, edges from the recorded flows (denied and would-be-denied marked)',
  flags: FLAGS,
  run: runMap,
});

async function runMap(o: OptionsOf<typeof FLAGS>): Promise<number> {
  if (o.format !== 'svg' && o.format !== 'dot') throw new UsageError(`--format ${o.format}: svg or dot`);
  const sinceMs = o.since ? sinceArg(o.since) : undefined;
  const loaded = loadPolicy([o.policy], 'no map was drawn');
  const modes = new Map(loaded.policy.perimeters.map((p) => [p.name, p.mode as string]));
  const flows = await FlowStore.read(o.state, sinceMs !== undefined ? { sinceMs } : {});
  if (!flows) process.stderr.write(`no flows recorded under ${join(o.state, 'flows')}: the map shows workloads and perimeters only\n`);
  const map = buildMap(compile(loaded.policy), modes, flows ?? []);
  const text = o.format === 'dot' ? toDot(map) : toSvg(map);
  if (o.out) {
    writeFileSync(o.out, text);
    const denied = map.edges.filter((e) => e.denied > 0).length;
    const would = map.edges.filter((e) => e.denied === 0 && e.wouldDeny > 0).length;
    process.stderr.write(
      `wrote ${o.out}: ${map.groups.reduce((n, g) => n + g.nodes.length, 0)} workloads in ${map.groups.length} groups, ${map.edges.length} edges (${denied} denied, ${would} would be denied)\n`,
    );
  } else process.stdout.write(text);
  return 0;
}
