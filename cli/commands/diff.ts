/**
 * `perimeter diff A B`: which rules changed between two published versions, per workload.
 * `perimeter diff --semantic OLD NEW` (two policy directories, or two versions): which requests
 * each workload newly allows and newly denies, decided exactly (control/analysis/semantic-diff.ts).
 * Exit codes with --semantic: 0 nothing newly allowed, 3 something is (a second review), 1 input error.
 */
import { existsSync, statSync } from 'node:fs';
import { ANALYSIS_MODES, type AnalysisMode } from '../../control/analysis/passing.js';
import { type ChangedClass, semanticDiff, type WorkloadDiff } from '../../control/analysis/semantic-diff.js';
import { compile } from '../../control/compile/compile.js';
import { diffVersions } from '../../control/serve/diff.js';
import { findEntry, type HistoryEntry } from '../../control/serve/history.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { requestLine } from '../support/analysis-output.js';
import { arg, DEFAULT_STATE, defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { found, guard, openHistory } from '../support/history.js';
import { loadPolicy } from '../support/load-policy.js';
import { paint, table } from '../support/output.js';
import { STORE_FLAGS, storedPolicies, storeOfState, withStore } from '../support/store.js';
import { instant } from '../support/time.js';

export const DIFF_EXIT = { ok: 0, input: 1, newlyAllowed: 3 } as const;

const ARGS = { from: arg('<from>', 'a version (#seq or digest prefix), or with --semantic a policy directory'), to: arg('<to>') };
const FLAGS = {
  state: flag.withDefault('--state <dir>', 'state directory', DEFAULT_STATE),
  json: flag.bool('--json', 'machine-readable output'),
  semantic: flag.bool('--semantic', 'the requests newly allowed and newly denied, per workload (exit 3 when some are newly allowed)'),
  mode: flag.withDefault('--mode <mode>', 'with --semantic: enforced, written or candidate (as verify)', 'enforced', ANALYSIS_MODES),
  at: flag.string('--at <time>', 'with --semantic: decide rule expiry at this RFC 3339 time (default: now)'),
  ...STORE_FLAGS,
};

export const diffCommand = defineCommand({
  path: ['diff'],
  description:
    'which rules changed between two versions; with --semantic, which requests are newly allowed or denied (exit 3 if any allowed)',
  args: ARGS,
  flags: FLAGS,
  run: runDiff,
});

type Side = { label: string; entry?: HistoryEntry; policies: Map<string, CompiledPolicy> };

async function runDiff(flags: OptionsOf<typeof FLAGS, typeof ARGS>): Promise<number> {
  const o = storeOfState(flags);
  if (o.semantic) return runSemantic(o);
  const [ea, pa] = await version(o, o.from);
  const [eb, pb] = await version(o, o.to);
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

/** A published version's compiled policies, from the state directory's history or the shared store. */
async function version(o: OptionsOf<typeof FLAGS, typeof ARGS>, ref: string): Promise<[HistoryEntry, Map<string, CompiledPolicy>]> {
  if (o.store)
    return withStore(o, async (s) => {
      const e = found(findEntry(await s.entries(), ref));
      return [e, await storedPolicies(s, e)] as [HistoryEntry, Map<string, CompiledPolicy>];
    });
  const h = openHistory(o.state);
  const e = found(h.find(ref));
  return [e, guard(() => h.policies(e))];
}

/** A directory is compiled as it stands; anything else names a published version. */
async function side(o: OptionsOf<typeof FLAGS, typeof ARGS>, ref: string): Promise<Side> {
  if (existsSync(ref) && statSync(ref).isDirectory()) {
    const c = compile(loadPolicy([ref], 'nothing was compared').policy);
    return { label: ref, policies: new Map(c.workloads.map((w) => [w.workload.name, w.policy])) };
  }
  const [entry, policies] = await version(o, ref);
  return { label: `#${entry.seq} ${entry.version}`, entry, policies };
}

async function runSemantic(o: OptionsOf<typeof FLAGS, typeof ARGS>): Promise<number> {
  const nowMs = instant('--at', o.at);
  const [a, b] = [await side(o, o.from), await side(o, o.to)];
  const mode = o.mode as AnalysisMode;
  const started = performance.now();
  const diffs = await semanticDiff(a.policies, b.policies, { mode, nowMs });
  const ms = performance.now() - started;
  const allowed = diffs.flatMap((d) => d.classes).filter((c) => c.change === 'newly-allowed').length;
  const code = allowed > 0 ? DIFF_EXIT.newlyAllowed : DIFF_EXIT.ok;
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ from: a.label, to: b.label, mode, nowMs, newlyAllowed: allowed > 0, workloads: diffs, ms: Math.round(ms) }, null, 2)}\n`,
    );
    return code;
  }
  process.stdout.write(`${a.label} → ${b.label} (${mode} rules)\n\n`);
  const rows = diffs.flatMap((d) => (d.classes.length ? d.classes.map((c) => row(d, c)) : [[d.workload, d.status, '-', '-', '-']]));
  if (rows.length === 0) process.stdout.write('no request is decided differently\n');
  else process.stdout.write(`${table(['WORKLOAD', 'CHANGE', 'EXAMPLE REQUEST', 'BEFORE', 'AFTER'], rows)}\n`);
  const denied = diffs.flatMap((d) => d.classes).length - allowed;
  const summary = `${allowed} class${allowed === 1 ? '' : 'es'} of requests newly allowed, ${denied} newly denied, over ${diffs.length} workload${diffs.length === 1 ? '' : 's'}`;
  process.stdout.write(
    `\n${allowed > 0 ? paint(`✗ ${summary}: ask for a second review`, 'red') : paint(`✓ ${summary}`, 'green')} (${ms.toFixed(0)} ms)\n`,
  );
  return code;
}

function row(d: WorkloadDiff, c: ChangedClass): string[] {
  const change = c.change === 'newly-allowed' ? paint('+ newly allowed', 'red') : paint('- newly denied', 'yellow');
  const more = c.pieces > 1 ? ` (+${c.pieces - 1} similar)` : '';
  return [d.workload, change, `${requestLine(c.example)}${more}`, c.before, c.after];
}
