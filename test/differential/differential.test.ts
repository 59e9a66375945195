/**
 * The filter agrees with the reference evaluator: 100,000 generated (policy, request) cases
 * with a fixed seed, zero disagreements. `npm run differential` runs a larger, random-seed one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDifferential } from './run.js';

test('perimeter.wasm and the reference evaluator agree on 100,000 generated cases', () => {
  const { cases, disagreements } = runDifferential({ seed: 20261123, policies: 400, requestsPerPolicy: 250 });
  assert.equal(cases, 100_000);
  assert.deepEqual(disagreements.slice(0, 3), [], `${disagreements.length} disagreements`);
});
