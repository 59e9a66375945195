/**
 * The analysis is exact: for generated policies (the differential test's, every matcher kind
 * and mode) and generated requests, every request falls in a class the analysis built (no
 * outcome its candidates missed), and the region it computes as passing holds the request
 * exactly when the reference evaluator lets it through. Brute force over a finite request
 * space, against the symbolic answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ANALYSIS_MODES, analysedPolicy, blocks, passing } from '../../control/analysis/passing.js';
import { RequestSpace } from '../../control/analysis/space.js';
import { compile } from '../../control/compile/compile.js';
import { NOW, randomPolicy, rng } from '../differential/generate.js';
import { randomRequest } from '../differential/generate-request.js';
import { analysable, inside } from '../helpers/analysis.js';

test('generated policies: every generated request is classified, and passes exactly when the evaluator lets it through', () => {
  const r = rng(20261207);
  let checked = 0;
  const misses: string[] = [];
  for (let i = 0; i < 120; i++) {
    const set = randomPolicy(r);
    const requests = Array.from({ length: 150 }, () => randomRequest(r));
    for (const w of compile(set).workloads) {
      for (const mode of ANALYSIS_MODES) {
        const policy = analysedPolicy(w.policy, mode);
        const space = new RequestSpace(NOW);
        const shapes = space.addPolicy(policy);
        space.build();
        const pass = passing(space, policy, shapes);
        for (const raw of requests) {
          const req = analysable(raw, policy, NOW);
          if (!req) continue;
          const classes = space.classify(req);
          if (!Array.isArray(classes)) {
            misses.push(`policy ${i} ${w.workload.name} ${mode}: ${classes.missed} of ${JSON.stringify(req)}`);
            continue;
          }
          checked++;
          if (inside(pass, classes) === blocks(policy, req))
            misses.push(`policy ${i} ${w.workload.name} ${mode}: region and evaluator differ on ${JSON.stringify(req)}`);
        }
      }
    }
  }
  const kinds = new Map<string, number>();
  for (const m of misses) {
    const k = m.split(': ')[1]?.split(' of ')[0] ?? m;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  assert.deepEqual(misses.slice(0, 5), [], `${misses.length} misses ${JSON.stringify([...kinds])}`);
  assert.ok(checked > 50_000, `${checked} requests checked`);
});
