/**
 * Control-server convergence: one policy change reaching 10, 100, 300 and 1,000 connected sidecars over
 * mTLS ADS (SotW and Delta), timed per sidecar from publication to ACK (p50/p99; budget p99 ≤
 * 250 ms at 1,000), and the server's resident memory per connected sidecar (budget ≤ 64 KB),
 * next to the same figure for a bare Node HTTP/2 server holding the same mTLS connections: the
 * floor any Node control plane pays before its first byte of xDS state.
 * The server runs in its own process; the sidecars are minimal ADS clients
 * (bench/xds/light-sidecar.ts), each with its own SVID, TLS connection and stream.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CaFiles, initCa, issueSvid } from '../../control/ca/ca.js';
import { median, percentile } from '../measure/percentile.js';
import type { Budget, Row, SuiteResult } from '../types.js';
import { LightSidecar } from '../xds/light-sidecar.js';

type Msg = Record<string, unknown>;
type Memory = { rss: number; heapTotal: number; heap: number; external: number };
type Mode = 'sotw' | 'delta' | 'baseline';

function request(child: ChildProcess, msg: Msg, key: string): Promise<Msg> {
  return new Promise((resolve) => {
    const on = (m: Msg) => {
      if (key in m) {
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
    child.send(msg);
  });
}

// Resident memory, counting V8's heap by what is live rather than what it has reserved:
// a young generation that grew between two readings belongs to no sidecar.
const resident = (m: Memory) => m.rss - m.heapTotal + m.heap;

interface Measured {
  /** Resident KB per sidecar: the slope over four readings as sidecars connect. */
  perSidecarKB: number;
  averageKB: number;
  heapKB: number;
  samples: number[];
  serverCpuMs: number[];
  clientCpuMs: number[];
  warmupP99: number[];
  /** Per quarantine or release: from the request to the last connected sidecar's ACK. */
  quarantineLastMs: number[];
}

const WARMUP = 2;

async function session(ca: CaFiles, sidecars: number, mode: Mode, changes: number, quarantines = 0): Promise<Measured> {
  const srv = await issueSvid(ca, 'spiffe://bench.example/ns/perimeter-system/sa/perimeter-control');
  const tls = { caPem: ca.certPem, certPem: srv.chainPem, keyPem: srv.keyPem, trustDomain: 'bench.example' };
  const child = fork(join(import.meta.dirname, '..', 'xds', 'server-proc.ts'), [JSON.stringify({ workloads: sidecars, tls, mode })], {
    // PERIMETER_BENCH_PROFILE=<dir> writes a CPU profile of the server process there.
    execArgv: [
      '--import',
      'tsx',
      '--expose-gc',
      ...(process.env.PERIMETER_BENCH_V8 ? process.env.PERIMETER_BENCH_V8.split(' ') : []),
      ...(process.env.PERIMETER_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PERIMETER_BENCH_PROFILE}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Msg>((r) => child.once('message', (m: Msg) => r(m)));
  const port = ready.ready as number;
  const identities = ready.identities as string[];
  const memory = async () => (await request(child, { cmd: 'memory' }, 'memory')).memory as Memory;
  const label = `${mode} ${sidecars}`;
  const atStart = await memory();

  const clients: LightSidecar[] = [];
  let received = 0;
  const wait = async (n: number, what: string) => {
    const end = Date.now() + 120_000;
    while (received < n) {
      if (Date.now() > end) throw new Error(`${what}: ${received}/${n} updates after 120 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const connect = async (ids: string[]) => {
    for (const id of ids) {
      const svid = await issueSvid(ca, id, { ttlMs: 3_600_000 });
      const transport = mode === 'delta' ? 'delta' : 'sotw';
      clients.push(
        new LightSidecar(port, id, { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem }, transport, () => received++),
      );
      if (clients.length % 100 === 0) process.stderr.write(`\r  ${label}: ${clients.length}/${sidecars} sidecars connected`);
    }
    // The bare server answers nothing: wait for its streams instead of policies.
    if (mode === 'baseline') await new Promise((r) => setTimeout(r, 1_000));
    else await wait(clients.length, 'initial policies');
    await new Promise((r) => setTimeout(r, 300));
  };
  // Resident memory per sidecar is the least-squares slope over four readings (a quarter, half,
  // three quarters, all connected): code compiled and buffers sized by the first streams are the
  // server's, not any sidecar's, and one reading alone is at the mercy of the allocator.
  const points: { n: number; m: Memory }[] = [];
  for (let q = 1; q <= 4; q++) {
    await connect(identities.slice(Math.floor(((q - 1) * sidecars) / 4), Math.floor((q * sidecars) / 4)));
    points.push({ n: clients.length, m: await memory() });
  }
  process.stderr.write('\n');
  const slope = (f: (m: Memory) => number) => {
    const mx = points.reduce((a, p) => a + p.n, 0) / points.length;
    const my = points.reduce((a, p) => a + f(p.m), 0) / points.length;
    const sxy = points.reduce((a, p) => a + (p.n - mx) * (f(p.m) - my), 0);
    const sxx = points.reduce((a, p) => a + (p.n - mx) ** 2, 0);
    return sxy / sxx / 1024;
  };
  const atFull = (points.at(-1) as { m: Memory }).m;
  const m: Measured = {
    perSidecarKB: slope(resident),
    averageKB: (resident(atFull) - resident(atStart)) / sidecars / 1024,
    heapKB: slope((x) => x.heap + x.external),
    samples: [],
    serverCpuMs: [],
    clientCpuMs: [],
    warmupP99: [],
    quarantineLastMs: [],
  };

  // Unmeasured changes first, until the push path runs optimised code (steady state is what a
  // long-running server sees); their p99 is kept in the results all the same.
  for (let k = 1 - WARMUP; mode !== 'baseline' && k <= changes; k++) {
    await request(child, { cmd: 'drain' }, 'samples');
    const target = received + sidecars;
    const cpu0 = process.cpuUsage();
    await request(child, { cmd: 'publish', k: k + WARMUP }, 'published');
    await wait(target, `change ${k}`);
    const cpu = process.cpuUsage(cpu0);
    await new Promise((r) => setTimeout(r, 100));
    const d = await request(child, { cmd: 'drain' }, 'samples');
    const got = d.samples as number[];
    if (k <= 0) {
      m.warmupP99.push(percentile(got, 99));
      continue;
    }
    m.samples.push(...got);
    m.serverCpuMs.push(d.cpuMs as number);
    m.clientCpuMs.push((cpu.user + cpu.system) / 1000);
    process.stderr.write(
      `  ${label}: change ${k}/${changes}: ${got.length} ACKs, p50 ${median(got)} ms, p99 ${percentile(got, 99)} ms; server ${(d.cpuMs as number).toFixed(0)} ms CPU, sidecars ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU\n`,
    );
  }
  // Containment: a quarantine changes every other workload's policy; it is in effect once the
  // last sidecar ACKed. Quarantine and release alternate.
  for (let k = 0; mode !== 'baseline' && k < quarantines; k++) {
    await request(child, { cmd: 'drain' }, 'samples');
    // The quarantined identity's own policy does not change (no --both): every other one does.
    const target = received + sidecars - 1;
    const t0 = Date.now();
    await request(child, { cmd: 'quarantine', ...(k % 2 ? {} : { identity: identities[0] }) }, 'quarantined');
    await wait(target, `quarantine ${k}`);
    const last = Date.now() - t0;
    m.quarantineLastMs.push(last);
    process.stderr.write(`  ${label}: ${k % 2 ? 'release' : 'quarantine'}: in effect on every sidecar after ${last} ms\n`);
  }
  for (const c of clients) c.close();
  const exited = new Promise((r) => child.once('exit', r));
  child.send({ cmd: 'stop' });
  await exited;
  return m;
}

export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const sizes = opts.quick
    ? [20]
    : process.env.PERIMETER_BENCH_SIDECARS
      ? [Number(process.env.PERIMETER_BENCH_SIDECARS)]
      : [10, 100, 300, 1_000];
  const changes = opts.quick ? 2 : 5;
  const rows: Row[] = [];
  const budgets: Budget[] = [];
  const ca = await initCa(mkdtempSync(join(tmpdir(), 'perimeter-bench-')), 'bench.example');
  // The floor, measured once at the largest size (small counts are lost in allocator noise).
  const most = Math.max(...sizes);
  const floor = await session(ca, most, 'baseline', 0);
  rows.push({
    name: `bare Node HTTP/2 mTLS server, memory per connection, ${most} connections`,
    unit: 'KB',
    median: floor.perSidecarKB,
    samples: 1,
    extra: { kind: 'floor', sidecars: most, averageKB: floor.averageKB, heapExternalKB: floor.heapKB },
  });
  for (const n of sizes) {
    for (const t of ['sotw', 'delta'] as const) {
      const m = await session(ca, n, t, changes, n === most ? (opts.quick ? 2 : 6) : 0);
      const label = `${t === 'sotw' ? 'SotW' : 'Delta'} ADS, ${n} sidecars`;
      const p99 = percentile(m.samples, 99);
      rows.push({
        name: `change → ACK, ${label}`,
        unit: 'ms',
        median: median(m.samples),
        min: Math.min(...m.samples),
        max: Math.max(...m.samples),
        p99,
        samples: m.samples.length,
        extra: {
          kind: 'convergence',
          transport: t,
          sidecars: n,
          serverCpuMsPerChange: median(m.serverCpuMs),
          sidecarCpuMsPerChange: median(m.clientCpuMs),
          warmupChangesP99: m.warmupP99.join(' '),
        },
      });
      rows.push({
        name: `server memory per sidecar, ${label} (${(m.perSidecarKB - floor.perSidecarKB).toFixed(1)} KB over the bare mTLS connection)`,
        unit: 'KB',
        median: m.perSidecarKB,
        samples: 1,
        extra: {
          kind: 'memory',
          transport: t,
          sidecars: n,
          averageKB: Number(m.averageKB.toFixed(2)),
          heapExternalKB: Number(m.heapKB.toFixed(2)),
          overBareConnectionKB: Number((m.perSidecarKB - floor.perSidecarKB).toFixed(2)),
        },
      });
      if (m.quarantineLastMs.length)
        rows.push({
          name: `quarantine or release → every sidecar ACKed, ${label}`,
          unit: 'ms',
          median: median(m.quarantineLastMs),
          min: Math.min(...m.quarantineLastMs),
          max: Math.max(...m.quarantineLastMs),
          samples: m.quarantineLastMs.length,
          extra: { kind: 'quarantine', transport: t, sidecars: n },
        });
      if (n === 1_000) {
        budgets.push({
          name: `quarantine in effect on 1,000 sidecars (${t}), slowest of ${m.quarantineLastMs.length}`,
          limit: 1_000,
          unit: 'ms',
          measured: Math.max(...m.quarantineLastMs),
          met: Math.max(...m.quarantineLastMs) <= 1_000,
        });
        budgets.push({ name: `change reaches 1,000 sidecars (${t}), p99`, limit: 250, unit: 'ms', measured: p99, met: p99 <= 250 });
        budgets.push({
          name: `server memory per sidecar (${t}; a bare mTLS HTTP/2 connection alone: ${floor.perSidecarKB.toFixed(1)} KB)`,
          limit: 64,
          unit: 'KB',
          measured: m.perSidecarKB,
          met: m.perSidecarKB <= 64,
        });
      }
    }
  }
  return { suite: 'xds', rows, budgets };
}
