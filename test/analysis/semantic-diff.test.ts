/**
 * `diff --semantic`: the requests a change newly allows and newly denies, per workload, exactly:
 * on purpose-built changes, and against the reference evaluator on generated pairs of policies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analysedPolicy, blocks } from '../../control/analysis/passing.js';
import { changedRegions, semanticDiff } from '../../control/analysis/semantic-diff.js';
import { compile } from '../../control/compile/compile.js';
import { pathParametersOf } from '../../control/eval/evaluate.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { NOW, randomPolicy, rng } from '../differential/generate.js';
import { randomRequest } from '../differential/generate-request.js';
import { analysable, inside } from '../helpers/analysis.js';
import { compiled, perimeter, TD } from '../helpers/policy.js';

const policies = (yaml: string) => new Map(compiled(yaml).workloads.map((w) => [w.workload.name, w.policy]));
const rule = (from: string, paths: string) => `- name: reads
  action: allow
  from: {workloads: [${from}]}
  to: {methods: [GET], paths: [${paths}]}`;

test('the same policy: nothing to report', async () => {
  const p = policies(perimeter('enforce', rule('web', '/api/*')));
  assert.deepEqual(await semanticDiff(p, p, { mode: 'enforced', nowMs: NOW }), []);
});

test('a widened allow: the newly admitted caller, with the rules before and after', async () => {
  const before = policies(perimeter('enforce', rule('web', '/api/*')));
  const after = policies(perimeter('enforce', rule('web, web2', '/api/*')));
  const [d, ...rest] = await semanticDiff(before, after, { mode: 'enforced', nowMs: NOW });
  assert.equal(rest.length, 0);
  assert.equal(d?.workload, 'api');
  assert.equal(d?.classes.length, 1);
  const c = d?.classes[0];
  assert.equal(c?.change, 'newly-allowed');
  assert.equal(c?.example.principal, `${TD}/ns/shop/sa/web2`);
  assert.deepEqual([c?.before, c?.after], ['api/default', 'api/reads']);
  assert.deepEqual(c?.where.peer, [`${TD}/ns/shop/sa/web2`]);
});

test('a narrowed path: the requests newly denied, nothing newly allowed', async () => {
  const before = policies(perimeter('enforce', rule('web', '/api/*')));
  const after = policies(perimeter('enforce', rule('web', '/api/v2/*')));
  const classes = (await semanticDiff(before, after, { mode: 'enforced', nowMs: NOW }))[0]?.classes ?? [];
  assert.ok(classes.length > 0);
  assert.ok(classes.every((c) => c.change === 'newly-denied'));
  assert.ok(
    classes.every((c) => c.example.path === '/api' || (c.example.path.startsWith('/api/') && !c.example.path.startsWith('/api/v2'))),
  );
});

test('simulate to enforce: what the perimeter starts to block; written mode sees no change', async () => {
  const before = policies(perimeter('simulate', rule('web', '/api/*')));
  const after = policies(perimeter('enforce', rule('web', '/api/*')));
  const enforced = await semanticDiff(before, after, { mode: 'enforced', nowMs: NOW });
  assert.ok(enforced[0]?.classes.every((c) => c.change === 'newly-denied' && c.after === 'api/default'));
  assert.deepEqual(
    (await semanticDiff(before, after, { mode: 'written', nowMs: NOW })).flatMap((d) => d.classes),
    [],
  );
});

test('generated pairs of policies: a request is in the newly allowed (denied) region exactly when the evaluator says so', async () => {
  const r = rng(20261208);
  let checked = 0;
  const misses: string[] = [];
  for (let i = 0; i < 150; i++) {
    const [a, b] = [compile(randomPolicy(r)), compile(randomPolicy(r))];
    const requests = Array.from({ length: 150 }, () => randomRequest(r));
    for (const wa of a.workloads) {
      const wb = b.workloads.find((w) => w.workload.name === wa.workload.name);
      if (!wb) continue;
      const pa: CompiledPolicy = analysedPolicy(wa.policy, 'enforced');
      const pb: CompiledPolicy = analysedPolicy(wb.policy, 'enforced');
      if (pathParametersOf(pa) !== pathParametersOf(pb)) continue;
      const { space, allowed, denied } = changedRegions(pa, pb, NOW);
      for (const raw of requests) {
        const req = analysable(raw, pa, NOW);
        if (!req) continue;
        const classes = space.classify(req);
        if (!Array.isArray(classes)) {
          misses.push(`${classes.missed} of ${JSON.stringify(req)}`);
          continue;
        }
        checked++;
        const [passA, passB] = [!blocks(pa, req), !blocks(pb, req)];
        if (inside(allowed, classes) !== (passB && !passA) || inside(denied, classes) !== (passA && !passB))
          misses.push(`policy pair ${i} ${wa.workload.name}: ${JSON.stringify(req)}`);
      }
    }
  }
  assert.deepEqual(misses.slice(0, 5), [], `${misses.length} misses`);
  assert.ok(checked > 8_000, `${checked} requests checked`);
});
