/**
 * Policy analysis at mesh scale: 10,000 perimeters × 10 rules (bench/fixtures.ts), `verify` with
 * four assertions about every workload (budget ≤ 10 s), `lint` (≤ 5 s) and `diff --semantic`
 * against a version in which every perimeter changed one rule (≤ 10 s). Timed from the compiled
 * policy, as the commands run after loading and compiling; on every core (control/analysis/parallel.ts).
 */
import { availableParallelism } from 'node:os';
import { parseAssertions } from '../../control/analysis/assertions.js';
import { lint } from '../../control/analysis/lint.js';
import { semanticDiff } from '../../control/analysis/semantic-diff.js';
import { verify } from '../../control/analysis/verify.js';
import { compile } from '../../control/compile/compile.js';
import { syntheticPolicy } from '../fixtures.js';
import { median } from '../measure/percentile.js';
import type { Budget, Row, SuiteResult } from '../types.js';

const ASSERTIONS = `apiVersion: perimeter.dev/v1
kind: Assertions
assertions:
  - {name: no-unauthenticated, never: {from: unauthenticated, to: "*"}}
  - {name: admin-only-from-svc-0, only: {to: "*", paths: ["/admin/*"], from: [svc-0]}}
  - {name: no-deletes-from-outside, never: {from: {notNamespace: ns-1}, to: "*", methods: [DELETE]}}
  - {name: svc-1-posts-to-svc-0, always: {from: svc-1, to: svc-0, methods: [POST], paths: [/api/v0]}}
`;

export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const perimeters = opts.quick ? 1_000 : 10_000;
  const iterations = opts.quick ? 1 : 3;
  const set = syntheticPolicy(perimeters, 10);
  const compiled = compile(set);
  const changed = syntheticPolicy(perimeters, 10);
  // Every perimeter widens one rule: /api/v1/* becomes /api/*.
  for (const p of changed.perimeters) {
    const op = p.rules[1]?.to[0];
    if (op) op.paths = [{ kind: 'segment-prefix', value: '/api' }];
  }
  const after = compile(changed);
  const policies = (c: typeof compiled) => new Map(c.workloads.map((w) => [w.workload.name, w.policy]));
  const [before, next] = [policies(compiled), policies(after)];
  const { assertions } = parseAssertions({ name: 'bench', text: ASSERTIONS });
  const nowMs = Date.now();

  const timed = async (name: string, f: () => Promise<string>): Promise<Row> => {
    const samples: number[] = [];
    let what = '';
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      what = await f();
      samples.push(performance.now() - t0);
      process.stderr.write(`  ${name}: run ${i + 1}/${iterations} ${samples.at(-1)?.toFixed(0)} ms (${what})\n`);
    }
    return {
      name: `${name} ${perimeters} perimeters × 10 rules`,
      unit: 'ms',
      median: median(samples),
      min: Math.min(...samples),
      max: Math.max(...samples),
      samples: samples.length,
      extra: { result: what, cores: availableParallelism() },
    };
  };
  const rows = [
    await timed('verify', async () => {
      const r = await verify(set, compiled, assertions, { mode: 'enforced', nowMs });
      return `${r.filter((x) => !x.holds).length} of ${r.length} assertions broken`;
    }),
    await timed(
      'lint',
      async () => `${(await lint(set, compiled, { nowMs, soonMs: 0, maxRolloutMs: Number.MAX_SAFE_INTEGER })).length} findings`,
    ),
    await timed('diff --semantic', async () => {
      const d = await semanticDiff(before, next, { mode: 'enforced', nowMs });
      return `${d.reduce((n, w) => n + w.classes.length, 0)} classes changed on ${d.length} workloads`;
    }),
  ];
  const budget = (row: Row, name: string, limit: number): Budget => ({
    name,
    limit,
    unit: 'ms',
    measured: row.median,
    met: row.median <= limit,
  });
  return {
    suite: 'analysis',
    rows,
    budgets: opts.quick
      ? []
      : [
          budget(rows[0] as Row, 'verify 10,000 perimeters × 10 rules', 10_000),
          budget(rows[1] as Row, 'lint 10,000 perimeters × 10 rules', 5_000),
          budget(rows[2] as Row, 'diff --semantic 10,000 perimeters × 10 rules', 10_000),
        ],
  };
}
