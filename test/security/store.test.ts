/**
 * What an attacker with a copy of etcd, or write access to it, gets: the CA key only sealed (a
 * wrong secret or an altered seal is an error, never another key), and a damaged quarantine list
 * or replica record refused or ignored, never read as "nothing quarantined".
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
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

test('a replica record that is not JSON is left out of status, not trusted', async () => {
  const raw = new Etcd3({ hosts: cluster.endpoints().map((h) => `http://${h}`) });
  const store = EtcdHistory.connect(cluster.endpoints());
  try {
    await raw.put('/perimeter/replicas/r1').value('{"id":"r1","sidecars":[]}');
    await raw.put('/perimeter/replicas/evil').value('{"id": "evil", ');
    assert.deepEqual(
      (await store.replicas()).map((r) => r.id),
      ['r1'],
    );
  } finally {
    raw.close();
    store.close();
  }
});
