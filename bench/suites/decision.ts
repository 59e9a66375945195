/**
 * Decision cost vs rule count (10 … 100,000 rules), four requests (allow hit, deny by default,
 * deny rule hit, unauthenticated), the same policy and requests for every engine in one
 * process: ours (the pure in-Wasm decision, the whole filter through envoy/host with its host
 * calls counted, the reference evaluator) and the peers (Envoy RBAC semantics through
 * grpc-js-xds's engine on `perimeter export rbac`'s output, Cedar, casbin). Every engine must
 * decide every request as expected before anything is timed. Also the time to apply a new
 * policy (configure + table build in the filter; the peers' own load).
 * `wasmOnly` runs our Wasm engines alone (for the run under `node --no-liftoff`).
 */
import { Bench } from 'tinybench';
import { exportRbac } from '../../envoy/config/rbac.js';
import { CasbinEngine } from '../engines/casbin.js';
import { CedarEngine } from '../engines/cedar.js';
import { ENGINES, type Engine, type EngineKey } from '../engines/engine.js';
import { EnvoyRbacEngine } from '../engines/envoy-rbac.js';
import { HostEngine, ReferenceEngine, WasmDecisionEngine } from '../engines/perimeter.js';
import { benchRequests, compiledTarget } from '../policies.js';
import type { Budget, Row, SuiteResult } from '../types.js';

const INNER = 1000;

async function timed<T>(f: () => T | Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t0 };
}

export async function run(opts: { quick: boolean; wasmOnly?: boolean }): Promise<SuiteResult> {
  const sizes = opts.quick ? [10, 100] : [10, 100, 1_000, 10_000, 100_000];
  const rows: Row[] = [];
  const medians = new Map<string, number>();
  const key = (e: EngineKey, n: number, r: string) => `${e}|${n}|${r}`;
  const hostCalls = new Map<string, number>();

  for (const n of sizes) {
    const w = compiledTarget(n);
    const requests = benchRequests(n);
    process.stderr.write(`  ${n.toLocaleString()} rules (${w.bytes.length.toLocaleString()} policy bytes): loading engines\n`);
    const engines: { key: EngineKey; engine: Engine; loadMs: number }[] = [];
    const add = async (k: EngineKey, make: () => Engine | Promise<Engine>) => {
      const { value, ms } = await timed(make);
      engines.push({ key: k, engine: value, loadMs: ms });
      process.stderr.write(`    ${ENGINES[k]}: loaded in ${ms.toFixed(0)} ms\n`);
    };
    await add('wasm', () => new WasmDecisionEngine(w.bytes));
    const host = new HostEngine(w.bytes);
    engines.push({ key: 'host', engine: host, loadMs: host.applyMs });
    if (!opts.wasmOnly) {
      await add('reference', () => new ReferenceEngine(w));
      await add('rbac', () => {
        const x = exportRbac(w.policy);
        if (x.issues.length) throw new Error(`export rbac: ${x.issues.map((i) => i.message).join('; ')}`);
        return new EnvoyRbacEngine(x.filters);
      });
      await add('cedar', () => new CedarEngine(w.policy));
      await add('casbin', () => CasbinEngine.create(w.policy));
    }

    // Agreement first: no engine is timed on a request it decides differently.
    const prepared = new Map<string, unknown>();
    for (const { key: k, engine } of engines)
      for (const r of requests) {
        const p = engine.prepare(r.request);
        const got = engine.decide(p);
        if (got !== r.expect) throw new Error(`${n} rules, ${r.name}: ${ENGINES[k]} decides ${got}, expected ${r.expect}`);
        prepared.set(key(k, n, r.name), p);
      }
    for (const r of requests) hostCalls.set(`${n}|${r.name}`, host.hostCalls(host.prepare(r.request)));

    // Applying a new policy to the running filter: a new root context, decode, tables.
    const apply: number[] = [host.applyMs];
    for (let i = 0; i < (opts.quick ? 2 : n >= 10_000 ? 4 : 9); i++) {
      const t0 = performance.now();
      const p = host.runner.host.configure({ name: 'perimeter.authz', rootId: 'perimeter', configuration: w.bytes, canary: false });
      apply.push(performance.now() - t0);
      p.retire();
    }
    apply.sort((a, b) => a - b);
    rows.push({
      name: `apply a policy of ${n.toLocaleString()} rules (configure + tables)`,
      unit: 'ms',
      median: apply[Math.floor(apply.length / 2)] as number,
      min: apply[0] as number,
      max: apply.at(-1) as number,
      samples: apply.length,
      extra: { kind: 'apply', engine: ENGINES.host, rules: n, policyBytes: w.bytes.length },
    });
    for (const e of engines)
      if (e.key !== 'host' && e.key !== 'reference' && e.key !== 'wasm')
        rows.push({
          name: `load a policy of ${n.toLocaleString()} rules, ${ENGINES[e.key]}`,
          unit: 'ms',
          median: e.loadMs,
          samples: 1,
          extra: { kind: 'load', engine: ENGINES[e.key], rules: n },
        });

    for (const { key: k, engine } of engines) {
      const bench = new Bench({
        time: opts.quick ? 20 : 300,
        iterations: opts.quick ? 3 : 10,
        warmupTime: opts.quick ? 10 : 50,
        warmupIterations: 2,
      });
      for (const r of requests) {
        const p = prepared.get(key(k, n, r.name));
        if (k === 'wasm') {
          const wasm = engine as WasmDecisionEngine;
          bench.add(r.name, () => {
            wasm.decideMany(p as Parameters<WasmDecisionEngine['decide']>[0], INNER);
          });
        } else bench.add(r.name, () => engine.decide(p));
      }
      await bench.run();
      const perOp = k === 'wasm' ? INNER : 1;
      for (const task of bench.tasks) {
        const result = task.result as
          | { latency?: { p50: number; p99: number; min: number; max: number; samplesCount?: number }; error?: unknown }
          | undefined;
        const lat = result?.latency;
        if (!lat) throw new Error(`${ENGINES[k]}, ${task.name}: no result (${String(result?.error ?? 'not run')})`);
        const ns = (ms: number) => (ms * 1e6) / perOp;
        medians.set(key(k, n, task.name), ns(lat.p50));
        rows.push({
          name: `${ENGINES[k]} | ${n} | ${task.name}`,
          unit: 'ns',
          median: ns(lat.p50),
          p99: ns(lat.p99),
          min: ns(lat.min),
          max: ns(lat.max),
          samples: lat.samplesCount ?? 0,
          extra: { kind: 'decision', engine: ENGINES[k], rules: n, request: task.name },
        });
      }
      process.stderr.write(`    ${ENGINES[k]}: timed\n`);
    }
    host.close();
  }

  // Ratios to ours: the in-Wasm decision is the like-for-like figure (a decision on a request
  // already in the engine's own form); the filter through the host is everything ours does.
  for (const row of rows) {
    const x = row.extra;
    if (x?.kind !== 'decision') continue;
    const decision = medians.get(key('wasm', x.rules as number, x.request as string));
    const filter = medians.get(key('host', x.rules as number, x.request as string));
    if (decision) x.ratioToDecision = Number((row.median / decision).toFixed(3));
    if (filter) x.ratioToFilter = Number((row.median / filter).toFixed(3));
  }
  for (const [k, calls] of hostCalls) {
    const [n, request] = k.split('|');
    rows.push({
      name: `host calls per request, ${n} rules, ${request}`,
      unit: 'calls',
      median: calls,
      samples: 1,
      extra: { kind: 'hostCalls', rules: Number(n), request: request as string },
    });
  }

  const m = (e: EngineKey, n: number, r: string) => medians.get(key(e, n, r)) ?? Number.NaN;
  const allowCalls = hostCalls.get('10|allow hit') ?? Number.NaN;
  const flat = m('host', 100_000, 'allow hit') / m('host', 10, 'allow hit');
  const budgets: Budget[] = [
    {
      name: 'filter through the host, median per request (allow hit, 10 rules)',
      limit: 1000,
      unit: 'ns',
      measured: m('host', 10, 'allow hit'),
      met: m('host', 10, 'allow hit') <= 1000,
    },
    { name: 'host calls on the allow path', limit: 5, unit: 'calls', measured: allowCalls, met: allowCalls <= 5 },
    { name: 'flat from 10 to 100,000 rules (through the host, allow hit)', limit: 1.3, unit: '×', measured: flat, met: flat <= 1.3 },
    {
      name: 'pure in-Wasm decision at 100,000 rules (allow hit)',
      limit: 150,
      unit: 'ns',
      measured: m('wasm', 100_000, 'allow hit'),
      met: m('wasm', 100_000, 'allow hit') <= 150,
    },
  ];
  return { suite: opts.wasmOnly ? 'decision-no-liftoff' : 'decision', rows, budgets: opts.quick ? [] : budgets };
}
