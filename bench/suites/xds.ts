/**
 * Control-server convergence: one policy change reaching 100 and 1,000 connected sidecars over
 * mTLS ADS (SotW and Delta), timed per sidecar from publication to ACK (p50/p99, budget p99 ≤
 * 250 ms at 1,000), and the server's memory per connected sidecar (budget ≤ 64 KB). The server
 * runs in its own process; the sidecars are minimal ADS clients (bench/xds/light-sidecar.ts),
 * each with its own SVID, TLS connection and stream.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueSvid } from '../../control/ca/ca.js';
import type { Budget, Row, SuiteResult } from '../types.js';
import { LightSidecar } from '../xds/light-sidecar.js';

type Msg = Record<string, unknown>;

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

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function round(
  sidecars: number,
  transport: 'sotw' | 'delta',
  changes: number,
): Promise<{ rows: Row[]; p99: number; perSidecarKB: number }> {
  const ca = await initCa(mkdtempSync(join(tmpdir(), 'perimeter-bench-')), 'bench.example');
  const srv = await issueSvid(ca, 'spiffe://bench.example/ns/perimeter-system/sa/perimeter-control');
  const tls = { caPem: ca.certPem, certPem: srv.chainPem, keyPem: srv.keyPem, trustDomain: 'bench.example' };
  const child = fork(join(import.meta.dirname, '..', 'xds', 'server-proc.ts'), [JSON.stringify({ workloads: sidecars, tls })], {
    // PERIMETER_BENCH_PROFILE=<dir> writes a CPU profile of the server process there.
    execArgv: [
      '--import',
      'tsx',
      '--expose-gc',
      ...(process.env.PERIMETER_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PERIMETER_BENCH_PROFILE}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Msg>((r) => child.once('message', (m: Msg) => r(m)));
  const port = ready.ready as number;
  const identities = ready.identities as string[];
  type Memory = { rss: number; heapTotal: number; heap: number; external: number };
  const memory = async () => (await request(child, { cmd: 'memory' }, 'memory')).memory as Memory;
  const atStart = await memory();

  const clients: LightSidecar[] = [];
  let received = 0;
  const wait = async (n: number, what: string) => {
    const end = Date.now() + 120_000;
    while (received < n) {
      if (Date.now() > end) throw new Error(`${what}: ${received}/${n} updates after 120 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const connect = async (ids: string[]) => {
    for (const id of ids) {
      const svid = await issueSvid(ca, id, { ttlMs: 3_600_000 });
      clients.push(
        new LightSidecar(port, id, { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem }, transport, () => {
          received++;
        }),
      );
      if (clients.length % 100 === 0)
        process.stderr.write(`\r  ${transport} ${sidecars}: ${clients.length}/${sidecars} sidecars connected`);
    }
    await wait(clients.length, 'initial policies');
    await new Promise((r) => setTimeout(r, 300));
  };
  // Memory is the slope between half and all sidecars connected: code compiled and buffers
  // sized by the first streams are the server's, not any sidecar's.
  const half = Math.floor(sidecars / 2);
  await connect(identities.slice(0, half));
  const atHalf = await memory();
  await connect(identities.slice(half));
  const atFull = await memory();
  await request(child, { cmd: 'drain' }, 'samples');
  // Resident memory, counting V8's heap by what is live rather than what it has reserved:
  // a young generation that grew between two readings belongs to no sidecar.
  const resident = (m: Memory) => m.rss - m.heapTotal + m.heap;
  const kb = (a: Memory, b: Memory, n: number) => (resident(b) - resident(a)) / n / 1024;
  process.stderr.write(
    `\n  memory at 0/${half}/${sidecars}: rss ${[atStart, atHalf, atFull].map((m) => (m.rss / 2 ** 20).toFixed(1)).join('/')} MB, heap total ${[atStart, atHalf, atFull].map((m) => (m.heapTotal / 2 ** 20).toFixed(1)).join('/')} MB, heap used ${[atStart, atHalf, atFull].map((m) => (m.heap / 2 ** 20).toFixed(1)).join('/')} MB\n`,
  );
  const perSidecarKB = kb(atHalf, atFull, sidecars - half);
  const averageKB = kb(atStart, atFull, sidecars);
  const heapPerSidecarKB = (atFull.heap + atFull.external - atHalf.heap - atHalf.external) / (sidecars - half) / 1024;

  const samples: number[] = [];
  const spans: number[] = [];
  for (let k = 1; k <= changes; k++) {
    const target = received + sidecars;
    await request(child, { cmd: 'publish', k }, 'published');
    await wait(target, `change ${k}`);
    await new Promise((r) => setTimeout(r, 200));
    const d = await request(child, { cmd: 'drain' }, 'samples');
    samples.push(...(d.samples as number[]));
    spans.push(d.pushSpanMs as number);
    process.stderr.write(
      `\r  ${transport} ${sidecars}: change ${k}/${changes}, ${(d.samples as number[]).length} ACKs, p99 ${pct(d.samples as number[], 99)} ms      `,
    );
  }
  process.stderr.write('\n');
  for (const c of clients) c.close();
  const exited = new Promise((r) => child.once('exit', r));
  child.send({ cmd: 'stop' });
  await exited;
  const p99 = pct(samples, 99);
  const label = `${transport === 'sotw' ? 'SotW' : 'Delta'} ADS, ${sidecars} sidecars`;
  return {
    p99,
    perSidecarKB,
    rows: [
      {
        name: `change → ACK, ${label}`,
        unit: 'ms',
        median: pct(samples, 50),
        min: Math.min(...samples),
        max: Math.max(...samples),
        p99,
        samples: samples.length,
        extra: { serverPushSpanMsMedian: pct(spans, 50) },
      },
      {
        name: `server memory per sidecar, ${label} (resident slope; average ${averageKB.toFixed(1)}, heap+external ${heapPerSidecarKB.toFixed(1)})`,
        unit: 'KB',
        median: perSidecarKB,
        samples: 1,
        extra: { averageKB: Number(averageKB.toFixed(2)), heapExternalKB: Number(heapPerSidecarKB.toFixed(2)) },
      },
    ],
  };
}

export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const sizes = opts.quick ? [20] : process.env.PERIMETER_BENCH_SIDECARS ? [Number(process.env.PERIMETER_BENCH_SIDECARS)] : [100, 1_000];
  const changes = opts.quick ? 2 : 5;
  const rows: Row[] = [];
  const budgets: Budget[] = [];
  for (const n of sizes)
    for (const t of ['sotw', 'delta'] as const) {
      const r = await round(n, t, changes);
      rows.push(...r.rows);
      if (n === 1_000) {
        budgets.push({ name: `change reaches 1,000 sidecars (${t}), p99`, limit: 250, unit: 'ms', measured: r.p99, met: r.p99 <= 250 });
        budgets.push({
          name: `server memory per sidecar (${t})`,
          limit: 64,
          unit: 'KB',
          measured: r.perSidecarKB,
          met: r.perSidecarKB <= 64,
        });
      }
    }
  return { suite: 'xds', rows, budgets };
}
