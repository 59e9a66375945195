/**
 * What an attacker with a copy of etcd, or write access to it, gets: the CA key only sealed (a
 * wrong secret or an altered seal is an error, never another key), and a damaged quarantine list
 * or replica record refused or ignored, never read as "nothing quarantined".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { type StoreFlags, storeOfState } from '../../cli/support/store.js';
import { sealKey, unsealKey } from '../../control/ha/ca-seal.js';
import { EtcdHistory } from '../../control/store/etcd-history.js';
import { EtcdCluster } from '../helpers/etcd.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';
const SECRET = Buffer.from('the operator secret, 32 bytes ok');

test('the sealed CA key opens only with its secret, and any altered byte is refused', () => {
  const sealed = sealKey(KEY, SECRET);
  assert.ok(!sealed.includes('PRIVATE KEY'), 'never in the clear');
  const opened = unsealKey(sealed, SECRET);
  assert.ok(opened.ok);
  assert.equal(opened.value, KEY);
  assert.ok(!unsealKey(sealed, Buffer.from('another secret of the same size!')).ok, 'a wrong secret');
  const parts = sealed.split(':');
  const body = Buffer.from(parts[4] as string, 'base64');
  body[0] = (body[0] as number) ^ 1;
  const altered = [...parts.slice(0, 4), body.toString('base64')].join(':');
  const r = unsealKey(altered, SECRET);
  assert.ok(!r.ok);
  assert.match(r.problems[0]?.message ?? '', /does not open/);
  assert.ok(!unsealKey('plain text key', SECRET).ok, 'an unsealed value is not taken as a key');
  assert.notEqual(sealKey(KEY, SECRET), sealed, 'a fresh salt and nonce each time');
});

test('a replica’s server.json names its store only in the shape a replica writes; anything else is not taken as a store', () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-state-'));
  const flags: StoreFlags & { state: string } = { state, storePrefix: '/perimeter' };
  assert.equal(storeOfState(flags).store, undefined, 'no server.json: the state directory');
  const write = (v: unknown) => writeFileSync(join(state, 'server.json'), typeof v === 'string' ? v : JSON.stringify(v));
  for (const bad of [
    '{not json',
    { store: 'etcd://a:1' },
    { store: { url: 1, prefix: '/p' } },
    { store: { url: 'etcd://a:1', prefix: '/p', etcdCa: ['x'] } },
  ]) {
    write(bad);
    assert.equal(storeOfState(flags).store, undefined, JSON.stringify(bad));
  }
  write({ store: { url: 'etcd://10.0.0.1:2379', prefix: '/mesh', etcdCa: '/etc/etcd/ca.pem' } });
  assert.deepEqual(
    { ...storeOfState(flags) },
    {
      state,
      store: 'etcd://10.0.0.1:2379',
      storePrefix: '/mesh',
      etcdCa: '/etc/etcd/ca.pem',
      etcdCert: undefined,
      etcdKey: undefined,
      etcdUser: undefined,
    },
  );
  assert.equal(storeOfState({ ...flags, store: 'etcd://b:2' }).store, 'etcd://b:2', 'the flags win');
});

let cluster: EtcdCluster;
before(async () => {
  cluster = await EtcdCluster.start(1);
});
after(async () => {
  await cluster?.stop();
});

test('a damaged quarantine list in etcd is an error, never an empty list (fail closed)', async () => {
  const raw = new Etcd3({ hosts: cluster.endpoints().map((h) => `http://${h}`) });
  const store = EtcdHistory.connect(cluster.endpoints());
  try {
    for (const bad of ['{not json', '{"identity": "spiffe://a/b"}', '[{"identity": "not a spiffe id"}]']) {
      await raw.put('/perimeter/quarantine').value(bad);
      await assert.rejects(store.quarantine(), /quarantine/);
    }
    await raw.put('/perimeter/quarantine').value(JSON.stringify([{ identity: 'spiffe://td/ns/x/sa/y', both: 'yes', reason: 1 }]));
    assert.deepEqual((await store.quarantine()).list, [{ identity: 'spiffe://td/ns/x/sa/y', both: false, reason: '1', since: '' }]);
  } finally {
    raw.close();
    store.close();
  }
});

test('a replica record that is not JSON or not of the shape a replica writes is left out of status, not trusted', async () => {
  const raw = new Etcd3({ hosts: cluster.endpoints().map((h) => `http://${h}`) });
  const store = EtcdHistory.connect(cluster.endpoints());
  const group = { identity: 'spiffe://td/ns/x/sa/y', stream: 'ads/sotw', inSync: true, count: 3 };
  const record = (id: string, over: Record<string, unknown> = {}) =>
    JSON.stringify({ id, pid: 1, leader: false, serving: { seq: 2, version: 'v' }, sidecars: [group], ...over });
  try {
    await raw.put('/perimeter/replicas/r1').value(record('r1'));
    await raw.put('/perimeter/replicas/evil').value('{"id": "evil", ');
    await raw.put('/perimeter/replicas/e2').value(record('e2', { sidecars: 'all of them' }));
    await raw.put('/perimeter/replicas/e3').value(record('e3', { sidecars: [{ ...group, count: -5 }] }));
    await raw.put('/perimeter/replicas/e4').value(record('e4', { sidecars: [{ ...group, identity: 'x'.repeat(100_000) }] }));
    await raw.put('/perimeter/replicas/e5').value(record('e5', { leader: 'yes' }));
    await raw.put('/perimeter/replicas/e6').value(record('e6', { serving: { seq: 'latest', version: 'v' } }));
    await raw.put('/perimeter/replicas/e7').value('[1, 2]');
    const read = await store.replicas();
    assert.deepEqual(
      read.map((r) => r.id),
      ['r1'],
    );
    assert.equal(read[0]?.sidecars[0]?.count, 3);
  } finally {
    await raw.delete().prefix('/perimeter/replicas/');
    raw.close();
    store.close();
  }
});
