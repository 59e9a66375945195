/**
 * Reloads run one at a time on the compile worker: changes that arrive while one compiles are
 * compiled once more after it, and a compile that fails (or throws) never stops later ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CompileResponse } from '../../control/serve/compiler.js';
import { Publisher } from '../../control/serve/publisher.js';
import { SnapshotCache } from '../../control/xds/cache.js';

function publisher(compile: (paths: readonly string[]) => Promise<CompileResponse>) {
  return new Publisher({
    paths: ['unused'],
    compile,
    cache: new SnapshotCache(),
    module: { filename: '/m.wasm', sha256: '0'.repeat(64) },
    resourceName: 'perimeter.authz',
  });
}

const rejected = (id: number): CompileResponse => ({ id, rejected: { errors: 1, messages: [`change ${id}`] }, seconds: 0 });

test('a burst of reloads while one compiles is one more compile, after it', async () => {
  const gates: (() => void)[] = [];
  let calls = 0;
  const p = publisher(
    () =>
      new Promise((resolve) => {
        const id = ++calls;
        gates.push(() => resolve(rejected(id)));
      }),
  );
  const first = p.reload();
  const burst = [p.reload(), p.reload(), p.reload()];
  assert.equal(calls, 1, 'the second compile waits for the first');
  gates.shift()?.();
  await first;
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2, 'the burst became one compile');
  gates.shift()?.();
  const results = await Promise.all(burst);
  assert.ok(results.every((r) => !r.ok && r.rejected.messages[0] === 'change 2'));
});

test('a compile that throws does not stop the next', async () => {
  let calls = 0;
  let release: (() => void) | undefined;
  const p = publisher(() => {
    calls++;
    if (calls === 1)
      return new Promise((_, reject) => {
        release = () => reject(new Error('worker gone'));
      });
    return Promise.resolve(rejected(calls));
  });
  const first = p.reload().catch((e: Error) => e.message);
  const second = p.reload();
  release?.();
  assert.equal(await first, 'worker gone');
  const r = await second;
  assert.equal(r.ok, false);
  assert.equal(calls, 2);
  assert.equal((await p.reload()).ok, false, 'and the one after that runs too');
  assert.equal(calls, 3);
});
