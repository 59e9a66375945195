import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modeFromProto } from '../../control/compile/proto-adapter.js';
import { arg, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadAndCompile } from '../support/load-policy.js';
import { table } from '../support/output.js';

const ARGS = { dir: arg('<dir>', 'policy directory') };
const FLAGS = {
  json: flag.bool('--json', 'machine-readable output'),
  out: flag.string('--out <dir>', 'also write <workload>.pb files (the filter configuration)'),
};

export const compileCommand = defineCommand({
  path: ['compile'],
  description: 'compile a policy directory into one CompiledPolicy per workload',
  args: ARGS,
  flags: FLAGS,
  run: runCompile,
});

/** `perimeter compile DIR`: one CompiledPolicy per workload, summarised (and optionally written out). */
function runCompile(opts: OptionsOf<typeof FLAGS, typeof ARGS>): number {
  const started = performance.now();
  const result = loadAndCompile([opts.dir]);
  const ms = performance.now() - started;
  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    for (const w of result.workloads) writeFileSync(join(opts.out, `${w.workload.name}.pb`), w.bytes);
  }
  const rows = result.workloads.map((w) => ({
    workload: w.workload.name,
    identity: w.workload.identity,
    perimeters: w.perimeters,
    rules: w.policy.rules.length,
    defaultMode: w.perimeters.length ? modeFromProto(w.policy.defaultMode) : `${modeFromProto(w.policy.defaultMode)} (mesh default)`,
    bytes: w.bytes.length,
    version: w.version,
  }));
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ version: result.version, workloads: rows, unusedPerimeters: result.unused, compileMs: Math.round(ms) }, null, 2)}\n`,
    );
    return 0;
  }
  process.stdout.write(
    `${table(
      ['WORKLOAD', 'IDENTITY', 'PERIMETERS', 'RULES', 'DEFAULT', 'BYTES', 'VERSION'],
      rows.map((r) => [r.workload, r.identity, r.perimeters.join(',') || '-', String(r.rules), r.defaultMode, String(r.bytes), r.version]),
    )}\n\nsnapshot ${result.version}: ${rows.length} workloads compiled in ${ms.toFixed(0)} ms${opts.out ? `, written to ${opts.out}/` : ''}\n`,
  );
  for (const p of result.unused) process.stderr.write(`warning: perimeter ${p} selects no registered workload\n`);
  return 0;
}
