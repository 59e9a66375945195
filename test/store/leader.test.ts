/**
 * One writer at a time, on a real 3-member etcd cluster: of two replicas campaigning, one leads;
 * its publishes carry a fence (its campaign key) that the transaction checks, so once its lease
 * is gone it cannot publish whatever it believes; the other replica takes over within the TTL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { digest } from '../../control/compile/compile.js';
import type { HistoryEntry } from '../../control/serve/history.js';
import { EtcdHistory } from '../../control/store/etcd-history.js';
import { EtcdCluster } from '../helpers/etcd.js';

let cluster: EtcdCluster;
before(async () => {
  cluster = await EtcdCluster.start(3);
});
after(async () => {
  await cluster?.stop();
});

/** A version with only a sources blob: enough for the transaction. */
function version(text: string): { entry: Omit<HistoryEntry, 'seq'>; blobs: Map<string, Uint8Array> } {
  const bytes = Buffer.from(JSON.stringify([{ path: 'p.yaml', text }]));
  const name = `src-${digest(bytes)}`;
  return {
    entry: { version: digest(text), time: new Date(0).toISOString(), reason: 'publish', summary: [], workloads: [], sources: name },
    blobs: new Map([[name, bytes]]),
  };
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))]);

test('one of two replicas leads; a deposed leader’s publish is refused by the transaction; the other takes over', async () => {
  const a = EtcdHistory.connect(cluster.endpoints(), '/lead');
  const b = EtcdHistory.connect(cluster.endpoints(), '/lead');
  const raw = new Etcd3({ hosts: cluster.endpoints().map((e) => `http://${e}`) });
  try {
    const ca = a.campaign('replica-a', 2);
    const fenceA = await within(ca.elected, 5000, 'the first election');
    const cb = b.campaign('replica-b', 2);
    let bLeads = false;
    void cb.elected.then(() => {
      bLeads = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bLeads, false, 'only one replica leads');
    const v1 = version('one');
    const r1 = await a.publish(v1.entry, v1.blobs, await a.head(), fenceA);
    assert.ok(r1.ok);
    // The lease ends (as when the leader stops renewing it): its key goes, and with it the role.
    await raw.delete().key(fenceA.key);
    const v2 = version('two');
    const r2 = await a.publish(v2.entry, v2.blobs, await a.head(), fenceA);
    assert.equal(r2.ok, false);
    assert.match(r2.ok ? '' : (r2.problems[0]?.message ?? ''), /no longer the leader/);
    const fenceB = await within(cb.elected, 5000, 'the takeover');
    const r3 = await b.publish(v2.entry, v2.blobs, await b.head(), fenceB);
    assert.ok(r3.ok);
    assert.deepEqual(
      (await b.entries()).map((e) => e.seq),
      [1, 2],
    );
    await cb.resign();
  } finally {
    raw.close();
    a.close();
    b.close();
  }
});

test('a leader that dies (killed, no resign) is replaced within the lease TTL', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/store/campaign.ts', cluster.endpoints().join(','), '/die', 'replica-a', '2'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const b = EtcdHistory.connect(cluster.endpoints(), '/die');
  try {
    await within(
      new Promise<void>((resolve) => child.stdout?.on('data', (d: Buffer) => d.toString().includes('elected') && resolve())),
      10_000,
      'the first election',
    );
    const cb = b.campaign('replica-b', 2);
    let killed = false;
    let early = false;
    void cb.elected.then(() => {
      early = !killed;
    });
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    child.kill('SIGKILL');
    killed = true;
    await within(cb.elected, 6000, 'the takeover after the leader died');
    assert.equal(early, false, 'the second replica led only once the first was gone');
    assert.ok(Date.now() - started < 6000);
    await cb.resign();
  } finally {
    child.kill('SIGKILL');
    b.close();
  }
});
