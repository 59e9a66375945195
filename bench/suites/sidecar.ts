/**
 * Throughput of the local sidecar with the filter against the same sidecar without it (a
 * ratio), over HTTP/1.1 (autocannon) and HTTP/2 (bench/sidecar/h2-load.ts), mTLS, web calling
 * app's GET /api/orders/1 (allowed by the policy). Each sidecar runs in a process of its own
 * (with its control server and a small upstream app); both are up for the whole run and take
 * turns under load in short bursts, the order swapped every round, so that this machine's drift
 * (more than the filter costs, over a minute) falls on both alike; the median round is the
 * figure, so that a burst a neighbour disturbed does not make it. Where taskset exists, the
 * sidecars run on one core and the load generator on the other. Each burst's CPU per request is
 * read from the sidecar's process, so the filter's share of it is shown too.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { median } from '../measure/percentile.js';
import { h2load } from '../sidecar/h2-load.js';
import type { Budget, Row, SuiteResult } from '../types.js';

type Ready = { port: number; ca: string; cert: string; key: string };
type Mode = 'filter' | 'bare';
type Protocol = 'http1' | 'http2';

interface Proc {
  child: ChildProcess;
  ready: Ready;
}

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

/** Pins a process (every thread) to a core; false where taskset is missing or refused. */
function pin(pid: number, core: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-c', '-p', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function start(mode: Mode): Promise<Proc> {
  const child = fork(join(import.meta.dirname, '..', 'sidecar', 'sidecar-proc.ts'), [mode], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.PERIMETER_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PERIMETER_BENCH_PROFILE}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Ready>((r) => child.once('message', (m) => r(m as Ready)));
  pin(child.pid as number, 1);
  return { child, ready };
}

async function stop(p: Proc): Promise<void> {
  const exited = new Promise((res) => p.child.once('exit', res));
  p.child.send({ cmd: 'stop' });
  await exited;
}

interface Burst {
  rps: number;
  total: number;
  non2xx: number;
  p50: number;
  p99: number;
  cpuPerRequestUs: number;
}

const CONNECTIONS = 10;

/** One burst of load on one sidecar; its CPU per request from its own process. */
async function burst(p: Proc, protocol: Protocol, seconds: number): Promise<Burst> {
  const { port, ca, cert, key } = p.ready;
  const cpu0 = await ask<NodeJS.CpuUsage>(p.child, { cmd: 'cpu' }, 'cpu');
  let r: Omit<Burst, 'cpuPerRequestUs'>;
  if (protocol === 'http1') {
    const a = await autocannon({
      url: `https://127.0.0.1:${port}/api/orders/1`,
      connections: CONNECTIONS,
      duration: seconds,
      tlsOptions: { ca, cert, key },
    });
    r = { rps: a.requests.total / seconds, total: a.requests.total, non2xx: a.non2xx, p50: a.latency.p50, p99: a.latency.p99 };
  } else {
    // The same 10 requests in flight: 2 sessions of 5 streams.
    const h = await h2load({
      origin: `https://127.0.0.1:${port}`,
      path: '/api/orders/1',
      authority: 'app',
      sessions: 2,
      streams: CONNECTIONS / 2,
      seconds,
      tls: { ca, cert, key },
    });
    r = { rps: h.rps, total: h.total, non2xx: h.non2xx + h.errors, p50: h.p50, p99: h.p99 };
  }
  const cpu1 = await ask<NodeJS.CpuUsage>(p.child, { cmd: 'cpu' }, 'cpu');
  const cpuUs = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
  return { ...r, cpuPerRequestUs: cpuUs / Math.max(1, r.total) };
}

export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const seconds = opts.quick ? 1 : 2;
  const rounds = opts.quick ? 1 : 30;
  const pinned = pin(process.pid, 0);
  const procs: Record<Mode, Proc> = { filter: await start('filter'), bare: await start('bare') };
  const rows: Row[] = [];
  const budgets: Budget[] = [];
  try {
    for (const protocol of ['http1', 'http2'] as const) {
      // Warm-up: JIT, TLS sessions, connection pools.
      for (const m of ['filter', 'bare'] as const) await burst(procs[m], protocol, 1);
      const runs: Record<Mode, Burst[]> = { filter: [], bare: [] };
      const ratios: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const order: Mode[] = i % 2 === 0 ? ['filter', 'bare'] : ['bare', 'filter'];
        for (const m of order) {
          const b = await burst(procs[m], protocol, seconds);
          if (b.non2xx) throw new Error(`the benchmark flow must be allowed: ${b.non2xx} non-2xx replies (${m}, ${protocol})`);
          runs[m].push(b);
        }
        const ratio = (runs.filter[i] as Burst).rps / (runs.bare[i] as Burst).rps;
        ratios.push(ratio);
        process.stderr.write(
          `  ${protocol} round ${i + 1}/${rounds}: filter ${(runs.filter[i] as Burst).rps.toFixed(0)} req/s, bare ${(runs.bare[i] as Burst).rps.toFixed(0)} req/s, ratio ${ratio.toFixed(3)}\n`,
        );
      }
      const label = protocol === 'http1' ? 'HTTP/1.1' : 'HTTP/2';
      const ratio = median(ratios);
      const cpu = (m: Mode) => median(runs[m].map((b) => b.cpuPerRequestUs));
      for (const m of ['filter', 'bare'] as const)
        rows.push({
          name: `${label}: sidecar ${m === 'filter' ? 'with' : 'without'} the filter, requests per second (${CONNECTIONS} in flight, mTLS)`,
          unit: 'req/s',
          median: median(runs[m].map((b) => b.rps)),
          min: Math.min(...runs[m].map((b) => b.rps)),
          max: Math.max(...runs[m].map((b) => b.rps)),
          samples: runs[m].reduce((n, b) => n + b.total, 0),
          extra: {
            kind: m,
            protocol,
            p50ms: median(runs[m].map((b) => b.p50)),
            p99ms: median(runs[m].map((b) => b.p99)),
            cpuPerRequestUs: Number(cpu(m).toFixed(1)),
          },
        });
      rows.push(
        {
          name: `${label}: throughput with / without the filter (median of ${rounds} rounds)`,
          unit: 'ratio',
          median: ratio,
          min: Math.min(...ratios),
          max: Math.max(...ratios),
          samples: ratios.length,
          extra: { kind: 'ratio', protocol, pinned: pinned ? 'yes' : 'no', seconds, rounds: ratios.map((r) => r.toFixed(3)).join(' ') },
        },
        {
          name: `${label}: CPU per request of the sidecar's process, with / without the filter`,
          unit: 'µs',
          median: cpu('filter') - cpu('bare'),
          samples: rounds,
          extra: {
            kind: 'cpu',
            protocol,
            withUs: Number(cpu('filter').toFixed(1)),
            withoutUs: Number(cpu('bare').toFixed(1)),
            share: Number(((100 * (cpu('filter') - cpu('bare'))) / cpu('filter')).toFixed(1)),
          },
        },
      );
      if (!opts.quick)
        budgets.push({
          name: `local sidecar throughput with / without the filter, ${label}`,
          limit: 0.95,
          unit: 'ratio',
          measured: ratio,
          met: ratio >= 0.95,
        });
    }
  } finally {
    await stop(procs.filter);
    await stop(procs.bare);
  }
  return { suite: 'sidecar', rows, budgets };
}
