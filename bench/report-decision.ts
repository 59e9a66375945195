/** The decision sections of bench/RESULTS.md: cost against rule count, per engine and request, and applying a policy. */

import { ENGINES } from './engines/engine.js';
import { decisionRow, ms, n0, ns, ORDER, REQUESTS, ratio, rowsOf, tableMd, when } from './report-format.js';
import { chart, type Panel } from './svg.js';
import type { Store } from './types.js';

export function decisionSection(store: Store, files: Record<string, string>, assets: string): string[] {
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
    'through `envoy/host` (new stream, headers, host calls, decision record, local reply, the end of the stream;',
    '100 requests a sample, after the four requests are warmed up in turn; the headers a map made once, as',
    "Envoy's codec makes its header map once per request). Peers decide a request",
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
  const allocated = rowsOf(d, 'allocated');
  if (allocated.length)
    out.push(
      '### Heap bytes per request through the host',
      '',
      "The JavaScript heap's growth per request (new stream, headers, host calls, log, release), measured over 2,000 requests in which no collection ran. On the allow path this is V8's BigInt for the i64 argument of `proxy_increment_metric`, made before the host function runs; a deny also makes its local reply.",
      '',
      tableMd(
        ['rules', ...REQUESTS],
        sizes.map((n) => [
          n0(n),
          ...REQUESTS.map((q) => {
            const b = allocated.find((r) => r.extra?.rules === n && r.extra?.request === q)?.median;
            return b === undefined || Number.isNaN(b) ? '–' : `${b.toFixed(0)} B`;
          }),
        ]),
      ),
      '',
    );
  return out;
}
