/**
 * The history in etcd, against a real 3-member etcd cluster on loopback (Debian's etcd-server):
 * versions and their blobs round-trip, a publish is conditioned on the revision its writer read
 * (two writers on one version: one wins, the other changes nothing), damaged data is refused,
 * and one member down interrupts nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { digest } from '../../control/compile/compile.js';
import type { HistoryEntry } from '../../control/serve/history.js';
import { EtcdHistory, parseStoreUrl } from '../../control/store/etcd-history.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { compiled, perimeter } from '../helpers/policy.js';

let cluster: EtcdCluster;
before(async () => {
  cluster = await EtcdCluster.start(3);
});
after(async () => {
  await cluster?.stop();
});

/** An entry and its blobs for a policy whose allow rule has `name`. */
function version(name: string): { entry: Omit<HistoryEntry, 'seq'>; blobs: Map<string, Uint8Array> } {
  const c = compiled(perimeter('enforce', `- name: ${name}\n  action: allow\n  from: {workloads: [web]}`));
  const blobs = new Map(c.workloads.map((w) => [w.version, w.bytes] as const));
  const sources = Buffer.from(JSON.stringify([{ path: 'p.yaml', text: name }]));
  blobs.set(`src-${digest(sources)}`, sources);
  return {
    entry: {
      version: c.version,
      time: new Date(0).toISOString(),
      reason: 'publish',
      summary: [],
      workloads: c.workloads.map((w) => ({ name: w.workload.name, identity: w.workload.identity, version: w.version })),
      sources: `src-${digest(sources)}`,
    },
    blobs,
  };
}

const store = (prefix: string) => {
  const hosts = parseStoreUrl(cluster.storeUrl());
  assert.ok(hosts.ok);
  return EtcdHistory.connect(hosts.value, prefix);
};

test('the store URL is etcd://host:port,…, and anything else is refused with a hint', () => {
  assert.deepEqual(parseStoreUrl('etcd://127.0.0.1:2379,10.0.0.2:2379'), { ok: true, value: ['127.0.0.1:2379', '10.0.0.2:2379'] });
  for (const bad of ['http://x:1', 'etcd://', 'etcd://host', 'etcd://a:1,b c:2']) assert.equal(parseStoreUrl(bad).ok, false, bad);
});

test('versions and their blobs round-trip through etcd, each blob checked against its name', async () => {
  const h = store('/t1');
  try {
    assert.deepEqual(await h.head(), { seq: 0, revision: '0' });
    const a = version('first');
    const r1 = await h.publish(a.entry, a.blobs, await h.head());
    assert.ok(r1.ok);
    const b = version('second');
    const r2 = await h.publish(b.entry, b.blobs, await h.head());
    assert.ok(r2.ok);
    assert.equal((await h.head()).seq, 2);
    const entries = await h.entries();
    assert.deepEqual(
      entries.map((e) => [e.seq, e.version]),
      [
        [1, a.entry.version],
        [2, b.entry.version],
      ],
    );
    for (const [name, bytes] of b.blobs) assert.deepEqual(Buffer.from(await h.blob(name)), Buffer.from(bytes));
  } finally {
    h.close();
  }
});

test('what is served is read at one revision: the pointer, the quarantine list and the entry it names, even past a stray history key', async () => {
  const h = store('/t-serving');
  const raw = new Etcd3({ hosts: cluster.endpoints().map((x) => `http://${x}`) });
  try {
    assert.deepEqual(await h.serving(), { head: { seq: 0, revision: '0' }, quarantine: { list: [], revision: '0' }, entry: undefined });
    const a = version('served');
    const q = [{ identity: 'spiffe://td/ns/x/sa/y', both: false, reason: 'r', since: '' }];
    assert.ok((await h.publish(a.entry, a.blobs, await h.head(), undefined, { list: q, expected: '0' })).ok);
    const s = await h.serving();
    assert.equal(s.head.seq, 1);
    assert.equal(s.entry?.version, a.entry.version);
    assert.deepEqual(s.quarantine.list, q);
    // A key after the served one (not written by a publish) is neither served nor an error.
    await raw.put('/t-serving/history/999999').value('{not an entry');
    assert.equal((await h.serving()).entry?.version, a.entry.version);
    // The entry the pointer names, damaged: refused, never served.
    await raw.put('/t-serving/history/000001').value('{"seq": 1}');
    await assert.rejects(h.serving(), /history\/000001/);
  } finally {
    raw.close();
    h.close();
  }
});

test('two writers on the same version: exactly one publishes, the other writes nothing and says why', async () => {
  const x = store('/t2');
  const y = store('/t2');
  try {
    const base = version('base');
    assert.ok((await x.publish(base.entry, base.blobs, await x.head())).ok);
    const seen = await x.head();
    const [rx, ry] = await Promise.all([
      x.publish(version('from-x').entry, version('from-x').blobs, seen),
      y.publish(version('from-y').entry, version('from-y').blobs, seen),
    ]);
    assert.equal([rx, ry].filter((r) => r.ok).length, 1);
    const loser = rx.ok ? ry : rx;
    assert.ok(!loser.ok && /the current version moved to #2 while #1 was read/.test(loser.problems[0]?.message ?? ''));
    assert.equal((await x.entries()).length, 2, 'the loser left no entry behind');
  } finally {
    x.close();
    y.close();
  }
});

test('a blob that does not match its name, and an entry that does not decode, are refused', async () => {
  const h = store('/t3');
  const raw = new Etcd3({ hosts: cluster.endpoints().map((e) => `http://${e}`) });
  try {
    const v = version('tampered');
    assert.ok((await h.publish(v.entry, v.blobs, await h.head())).ok);
    const name = v.entry.workloads[0]?.version as string;
    const other = version('other').blobs.values().next().value as Uint8Array;
    await raw.put(`/t3/blobs/${name}`).value(Buffer.from(other));
    await assert.rejects(h.blob(name), /is refused: its content is version [0-9a-f]+, not/);
    await raw.put(`/t3/blobs/${v.entry.sources}`).value('[]');
    await assert.rejects(h.blob(v.entry.sources as string), /does not hash to its name/);
    await raw.put('/t3/history/000002').value('{not json');
    await assert.rejects(h.entries(), /history\/000002 is not an entry/);
    // Nothing damaged is accepted for publishing either.
    const bad = await h.publish(version('x').entry, new Map([[name, other]]), await h.head());
    assert.equal(bad.ok, false);
  } finally {
    raw.close();
    h.close();
  }
});

test('one etcd member down: publishing and reading go on', async () => {
  const h = store('/t4');
  try {
    cluster.kill(2);
    const v = version('degraded');
    const r = await h.publish(v.entry, v.blobs, await h.head());
    assert.ok(r.ok);
    assert.equal((await h.entries()).length, 1);
  } finally {
    h.close();
    cluster.restart(2);
    await cluster.healthy();
  }
});
