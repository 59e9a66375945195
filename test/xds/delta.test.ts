/** Incremental (Delta) protocol rules over real gRPC on loopback. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TYPE } from '../../contracts/type-urls.js';
import { SnapshotCache } from '../../control/xds/cache.js';
import { XdsServer } from '../../control/xds/server.js';
import type { NackRecord } from '../../control/xds/session.js';
import { delta, resource } from '../helpers/xds.js';

const ECDS = TYPE.extensionConfig;
const cache = new SnapshotCache();
const nacks: NackRecord[] = [];
const server = new XdsServer({ cache, events: { nack: (_s, _t, n) => nacks.push(n) } });
let addr = '';

before(async () => {
  addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
});
after(() => server.stop(200));

const set = (node: string, list: ReturnType<typeof resource>[], type: string = ECDS) => cache.set(node, new Map([[type, list]]));
const namesOf = (r: { resources: { name: string }[] }) => r.resources.map((x) => x.name).sort();

test('subscribe sends the resources with per-resource versions; a change sends only what changed', async () => {
  set('d1', [resource('a', '1'), resource('b', '1')]);
  const s = delta(addr);
  s.req({ node: { id: 'd1' }, typeUrl: ECDS, resourceNamesSubscribe: ['a', 'b'] });
  const r1 = await s.next();
  assert.deepEqual(namesOf(r1), ['a', 'b']);
  assert.ok(r1.resources.every((x) => x.version.length === 16));
  s.req({ typeUrl: ECDS, responseNonce: r1.nonce });
  await s.nothing(100);
  set('d1', [resource('a', '2'), resource('b', '1')]);
  const r2 = await s.next();
  assert.deepEqual(namesOf(r2), ['a']);
  assert.deepEqual(r2.removedResources, []);
  s.close();
});

test('a deleted resource is reported in removed_resources; a subscribed name that does not exist too, once', async () => {
  set('d2', [resource('a'), resource('b')]);
  const s = delta(addr);
  s.req({ node: { id: 'd2' }, typeUrl: ECDS, resourceNamesSubscribe: ['a', 'b', 'ghost'] });
  const r1 = await s.next();
  assert.deepEqual(namesOf(r1), ['a', 'b']);
  assert.deepEqual(r1.removedResources, ['ghost']);
  s.req({ typeUrl: ECDS, responseNonce: r1.nonce });
  await s.nothing(100);
  set('d2', [resource('a')]);
  const r2 = await s.next();
  assert.deepEqual(r2.resources, []);
  assert.deepEqual(r2.removedResources, ['b']);
  s.req({ typeUrl: ECDS, responseNonce: r2.nonce });
  set('d2', [resource('a')]);
  await s.nothing();
  s.close();
});

test('unsubscribe needs no answer; subscribing again sends the resource again', async () => {
  set('d3', [resource('a'), resource('b')]);
  const s = delta(addr);
  s.req({ node: { id: 'd3' }, typeUrl: ECDS, resourceNamesSubscribe: ['a', 'b'] });
  const r1 = await s.next();
  s.req({ typeUrl: ECDS, responseNonce: r1.nonce, resourceNamesUnsubscribe: ['b'] });
  await s.nothing();
  set('d3', [resource('a'), resource('b', 'changed')]);
  await s.nothing();
  s.req({ typeUrl: ECDS, responseNonce: r1.nonce, resourceNamesSubscribe: ['b'] });
  const r2 = await s.next();
  assert.deepEqual(namesOf(r2), ['b']);
  s.close();
});

test('initial_resource_versions on reconnect: only what differs is sent', async () => {
  set('d4', [resource('a', '1'), resource('b', '1')]);
  const first = delta(addr);
  first.req({ node: { id: 'd4' }, typeUrl: ECDS, resourceNamesSubscribe: ['a', 'b'] });
  const r = await first.next();
  first.close();
  const held = Object.fromEntries(r.resources.map((x) => [x.name, x.version]));
  set('d4', [resource('a', '1'), resource('b', '2')]);
  const again = delta(addr);
  again.req({ node: { id: 'd4' }, typeUrl: ECDS, resourceNamesSubscribe: ['a', 'b'], initialResourceVersions: held });
  const r2 = await again.next();
  assert.deepEqual(namesOf(r2), ['b']);
  again.close();
});

test('a NACK is recorded and the rejected version is not re-sent; the next change is', async () => {
  set('d5', [resource('perimeter.authz', 'good')]);
  const s = delta(addr);
  s.req({ node: { id: 'd5' }, typeUrl: ECDS, resourceNamesSubscribe: ['perimeter.authz'] });
  const good = await s.next();
  s.req({ typeUrl: ECDS, responseNonce: good.nonce });
  await s.nothing(100);
  set('d5', [resource('perimeter.authz', 'bad')]);
  const bad = await s.next();
  s.req({ typeUrl: ECDS, responseNonce: bad.nonce, errorDetail: { code: 3, message: 'bad policy' } });
  await s.nothing(400);
  assert.equal(nacks.at(-1)?.message, 'bad policy');
  set('d5', [resource('perimeter.authz', 'fixed')]);
  const fixed = await s.next();
  assert.notEqual(fixed.resources[0]?.version, bad.resources[0]?.version);
  s.close();
});

test('subscription changes are honoured even with a stale nonce', async () => {
  set('d6', [resource('a', '1'), resource('b', '1')]);
  const s = delta(addr);
  s.req({ node: { id: 'd6' }, typeUrl: ECDS, resourceNamesSubscribe: ['a'] });
  const r1 = await s.next();
  set('d6', [resource('a', '2'), resource('b', '1')]);
  await s.next();
  s.req({ typeUrl: ECDS, responseNonce: r1.nonce, resourceNamesSubscribe: ['b'] });
  const r3 = await s.next();
  assert.deepEqual(namesOf(r3), ['b']);
  s.close();
});

test('wildcard: "*" (or an LDS/CDS stream that never names a resource) gets everything, and deletions', async () => {
  set('d7', [resource('x', '1', TYPE.cluster), resource('y', '1', TYPE.cluster)], TYPE.cluster);
  const s = delta(addr);
  s.req({ node: { id: 'd7' }, typeUrl: TYPE.cluster });
  const r1 = await s.next();
  assert.deepEqual(namesOf(r1), ['x', 'y']);
  s.req({ typeUrl: TYPE.cluster, responseNonce: r1.nonce });
  await s.nothing(100);
  set('d7', [resource('y', '1', TYPE.cluster)], TYPE.cluster);
  const r2 = await s.next();
  assert.deepEqual(r2.removedResources, ['x']);
  s.close();

  set('d8', [resource('p'), resource('q')]);
  const e = delta(addr, undefined, true);
  e.req({ node: { id: 'd8' }, resourceNamesSubscribe: ['*'] });
  assert.deepEqual(namesOf(await e.next()), ['p', 'q']);
  e.close();
});
