/**
 * `perimeter promote <perimeter>` and `perimeter rollback <perimeter> --policy DIR`: move a
 * perimeter between its staged candidate and its live rules by editing its YAML file. The
 * whole directory is validated with the edit before anything is written; the control server,
 * which watches the directory, publishes the result like any other change.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compile } from '../../control/compile/compile.js';
import { FlowStore } from '../../control/flows/store.js';
import { formatDiagnostic, summarize } from '../../control/policy/diagnostics.js';
import { loadSources, yamlFilesUnder } from '../../control/policy/load.js';
import { type Direction, promoteText } from '../../control/policy/promote.js';
import { writeFileAtomic } from '../../control/serve/atomic.js';
import { arg, DEFAULT_STATE, defineCommand, flag } from '../support/flags.js';
import { loadPolicy, printDiagnosticsTo } from '../support/load-policy.js';
import { paint } from '../support/output.js';
import { UsageError } from '../support/targets.js';

const ARGS = { perimeter: arg('<perimeter>', 'the perimeter') };
const FLAGS = {
  policy: flag.required('--policy <dir>', 'policy directory'),
  state: flag.withDefault('--state <dir>', 'the control server state directory (to show the disagreements recorded)', DEFAULT_STATE),
  dryRun: flag.bool('--dry-run', 'show what would change, write nothing'),
  json: flag.bool('--json', 'machine-readable output'),
};

export const promoteCommand = defineCommand({
  path: ['promote'],
  description:
    "make a perimeter's staged candidate its live rules (and mode), keeping the replaced rules as spec.previous; edits the YAML, validated whole first",
  args: ARGS,
  flags: FLAGS,
  run: (o) => runPromote(o.perimeter, 'promote', o),
});

/** What a promote or a rollback of a perimeter needs. */
export interface PromoteOptions {
  policy: string;
  state: string;
  dryRun?: boolean | undefined;
  json?: boolean | undefined;
}

export async function runPromote(perimeter: string, direction: Direction, o: PromoteOptions): Promise<number> {
  const loaded = loadPolicy([o.policy], 'nothing was changed');
  const p = loaded.policy.perimeters.find((x) => x.name === perimeter);
  if (!p) throw new UsageError(`no perimeter named "${perimeter}" in ${o.policy}`);
  if (p.origin !== 'perimeter') throw new UsageError(`${perimeter} is an Istio AuthorizationPolicy: candidates are a Perimeter feature`);
  const file = p.location.file;
  const edit = promoteText(readFileSync(file, 'utf8'), perimeter, direction);
  if (!edit.ok) throw new UsageError(`${file}: ${edit.error}`);

  // The directory as it would be, validated whole: an edit that breaks it writes nothing.
  const sources = yamlFilesUnder(o.policy).map((f) => ({
    name: f,
    text: resolve(f) === resolve(file) ? edit.text : readFileSync(f, 'utf8'),
  }));
  const after = loadSources(sources);
  if (!after.ok) {
    for (const d of after.diagnostics) printDiagnosticsTo(process.stderr, formatDiagnostic(d), d.severity);
    throw new UsageError(`the ${direction} would leave ${o.policy} with errors (${summarize(after.diagnostics)}); nothing was changed`);
  }

  // The evidence the filter recorded: requests the staged candidate would have decided otherwise.
  const selected = new Set(
    compile(loaded.policy)
      .workloads.filter((w) => w.perimeters.includes(perimeter))
      .map((w) => w.workload.name),
  );
  const flows = (await FlowStore.read(o.state, { disagree: true }))?.filter((f) => selected.has(f.destination)) ?? [];
  const disagreements = flows.reduce((n, f) => n + f.disagree, 0);

  if (!o.dryRun) writeFileAtomic(file, edit.text);
  const result = {
    perimeter,
    direction,
    file,
    written: !o.dryRun,
    mode: { from: edit.fromMode, to: edit.toMode },
    rules: { added: edit.added, removed: edit.removed, kept: edit.kept },
    disagreements,
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const verb = direction === 'promote' ? 'promoted' : 'rolled back';
  process.stdout.write(
    `${paint(o.dryRun ? `would be ${verb}` : verb, 'bold')}: Perimeter/${perimeter} in ${file}\n` +
      `  mode   ${edit.fromMode === edit.toMode ? edit.toMode : `${edit.fromMode} → ${edit.toMode}`}\n` +
      (edit.added.length ? `  ${paint('+', 'green')} ${edit.added.join(', ')}\n` : '') +
      (edit.removed.length ? `  ${paint('-', 'red')} ${edit.removed.join(', ')}\n` : '') +
      (edit.kept.length ? `  = ${edit.kept.join(', ')} (by name; their contents may differ)\n` : '') +
      `  ${direction === 'promote' ? 'the replaced rules are kept as spec.previous (perimeter rollback brings them back)' : 'the replaced rules are staged again as spec.candidate'}\n`,
  );
  if (disagreements)
    process.stdout.write(
      `  the filter recorded ${disagreements} request${disagreements === 1 ? '' : 's'} in ${flows.length} flow${flows.length === 1 ? '' : 's'} the candidate decided otherwise: perimeter flows --disagree --state ${o.state}\n`,
    );
  if (!o.dryRun) process.stdout.write('  a running control server watching the directory publishes it now\n');
  return 0;
}
