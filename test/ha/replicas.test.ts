/**
 * The control plane on etcd (issue 16), with a real 3-member etcd cluster and 3 real replica
 * processes: every replica serves what the store holds, one leader compiles and publishes,
 * sidecars fail over between replicas, and each fault of docs/ha.md behaves as it says.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import type { CaFiles } from '../../control/ca/ca.js';
import type { HistoryEntry } from '../../control/serve/history.js';
import type { SidecarGroup } from '../../control/serve/status.js';
import { EtcdHistory } from '../../control/store/etcd-history.js';
import { countSidecars } from '../../control/store/replica-record.js';
import type { Sidecar } from '../../envoy/sidecar/sidecar.js';
import { perimeterCli as cli } from '../helpers/cli.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { haSidecar, Replicas } from '../helpers/replicas.js';
import { eventually } from '../helpers/xds.js';

const APP = 'spiffe://shop.example/ns/shop/sa/app';
const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const DB = 'spiffe://shop.example/ns/data/sa/db';

let cluster: EtcdCluster;
let replicas: Replicas;
let store: EtcdHistory;
let ca: CaFiles;
let policyDir: string;
const sidecars: { s: Sidecar; identity: string }[] = [];

before(async () => {
  cluster = await EtcdCluster.start(3);
  policyDir = mkdtempSync(join(tmpdir(), 'perimeter-ha-policy-'));
  cpSync('examples/shop/policy', policyDir, { recursive: true });
  replicas = new Replicas(cluster.storeUrl(), policyDir);
  store = EtcdHistory.connect(cluster.endpoints());
  ca = await replicas.seedCa('shop.example');
});
after(async () => {
  for (const c of sidecars) await c.s.stop();
  await replicas?.stop();
  store?.close();
  await cluster?.stop();
});

const policyOf = (c: { s: Sidecar }) => c.s.policy.current?.policyVersion;
const storeArgs = () => ['--store', cluster.storeUrl()];
const head = async () => store.entry((await store.head()).seq);
const statusJson = async () => JSON.parse((await cli('status', ...storeArgs(), '--json')).out) as StoreStatus;
interface StoreStatus {
  current: { seq: number; version: string } | undefined;
  replicas: { id: string; leader: boolean; serving?: { seq: number }; sidecars: SidecarGroup[] }[];
}

/** Every running replica serves the store's current entry, and every sidecar runs its workload's policy of it. */
async function converged(what: string, ms = 5_000, marker?: string): Promise<HistoryEntry> {
  let e: HistoryEntry | undefined;
  await eventually(
    async () => {
      e = await head();
      const s = await statusJson();
      const entry = e;
      const live = s.replicas.filter((r) => replicas.running.has(r.id));
      return (
        (marker === undefined || entry.summary.join(' ').includes(`nightly-reports-${marker}`)) &&
        live.length === replicas.running.size &&
        live.every((r) => r.serving?.seq === entry.seq) &&
        sidecars.every((c) => policyOf(c) === entry.workloads.find((w) => w.identity === c.identity)?.version)
      );
    },
    ms,
    what,
  ).catch((err) => {
    // What the replicas said is the first thing to read when convergence fails.
    for (const r of replicas.running.values()) process.stderr.write(`--- ${r.id}\n${r.log.join('').slice(-3000)}\n`);
    throw err;
  });
  return e as HistoryEntry;
}

function editPolicy(marker: string): void {
  // A new rule name is a real change of every compiled policy that holds the perimeter.
  const f = join(policyDir, 'db.yaml');
  writeFileSync(f, readFileSync(f, 'utf8').replace(/name: (nightly-reports[-\w]*)/, `name: nightly-reports-${marker}`));
}

test('three replicas: one leader, the same version everywhere, sidecars spread over them', async () => {
  for (const id of ['r1', 'r2', 'r3']) await replicas.start(id);
  const first = await converged('all replicas serve #1');
  assert.equal(first.seq, 1, 'one leader published once');
  await eventually(async () => (await statusJson()).replicas.filter((r) => r.leader).length === 1, 8_000, 'exactly one leader');
  const ids = ['r1', 'r2', 'r3'];
  for (const [i, identity] of [APP, WEB, DB].entries())
    sidecars.push({ s: await haSidecar(ca, identity, replicas.addresses(ids[i]), 1), identity });
  await converged('the sidecars ACKed');
  const s = await statusJson();
  assert.deepEqual(s.replicas.map((r) => countSidecars(r.sidecars).all).sort(), [1, 1, 1], 'each replica has one sidecar');
  const text = await cli('status', ...storeArgs());
  assert.equal(text.code, 0);
  assert.match(text.out, /REPLICA +ROLE/);
  assert.match(text.out, /leader/);
});

test('a change reaches the sidecars of every replica; a follower cannot publish and does not try', async () => {
  editPolicy('one');
  const e = await converged('the change everywhere', 5_000, 'one');
  assert.equal(e.seq, 2);
  assert.equal(e.reason, 'publish');
  assert.match(e.summary.join(' '), /nightly-reports-one/);
});

test('quarantine through the store returns when the sidecars of all replicas ACKed, release lifts it', async () => {
  const q = await cli('quarantine', WEB, ...storeArgs(), '--reason', 'ha test', '--json');
  assert.equal(q.code, 0, q.err);
  const r = JSON.parse(q.out) as { sidecars: number; behind: string[]; seconds: number };
  assert.equal(r.sidecars, 3, 'the sidecars of all three replicas');
  assert.deepEqual(r.behind, []);
  const e = await head();
  assert.equal(e.reason, 'quarantine');
  for (const c of sidecars) assert.equal(policyOf(c), e.workloads.find((w) => w.identity === c.identity)?.version, 'in effect');
  assert.deepEqual(
    (await store.quarantine()).list.map((x) => x.identity),
    [WEB],
  );
  const rel = await cli('release', WEB, ...storeArgs());
  assert.equal(rel.code, 0, rel.err);
  assert.match(rel.out, /in effect on 3 connected sidecars/);
  assert.deepEqual((await store.quarantine()).list, []);
});

test('apply publishes from CI without a server; invalid is refused whole; --expect-version refuses a moved version', async () => {
  const before = await store.head();
  const bad = mkdtempSync(join(tmpdir(), 'perimeter-ha-bad-'));
  cpSync(policyDir, bad, { recursive: true });
  writeFileSync(join(bad, 'broken.yaml'), 'apiVersion: perimeter.dev/v1\nkind: Perimeter\nmetadata: {name: x}\nspec: {nope: 1}\n');
  const refused = await cli('apply', '--policy', bad, ...storeArgs());
  assert.equal(refused.code, 1);
  assert.match(refused.err, /nothing was published/);
  assert.deepEqual(await store.head(), before, 'nothing was written');

  const moved = await cli('apply', '--policy', policyDir, ...storeArgs(), '--expect-version', `#${before.seq - 1}`);
  assert.equal(moved.code, 4);
  assert.match(moved.err, new RegExp(`current version is #${before.seq}`));

  const same = await cli('apply', '--policy', policyDir, ...storeArgs(), '--expect-version', `#${before.seq}`);
  assert.equal(same.code, 0, same.err);
  assert.match(same.out, /unchanged/, 'the store already holds this policy');

  const gitops = mkdtempSync(join(tmpdir(), 'perimeter-ha-gitops-'));
  cpSync(policyDir, gitops, { recursive: true });
  const f = join(gitops, 'db.yaml');
  writeFileSync(f, readFileSync(f, 'utf8').replace(/name: (nightly-reports[-\w]*)/, 'name: nightly-reports-gitops'));
  const applied = await cli('apply', '--policy', gitops, ...storeArgs(), '--expect-version', `#${before.seq}`, '--json');
  assert.equal(applied.code, 0, applied.err);
  assert.equal((JSON.parse(applied.out) as { seq: number }).seq, before.seq + 1);
  const e = await converged('the applied version everywhere');
  assert.match(e.summary.join(' '), /nightly-reports-gitops/);

  const versions = await cli('versions', ...storeArgs(), '--json');
  assert.equal((JSON.parse(versions.out) as HistoryEntry[]).length, e.seq);
  const diff = await cli('diff', `#${e.seq - 1}`, `#${e.seq}`, ...storeArgs());
  assert.equal(diff.code, 0, diff.err);
  assert.match(diff.out, /nightly-reports-gitops/);
  // On a replica's host, by its state directory: the versions of the store it serves from.
  const state = [...replicas.running.values()][0]?.state as string;
  const onReplica = await cli('versions', '--state', state, '--json');
  assert.equal(onReplica.code, 0, onReplica.err);
  assert.deepEqual(JSON.parse(onReplica.out), JSON.parse(versions.out));
  const diffOnReplica = await cli('diff', `#${e.seq - 1}`, `#${e.seq}`, '--state', state);
  assert.equal(diffOnReplica.out, diff.out);
  // Back to the directory the replicas watch, through the leader.
  editPolicy('two');
  await converged('the leader publishes the directory again', 5_000, 'two');
});

test('the leader killed: another replica leads within the lease and publishes the next change', async () => {
  const s = await statusJson();
  const leader = s.replicas.find((r) => r.leader)?.id as string;
  const killedAt = Date.now();
  await replicas.kill(leader);
  await eventually(
    async () => (await statusJson()).replicas.some((r) => r.leader && r.id !== leader),
    replicas.lease * 1000 + 4_000,
    'a new leader',
  );
  const tookOver = Date.now() - killedAt;
  editPolicy('three');
  const e = await converged('the next change, ACKed by every sidecar', 10_000, 'three');
  assert.match(e.summary.join(' '), /nightly-reports-three/);
  assert.ok(tookOver < replicas.lease * 1000 + 4_000, `took over in ${tookOver} ms`);
  await replicas.start(leader);
  await converged('the restarted replica serves the current version');
});

test('a follower killed: its sidecars move to another replica and converge', async () => {
  const s = await statusJson();
  const follower = s.replicas.find((r) => !r.leader && r.sidecars.length > 0) as StoreStatus['replicas'][number];
  const moving = follower.sidecars.map((c) => c.identity);
  await replicas.kill(follower.id);
  editPolicy('four');
  await converged('the change on the sidecars that moved', 10_000, 'four');
  const after = await statusJson();
  for (const id of moving)
    assert.ok(
      after.replicas.some((r) => r.id !== follower.id && r.sidecars.some((c) => c.identity === id && c.inSync)),
      `${id} is in sync on another replica`,
    );
  assert.ok(!after.replicas.some((r) => r.id === follower.id), 'the dead replica left status by itself');
  await replicas.start(follower.id);
});

test('one etcd member killed: no interruption; quorum lost: the last good version keeps serving and writes fail clearly', async () => {
  await cluster.kill(0);
  editPolicy('five');
  await converged('a change with one member down', 10_000, 'five');
  await cluster.kill(1);
  const serving = sidecars.map(policyOf);
  const refused = await cli('apply', '--policy', policyDir, ...storeArgs());
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /store|deadline|unavailable|etcd/i);
  await new Promise((r) => setTimeout(r, 1_500));
  assert.deepEqual(sidecars.map(policyOf), serving, 'sidecars keep the last good policy');
  await cluster.restart(0);
  await cluster.restart(1);
  await cluster.healthy();
  editPolicy('six');
  const e = await converged('changes publish again once quorum is back', 15_000, 'six');
  assert.match(e.summary.join(' '), /nightly-reports-six/);
  assert.equal((await store.entries()).length, e.seq, 'no entry was lost');
});

test('bad data in etcd is refused and never served; the last good version keeps serving', async () => {
  const good = await head();
  const raw = new Etcd3({ hosts: cluster.endpoints().map((h) => `http://${h}`) });
  try {
    const next = String(good.seq + 1).padStart(6, '0');
    // An entry whose blob's bytes are not its name.
    const tampered = { ...good, seq: good.seq + 1, workloads: good.workloads.map((w) => ({ ...w, version: 'ffffffffffffffff' })) };
    await raw.put(`/perimeter/blobs/ffffffffffffffff`).value(Buffer.from('not a policy'));
    await raw.put(`/perimeter/history/${next}`).value(JSON.stringify(tampered));
    await raw.put('/perimeter/current').value(String(good.seq + 1));
    await eventually(
      async () => {
        const s = JSON.parse((await cli('status', '--state', [...replicas.running.values()][0]?.state as string, '--json')).out);
        return /refused|does not decode/.test(s.server.replica.storeProblem ?? '');
      },
      5_000,
      'the replica reports the refused blob',
    );
    for (const c of sidecars) assert.equal(policyOf(c), good.workloads.find((w) => w.identity === c.identity)?.version);
    // An entry that does not decode at all.
    await raw.put(`/perimeter/history/${next}`).value('{not json');
    const v = await cli('versions', ...storeArgs());
    assert.equal(v.code, 1);
    assert.match(v.err, /is not an entry/);
    // The operator repairs the store: the pointer back to the last good entry.
    await raw.delete().key(`/perimeter/history/${next}`);
    await raw.put('/perimeter/current').value(String(good.seq));
  } finally {
    raw.close();
  }
  editPolicy('seven');
  await converged('publishing works again after the repair', 10_000, 'seven');
});

test('everything restarted: the same version and quarantine come back', async () => {
  const q = await cli('quarantine', APP, ...storeArgs(), '--both');
  assert.equal(q.code, 0, q.err);
  const before = await head();
  for (const id of [...replicas.running.keys()]) await replicas.kill(id, 'SIGTERM');
  for (const id of ['r1', 'r2', 'r3']) await replicas.start(id);
  const e = await converged('the same version after a full restart', 15_000);
  assert.equal(e.seq, before.seq, 'no new version: the directory compiles to what the store holds');
  assert.deepEqual(
    (await store.quarantine()).list.map((x) => [x.identity, x.both]),
    [[APP, true]],
  );
});
