/** State-of-the-world protocol rules over real gRPC on loopback (insecure: node.id is the key here). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TYPE } from '../../contracts/type-urls.js';
import { SnapshotCache } from '../../control/xds/cache.js';
import { XdsServer } from '../../control/xds/server.js';
import type { NackRecord } from '../../control/xds/session.js';
import { names, resource, sotw } from '../helpers/xds.js';

const ECDS = TYPE.extensionConfig;
const cache = new SnapshotCache();
const nacks: NackRecord[] = [];
let stale = 0;
const server = new XdsServer({ cache, events: { nack: (_s, _t, n) => nacks.push(n), staleNonce: () => stale++ } });
let addr = '';

before(async () => {
  addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
});
after(() => server.stop(200));

const set = (node: string, byType: Record<string, ReturnType<typeof resource>[]>) => cache.set(node, new Map(Object.entries(byType)));

test('first request is answered with version and nonce; an ACK is not answered; a change is pushed', async () => {
  set('n1', { [ECDS]: [resource('perimeter.authz', 'p1')] });
  const s = sotw(addr);
  s.req({ node: { id: 'n1' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  const r1 = await s.next();
  assert.equal(r1.typeUrl, ECDS);
  assert.deepEqual(names(r1), ['perimeter.authz']);
  assert.ok(r1.versionInfo && r1.nonce);
  assert.equal(r1.controlPlane?.identifier, 'perimeter');
  s.req({ typeUrl: ECDS, resourceNames: ['perimeter.authz'], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
  await s.nothing();
  set('n1', { [ECDS]: [resource('perimeter.authz', 'p2')] });
  const r2 = await s.next();
  assert.notEqual(r2.versionInfo, r1.versionInfo);
  assert.notEqual(r2.nonce, r1.nonce);
  // Setting identical content is not a change: nothing is re-sent.
  s.req({ typeUrl: ECDS, resourceNames: ['perimeter.authz'], versionInfo: r2.versionInfo, responseNonce: r2.nonce });
  set('n1', { [ECDS]: [resource('perimeter.authz', 'p2')] });
  await s.nothing();
  s.close();
});

test('a NACK is recorded with its message and the rejected version is not re-sent; the next change is', async () => {
  set('n2', { [ECDS]: [resource('perimeter.authz', 'good')] });
  const s = sotw(addr);
  s.req({ node: { id: 'n2' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  const good = await s.next();
  s.req({ typeUrl: ECDS, resourceNames: ['perimeter.authz'], versionInfo: good.versionInfo, responseNonce: good.nonce });
  await s.nothing(100); // the ACK must arrive before the next push, or it is stale
  set('n2', { [ECDS]: [resource('perimeter.authz', 'bad')] });
  const bad = await s.next();
  s.req({
    typeUrl: ECDS,
    resourceNames: ['perimeter.authz'],
    versionInfo: good.versionInfo,
    responseNonce: bad.nonce,
    errorDetail: { code: 3, message: 'on_configure failed: unknown format version 9' },
  });
  await s.nothing(500);
  const n = nacks.at(-1);
  assert.equal(n?.version, bad.versionInfo);
  assert.equal(n?.message, 'on_configure failed: unknown format version 9');
  const info = [...server.streams.values()].find((x) => x.nodeId === 'n2');
  assert.equal(info?.types.get(ECDS)?.ackedVersion, good.versionInfo);
  assert.equal(info?.types.get(ECDS)?.lastNack?.message, 'on_configure failed: unknown format version 9');
  set('n2', { [ECDS]: [resource('perimeter.authz', 'fixed')] });
  const fixed = await s.next();
  assert.notEqual(fixed.versionInfo, bad.versionInfo);
  s.close();
});

test('a request with a stale nonce is ignored; the current nonce is honoured', async () => {
  set('n3', { [ECDS]: [resource('a', '1'), resource('b', '1')] });
  const s = sotw(addr);
  s.req({ node: { id: 'n3' }, typeUrl: ECDS, resourceNames: ['a'] });
  const r1 = await s.next();
  set('n3', { [ECDS]: [resource('a', '2'), resource('b', '1')] });
  const r2 = await s.next();
  const before = stale;
  // Acting on r1 after r2 was sent: a stale nonce, even though it asks for a new name.
  s.req({ typeUrl: ECDS, resourceNames: ['a', 'b'], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
  await s.nothing();
  assert.equal(stale, before + 1);
  s.req({ typeUrl: ECDS, resourceNames: ['a', 'b'], versionInfo: r2.versionInfo, responseNonce: r2.nonce });
  const r3 = await s.next();
  assert.deepEqual(names(r3).sort(), ['a', 'b']);
  s.close();
});

test('subscribing to a name that does not exist waits; it is sent when it appears, and a deletion is pushed as an empty set', async () => {
  set('n4', { [ECDS]: [] });
  const s = sotw(addr);
  s.req({ node: { id: 'n4' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  await s.nothing();
  set('n4', { [ECDS]: [resource('perimeter.authz')] });
  const r = await s.next();
  assert.deepEqual(names(r), ['perimeter.authz']);
  s.req({ typeUrl: ECDS, resourceNames: ['perimeter.authz'], versionInfo: r.versionInfo, responseNonce: r.nonce });
  cache.clear('n4');
  const gone = await s.next();
  assert.deepEqual(gone.resources, []);
  s.close();
});

test('only the names subscribed are sent; other nodes are invisible', async () => {
  set('n5', { [ECDS]: [resource('mine'), resource('other')] });
  set('n6', { [ECDS]: [resource('theirs')] });
  const s = sotw(addr);
  s.req({ node: { id: 'n5' }, typeUrl: ECDS, resourceNames: ['mine', 'theirs'] });
  const r = await s.next();
  assert.deepEqual(names(r), ['mine']);
  s.close();
});

test('LDS and CDS: an empty first request is a wildcard and the response is the full state', async () => {
  set('n7', { [TYPE.listener]: [resource('l1', '1', TYPE.listener), resource('l2', '1', TYPE.listener)] });
  const s = sotw(addr);
  s.req({ node: { id: 'n7' }, typeUrl: TYPE.listener });
  const r = await s.next();
  assert.deepEqual(names(r).sort(), ['l1', 'l2']);
  s.req({ typeUrl: TYPE.listener, versionInfo: r.versionInfo, responseNonce: r.nonce });
  set('n7', { [TYPE.listener]: [resource('l1', '1', TYPE.listener)] });
  const r2 = await s.next();
  assert.deepEqual(names(r2), ['l1'], 'a listener missing from the full state is a deletion');
  s.close();
});

test('one change to several types goes out CDS, EDS, LDS, RDS, ECDS; EDS is re-sent after a cluster change', async () => {
  const types = [TYPE.extensionConfig, TYPE.route, TYPE.listener, TYPE.endpoint, TYPE.cluster];
  const snap = (v: string) => Object.fromEntries(types.map((t) => [t, [resource(`r-${t.slice(-8)}`, t === TYPE.endpoint ? '1' : v, t)]]));
  set('n8', snap('1'));
  const s = sotw(addr);
  const acked = new Map<string, { v: string; n: string }>();
  for (const t of types) {
    s.req({ ...(acked.size === 0 ? { node: { id: 'n8' } } : {}), typeUrl: t, resourceNames: [`r-${t.slice(-8)}`] });
    const r = await s.next();
    acked.set(t, { v: r.versionInfo, n: r.nonce });
    s.req({ typeUrl: t, resourceNames: [`r-${t.slice(-8)}`], versionInfo: r.versionInfo, responseNonce: r.nonce });
  }
  set('n8', snap('2'));
  const order: string[] = [];
  for (let i = 0; i < 5; i++) order.push((await s.next()).typeUrl);
  assert.deepEqual(order, [TYPE.cluster, TYPE.endpoint, TYPE.listener, TYPE.route, TYPE.extensionConfig]);
  s.close();
});

test('a reconnecting client that already has the current version is not sent it again; one with an old version is', async () => {
  set('n9', { [ECDS]: [resource('perimeter.authz', 'x')] });
  const a = sotw(addr);
  a.req({ node: { id: 'n9' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  const r = await a.next();
  a.close();
  const b = sotw(addr);
  b.req({ node: { id: 'n9' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'], versionInfo: r.versionInfo });
  await b.nothing();
  b.close();
  const c = sotw(addr);
  c.req({ node: { id: 'n9' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'], versionInfo: 'old' });
  assert.equal((await c.next()).versionInfo, r.versionInfo);
  c.close();
});

test('protocol errors end the stream with a status: no node.id, empty type_url on ADS, a foreign type on ECDS', async () => {
  const a = sotw(addr);
  a.req({ typeUrl: ECDS });
  assert.equal((await a.status).code, 3);
  a.close();
  const b = sotw(addr);
  b.req({ node: { id: 'n10' } });
  const st = await b.status;
  assert.equal(st.code, 3);
  assert.match(st.details, /type_url is empty/);
  b.close();
  const c = sotw(addr, undefined, true);
  c.req({ node: { id: 'n10' }, typeUrl: TYPE.cluster });
  assert.match((await c.status).details, /serves .*TypedExtensionConfig only/);
  c.close();
});

test('the standalone ECDS service serves the same resources, type_url optional', async () => {
  set('n11', { [ECDS]: [resource('perimeter.authz', 'e')] });
  const s = sotw(addr, undefined, true);
  s.req({ node: { id: 'n11' }, resourceNames: ['perimeter.authz'] });
  const r = await s.next();
  assert.equal(r.typeUrl, ECDS);
  assert.deepEqual(names(r), ['perimeter.authz']);
  s.close();
});
