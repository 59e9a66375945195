/**
 * Decision cost vs rule count (10 … 100,000 rules), four requests (allow hit, deny by default,
 * deny rule hit, unauthenticated), the same policy and requests for every engine in one run:
 * ours (the pure in-Wasm decision, the whole filter through envoy/host with its host calls
 * counted, the reference evaluator) and the peers (Envoy RBAC semantics through grpc-js-xds's
 * engine on `perimeter export rbac`'s output, Cedar, casbin). Every engine must decide every
 * request as expected before it is timed. Also the time to apply a new policy (configure +
 * table build in the filter; the peers' own load).
 *
 * Each engine is timed in a fresh Node process of its own (same flags), one after another:
 * JIT feedback left by one JavaScript engine otherwise shapes the next one's code, and Node
 * 20's V8 (11.3) aborts in its deoptimizer when grpc-js-xds's engine and ours share a process
 * under load. `wasmOnly` runs our Wasm engines alone (for the run under `node --no-liftoff`).
 */
import { fork } from 'node:child_process';
import { Bench } from 'tinybench';
import type { CompiledWorkload } from '../../control/compile/compile.js';
import { exportRbac } from '../../control/render/rbac.js';
import { ENGINES, type Engine, type EngineKey } from '../engines/engine.js';
import { benchRequests, compiledTarget } from '../policies.js';
import type { Budget, Row, SuiteResult } from '../types.js';

/** Decisions per timed sample: the in-Wasm decision runs 1,000 in one call into Wasm; the host's whole stream, 100 in a loop (the timer's own cost, a few hundred ns here, would otherwise be part of each sample). */
const INNER = 1000;
const HOST_INNER = 100;

/** How to build one engine; its module is imported here, so only the process timing a peer loads it. */
async function builder(k: EngineKey): Promise<(w: CompiledWorkload) => Engine | Promise<Engine>> {
  switch (k) {
    case 'wasm':
    case 'staged': {
      const { WasmDecisionEngine } = await import('../engines/perimeter.js');
      return (w) => new WasmDecisionEngine(w.bytes);
    }
    case 'host': {
      const { HostEngine } = await import('../engines/perimeter.js');
      return (w) => new HostEngine(w.bytes);
    }
    case 'reference': {
      const { ReferenceEngine } = await import('../engines/perimeter.js');
      return (w) => new ReferenceEngine(w);
    }
    case 'rbac': {
      const { EnvoyRbacEngine } = await import('../engines/envoy-rbac.js');
      return (w) => {
        const x = exportRbac(w.policy);
        if (x.issues.length) throw new Error(`export rbac: ${x.issues.map((i) => i.message).join('; ')}`);
        return new EnvoyRbacEngine(x.filters);
      };
    }
    case 'cedar': {
      const { CedarEngine } = await import('../engines/cedar.js');
      return (w) => new CedarEngine(w.policy);
    }
    case 'casbin': {
      const { CasbinEngine } = await import('../engines/casbin.js');
      return (w) => CasbinEngine.create(w.policy);
    }
  }
}

/** Builds one engine on one policy; the load time is its work on the policy (the filter's: configure). */
async function load(k: EngineKey, w: CompiledWorkload): Promise<{ engine: Engine; loadMs: number }> {
  const build = await builder(k);
  const t0 = performance.now();
  const engine = await build(w);
  const loadMs = performance.now() - t0;
  return { engine, loadMs: (engine as { applyMs?: number }).applyMs ?? loadMs };
}

/** One engine at every size: load, check every decision, time. Runs in the engine's own process. */
export async function timeEngine(k: EngineKey, sizes: number[], quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of sizes) {
    const requests = benchRequests(n);
    // The compiled policy lives only as long as the engine needs it: at 100,000 rules its
    // object graph is large enough to make the timing process's garbage collector the figure.
    let w: CompiledWorkload | undefined = compiledTarget(n, k === 'staged');
    const bytes = w.bytes;
    const { engine, loadMs } = await load(k, w);
    w = undefined;
    // Agreement first: no engine is timed on a request it decides differently.
    const prepared = requests.map((r) => {
      const p = engine.prepare(r.request);
      const got = engine.decide(p);
      if (got !== r.expect) throw new Error(`${n} rules, ${r.name}: ${ENGINES[k]} decides ${got}, expected ${r.expect}`);
      return p;
    });
    if (k !== 'reference' && k !== 'host')
      rows.push({
        name: `load a policy of ${n.toLocaleString()} rules, ${ENGINES[k]}`,
        unit: 'ms',
        median: loadMs,
        samples: 1,
        extra: { kind: 'load', engine: ENGINES[k], rules: n },
      });

    if (k === 'host') {
      const { HostEngine } = await import('../engines/perimeter.js');
      const host = engine as InstanceType<typeof HostEngine>;
      for (const [i, r] of requests.entries())
        rows.push({
          name: `host calls per request, ${n} rules, ${r.name}`,
          unit: 'calls',
          median: host.hostCalls(prepared[i] as Parameters<typeof host.hostCalls>[0]),
          samples: 1,
          extra: { kind: 'hostCalls', rules: n, request: r.name },
        });
      // What a request leaves on the JavaScript heap: the host's garbage per request.
      const { bytesPerCall } = await import('../measure/allocated.js');
      for (const [i, r] of requests.entries()) {
        const p = prepared[i] as Parameters<typeof host.decide>[0];
        for (let j = 0; j < 20_000; j++) host.decide(p); // optimised code, as timed
        rows.push({
          name: `host heap bytes per request, ${n} rules, ${r.name}`,
          unit: 'B',
          median: await bytesPerCall(() => host.decide(p)),
          samples: 1,
          extra: { kind: 'allocated', rules: n, request: r.name },
        });
      }
      // Applying a new policy to the running filter: a new root context, decode, tables.
      const apply: number[] = [loadMs];
      for (let i = 0; i < (quick ? 2 : n >= 10_000 ? 4 : 9); i++) {
        const t0 = performance.now();
        const p = host.runner.host.configure({ name: 'perimeter.authz', rootId: 'perimeter', configuration: bytes, canary: false });
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
        extra: { kind: 'apply', engine: ENGINES.host, rules: n, policyBytes: bytes.length },
      });
    }

    // Through the host, the four requests take different paths through the same JavaScript (a
    // local reply or not): warmed up in turn, so V8's optimised code has seen every one before
    // any is timed, as a sidecar's would, and is not replaced while a later one is timed.
    if (k === 'host') for (let j = 0; j < (quick ? 2_000 : 200_000); j++) engine.decide(prepared[j & 3]);
    // A longer warm-up for Wasm: V8 tiers a function up in the background, and a sample taken
    // before its optimised code is in place would time the baseline compiler's.
    const inWasm = k === 'wasm' || k === 'staged';
    const warmupTime = quick ? 10 : inWasm || k === 'host' ? 500 : 50;
    const bench = new Bench({ time: quick ? 20 : 300, iterations: quick ? 3 : 10, warmupTime, warmupIterations: 2 });
    const perSample = inWasm ? INNER : k === 'host' ? HOST_INNER : 1;
    requests.forEach((r, i) => {
      const p = prepared[i];
      if (inWasm) {
        const wasm = engine as unknown as { decideMany(p: unknown, n: number): unknown };
        bench.add(r.name, () => {
          wasm.decideMany(p, INNER);
        });
      } else if (k === 'host')
        bench.add(r.name, () => {
          for (let j = 0; j < HOST_INNER; j++) engine.decide(p);
        });
      else bench.add(r.name, () => engine.decide(p));
    });
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result as
        | { latency?: { p50: number; p99: number; min: number; max: number; samplesCount?: number }; error?: unknown }
        | undefined;
      const lat = result?.latency;
      if (!lat) throw new Error(`${ENGINES[k]}, ${task.name}: no result (${String(result?.error ?? 'not run')})`);
      const ns = (ms: number) => (ms * 1e6) / perSample;
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
    (engine as { close?: () => void }).close?.();
    process.stderr.write(`    ${ENGINES[k]}: ${n.toLocaleString()} rules loaded in ${loadMs.toFixed(0)} ms, checked, timed\n`);
  }
  return rows;
}

/** Times one engine in a child process (same Node flags) and returns its rows. */
function inProcess(k: EngineKey, sizes: number[], quick: boolean): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('../decision/engine-proc.ts', import.meta.url), [k, sizes.join(','), quick ? 'quick' : 'full'], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let rows: Row[] | undefined;
    child.on('message', (m) => {
      rows = m as Row[];
    });
    child.on('exit', (code, signal) => (rows ? resolve(rows) : reject(new EngineProcessEnded(k, code, signal))));
  });
}

class EngineProcessEnded extends Error {
  constructor(
    k: EngineKey,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(`${ENGINES[k]}: the timing process ended (${code ?? signal})`);
  }
}

/**
 * Node 20's V8 (11.3) sometimes aborts in its deoptimizer (SIGTRAP, "unreachable code" in
 * DoComputeBuiltinContinuation) while these JavaScript engines run hot; the same engine in a
 * new process is then timed again, at most twice, and the retry is said.
 */
async function timedWithRetry(k: EngineKey, sizes: number[], quick: boolean): Promise<Row[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inProcess(k, sizes, quick);
    } catch (e) {
      if (!(e instanceof EngineProcessEnded) || e.signal !== 'SIGTRAP' || attempt > 2) throw e;
      process.stderr.write(`    ${ENGINES[k]}: V8 aborted in its deoptimizer (a Node 20 fault); timing it again in a new process\n`);
    }
  }
}

export async function run(opts: { quick: boolean; wasmOnly?: boolean }): Promise<SuiteResult> {
  const sizes = opts.quick ? [10, 100] : [10, 100, 1_000, 10_000, 100_000];
  const keys: EngineKey[] = opts.wasmOnly ? ['wasm', 'staged', 'host'] : ['wasm', 'staged', 'host', 'reference', 'rbac', 'cedar', 'casbin'];
  const rows: Row[] = [];
  for (const k of keys) {
    process.stderr.write(`  ${ENGINES[k]}\n`);
    rows.push(...(await timedWithRetry(k, sizes, opts.quick)));
  }

  const median = (e: EngineKey, n: number, r: string) =>
    rows.find((x) => x.extra?.kind === 'decision' && x.extra.engine === ENGINES[e] && x.extra.rules === n && x.extra.request === r)
      ?.median ?? Number.NaN;
  // Ratios to ours: the in-Wasm decision is the like-for-like figure (a decision on a request
  // already in the engine's own form); the filter through the host is everything ours does.
  for (const row of rows) {
    const x = row.extra;
    if (x?.kind !== 'decision') continue;
    const decision = median('wasm', x.rules as number, x.request as string);
    const filter = median('host', x.rules as number, x.request as string);
    if (decision) x.ratioToDecision = Number((row.median / decision).toFixed(3));
    if (filter) x.ratioToFilter = Number((row.median / filter).toFixed(3));
  }

  const allowCalls =
    rows.find((x) => x.extra?.kind === 'hostCalls' && x.extra.rules === 10 && x.extra.request === 'allow hit')?.median ?? Number.NaN;
  const flat = median('host', 100_000, 'allow hit') / median('host', 10, 'allow hit');
  const allocated = Math.max(
    ...sizes.map(
      (n) =>
        rows.find((x) => x.extra?.kind === 'allocated' && x.extra.rules === n && x.extra.request === 'allow hit')?.median ?? Number.NaN,
    ),
  );
  const budgets: Budget[] = [
    {
      name: 'filter through the host, median per request (allow hit, 10 rules)',
      limit: 1000,
      unit: 'ns',
      measured: median('host', 10, 'allow hit'),
      met: median('host', 10, 'allow hit') <= 1000,
    },
    { name: 'host calls on the allow path', limit: 5, unit: 'calls', measured: allowCalls, met: allowCalls <= 5 },
    { name: 'flat from 10 to 100,000 rules (through the host, allow hit)', limit: 1.3, unit: '×', measured: flat, met: flat <= 1.3 },
    // The allow path leaves nothing (the filter sends its counters on the tick, so no i64
    // argument is made a BigInt per request); the measure's own noise is about 1 B.
    {
      name: 'host heap bytes per request, allow path (most over every size)',
      limit: 8,
      unit: 'B',
      measured: allocated,
      met: allocated <= 8,
    },
    {
      name: 'pure in-Wasm decision at 100,000 rules (allow hit)',
      limit: 150,
      unit: 'ns',
      measured: median('wasm', 100_000, 'allow hit'),
      met: median('wasm', 100_000, 'allow hit') <= 150,
    },
  ];
  // Envoy runs Wasm with the optimising tier only: the Wasm budgets are read from that run.
  const shown = opts.quick ? [] : opts.wasmOnly ? budgets : budgets.filter((b) => b.unit === 'calls' || b.unit === 'B');
  return { suite: opts.wasmOnly ? 'decision-no-liftoff' : 'decision', rows, budgets: shown };
}
