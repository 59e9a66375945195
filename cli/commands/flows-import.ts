/**
 * `perimeter flows import --format envoy-json|istio|hubble FILE…`: logs a mesh already writes,
 * read into the flow store (control/flows/import/), so `flows`, `map`, `recommend` and `replay`
 * work on a mesh that does not run Perimeter yet. Exit codes: 0 imported (unreadable lines are
 * reported, not fatal), 1 usage or input error (nothing imported).
 */
import type { FlowEvent } from '../../control/flows/event.js';
import { emptyReport, IMPORT_FORMATS, type ImportFormat, type ImportReport, importText } from '../../control/flows/import/import.js';
import { podIdentities } from '../../control/flows/import/pods.js';
import { FlowStore } from '../../control/flows/store.js';
import { arg, DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { InputError, loadPolicy, readInput } from '../support/load-policy.js';
import { cell, paint, table } from '../support/output.js';
import { UsageError } from '../support/targets.js';

const ARGS = { files: arg('<files...>', 'log files (one entry a line)') };
const FLAGS = {
  format: flag.required('--format <format>', `the logs' format: ${IMPORT_FORMATS.join(', ')}`),
  policy: flag.required('--policy <dir>', 'policy directory: its registry names the workloads, its mesh the trust domain'),
  pods: flag.string('--pods <file>', 'kubectl get pods -A -o json: pod addresses to identities (istio needs it)'),
  workload: flag.string('--workload <name>', 'the destination of lines that do not name it (an Envoy log of one workload)'),
  state: flag.withDefault('--state <dir>', 'the state directory whose flow store receives them', DEFAULT_STATE),
  json: flag.bool('--json', 'machine-readable output'),
};

export const flowsImportCommand = defineCommand({
  path: ['flows', 'import'],
  description: 'read Envoy JSON, Istio or Hubble logs into the flow store, for map, recommend and replay before the filter is deployed',
  args: ARGS,
  flags: FLAGS,
  run: runImport,
});

async function runImport(o: OptionsOf<typeof FLAGS, typeof ARGS>): Promise<number> {
  if (!(IMPORT_FORMATS as readonly string[]).includes(o.format))
    throw new UsageError(`--format ${o.format}: one of ${IMPORT_FORMATS.join(', ')}`);
  const format = o.format as ImportFormat;
  const policy = loadPolicy([o.policy], 'nothing was imported').policy;
  const trustDomain = policy.mesh.trustDomain;
  const workloads = new Map(policy.workloads.map((w) => [w.identity, w.name]));
  if (o.workload && !policy.workloads.some((w) => w.name === o.workload))
    throw new UsageError(`--workload ${o.workload}: no such workload in ${o.policy}`);
  let pods: Map<string, string> | undefined;
  const notes: string[] = [];
  if (o.pods) {
    const r = podIdentities(readInput(o.pods), trustDomain);
    if (!r.ok) throw new InputError(`${o.pods}: ${r.problems[0]?.message}`);
    pods = r.value.byAddress;
    notes.push(`${r.value.pods} pods, ${pods.size} addresses in ${o.pods}`, ...r.value.problems);
  } else if (format === 'istio') throw new UsageError('istio logs name callers by address: give --pods (kubectl get pods -A -o json)');
  const report = emptyReport();
  const events: FlowEvent[] = [];
  const options = { format, trustDomain, workloads, ...(pods ? { pods } : {}), ...(o.workload ? { workload: o.workload } : {}) };
  for (const file of o.files) {
    importText(file, readInput(file), options, report, events);
  }
  if (events.length > 0) {
    const store = FlowStore.open(o.state);
    try {
      for (let i = 0; i < events.length; i += 1_000) store.record(events.slice(i, i + 1_000));
    } finally {
      await store.close();
    }
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ format, state: o.state, ...report, notes }, null, 2)}\n`);
    return 0;
  }
  print(report, notes, o.state);
  return 0;
}

function print(r: ImportReport, notes: readonly string[], state: string): void {
  for (const n of notes) process.stdout.write(`${cell(n)}\n`);
  const rows: string[][] = [
    ['imported', String(r.imported)],
    ...Object.entries(r.skipped).map(([why, n]) => [`skipped: ${why}`, String(n)]),
    ['unknown caller (no pod has its address: never guessed)', String(r.unknownCallers)],
    ['unknown destination (no registered workload)', String(r.unknownDestinations)],
    ['unreadable', String(r.unreadable)],
  ];
  process.stdout.write(`${table(['LINES', String(r.lines)], rows)}\n`);
  for (const p of r.problems) process.stdout.write(`${cell(`${p.file}:${p.line}: ${p.reason}`)}\n`);
  if (r.unreadable > r.problems.length) process.stdout.write(`… and ${r.unreadable - r.problems.length} more unreadable lines\n`);
  const done = `${r.imported} requests into ${state}/flows: perimeter flows, map and recommend --state ${state} read them`;
  process.stdout.write(`${r.imported > 0 ? paint('✓', 'green') : paint('✗', 'yellow')} ${done}\n`);
}
