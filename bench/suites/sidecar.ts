/**
 * Throughput of the local sidecar with the filter against the same sidecar without it (a
 * ratio), measured with autocannon over mTLS (web calling app's GET /api/orders/1, allowed by the
 * policy). The sidecar runs in a process of its own; its CPU per request gives the filter's share.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Row, SuiteResult } from '../types.js';

type Ready = { port: number; ca: string; cert: string; key: string };

function ask<T>(child: ChildProcess, msg: object, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (key in m) {
        child.off('message', on);
        resolve(m[key] as T);
      }
    };
    child.on('message', on);
    child.send(msg);
  });
}

async function measure(mode: 'filter' | 'bare', seconds: number) {
  const child = fork(join(import.meta.dirname, '..', 'sidecar', 'sidecar-proc.ts'), [mode], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.PERIMETER_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PERIMETER_BENCH_PROFILE}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Ready>((r) => child.once('message', (m) => r(m as Ready)));
  const opts = {
    url: `https://127.0.0.1:${ready.port}/api/orders/1`,
    connections: 10,
    tlsOptions: { ca: ready.ca, cert: ready.cert, key: ready.key },
  };
  await autocannon({ ...opts, duration: 1 }); // warm-up: JIT, TLS sessions
  const cpu0 = await ask<NodeJS.CpuUsage>(child, { cmd: 'cpu' }, 'cpu');
  const r = await autocannon({ ...opts, duration: seconds });
  const cpu1 = await ask<NodeJS.CpuUsage>(child, { cmd: 'cpu' }, 'cpu');
  const exited = new Promise((res) => child.once('exit', res));
  child.send({ cmd: 'stop' });
  await exited;
  const cpuUs = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
  process.stderr.write(
    `  ${mode}: ${r.requests.average.toFixed(0)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}\n`,
  );
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    p999: r.latency.p99_9,
    max: r.latency.max,
    total: r.requests.total,
    non2xx: r.non2xx,
    cpuPerRequestUs: cpuUs / Math.max(1, r.requests.total),
  };
}

type Measured = Awaited<ReturnType<typeof measure>>;

const middle = <T>(xs: T[], by: (x: T) => number): T => [...xs].sort((a, b) => by(a) - by(b))[Math.floor(xs.length / 2)] as T;

/**
 * Rounds of the two sidecars one after the other (filter, bare, filter, bare, …): this machine's
 * speed drifts over a minute by more than the filter costs, so each round's ratio compares two
 * neighbouring runs, and the median round is the figure.
 */
export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const seconds = opts.quick ? 2 : 6;
  const rounds = opts.quick ? 1 : 5;
  const pairs: { withFilter: Measured; bare: Measured; ratio: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    const withFilter = await measure('filter', seconds);
    const bare = await measure('bare', seconds);
    if (withFilter.non2xx || bare.non2xx)
      throw new Error(`the benchmark flow must be allowed: ${withFilter.non2xx} and ${bare.non2xx} non-2xx replies`);
    pairs.push({ withFilter, bare, ratio: withFilter.rps / bare.rps });
    process.stderr.write(`  round ${i + 1}/${rounds}: ratio ${(withFilter.rps / bare.rps).toFixed(3)}\n`);
  }
  const { withFilter, bare, ratio } = middle(pairs, (p) => p.ratio);
  const rows: Row[] = [
    {
      name: 'sidecar with the filter: requests per second (autocannon, 10 connections, mTLS)',
      unit: 'req/s',
      median: withFilter.rps,
      samples: withFilter.total,
      extra: {
        kind: 'filter',
        p50ms: withFilter.p50,
        p90ms: withFilter.p90,
        p99ms: withFilter.p99,
        p999ms: withFilter.p999,
        maxMs: withFilter.max,
        cpuPerRequestUs: Number(withFilter.cpuPerRequestUs.toFixed(1)),
      },
    },
    {
      name: 'same sidecar without the filter: requests per second',
      unit: 'req/s',
      median: bare.rps,
      samples: bare.total,
      extra: {
        kind: 'bare',
        p50ms: bare.p50,
        p90ms: bare.p90,
        p99ms: bare.p99,
        p999ms: bare.p999,
        maxMs: bare.max,
        cpuPerRequestUs: Number(bare.cpuPerRequestUs.toFixed(1)),
      },
    },
    {
      name: 'throughput with / without the filter (median round)',
      unit: 'ratio',
      median: ratio,
      min: Math.min(...pairs.map((p) => p.ratio)),
      max: Math.max(...pairs.map((p) => p.ratio)),
      samples: pairs.length,
      extra: { rounds: pairs.map((p) => p.ratio.toFixed(3)).join(' ') },
    },
    {
      name: "the filter's share of the sidecar's CPU per request",
      unit: '%',
      median: (100 * (withFilter.cpuPerRequestUs - bare.cpuPerRequestUs)) / withFilter.cpuPerRequestUs,
      samples: 1,
      extra: { withUs: withFilter.cpuPerRequestUs, withoutUs: bare.cpuPerRequestUs },
    },
  ];
  const budgets = opts.quick
    ? []
    : [{ name: 'local sidecar throughput with / without the filter', limit: 0.95, unit: 'ratio', measured: ratio, met: ratio >= 0.95 }];
  return { suite: 'sidecar', rows, budgets };
}
