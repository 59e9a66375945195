/** The flow store: aggregation, queries, persistence across reopen, and its bound. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FlowEvent } from '../../control/flows/event.js';
import { FlowStore } from '../../control/flows/store.js';

const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const ev = (over: Partial<FlowEvent>): FlowEvent => ({
  timeMs: 1_000,
  source: WEB,
  destination: 'app',
  method: 'GET',
  host: 'app',
  path: '/api/orders/1',
  port: 15443,
  status: 200,
  decision: 'allow',
  enforced: true,
  mode: 'enforce',
  rule: 'app/web-calls-api',
  version: 'v1',
  ...over,
});

test('requests aggregate into flows by destination, source, method and path template', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-flows-'));
  const store = FlowStore.open(dir);
  const created = store.record([
    ev({ path: '/api/orders/1', timeMs: 1_000 }),
    ev({ path: '/api/orders/2?x=1', timeMs: 3_000 }),
    ev({ path: '/api/orders/3', timeMs: 2_000 }),
    ev({ method: 'POST', path: '/api/orders/4', decision: 'deny', enforced: true, status: 403, rule: 'app/default' }),
    ev({ source: undefined, path: '/api/orders/5', decision: 'deny', enforced: false, status: 200, rule: 'default' }),
  ]);
  assert.equal(created, 3);
  const flows = store.query();
  assert.equal(flows.length, 3);
  const get = flows.find((f) => f.method === 'GET' && f.source === WEB);
  assert.ok(get);
  assert.equal(get.template, '/api/orders/*');
  assert.equal(get.count, 3);
  assert.equal(get.allowed, 3);
  assert.equal(get.firstMs, 1_000);
  assert.equal(get.lastMs, 3_000);
  assert.equal(get.lastPath, '/api/orders/2?x=1', 'the latest request is the example');
  assert.deepEqual(
    store.query({ denied: true }).map((f) => [f.method, f.source ?? 'unauthenticated', f.denied, f.wouldDeny]),
    [
      ['GET', 'unauthenticated', 0, 1],
      ['POST', WEB, 1, 0],
    ],
  );
  assert.equal(store.query({ to: 'db' }).length, 0);
  assert.equal(store.query({ sinceMs: 2_500 }).length, 1);
  // A second batch adds to the same flows; a reopened store still has them.
  store.record([ev({ path: '/api/orders/77', timeMs: 5_000 })]);
  await store.close();
  const again = FlowStore.open(dir);
  assert.equal(again.query({ to: 'app' }).find((f) => f.method === 'GET' && f.source === WEB)?.count, 4);
  await again.close();
});

test('past its limit the store drops the flows seen least recently, and counts them', async () => {
  const store = FlowStore.open(mkdtempSync(join(tmpdir(), 'perimeter-flows-')), { maxFlows: 100 });
  for (let i = 0; i < 150; i++) store.record([ev({ method: 'GET', path: `/p${i}`, timeMs: 10_000 + i })]);
  assert.ok(store.size <= 100, `${store.size} flows`);
  assert.ok(store.droppedFlows >= 50);
  const kept = store.query().map((f) => f.template);
  assert.ok(kept.includes('/p149') && !kept.includes('/p0'), 'the oldest went first');
  await store.close();
});
