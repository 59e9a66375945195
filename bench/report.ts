/**
 * bench/RESULTS.md and its charts, rendered from bench/results/latest.json alone, so every
 * figure in the page is a figure in that file, and each section names the command behind it.
 */
import { ENGINES } from './engines/engine.js';
import { chart, formatTick, type Panel } from './svg.js';
import type { Budget, Row, Store, StoredSuite } from './types.js';

const REQUESTS = ['allow hit', 'deny by default', 'deny rule hit', 'unauthenticated'];
const ORDER = Object.values(ENGINES) as string[];

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
const ns = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : formatTick(x, 'ns'));
const ms = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(digits)} ms`);
const ratio = (x: number) => (x >= 100 ? `${n0(x)}×` : x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`);

function tableMd(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const kind = (r: Row) => r.extra?.kind;
const rowsOf = (s: StoredSuite | undefined, k: string) => (s?.result.rows ?? []).filter((r) => kind(r) === k);
const when = (s: StoredSuite) =>
  `${s.date.slice(0, 16).replace('T', ' ')} UTC, ${s.seconds} s${s.flags.length ? `, node ${s.flags.join(' ')}` : ''}`;

function decisionRow(s: StoredSuite | undefined, engine: string, rules: number, request: string): Row | undefined {
  return rowsOf(s, 'decision').find((r) => r.extra?.engine === engine && r.extra?.rules === rules && r.extra?.request === request);
}

function decisionSection(store: Store, files: Record<string, string>, assets: string): string[] {
  const d = store.suites.decision;
  if (!d) return [];
  const sizes = [...new Set(rowsOf(d, 'decision').map((r) => r.extra?.rules as number))].sort((a, b) => a - b);
  const engines = ORDER.filter((e) => rowsOf(d, 'decision').some((r) => r.extra?.engine === e));
  const out = [
    '## Decision cost vs rule count',
    '',
    `\`npm run bench -- decision\` (${when(d)}). One workload's policy of N rules (rule *i* allows caller *i*, an exact SPIFFE ID,`,
    'GET/POST under `/api/v{i%5}`; every 51st rule denies that caller `/admin`; one segment-prefix rule), the same four',
    'requests for every engine, each engine in a fresh Node process of its own, one after another in the same run',
    "(JIT feedback from one JavaScript engine would otherwise shape the next one's code; Node 20's V8 also aborted",
    "when grpc-js-xds's engine and ours shared a process under load). Every engine decides every request as expected",
    'before it is timed (the suite stops otherwise). Envoy compiles Wasm with the optimising tier only: the budgets',
    'on Wasm figures are read from the `--no-liftoff` run below.',
    "Ours: the in-Wasm decision (`perimeter-bench.wasm`: the filter's decoder and",
    'decision code without host imports, 1,000 decisions per call), and the whole `proxy_on_request_headers`',
    'through `envoy/host` (new stream, headers, host calls, decision record, local reply). Peers decide a request',
    "prepared once in their own form: Envoy RBAC = `perimeter export rbac` output evaluated by `@grpc/grpc-js-xds`'s",
    'RBAC engine (deny filter, then allow filter); Cedar and casbin through bench-only translations',
    '(`bench/engines/`). Cells: median per decision, and in brackets the ratio to our in-Wasm decision, the',
    "like-for-like figure (a decision on a request already in the engine's own form). Our filter through the host",
    'also pays for the Proxy-Wasm calls, emulated in JavaScript here (Envoy makes them in C++).',
    '',
    `![decision cost vs rule count](${assets}decision-cost.svg)`,
    '',
  ];
  for (const request of REQUESTS) {
    out.push(`**${request}**`, '');
    out.push(
      tableMd(
        ['engine', ...sizes.map((n) => `${n0(n)} rules`)],
        engines.map((e) => [
          e,
          ...sizes.map((n) => {
            const r = decisionRow(d, e, n, request);
            if (!r) return '–';
            const x = r.extra?.ratioToDecision as number | undefined;
            return e === ENGINES.wasm || x === undefined ? ns(r.median) : `${ns(r.median)} (${ratio(x)})`;
          }),
        ]),
      ),
      '',
    );
  }
  out.push(
    '<details><summary>Every decision figure: median, p99, min, max, samples</summary>',
    '',
    tableMd(
      ['engine', 'rules', 'request', 'median', 'p99', 'min', 'max', 'samples'],
      rowsOf(d, 'decision').map((r) => [
        r.extra?.engine as string,
        n0(r.extra?.rules as number),
        r.extra?.request as string,
        ns(r.median),
        ns(r.p99),
        ns(r.min),
        ns(r.max),
        n0(r.samples),
      ]),
    ),
    '',
    '</details>',
    '',
  );

  files['decision-cost.svg'] = chart(
    'Decision cost vs rule count (median per decision)',
    REQUESTS.map<Panel>((request) => ({
      title: request,
      x: { label: 'rules', log: true },
      y: { label: 'time per decision', log: true, unit: 'ns' },
      series: engines.map((e) => ({
        label: e,
        dashed: !e.startsWith('perimeter'),
        points: sizes.map((n): [number, number] => [n, decisionRow(d, e, n, request)?.median ?? Number.NaN]),
      })),
    })),
  );

  // V8's tiers: Envoy compiles Wasm with the optimising tier only.
  const nl = store.suites['decision-no-liftoff'];
  if (nl) {
    out.push(
      "### Wasm under V8's optimising tier only",
      '',
      `\`npm run bench -- decision-no-liftoff\` (${when(nl)}): the same Wasm figures with \`node --no-liftoff\`, as Envoy runs`,
      'Wasm (no baseline compiler). Allow hit, median per decision.',
      '',
      tableMd(
        ['engine', 'V8 tiers', ...sizes.map((n) => `${n0(n)} rules`)],
        [ENGINES.wasm, ENGINES.staged, ENGINES.host].flatMap((e) => [
          [e, 'default (Liftoff, then TurboFan)', ...sizes.map((n) => ns(decisionRow(d, e, n, 'allow hit')?.median))],
          [e, '`--no-liftoff` (TurboFan only)', ...sizes.map((n) => ns(decisionRow(nl, e, n, 'allow hit')?.median))],
        ]),
      ),
      '',
    );
  }

  const apply = rowsOf(d, 'apply');
  // The filter's own apply time is its column; the bench module's instantiation is not a policy load.
  const load = rowsOf(d, 'load').filter((r) => r.extra?.engine !== ENGINES.wasm && r.extra?.engine !== ENGINES.staged);
  out.push(
    '### Applying a new policy',
    '',
    'Our filter: a new root context configured with the policy (decode + index tables), as Envoy applies an ECDS',
    'update, median of several. Peers: building the engine from the same policy once (Envoy RBAC: export,',
    'encode, decode, parse; Cedar: `preparsePolicySet`; casbin: model and policy lines).',
    '',
    tableMd(
      [
        'rules',
        'policy bytes',
        'perimeter.wasm apply (median, min–max, samples)',
        ...ORDER.filter((e) => load.some((r) => r.extra?.engine === e)),
      ],
      apply.map((a) => [
        n0(a.extra?.rules as number),
        n0(a.extra?.policyBytes as number),
        `${ms(a.median, 2)} (${ms(a.min, 2)}–${ms(a.max, 2)}, ${a.samples})`,
        ...ORDER.filter((e) => load.some((r) => r.extra?.engine === e)).map((e) =>
          ms(load.find((r) => r.extra?.engine === e && r.extra?.rules === a.extra?.rules)?.median, 0),
        ),
      ]),
    ),
    '',
  );

  const calls = rowsOf(d, 'hostCalls');
  if (calls.length)
    out.push(
      '### Host calls per request',
      '',
      'Counted by `envoy/host` for one `proxy_on_request_headers` (every import the module calls).',
      '',
      tableMd(
        ['rules', ...REQUESTS],
        sizes.map((n) => [
          n0(n),
          ...REQUESTS.map((q) => String(calls.find((r) => r.extra?.rules === n && r.extra?.request === q)?.median ?? '–')),
        ]),
      ),
      '',
    );
  return out;
}

function controlSection(store: Store, files: Record<string, string>, assets: string): string[] {
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

function filterMemorySection(store: Store): string[] {
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

function sidecarSection(store: Store): string[] {
  const s = store.suites.sidecar;
  if (!s) return [];
  const f = rowsOf(s, 'filter')[0];
  const b = rowsOf(s, 'bare')[0];
  const rows = s.result.rows;
  const ratioRow = rows.find((r) => r.unit === 'ratio');
  const share = rows.find((r) => r.unit === '%');
  const latencyRatio = (k: string) => {
    const x = Number(f?.extra?.[k]);
    const y = Number(b?.extra?.[k]);
    return x > 0 && y > 0 ? `${(x / y).toFixed(2)}×` : '–';
  };
  const line = (label: string, r: Row | undefined) =>
    r
      ? [
          label,
          n0(r.median),
          `${r.extra?.p50ms} ms`,
          `${r.extra?.p90ms} ms`,
          `${r.extra?.p99ms} ms`,
          `${r.extra?.p999ms} ms`,
          `${r.extra?.maxMs} ms`,
          `${r.extra?.cpuPerRequestUs} µs`,
          n0(r.samples),
        ]
      : [label, '–', '–', '–', '–', '–', '–', '–', '–'];
  return [
    '## Sidecar',
    '',
    `\`npm run bench -- sidecar\` (${when(s)}): autocannon, 10 connections over mTLS, 10 s after a 1 s warm-up, web`,
    "calling app's allowed `GET /api/orders/1` through the local sidecar (its own process, with the control server",
    'and a small upstream), with the Wasm filter and without it.',
    '',
    tableMd(
      ['sidecar', 'req/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'sidecar CPU / request', 'requests'],
      [line('with the filter', f), line('without the filter', b)],
    ),
    '',
    `Throughput with / without the filter: **${ratioRow ? ratioRow.median.toFixed(2) : '–'}**; p50 / p99 latency with / without: **${latencyRatio('p50ms')}** / **${latencyRatio('p99ms')}**; the filter's share of the sidecar's CPU per request: **${share ? share.median.toFixed(0) : '–'}%**.`,
    '',
  ];
}

function budgetsSection(store: Store): string[] {
  const all: { b: Budget; suite: string }[] = Object.entries(store.suites).flatMap(([suite, s]) =>
    s.result.budgets.map((b) => ({ b, suite })),
  );
  if (!all.length) return [];
  const value = (b: Budget) =>
    b.unit === 'ns' ? ns(b.measured) : `${Number(b.measured.toPrecision(4)).toLocaleString('en-US')} ${b.unit}`;
  const limit = (b: Budget) => (b.unit === 'ns' ? ns(b.limit) : `${b.limit.toLocaleString('en-US')} ${b.unit}`);
  return [
    '## Budgets (DEVELOPERS.md)',
    '',
    tableMd(
      ['budget', 'limit', 'measured', '', 'suite'],
      all.map(({ b, suite }) => [b.name, limit(b), value(b), b.met ? '**met**' : '**missed**', `\`${suite}\``]),
    ),
    '',
  ];
}

function headline(store: Store): string[] {
  const d = store.suites.decision;
  if (!d) return [];
  const out: string[] = [];
  for (const n of [1_000, 100_000]) {
    const ours = decisionRow(d, ENGINES.host, n, 'allow hit');
    const wasm = decisionRow(d, ENGINES.wasm, n, 'allow hit');
    if (!ours || !wasm) continue;
    const peers = [ENGINES.rbac, ENGINES.cedar, ENGINES.casbin, ENGINES.reference]
      .map((e) => [e, decisionRow(d, e, n, 'allow hit')] as const)
      .filter(([, r]) => r)
      .map(
        ([e, r]) => `${e} ${ns((r as Row).median)} (${ratio((r as Row).median / wasm.median)} / ${ratio((r as Row).median / ours.median)})`,
      );
    out.push(
      `- **${n0(n)} rules, allow hit**: our in-Wasm decision ${ns(wasm.median)}, our whole filter through the host ${ns(ours.median)}; ${peers.join(', ')}. In brackets: × our decision / × our filter through the host.`,
    );
  }
  return out.length ? ['## Headline', '', ...out, ''] : [];
}

export function renderReport(store: Store, opts: { quick: boolean }): { markdown: string; files: Record<string, string> } {
  const m = store.machine;
  const files: Record<string, string> = {};
  // The page sits in bench/ (full runs) or beside its charts in bench/results/quick/.
  const assets = opts.quick ? '' : 'results/';
  const body = [
    ...decisionSection(store, files, assets),
    ...filterMemorySection(store),
    ...controlSection(store, files, assets),
    ...sidecarSection(store),
  ];
  const markdown = [
    '# Benchmark results',
    '',
    opts.quick ? '> **Quick run** (`npm run bench -- --quick`): a smoke test of the benchmark code, figures not meaningful.\n' : '',
    `Generated by \`npm run bench\` from \`bench/results/latest.json\` (re-render: \`npm run bench -- --report\`). Machine:`,
    `${m.model}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, ${m.platform}; Node ${m.node} (V8 ${m.v8}); commit ${m.commit}.`,
    `Versions: ${Object.entries(m.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}. These machines are noisy: compare ratios within one run, not absolute times across runs.`,
    '',
    ...headline(store),
    ...budgetsSection(store),
    ...body,
    '## Reproduce',
    '',
    '```sh',
    'npm install',
    'npm run bench                      # every suite (about 20 minutes on 2 cores)',
    'npm run bench -- decision memory   # some suites; results merge into bench/results/latest.json',
    'npm run bench -- --quick           # every suite briefly (CI), under bench/results/quick/',
    '```',
    '',
  ].join('\n');
  return { markdown, files };
}
