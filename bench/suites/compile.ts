/**
 * Control-plane compile time: 10,000 perimeters × 10 rules (budget ≤ 2 s), from the
 * validated model to one CompiledPolicy's bytes per workload.
 */
import { compile } from '../../control/compile/compile.js';
import { syntheticPolicy } from '../fixtures.js';
import type { SuiteResult } from '../types.js';

export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const perimeters = opts.quick ? 1_000 : 10_000;
  const rules = 10;
  const policy = syntheticPolicy(perimeters, rules);
  const samples: number[] = [];
  const iterations = opts.quick ? 2 : 5;
  compile(policy); // warm-up: JIT and caches
  let bytes = 0;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    const r = compile(policy);
    samples.push(performance.now() - t0);
    bytes = r.workloads.reduce((n, w) => n + w.bytes.length, 0);
    process.stderr.write(`  compile ${perimeters}×${rules}: run ${i + 1}/${iterations} ${samples.at(-1)?.toFixed(0)} ms\n`);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)] as number;
  return {
    suite: 'compile',
    rows: [
      {
        name: `compile ${perimeters} perimeters × ${rules} rules`,
        unit: 'ms',
        median,
        min: samples[0] as number,
        max: samples.at(-1) as number,
        samples: samples.length,
        extra: { totalCompiledBytes: bytes },
      },
    ],
    budgets: opts.quick
      ? []
      : [{ name: 'compile 10,000 perimeters × 10 rules', limit: 2000, unit: 'ms', measured: median, met: median <= 2000 }],
  };
}
