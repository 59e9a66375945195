/** ALS entries into flow events: what Envoy's http_grpc logger and our sidecar send. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { reasonOf } from '../../contracts/problem.js';
import { eventOf } from '../../control/flows/event.js';
import { accessEntry } from '../../envoy/sidecar/access-entry.js';
import { HTTPAccessLogEntrySchema } from '../../proto/gen/envoy/data/accesslog/v3/accesslog_pb.js';

const RECORD = 'decision=deny enforced=0 mode=simulate rule=db/default version=546497540c37d2c9';

test('an access entry with the decision record becomes a flow event', () => {
  const entry = accessEntry({
    time: '2026-11-24T05:00:00.250Z',
    peer: 'spiffe://shop.example/ns/shop/sa/app',
    method: 'DELETE',
    authority: 'db:15443',
    path: '/orders/7',
    status: 200,
    details: 'via_upstream',
    decision: RECORD,
  });
  const r = eventOf(entry, 'db');
  assert.ok(r.ok, r.ok ? '' : reasonOf(r));
  assert.deepEqual(r.value, {
    timeMs: Date.parse('2026-11-24T05:00:00.250Z'),
    source: 'spiffe://shop.example/ns/shop/sa/app',
    destination: 'db',
    method: 'DELETE',
    host: 'db:15443',
    path: '/orders/7',
    port: undefined,
    status: 200,
    decision: 'deny',
    enforced: false,
    mode: 'simulate',
    rule: 'db/default',
    version: '546497540c37d2c9',
  });
});

test('an entry without the record, or with a broken one, is refused with a reason', () => {
  const bare = eventOf(create(HTTPAccessLogEntrySchema, { request: { path: '/x' } }), 'db');
  assert.equal(bare.ok, false);
  assert.match(bare.ok ? '' : reasonOf(bare), /no wasm.perimeter_decision/);
  const broken = eventOf(
    accessEntry({
      time: new Date().toISOString(),
      peer: undefined,
      method: 'GET',
      authority: 'a',
      path: '/',
      status: 200,
      details: '',
      decision: 'garbage',
    }),
    'db',
  );
  assert.equal(broken.ok, false);
  assert.match(broken.ok ? '' : reasonOf(broken), /no decision/);
});
