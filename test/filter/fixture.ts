import { DECISION_KEY } from '../../contracts/decision-record.js';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { toEnvoy } from '../../envoy/filter-runner.js';
import { ProxyWasmHost } from '../../envoy/host/host.js';
import { compiled, perimeter, TD } from '../helpers/policy.js';

export const WEB = `${TD}/ns/shop/sa/web`;
export const BATCH = `${TD}/ns/batch/sa/job`;

export function policyBytes(yaml: string, workload = 'api'): Uint8Array {
  const w = compiled(yaml).workloads.find((x) => x.workload.name === workload);
  if (!w) throw new Error('no workload');
  return w.bytes;
}

export const ENFORCE = policyBytes(
  perimeter('enforce', `- name: web-reads\n  action: allow\n  from: {workloads: [web]}\n  to: {methods: [GET], paths: [/orders/*]}`),
);
export const SIMULATE = policyBytes(
  perimeter('simulate', `- name: web-reads\n  action: allow\n  from: {workloads: [web]}\n  to: {methods: [GET], paths: [/orders/*]}`),
);

export function setup(opts: { policy?: Uint8Array; faults?: Record<string, number>; clock?: { ms: number } } = {}) {
  const logs: string[] = [];
  const clock = opts.clock ?? { ms: Date.parse('2026-06-01T00:00:00Z') };
  const host = ProxyWasmHost.load(BUILT_MODULE, {
    vmId: 'perimeter',
    log: (l, m) => logs.push(`${l}: ${m}`),
    now: () => clock.ms,
    ...(opts.faults ? { faults: opts.faults } : {}),
  });
  const plugin = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: opts.policy ?? ENFORCE });
  const send = (req: Partial<PolicyRequest>, p = plugin) => {
    const { info, headers } = toEnvoy({ method: 'GET', path: '/', ...req } as PolicyRequest);
    const stream = p.newStream(info);
    const outcome = stream.onRequestHeaders(headers, true);
    stream.finish();
    const raw = stream.filterState.get(DECISION_KEY);
    return { outcome, stream, record: raw ? Buffer.from(raw).toString() : '' };
  };
  // What Envoy's stats show now; the filter sends its decision totals and rule hits on its
  // once-a-second tick, so `counter` reads them after one.
  const stat = (name: string) => Number(host.metrics.value(name) ?? -1n);
  const counter = (name: string) => {
    clock.ms += 1_000;
    host.tick();
    return stat(name);
  };
  return { host, plugin, send, counter, stat, logs, clock };
}
