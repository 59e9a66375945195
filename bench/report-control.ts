/** The control server, filter memory and sidecar sections of bench/RESULTS.md. */

import { ms, n0, rowsOf, tableMd, when } from './report-format.js';
import { chart } from './svg.js';
import type { Row, Store } from './types.js';

export function controlSection(store: Store, files: Record<string, string>, assets: string): string[] {
  const out: string[] = [];
  const c = store.suites.compile;
  if (c) {
    const r = c.result.rows[0] as Row;
    out.push(
      '## Control server',
      '',
      `### Compile\n\n\`npm run bench -- compile\` (${when(c)}): ${r.name}, from the validated model to one CompiledPolicy's bytes per workload.`,
      '',
      tableMd(['benchmark', 'median', 'min', 'max', 'samples'], [[r.name, ms(r.median, 0), ms(r.min, 0), ms(r.max, 0), r.samples]]),
      '',
    );
  }
  const a = store.suites.analysis;
  if (a) {
    if (!c) out.push('## Control server', '');
    out.push(
      '### Policy analysis',
      '',
      `\`npm run bench -- analysis\` (${when(a)}): the same synthetic mesh, from the compiled policy. \`verify\` proves four`,
      'assertions about every workload; `diff --semantic` compares it with a version in which every perimeter widened one',
      'rule; each decided exactly per workload, on worker threads over the cores.',
      '',
      tableMd(
        ['benchmark', 'median', 'min', 'max', 'samples', 'result', 'cores'],
        a.result.rows.map((r) => [
          r.name,
          ms(r.median, 0),
          ms(r.min, 0),
          ms(r.max, 0),
          r.samples,
          String(r.extra?.result ?? ''),
          String(r.extra?.cores ?? ''),
        ]),
      ),
      '',
    );
  }
  const x = store.suites.xds;
  if (x) {
    if (!c) out.push('## Control server', '');
    const conv = rowsOf(x, 'convergence');
    // A slope over a few dozen connections is lost in allocator noise: 100 sidecars and up.
    const mem = rowsOf(x, 'memory').filter((r) => (r.extra?.sidecars as number) >= 100);
    const floor = rowsOf(x, 'floor')[0];
    out.push(
      '### A policy change reaching N sidecars',
      '',
      `\`npm run bench -- xds\` (${when(x)}). The control server in its own process; N minimal ADS clients`,
      '(`bench/xds/light-sidecar.ts`, each with its own SVID, mTLS connection and stream) on loopback. Time from',
      "publication to each sidecar's ACK, over five changes after two warm-up changes; CPU per change on each side.",
      '',
      `![convergence vs sidecars](${assets}convergence.svg)`,
      '',
      tableMd(
        ['transport', 'sidecars', 'p50', 'p99', 'min', 'max', 'ACKs', 'server CPU / change', "sidecars' CPU / change"],
        conv.map((r) => [
          r.extra?.transport === 'delta' ? 'Delta ADS' : 'SotW ADS',
          n0(r.extra?.sidecars as number),
          ms(r.median, 0),
          ms(r.p99, 0),
          ms(r.min, 0),
          ms(r.max, 0),
          n0(r.samples),
          ms(r.extra?.serverCpuMsPerChange as number, 0),
          ms(r.extra?.sidecarCpuMsPerChange as number, 0),
        ]),
      ),
      '',
      '### Server memory per connected sidecar',
      '',
      'Resident memory of the server process (V8 heap counted as live, not reserved), as the least-squares slope',
      'over four readings while the sidecars connect.' +
        (floor
          ? ` A bare \`node:http2\` mTLS server holding the same ${n0(floor.extra?.sidecars as number)} connections: **${floor.median.toFixed(1)} KB** per connection, the floor of any Node control plane.`
          : ''),
      '',
      tableMd(
        ['transport', 'sidecars', 'KB per sidecar', 'over the bare connection', 'average (total / N)'],
        mem.map((r) => [
          r.extra?.transport === 'delta' ? 'Delta ADS' : 'SotW ADS',
          n0(r.extra?.sidecars as number),
          r.median.toFixed(1),
          `${(r.extra?.overBareConnectionKB as number)?.toFixed(1)} KB`,
          `${(r.extra?.averageKB as number)?.toFixed(1)} KB`,
        ]),
      ),
      '',
    );
    const sizes = [...new Set(conv.map((r) => r.extra?.sidecars as number))].sort((a, b) => a - b);
    const series = (t: string, p: 'median' | 'p99') => ({
      label: `${t === 'delta' ? 'Delta' : 'SotW'} ${p === 'median' ? 'p50' : 'p99'}`,
      dashed: p === 'median',
      colourKey: t,
      points: sizes.map((n): [number, number] => {
        const r = conv.find((q) => q.extra?.transport === t && q.extra?.sidecars === n);
        return [n, r ? (r[p] ?? Number.NaN) : Number.NaN];
      }),
    });
    files['convergence.svg'] = chart(
      'A policy change reaching N sidecars (publication → ACK)',
      [
        {
          title: 'loopback, mTLS, one process per side',
          x: { label: 'connected sidecars', log: true },
          y: { label: 'publication → ACK', unit: 'ms' },
          series: [series('sotw', 'p99'), series('delta', 'p99'), series('sotw', 'median'), series('delta', 'median')],
        },
      ],
      1,
      { w: 620, h: 340 },
    );
  }
  return out;
}

export function haSection(store: Store): string[] {
  const h = store.suites.ha;
  if (!h) return [];
  const rows = h.result.rows;
  const change = rows[0];
  const cpu = (k: string) => ms(change?.extra?.[k] as number, 0);
  return [
    '### Replicas on etcd',
    '',
    `\`npm run bench -- ha\` (${when(h)}): a real 3-member etcd cluster and 3 \`perimeter serve --store\` processes`,
    'on loopback, with the load sidecars spread over them. A change is a quarantine written to etcd, timed per',
    'sidecar from the write to its ACK of the update, after warm-up changes (each replica serves a third of the',
    'pushes, so its push path takes three times as many changes to run optimised code; their p99 is shown).',
    '',
    tableMd(
      ['measure', 'p50 (or one run)', 'p99', 'max', 'samples'],
      rows.map((r) => [
        r.name,
        ms(r.median, 0),
        r.p99 !== undefined ? ms(r.p99, 0) : '',
        r.max !== undefined ? ms(r.max, 0) : '',
        n0(r.samples),
      ]),
    ),
    '',
    change?.extra
      ? `CPU per change, all three replicas: **${cpu('replicasCpuMsPerChange')}**; the three etcd members: **${cpu('etcdCpuMsPerChange')}**; the load sidecars: **${cpu('sidecarsCpuMsPerChange')}** (one machine's two cores for all of them).${rows[1]?.extra?.p99s ? ` Warm-up p99s, in order: ${rows[1].extra.p99s} ms.` : ''}`
      : '',
    '',
  ];
}

export function filterMemorySection(store: Store): string[] {
  const m = store.suites.memory;
  const r = m ? rowsOf(m, 'memory')[0] : undefined;
  if (!m || !r) return [];
  return [
    '## Filter memory over a long run',
    '',
    `\`npm run bench -- memory\` (${when(m)}): ${n0(r.samples)} requests through the host, 1,000 rules, the four`,
    `requests in turn, in ${r.extra?.seconds} s. Wasm memory: **${r.extra?.before} pages before, ${r.extra?.after} after**`,
    `(readings every million: ${r.extra?.readings}).`,
    '',
  ];
}

export function sidecarSection(store: Store): string[] {
  const s = store.suites.sidecar;
  if (!s) return [];
  const rows = s.result.rows;
  const of = (protocol: string, kind: string) => rows.find((r) => r.extra?.protocol === protocol && r.extra?.kind === kind);
  const line = (label: string, r: Row | undefined) =>
    r
      ? [
          label,
          n0(r.median),
          `${n0(r.min ?? Number.NaN)}–${n0(r.max ?? Number.NaN)}`,
          ms(Number(r.extra?.p50ms), 2),
          ms(Number(r.extra?.p99ms), 2),
          `${r.extra?.cpuPerRequestUs} µs`,
          n0(r.samples),
        ]
      : [label, '–', '–', '–', '–', '–', '–'];
  const first = rows.find((r) => r.extra?.kind === 'ratio');
  const out = [
    '## Sidecar',
    '',
    `\`npm run bench -- sidecar\` (${when(s)}): web calling app's allowed \`GET /api/orders/1\` through the local sidecar over`,
    'mTLS, 10 requests in flight (HTTP/1.1: autocannon, 10 connections; HTTP/2: 2 sessions of 5 streams), the sidecar',
    'with the Wasm filter and the same sidecar without it, each in a process of its own (with a control server and a',
    `small upstream app) and both up for the whole run. They take turns under load in ${first?.extra?.seconds ?? '–'} s bursts, ${first?.samples ?? '–'} rounds, the`,
    `order swapped every round, after a 1 s warm-up each${first?.extra?.pinned === 'yes' ? ', the sidecars on one core and the load generator on the other (taskset)' : ''}:`,
    'this machine drifts by more than the filter costs within a minute, and alternating makes the drift fall on both',
    "alike. A round's ratio compares its two bursts; the figure is the median round. CPU per request is the sidecar",
    "process's own (user + system), the median burst.",
    '',
  ];
  for (const [protocol, label] of [
    ['http1', 'HTTP/1.1'],
    ['http2', 'HTTP/2'],
  ] as const) {
    const ratio = of(protocol, 'ratio');
    const cpu = of(protocol, 'cpu');
    if (!ratio) continue;
    out.push(
      `**${label}**`,
      '',
      tableMd(
        ['sidecar', 'req/s (median)', 'req/s (range)', 'p50', 'p99', 'CPU / request', 'requests'],
        [line('with the filter', of(protocol, 'filter')), line('without the filter', of(protocol, 'bare'))],
      ),
      '',
      `Throughput with / without the filter: **${ratio.median.toFixed(3)}** (rounds: ${ratio.extra?.rounds}); CPU per request ${cpu ? `${cpu.extra?.withUs} µs with, ${cpu.extra?.withoutUs} µs without: the filter's share **${cpu.extra?.share}%**` : '–'}.`,
      '',
    );
  }
  return out;
}
