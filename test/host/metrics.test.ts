/** Metric values: u64 counters and i64 gauges stay exact past 2^53, though kept as numbers while they can be. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricType, WasmResult } from '../../envoy/host/enums.js';
import { Metrics } from '../../envoy/host/metrics.js';

test('counters and gauges are exact past 2^53, with large and small deltas mixed', () => {
  const store = new Metrics();
  const vm = store.forVm();
  const c = vm.define(MetricType.Counter, 'c') as number;
  const g = vm.define(MetricType.Gauge, 'g') as number;
  let want = 0n;
  for (const d of [1n, 2n ** 52n, 2n ** 52n, 3n, 2n ** 60n, 1n, 2n ** 33n, 7n]) {
    assert.equal(vm.increment(c, d), WasmResult.Ok);
    want += d;
  }
  assert.equal(store.value('c'), want);
  assert.equal(vm.increment(c, 0n), WasmResult.BadArgument);
  assert.equal(vm.increment(g, -5n), WasmResult.Ok);
  assert.equal(vm.increment(g, -(2n ** 62n)), WasmResult.Ok);
  assert.equal(vm.increment(g, 2n), WasmResult.Ok);
  assert.equal(store.value('g'), -5n - 2n ** 62n + 2n);
  assert.equal(vm.record(g, 9n), WasmResult.Ok);
  assert.equal(vm.increment(g, 1n), WasmResult.Ok);
  assert.equal(store.value('g'), 10n);
  assert.match(store.prometheus(), new RegExp(`envoy_c ${want}\\n`));
});
