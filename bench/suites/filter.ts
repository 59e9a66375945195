/**
 * The filter's decision cost vs rule count (10, 1,000, 100,000): the pure in-Wasm decision
 * (perimeter-bench.wasm, no host calls), the whole proxy_on_request_headers through the host
 * with host calls counted, and the TypeScript reference evaluator, on the same policies and
 * requests. Also Wasm memory before and after many requests, and the time to apply a policy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { evaluate } from '../../control/eval/evaluate.js';
import { FilterRunner, toEnvoy } from '../../envoy/filter-runner.js';
import { benchRequests, compiledTarget } from '../policies.js';
import type { Row, SuiteResult } from '../types.js';

// Built by npm run build beside the benchmarks, not in filter/build: it is not a module for Envoy.
const BENCH_WASM = join(import.meta.dirname, '..', 'build', 'perimeter-bench.wasm');
const METHOD_BITS: Record<string, number> = {
  GET: 1,
  HEAD: 2,
  POST: 4,
  PUT: 8,
  DELETE: 16,
  CONNECT: 32,
  OPTIONS: 64,
  TRACE: 128,
  PATCH: 256,
};

interface BenchModule {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  bench_load(p: number, n: number): number;
  bench_request(pp: number, pl: number, m: number, path: number, pathLen: number, h: number, hl: number): number;
  bench_decide(n: number): number;
  _initialize(): void;
}

function pureWasm(): BenchModule {
  const m = new WebAssembly.Module(readFileSync(BENCH_WASM));
  const inst = new WebAssembly.Instance(m, { env: { proxy_log: () => 0 } });
  const e = inst.exports as unknown as BenchModule;
  e._initialize();
  return e;
}

function put(mod: BenchModule, bytes: Uint8Array): number {
  const p = mod.malloc(bytes.length || 1);
  new Uint8Array(mod.memory.buffer).set(bytes, p);
  return p;
}

const RULE_COUNTS = [10, 1_000, 100_000];
const INNER = 1000;

export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const rows: Row[] = [];
  const time = opts.quick ? 50 : 500;
  const medians = new Map<string, number>();
  const runner = new FilterRunner();
  const wasm = pureWasm();
  let hostCallsPerAllow = 0;

  for (const n of RULE_COUNTS) {
    const target = compiledTarget(n);
    process.stderr.write(`  ${n} rules: ${target.bytes.length.toLocaleString()} policy bytes\n`);
    // Apply time: configure (decode + table build) in the filter.
    const t0 = performance.now();
    const plugin = runner.host.configure({ name: 'perimeter.authz', rootId: 'perimeter', configuration: target.bytes, canary: false });
    const applyMs = performance.now() - t0;
    rows.push({ name: `apply policy (configure + tables), ${n} rules`, unit: 'ms', median: applyMs, samples: 1 });
    const pp = put(wasm, target.bytes);
    if (wasm.bench_load(pp, target.bytes.length) !== 1) throw new Error('bench module refused the policy');

    const bench = new Bench({ time, warmupTime: opts.quick ? 20 : 100 });
    for (const { name, request, expect } of benchRequests(n)) {
      // Agreement first: no timing is reported for an engine that decides differently.
      const ref = evaluate(target.policy, request);
      const through = runner.decide(target.bytes, request);
      if (ref.decision !== expect || through.decision !== expect) throw new Error(`${n} rules, ${name}: engines disagree`);

      const enc = (s: string | undefined) =>
        s === undefined
          ? { p: 0, l: -1 }
          : (() => {
              const b = Buffer.from(s);
              return { p: put(wasm, b), l: b.length };
            })();
      const pr = enc(request.principal);
      const pa = enc(request.path);
      const ho = enc(request.host);
      bench.add(`wasm decision | ${n} | ${name}`, () => {
        wasm.bench_request(pr.p, pr.l, METHOD_BITS[request.method] ?? 0, pa.p, pa.l, ho.p, ho.l);
        wasm.bench_decide(INNER);
      });
      const { info, headers } = toEnvoy(request);
      bench.add(`through host | ${n} | ${name}`, () => {
        const s = plugin.newStream(info);
        s.onRequestHeaders(headers, true);
        s.finish();
      });
      if (n <= 1_000 || !opts.quick) bench.add(`reference | ${n} | ${name}`, () => evaluate(target.policy, request));
      if (name === 'allow hit' && n === 10) {
        const before = runner.host.vm.hostCalls;
        const s = plugin.newStream(info);
        s.onRequestHeaders(headers, true);
        hostCallsPerAllow = runner.host.vm.hostCalls - before;
        s.finish();
      }
    }
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result as
        | { latency?: { p50: number; p99: number; min: number; max: number; samplesCount?: number }; state?: string }
        | undefined;
      if (!r?.latency) continue;
      const perOp = task.name.startsWith('wasm decision') ? INNER : 1;
      const ns = (ms: number) => (ms * 1e6) / perOp;
      rows.push({
        name: task.name,
        unit: 'ns',
        median: ns(r.latency.p50),
        p99: ns(r.latency.p99),
        min: ns(r.latency.min),
        max: ns(r.latency.max),
        samples: (r.latency as { samplesCount?: number }).samplesCount ?? 0,
      });
      medians.set(task.name, ns(r.latency.p50));
    }
    plugin.retire();
    process.stderr.write(`  ${n} rules done\n`);
  }

  // Memory: Wasm pages before and after many requests through the host.
  const total = opts.quick ? 100_000 : 10_000_000;
  const target = compiledTarget(1_000);
  const plugin = runner.host.configure({ name: 'perimeter.authz', rootId: 'perimeter', configuration: target.bytes, canary: false });
  const reqs = benchRequests(1_000).map((b) => toEnvoy(b.request));
  const pagesBefore = runner.host.vm.memory.buffer.byteLength / 65536;
  for (let i = 0; i < total; i++) {
    const { info, headers } = reqs[i % reqs.length] as (typeof reqs)[number];
    const s = plugin.newStream(info);
    s.onRequestHeaders(headers, true);
    s.finish();
    if (i > 0 && i % 1_000_000 === 0) process.stderr.write(`  memory run: ${i.toLocaleString()} requests\n`);
  }
  const pagesAfter = runner.host.vm.memory.buffer.byteLength / 65536;
  rows.push({
    name: `Wasm memory pages before → after ${total.toLocaleString()} requests`,
    unit: 'pages',
    median: pagesAfter,
    min: pagesBefore,
    max: pagesAfter,
    samples: total,
  });
  rows.push({ name: 'host calls per request (allow path)', unit: 'calls', median: hostCallsPerAllow, samples: 1 });

  const m = (k: string) => medians.get(k) ?? Number.NaN;
  const flat = m('through host | 100000 | allow hit') / m('through host | 10 | allow hit');
  const budgets = [
    {
      name: 'filter through the host, median per request (allow hit, 10 rules)',
      limit: 1000,
      unit: 'ns',
      measured: m('through host | 10 | allow hit'),
      met: m('through host | 10 | allow hit') <= 1000,
    },
    { name: 'host calls on the allow path', limit: 5, unit: 'calls', measured: hostCallsPerAllow, met: hostCallsPerAllow <= 5 },
    {
      name: 'no Wasm memory growth over the run',
      limit: pagesBefore,
      unit: 'pages',
      measured: pagesAfter,
      met: pagesAfter === pagesBefore,
    },
    { name: 'flat from 10 to 100,000 rules (through host, allow hit)', limit: 1.3, unit: '×', measured: flat, met: flat <= 1.3 },
    {
      name: 'pure in-Wasm decision at 100,000 rules (allow hit)',
      limit: 150,
      unit: 'ns',
      measured: m('wasm decision | 100000 | allow hit'),
      met: m('wasm decision | 100000 | allow hit') <= 150,
    },
  ];
  return { suite: 'filter', rows, budgets: opts.quick ? [] : budgets };
}
