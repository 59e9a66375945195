/**
 * The filter agrees with the reference evaluator (and `export rbac` where gRPC's RBAC engine
 * can judge it): 100,000 generated (policy, request) cases with a fixed seed, repeated headers
 * among them, zero disagreements. `npm run differential` runs a larger, random-seed one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDifferential } from './run.js';

test('perimeter.wasm, the reference evaluator and export rbac agree on 100,000 generated cases', () => {
  const { cases, rbacCases, disagreements } = runDifferential({ seed: 20261123, policies: 400, requestsPerPolicy: 250 });
  assert.equal(cases, 100_000);
  assert.ok(rbacCases > 12_000, `${rbacCases} cases also judged by Envoy RBAC semantics (strip cannot be exported)`);
  assert.deepEqual(disagreements.slice(0, 3), [], `${disagreements.length} disagreements`);
});
