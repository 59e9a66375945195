/**
 * `perimeter verify --policy DIR --assert FILE`: proves assertions about who can reach what,
 * exactly, over every request the rules can tell apart (control/analysis/verify.ts), and
 * replays each counterexample through perimeter.wasm. Exit codes: 0 every assertion holds,
 * 4 one is broken, 1 usage or input error.
 */
import { outcomeOf } from '../../contracts/decision-record.js';
import { parseAssertions } from '../../control/analysis/assertions.js';
import { ANALYSIS_MODES, type AnalysisMode } from '../../control/analysis/passing.js';
import { type AssertionResult, type Counterexample, type Filter, verify } from '../../control/analysis/verify.js';
import { compile } from '../../control/compile/compile.js';
import { formatDiagnostic, summarize } from '../../control/policy/diagnostics.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import { requestLine, where } from '../support/analysis-output.js';
import { defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { InputError, loadPolicy, printDiagnosticsTo, readInput } from '../support/load-policy.js';
import { cell, paint } from '../support/output.js';
import { printSarif, REPORT_FLAGS, reportFormat, sarifLog } from '../support/sarif.js';
import { instant } from '../support/time.js';

export const VERIFY_EXIT = { holds: 0, input: 1, broken: 4 } as const;

const FLAGS = {
  policy: flag.required('--policy <dir>', 'policy directory'),
  assert: flag.required('--assert <file>', 'assertions YAML (kind: Assertions)'),
  mode: flag.withDefault(
    '--mode <mode>',
    'enforced: what is blocked today; written: every rule and perimeter enforced; candidate: the staged candidates, enforced',
    'enforced',
    ANALYSIS_MODES,
  ),
  at: flag.string('--at <time>', 'decide rule expiry at this RFC 3339 time (default: now)'),
  engine: flag.withDefault('--engine <engine>', 'replay counterexamples through perimeter.wasm, or only the reference evaluator', 'wasm', [
    'wasm',
    'reference',
  ]),
  ...REPORT_FLAGS,
};

export const verifyCommand = defineCommand({
  path: ['verify'],
  description: 'prove assertions (never, always, only) over every request the policy can tell apart; exit 4 when one is broken',
  flags: FLAGS,
  run: runVerify,
});

async function runVerify(o: OptionsOf<typeof FLAGS>): Promise<number> {
  const nowMs = instant('--at', o.at);
  const loaded = loadPolicy([o.policy], 'nothing was verified');
  const parsed = parseAssertions({ name: o.assert, text: readInput(o.assert) });
  const known = new Set(loaded.policy.workloads.map((w) => w.name));
  for (const ref of parsed.references)
    if (ref.workload !== undefined && !known.has(ref.workload))
      parsed.diagnostics.push({ severity: 'error', ...ref.at, message: `no workload named "${ref.workload}" in ${o.policy}` });
  if (parsed.diagnostics.some((d) => d.severity === 'error')) {
    for (const d of parsed.diagnostics) printDiagnosticsTo(process.stderr, formatDiagnostic(d), d.severity);
    throw new InputError(`${o.assert} has errors (${summarize(parsed.diagnostics)}); nothing was verified`);
  }
  const started = performance.now();
  const mode = o.mode as AnalysisMode;
  const results = await verify(loaded.policy, compile(loaded.policy), parsed.assertions, {
    mode,
    nowMs,
    ...(o.engine === 'wasm' ? { filter: wasmFilter() } : {}),
  });
  const ms = performance.now() - started;
  const broken = results.filter((r) => !r.holds).length;
  const code = broken > 0 ? VERIFY_EXIT.broken : VERIFY_EXIT.holds;
  const format = reportFormat(o);
  if (format === 'json') {
    process.stdout.write(
      `${JSON.stringify({ mode, nowMs, holds: broken === 0, results: results.map(jsonOf), ms: Math.round(ms) }, null, 2)}\n`,
    );
    return code;
  }
  if (format === 'sarif') {
    printSarif(sarifOf(results));
    return code;
  }
  process.stdout.write(`${results.length} assertions, ${MODE_TEXT[mode]}\n\n`);
  for (const r of results) for (const line of resultLines(r)) process.stdout.write(`${cell(line)}\n`);
  const summary =
    broken === 0 ? paint('✓ every assertion holds', 'green') : paint(`✗ ${broken} of ${results.length} assertions broken`, 'red');
  process.stdout.write(
    `\n${summary} (${ms.toFixed(0)} ms${o.engine === 'wasm' && broken ? ', counterexamples confirmed by perimeter.wasm' : ''})\n`,
  );
  return code;
}

const MODE_TEXT: Record<AnalysisMode, string> = {
  enforced: 'rules as enforced today (observe and simulate block nothing)',
  written: 'every rule as written, enforced (simulate perimeters and staged rules included)',
  candidate: 'the staged candidates as written, enforced',
};

function wasmFilter(): Filter {
  const runner = new FilterRunner();
  return (bytes, request) => {
    const d = runner.decide(bytes, request);
    return { blocked: outcomeOf(d) === 'deny', rule: d.rule };
  };
}

function resultLines(r: AssertionResult): string[] {
  const a = r.assertion;
  const scope = `${a.kind} · ${r.workloads.length} workload${r.workloads.length === 1 ? '' : 's'}`;
  if (r.holds) return [`  ${paint('✓', 'green')} ${a.name}  ${paint(scope, 'dim')}`];
  const out = [`  ${paint('✗', 'red')} ${a.name}  ${paint(`${scope}, broken on ${r.violations.length}`, 'dim')}  ${where(a.location)}`];
  for (const v of r.violations.slice(0, 5))
    out.push(`      ${paint(v.workload, 'bold')}: ${requestLine(v.request)}`, `        ${verdictOf(v)}`);
  if (r.violations.length > 5) out.push(`      … and ${r.violations.length - 5} more workloads (--json lists them all)`);
  return out;
}

/** Why the counterexample passes (or, for always, is blocked), and where that is written. */
function verdictOf(v: Counterexample): string {
  const d = v.decision;
  const rule = d.rule === 'default' ? `the default of ${d.perimeter}` : `${d.perimeter}/${d.rule}`;
  const at = where(v.location);
  if (d.decision === 'allow') return `passes: allowed by ${rule} (${at})`;
  if (!d.enforced) return `passes: ${rule} would deny it, but is not enforced (${at})`;
  return `blocked: denied by ${rule} (${at})`;
}

function jsonOf(r: AssertionResult) {
  const { location, ...a } = r.assertion;
  return {
    name: a.name,
    kind: a.kind,
    from: a.fromText,
    to: a.toText,
    location,
    holds: r.holds,
    workloads: r.workloads,
    violations: r.violations,
  };
}

function sarifOf(results: readonly AssertionResult[]): object {
  const rules = results.map((r) => ({
    id: r.assertion.name,
    description: `${r.assertion.kind}: from ${r.assertion.fromText} to ${r.assertion.toText}`,
  }));
  const findings = results.flatMap((r) =>
    r.violations.map((v) => ({
      ruleId: r.assertion.name,
      level: 'error' as const,
      message: `${r.assertion.kind} assertion broken on ${v.workload}: ${requestLine(v.request)}; ${verdictOf(v)}`,
      location: r.assertion.location,
      ...(v.location ? { related: [{ message: `${v.decision.perimeter}/${v.decision.rule}`, location: v.location }] } : {}),
    })),
  );
  return sarifLog('verify', rules, findings);
}
