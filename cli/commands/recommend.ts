/**
 * `perimeter recommend --for W`: a least-privilege Perimeter for W from its recorded flows,
 * checked by the policy loader (with the registry it names) before it is printed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { notExactlyOnePerimeter, recommend } from '../../control/flows/recommend.js';
import { FlowStore } from '../../control/flows/store.js';
import { formatDiagnostic, hasErrors } from '../../control/policy/diagnostics.js';
import { loadSources } from '../../control/policy/load.js';
import { DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadPolicy } from '../support/load-policy.js';
import { sinceArg } from '../support/recorded.js';
import { UsageError } from '../support/targets.js';

const FLAGS = {
  for: flag.required('--for <workload>', 'the workload (name or SPIFFE ID)'),
  policy: flag.required('--policy <dir>', 'policy directory (the registry the rules name)'),
  state: flag.withDefault('--state <dir>', 'the control server state directory (its recorded flows)', DEFAULT_STATE),
  since: flag.string('--since <when>', 'only flows seen since: 30m, 2h, 7d, or a date'),
  out: flag.string('--out <file>', 'write to a file instead of stdout'),
};

export const recommendCommand = defineCommand({
  path: ['recommend'],
  description: 'a least-privilege Perimeter for a workload from its recorded flows, in simulate mode, with the evidence as comments',
  flags: FLAGS,
  run: runRecommend,
});

async function runRecommend(o: OptionsOf<typeof FLAGS>): Promise<number> {
  const sinceMs = o.since ? sinceArg(o.since) : undefined;
  const loaded = loadPolicy([o.policy], 'nothing was recommended');
  const workloads = loaded.policy.workloads;
  const target = workloads.find((w) => w.name === o.for || w.identity === o.for);
  if (!target) throw new UsageError(`no workload ${o.for} in ${o.policy} (known: ${workloads.map((w) => w.name).join(', ')})`);
  const flows = await FlowStore.read(o.state, { to: target.name, ...(sinceMs !== undefined ? { sinceMs } : {}) });
  if (!flows)
    throw new UsageError(
      `no flows recorded under ${join(o.state, 'flows')}: run the workload behind sidecars reporting to perimeter serve first`,
    );
  if (flows.length === 0)
    throw new UsageError(`no flows to ${target.name} recorded${o.since ? ` since ${o.since}` : ''}: nothing to recommend from`);
  const r = recommend(target, workloads, flows, sinceMs !== undefined ? { since: sinceMs } : {});

  // Nothing is printed or written unless it is exactly one Perimeter for this workload, and it
  // loads beside the policy it names (renamed, so it does not collide with one already there).
  const shape = notExactlyOnePerimeter(r.yaml, target.name);
  if (shape) throw new Error(`internal error: refusing a recommendation that is not one perimeter for ${target.name}: ${shape}`);
  const renamed = parseDocument(r.yaml);
  renamed.setIn(['metadata', 'name'], `${target.name}-recommended-check`);
  const check = loadSources([...(loaded.sources ?? []), { name: 'recommended.yaml', text: renamed.toString() }]);
  const own = check.diagnostics.filter((d) => d.file === 'recommended.yaml');
  if (hasErrors(own)) throw new Error(`internal error: the recommendation does not load:\n${own.map(formatDiagnostic).join('\n')}`);
  const perimeters = check.ok ? check.policy.perimeters.filter((p) => p.location.file === 'recommended.yaml') : [];
  if (perimeters.length !== 1) throw new Error(`internal error: the recommendation loads as ${perimeters.length} perimeters`);

  if (o.out) {
    writeFileSync(o.out, r.yaml);
    process.stderr.write(
      `wrote ${o.out}: ${r.rules} rules for ${target.name} from ${flows.length} flows, in simulate mode${r.excluded.length ? `; not allowed: ${r.excluded.map((e) => e.caller).join(', ')}` : ''}\n`,
    );
  } else process.stdout.write(r.yaml);
  return 0;
}
