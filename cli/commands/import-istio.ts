/**
 * `perimeter import istio FILE…`: Istio AuthorizationPolicies as native Perimeter YAML, for
 * teams leaving Istio's format. Files may hold the Mesh (its trust domain and aliases) and the
 * Workloads too: then the output is proven to compile to the same policy for every workload.
 */
import { writeFileSync } from 'node:fs';
import { importIstio } from '../../control/convert/istio-import.js';
import { formatDiagnostic, summarize } from '../../control/policy/diagnostics.js';
import { loadPaths } from '../../control/policy/load.js';
import { arg, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { InputError, printDiagnosticsTo } from '../support/load-policy.js';
import { paint } from '../support/output.js';

const ARGS = { paths: arg('<paths...>', 'AuthorizationPolicy files or directories (with the Mesh and Workloads, to verify)') };
const FLAGS = {
  skipUnsupported: flag.bool(
    '--skip-unsupported',
    'drop the ALLOW and AUDIT sources and rules that use fields perimeter cannot honour (addresses, SNI); a DENY that uses one is still refused',
  ),
  out: flag.string('--out <file>', 'write the native YAML to a file instead of stdout'),
  json: flag.bool('--json', 'a machine-readable report, the YAML included'),
};

export const importIstioCommand = defineCommand({
  path: ['import', 'istio'],
  description: 'Istio AuthorizationPolicies as native Perimeter YAML that decides the same (exit 1 on errors)',
  args: ARGS,
  flags: FLAGS,
  run: runImport,
});

function runImport(o: OptionsOf<typeof FLAGS, typeof ARGS>): number {
  const loaded = loadPaths(o.paths, { skipUnsupported: o.skipUnsupported === true });
  if (!o.json) for (const d of loaded.diagnostics) printDiagnosticsTo(process.stderr, formatDiagnostic(d), d.severity);
  if (!loaded.ok) {
    if (o.json) process.stdout.write(`${JSON.stringify({ ok: false, diagnostics: loaded.diagnostics }, null, 2)}\n`);
    throw new InputError(
      `${o.paths.join(' ')} has errors (${summarize(loaded.diagnostics)}); nothing was converted${o.skipUnsupported ? '' : ' (--skip-unsupported drops what only narrows an ALLOW)'}`,
    );
  }
  const r = importIstio(loaded);
  if (r.policies.length === 0) throw new InputError(`no AuthorizationPolicy in ${o.paths.join(' ')}: nothing to convert`);
  if (r.verified && r.verified.differ.length > 0)
    throw new Error(`internal error: the native policy compiles differently for ${r.verified.differ.join(', ')}; nothing was written`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, policies: r.policies, verified: r.verified ?? null, yaml: r.yaml }, null, 2)}\n`);
    return 0;
  }
  if (o.out) writeFileSync(o.out, r.yaml);
  else process.stdout.write(r.yaml);
  const dropped = r.policies.reduce((n, p) => n + p.dropped.length, 0);
  const rows = r.policies.map(
    (p) =>
      `  ${p.name.padEnd(32)} ${p.action.padEnd(6)} ${String(p.rules).padStart(3)} rules${p.dropped.length ? `, ${p.dropped.length} dropped` : ''}`,
  );
  process.stderr.write(
    [
      `${paint('✓', 'green')} ${r.policies.length} AuthorizationPolicies → native perimeters${o.out ? ` in ${o.out}` : ''}${dropped ? ` (${dropped} ${dropped === 1 ? 'part' : 'parts'} dropped, each narrowing an ALLOW or AUDIT; see the warnings)` : ''}`,
      ...rows,
      r.verified
        ? `  verified: compiles to the same policy bytes for all ${r.verified.workloads} workloads`
        : '  not verified: give the Workload documents (and the Mesh) beside the policies to prove the output compiles the same',
      '',
    ].join('\n'),
  );
  return 0;
}
