import { formatDiagnostic, summarize } from '../../control/policy/diagnostics.js';
import { loadPaths } from '../../control/policy/load.js';
import { arg, defineCommand, type OptionsOf } from '../support/flags.js';
import { printDiagnosticsTo } from '../support/load-policy.js';
import { paint } from '../support/output.js';
import { printSarif, REPORT_FLAGS, reportFormat, sarifLog } from '../support/sarif.js';

const ARGS = { paths: arg('<paths...>', 'YAML files or directories') };
const FLAGS = REPORT_FLAGS;

const SARIF_RULES = [
  { id: 'policy-error', description: 'the policy cannot be applied as written' },
  { id: 'policy-warning', description: 'the policy applies, but probably not as meant' },
];

export const validateCommand = defineCommand({
  path: ['validate'],
  description: 'check policy files and directories; every error at once (exit 1 on errors)',
  args: ARGS,
  flags: FLAGS,
  run: runValidate,
});

/** `perimeter validate PATH…`: every problem at once; exit 1 when any is an error. */
function runValidate(opts: OptionsOf<typeof FLAGS, typeof ARGS>): number {
  const r = loadPaths(opts.paths);
  const rules = r.policy.perimeters.reduce((n, p) => n + p.rules.length, 0);
  const counts = { files: r.files.length, workloads: r.policy.workloads.length, perimeters: r.policy.perimeters.length, rules };
  const format = reportFormat(opts);
  if (format === 'sarif') {
    printSarif(
      sarifLog(
        'validate',
        SARIF_RULES,
        r.diagnostics.map((d) => ({
          ruleId: d.severity === 'error' ? 'policy-error' : 'policy-warning',
          level: d.severity,
          message: `${d.path ? `${d.path}: ` : ''}${d.message}${d.hint ? ` (${d.hint})` : ''}`,
          location: d,
        })),
      ),
    );
    return r.ok ? 0 : 1;
  }
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify({ ok: r.ok, ...counts, diagnostics: r.diagnostics }, null, 2)}\n`);
    return r.ok ? 0 : 1;
  }
  for (const d of r.diagnostics) printDiagnosticsTo(process.stderr, formatDiagnostic(d), d.severity);
  const what = `${counts.files} files, ${counts.workloads} workloads, ${counts.perimeters} perimeters, ${counts.rules} rules`;
  if (r.ok) process.stdout.write(`${paint('✓', 'green')} ${what}: ${summarize(r.diagnostics)}\n`);
  else process.stderr.write(`${paint('✗', 'red')} ${what}: ${summarize(r.diagnostics)}; nothing from this batch may be applied\n`);
  return r.ok ? 0 : 1;
}
