/**
 * The filter's memory over a long run: Wasm memory pages before and after 10 million requests
 * through envoy/host (1,000 rules, the four benchmark requests in turn). Envoy never calls
 * AssemblyScript's collector from outside, so any per-request garbage the incremental GC did not
 * reclaim would show as growth here.
 */
import { HostEngine } from '../engines/perimeter.js';
import { benchRequests, compiledTarget } from '../policies.js';
import type { SuiteResult } from '../types.js';

export async function run(opts: { quick: boolean }): Promise<SuiteResult> {
  const total = opts.quick ? 100_000 : 10_000_000;
  const rules = 1_000;
  const host = new HostEngine(compiledTarget(rules).bytes);
  const reqs = benchRequests(rules).map((b) => host.prepare(b.request));
  const pages = () => host.runner.host.vm.memory.buffer.byteLength / 65536;
  // The first requests size the module's pools; growth is counted from there.
  for (let i = 0; i < 1_000; i++) host.decide(reqs[i % reqs.length] as (typeof reqs)[number]);
  const before = pages();
  const readings: number[] = [before];
  const t0 = performance.now();
  for (let i = 1; i <= total; i++) {
    host.decide(reqs[i % reqs.length] as (typeof reqs)[number]);
    if (i % 1_000_000 === 0) {
      readings.push(pages());
      process.stderr.write(`  ${i.toLocaleString()} / ${total.toLocaleString()} requests, ${pages()} pages\n`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = pages();
  host.close();
  return {
    suite: 'memory',
    rows: [
      {
        name: `Wasm memory pages before → after ${total.toLocaleString()} requests (${rules.toLocaleString()} rules)`,
        unit: 'pages',
        median: after,
        min: before,
        max: Math.max(...readings),
        samples: total,
        extra: { kind: 'memory', before, after, readings: readings.join(' '), seconds: Number(seconds.toFixed(1)) },
      },
    ],
    budgets: opts.quick
      ? []
      : [
          {
            name: `no Wasm memory growth over ${total.toLocaleString()} requests`,
            limit: before,
            unit: 'pages',
            measured: after,
            met: after === before,
          },
        ],
  };
}
