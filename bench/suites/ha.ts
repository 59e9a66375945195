/**
 * The control plane on etcd (docs/ha.md): a real 3-member etcd cluster and 3 `perimeter serve
 * --store` replica processes on loopback.
 *  - a change (a quarantine, which changes every workload) reaching N sidecars spread over the
 *    3 replicas: per sidecar, from the write to its ACK of the update (p50/p99; budget p99 ≤ 300 ms at
 *    1,000), after warm-up changes: each replica serves a third of the pushes, so its push path
 *    needs three times as many changes as one server's to run optimised code (steady state is
 *    what a long-running replica sees; the warm-up changes' p99 are reported all the same);
 *    the CPU per change of the replicas, the etcd members and the load sidecars;
 *  - a quarantine across 3 replicas: from the write until every replica serves it and every
 *    sidecar of every replica ACKed it (as `perimeter quarantine --store` waits; budget ≤ 1 s);
 *  - the leader killed (SIGKILL): until the next change is ACKed by every sidecar (budget ≤ 5 s);
 *  - a follower killed: until its sidecars (real xDS clients, default backoff) are ACKed on the
 *    current version on another replica (budget ≤ 3 s).
 * The load sidecars are bench/xds/light-sidecar.ts, each with its own SVID and stream.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { TYPE } from '../../contracts/type-urls.js';
import { issueSvid } from '../../control/ca/ca.js';
import { StoreWriter } from '../../control/ha/store-writer.js';
import { EtcdHistory } from '../../control/store/etcd-history.js';
import { countSidecars } from '../../control/store/replica-record.js';
import { XdsClient } from '../../envoy/sidecar/xds-client.js';
import { EtcdCluster } from '../../test/helpers/etcd.js';
import { Replicas } from '../../test/helpers/replicas.js';
import { percentile } from '../measure/percentile.js';
import type { Budget, Row, SuiteResult } from '../types.js';
import { LightSidecar } from '../xds/light-sidecar.js';

const IDS = ['shop/sa/app', 'shop/sa/web', 'data/sa/db', 'payments/sa/payments', 'edge/sa/ingress-gateway'].map(
  (p) => `spiffe://shop.example/ns/${p}`,
);
const INTRUDER = 'spiffe://shop.example/ns/shop/sa/intruder';

const until = async (pred: () => boolean | Promise<boolean>, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** CPU time (user + system) of a process, in ms, from /proc; 0 where there is none. */
function cpuMs(pid: number): number {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return 0;
  // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 Hz).
  const stat = readFileSync(file, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

export async function run(o: { quick?: boolean }): Promise<SuiteResult> {
  const sidecars = o.quick ? 60 : 1_000;
  const warmups = o.quick ? 1 : 8;
  const changes = o.quick ? 2 : 10;
  const cluster = await EtcdCluster.start(3);
  const policy = mkdtempSync(join(tmpdir(), 'perimeter-bench-ha-'));
  cpSync('examples/shop/policy', policy, { recursive: true });
  const replicas = new Replicas(cluster.storeUrl(), policy, 3);
  const store = EtcdHistory.connect(cluster.endpoints());
  const writer = new StoreWriter(store);
  const light: LightSidecar[] = [];
  const clients: XdsClient[] = [];
  try {
    const ca = await replicas.seedCa('shop.example');
    for (const id of ['r1', 'r2', 'r3']) await replicas.start(id);
    const ports = () => [...replicas.running.values()].map((r) => Number(r.file.xds.split(':')[1]));
    // Each update a sidecar receives is stamped; a change is in effect when all have one after it.
    let stamps: number[] = [];
    const [p1, p2, p3] = ports() as [number, number, number];
    for (let i = 0; i < sidecars; i++) {
      const id = IDS[i % IDS.length] as string;
      const svid = await issueSvid(ca, id, { ttlMs: 3_600_000 });
      const port = [p1, p2, p3][i % 3] as number;
      const n = i;
      light.push(
        new LightSidecar(port, id, { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem }, 'sotw', () => {
          stamps[n] = performance.now();
        }),
      );
      if ((i + 1) % 100 === 0) process.stderr.write(`\r  ha: ${i + 1}/${sidecars} sidecars connected`);
    }
    process.stderr.write('\n');
    await until(() => stamps.filter((x) => x !== undefined).length === sidecars, 60_000, 'initial policies');

    const change = async (k: number) => {
      stamps = [];
      const t0 = performance.now();
      const entry = { identity: INTRUDER, both: false, reason: `bench ${k}`, since: new Date().toISOString() };
      const w = await writer.editQuarantine(k % 2 ? 'quarantine' : 'release', entry);
      if (!w.ok) throw new Error(`change ${k} was refused`);
      await until(() => stamps.filter((x) => x !== undefined && x > t0).length === sidecars, 30_000, `change ${k}`);
      return { t0, seq: w.value?.entry.seq ?? 0, lat: stamps.map((x) => x - t0) };
    };
    const warmupP99: number[] = [];
    for (let k = 1; k <= warmups; k++) warmupP99.push(percentile((await change(k)).lat, 99));
    const samples: number[] = [];
    const quarantineMs: number[] = [];
    const cpu = () => {
      const own = process.cpuUsage();
      return {
        replicas: [...replicas.running.values()].reduce((n, r) => n + cpuMs(r.proc.pid ?? 0), 0),
        etcd: cluster.pids().reduce((n, pid) => n + cpuMs(pid), 0),
        sidecars: (own.user + own.system) / 1000,
      };
    };
    const cpuPerChange = { replicas: 0, etcd: 0, sidecars: 0 };
    for (let k = warmups + 1; k <= warmups + changes; k++) {
      const before = cpu();
      const c = await change(k);
      const after = cpu();
      for (const side of ['replicas', 'etcd', 'sidecars'] as const) cpuPerChange[side] += (after[side] - before[side]) / changes;
      samples.push(...c.lat);
      // As `perimeter quarantine --store` waits: every replica serves it and reports its sidecars in sync.
      await until(
        async () => {
          const all = await store.replicas();
          return all.length === 3 && all.every((r) => (r.serving?.seq ?? 0) >= c.seq && r.sidecars.every((s) => s.inSync));
        },
        10_000,
        'registrations in sync',
      );
      quarantineMs.push(performance.now() - c.t0);
    }

    // Real xDS clients with the default backoff, all on the follower that is killed below.
    const all = await store.replicas();
    const leader = all.find((r) => r.leader)?.id as string;
    const follower = all.find((r) => !r.leader)?.id as string;
    const order = [follower, ...[...replicas.running.keys()].filter((x) => x !== follower)];
    const addr = order.map((id) => replicas.running.get(id)?.file.xds as string);
    for (let i = 0; i < (o.quick ? 5 : 30); i++) {
      const id = IDS[i % IDS.length] as string;
      const svid = await issueSvid(ca, id);
      const c = new XdsClient({
        address: addr,
        nodeId: id,
        tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem, serverId: `spiffe://shop.example${CONTROL_IDENTITY_PATH}` },
        service: 'ads',
      });
      c.subscribe(TYPE.extensionConfig, ['perimeter.authz']);
      clients.push(c);
    }
    await until(() => clients.every((c) => c.version(TYPE.extensionConfig) !== ''), 10_000, 'real clients');

    // Every live replica serves entry `seq` (or later) and reports `expected` sidecars, all in sync.
    const inSyncEverywhere = async (seq: number, expected: number) => {
      const r = (await store.replicas()).filter((x) => replicas.running.has(x.id));
      const synced = r.reduce((n, x) => n + countSidecars(x.sidecars).inSync, 0);
      return r.length === replicas.running.size && r.every((x) => (x.serving?.seq ?? 0) >= seq) && synced === expected;
    };
    const onReplica = (id: string) =>
      light.filter((_, i) => [p1, p2, p3][i % 3] === Number(replicas.running.get(id)?.file.xds.split(':')[1])).length;

    // The follower killed: its real clients move on and are ACKed on the current version elsewhere.
    const seq = (await store.head()).seq;
    const expectedAfter = light.length - onReplica(follower) + clients.length;
    const k0 = performance.now();
    await replicas.kill(follower);
    await until(() => inSyncEverywhere(seq, expectedAfter), 15_000, 'the follower’s sidecars in sync elsewhere');
    const followerMs = performance.now() - k0;

    // The leader killed: until the next change (made in the policy directory) is ACKed by every sidecar left.
    const expectedLeft = expectedAfter - onReplica(leader);
    const before = (await store.head()).seq;
    const l0 = performance.now();
    await replicas.kill(leader);
    const f = join(policy, 'db.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('name: nightly-reports', 'name: nightly-reports-bench'));
    await until(async () => (await store.head()).seq > before, 20_000, 'a new leader publishes');
    const next = (await store.head()).seq;
    await until(() => inSyncEverywhere(next, expectedLeft), 20_000, 'every sidecar left ACKed the next change');
    const leaderMs = performance.now() - l0;

    const p99 = percentile(samples, 99);
    const qMax = Math.max(...quarantineMs);
    const rows: Row[] = [
      {
        name: `change → ACK sent by each of ${sidecars} sidecars over 3 replicas`,
        unit: 'ms',
        median: percentile(samples, 50),
        p99,
        samples: samples.length,
        extra: {
          replicasCpuMsPerChange: Math.round(cpuPerChange.replicas),
          etcdCpuMsPerChange: Math.round(cpuPerChange.etcd),
          sidecarsCpuMsPerChange: Math.round(cpuPerChange.sidecars),
        },
      },
      {
        name: `warm-up: the first ${warmups === 1 ? 'change' : `${warmups} changes`} after the replicas start, p99 of each`,
        unit: 'ms',
        median: percentile(warmupP99, 50),
        max: Math.max(...warmupP99),
        samples: warmups,
        extra: { p99s: warmupP99.map((x) => Math.round(x)).join(' ') },
      },
      {
        name: 'quarantine across 3 replicas (all in sync)',
        unit: 'ms',
        median: percentile(quarantineMs, 50),
        max: qMax,
        samples: quarantineMs.length,
      },
      { name: 'follower killed → its sidecars ACKed elsewhere', unit: 'ms', median: followerMs, samples: 1 },
      { name: 'leader killed → next change ACKed by all', unit: 'ms', median: leaderMs, samples: 1 },
    ];
    const budget = (name: string, limit: number, measured: number): Budget => ({
      name,
      limit,
      unit: 'ms',
      measured,
      met: measured <= limit,
    });
    const budgets = [
      budget(`change to ${sidecars} sidecars over 3 replicas, p99`, 300, p99),
      budget('quarantine across 3 replicas', 1_000, qMax),
      budget('follower killed → sidecars ACKed elsewhere', 3_000, followerMs),
      budget('leader killed → next change ACKed everywhere', 5_000, leaderMs),
    ];
    return { suite: 'ha', rows, budgets };
  } finally {
    for (const s of light) s.close();
    for (const c of clients) c.close();
    await replicas.stop();
    store.close();
    await cluster.stop();
  }
}
