/** Large meshes are analysed on worker threads: the same answers as on one thread, in the same order. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syntheticPolicy } from '../../bench/fixtures.js';
import { deadRules } from '../../control/analysis/dead-rules.js';
import { perWorkload } from '../../control/analysis/parallel.js';
import { diffWorkloads } from '../../control/analysis/semantic-diff.js';
import { compile } from '../../control/compile/compile.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';

const NOW = Date.parse('2026-12-07T00:00:00Z');

test('1,200 workloads: dead rules and semantic diffs from the worker threads equal those of one thread', async () => {
  const set = syntheticPolicy(1_200, 10);
  const compiled = compile(set);
  const bytes = compiled.workloads.map((w) => w.bytes);
  const inWorkers = await perWorkload('dead', bytes, { nowMs: NOW }, deadRules);
  assert.deepEqual(inWorkers, deadRules(bytes, { nowMs: NOW }));
  assert.ok(
    inWorkers.flat().some((r) => r.dead?.code === 'deny-of-nothing'),
    'the comparison is not between empty answers',
  );

  const widened = syntheticPolicy(1_200, 10);
  for (const p of widened.perimeters) {
    const op = p.rules[2]?.to[0];
    if (op) op.methods = [];
  }
  const after = compile(widened).workloads.map((w) => CompiledPolicy.encode(w.policy).finish());
  const jobs = bytes.map((b, i) => ({ before: b, after: after[i] as Uint8Array }));
  const o = { mode: 'enforced' as const, nowMs: NOW };
  const diffs = await perWorkload('diff', jobs, o, diffWorkloads);
  assert.deepEqual(diffs, diffWorkloads(jobs, o));
  assert.equal(diffs.length, 1_200);
  assert.ok(diffs.every((d) => d.some((c) => c.change === 'newly-allowed')));
});
