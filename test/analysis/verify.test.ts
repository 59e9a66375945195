/**
 * `verify` on purpose-built policies: each assertion form holds where it should and is broken
 * where it should, with a counterexample that the reference evaluator and perimeter.wasm (through
 * the host) both decide as stated.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outcomeOf } from '../../contracts/decision-record.js';
import { parseAssertions } from '../../control/analysis/assertions.js';
import type { AnalysisMode } from '../../control/analysis/passing.js';
import { type AssertionResult, verify } from '../../control/analysis/verify.js';
import { compile } from '../../control/compile/compile.js';
import { formatDiagnostic } from '../../control/policy/diagnostics.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import { load, perimeter, TD } from '../helpers/policy.js';

const runner = new FilterRunner();
const NOW = Date.parse('2026-12-01T00:00:00Z');

/** Verifies `assertions` (YAML list items) against the policy; every violation is replayed through the filter. */
async function check(policyYaml: string, assertions: string, mode: AnalysisMode = 'enforced'): Promise<Map<string, AssertionResult>> {
  const loaded = load(policyYaml);
  assert.ok(loaded.ok, loaded.diagnostics.map(formatDiagnostic).join('\n'));
  const parsed = parseAssertions({
    name: 'assert.yaml',
    text: `apiVersion: perimeter.dev/v1\nkind: Assertions\nassertions:\n${assertions}`,
  });
  assert.ok(parsed.ok, parsed.diagnostics.map(formatDiagnostic).join('\n'));
  let replayed = 0;
  const results = await verify(loaded.policy, compile(loaded.policy), parsed.assertions, {
    mode,
    nowMs: NOW,
    filter: (bytes, request) => {
      replayed++;
      const d = runner.decide(bytes, request);
      return { blocked: outcomeOf(d) === 'deny', rule: d.rule };
    },
  });
  const violations = results.reduce((n, r) => n + r.violations.length, 0);
  assert.equal(replayed, violations, 'every counterexample went through perimeter.wasm');
  for (const r of results) for (const v of r.violations) assert.equal(v.filter?.blocked, r.assertion.kind === 'always');
  return new Map(results.map((r) => [r.assertion.name, r]));
}

const API = perimeter(
  'enforce',
  `- name: web-reads
  action: allow
  from: {workloads: [web]}
  to: {methods: [GET], paths: [/api/*]}
- name: no-batch
  action: deny
  from: {workloads: [batch]}
- name: batch-jobs
  action: allow
  from: {workloads: [batch]}
  to: {paths: [/jobs/*]}`,
);

test('never: holds when no rule lets the callers through, broken with the request and rule that do', async () => {
  const r = await check(
    API,
    `- {name: batch-never, never: {from: batch, to: api}}
- {name: web-never-posts, never: {from: web, to: api, methods: [POST]}}
- {name: web-never-reads, never: {from: web, to: api, paths: ["/api/*"]}}
- {name: unauthenticated-never, never: {from: unauthenticated, to: api}}`,
  );
  assert.equal(r.get('batch-never')?.holds, true, 'the deny beats the batch-jobs allow');
  assert.equal(r.get('web-never-posts')?.holds, true);
  assert.equal(r.get('unauthenticated-never')?.holds, true);
  const broken = r.get('web-never-reads');
  assert.equal(broken?.holds, false);
  const v = broken?.violations[0];
  assert.equal(v?.workload, 'api');
  assert.equal(v?.request.principal, `${TD}/ns/shop/sa/web`);
  assert.equal(v?.request.method, 'GET');
  assert.match(v?.request.path ?? '', /^\/api(\/|$)/);
  assert.deepEqual([v?.decision.decision, v?.decision.rule], ['allow', 'web-reads']);
  assert.equal(v?.location?.file, 'policy.yaml');
  assert.equal(v?.filter?.rule, 'api/web-reads');
});

test('always: holds when every request named passes, broken with one that is blocked and why', async () => {
  const r = await check(
    API,
    `- {name: web-reads-api, always: {from: web, to: api, methods: [GET], paths: ["/api/*"]}}
- {name: web-writes-api, always: {from: web, to: api, methods: [GET, POST], paths: ["/api/*"]}}
- {name: batch-runs-jobs, always: {from: batch, to: api, paths: ["/jobs/*"]}}`,
  );
  assert.equal(r.get('web-reads-api')?.holds, true);
  const post = r.get('web-writes-api')?.violations[0];
  assert.equal(post?.request.method, 'POST');
  assert.deepEqual([post?.decision.decision, post?.decision.rule], ['deny', 'default']);
  const jobs = r.get('batch-runs-jobs')?.violations[0];
  assert.deepEqual([jobs?.decision.rule, jobs?.filter?.rule], ['no-batch', 'api/no-batch'], 'the deny shadows the allow');
});

test('only: holds when no other caller gets through, broken by any other caller (unauthenticated ones included)', async () => {
  const open = perimeter(
    'enforce',
    `- name: web-reads
  action: allow
  from: {workloads: [web]}
  to: {paths: [/api/*]}
- name: public-health
  action: allow
  from: {unauthenticated: true}
  to: {paths: [/health]}`,
  );
  const r = await check(
    open,
    `- {name: api-only-web, only: {to: api, paths: ["/api/*"], from: [web]}}
- {name: api-only-web2, only: {to: api, paths: ["/api/*"], from: [web2]}}
- {name: health-only-web, only: {to: api, paths: ["/health"], from: web}}`,
  );
  assert.equal(r.get('api-only-web')?.holds, true);
  assert.equal(r.get('api-only-web2')?.violations[0]?.request.principal, `${TD}/ns/shop/sa/web`);
  const health = r.get('health-only-web')?.violations[0];
  assert.equal(health?.request.principal, undefined, 'an unauthenticated caller');
  assert.equal(health?.decision.rule, 'public-health');
});

test('from {notNamespace}: every caller outside it, registered or not, with or without a certificate', async () => {
  const p = perimeter(
    'enforce',
    `- name: shop-prefix
  action: allow
  from: {identities: ["spiffe://td.example/ns/shop/*"]}
- name: any-sa-named-job
  action: allow
  from: {peer: authenticated, notNamespaces: [shop]}
  to: {paths: [/jobs]}`,
  );
  const r = await check(
    p,
    `- {name: outsiders-never-write, never: {from: {notNamespace: shop}, to: api, methods: [POST]}}
- {name: insiders, never: {from: {namespace: shop}, to: api}}`,
  );
  // Outside the namespace as Istio reads it (no "/ns/shop/" in the identity): the bare
  // spiffe://td.example/ns/shop is one, and the segment prefix admits it.
  const v = r.get('outsiders-never-write')?.violations[0];
  assert.equal(v?.decision.rule, 'shop-prefix');
  assert.equal(v?.request.principal, `${TD}/ns/shop`);
  const narrower = await check(
    p.replace('spiffe://td.example/ns/shop/*', 'spiffe://td.example/ns/shop/sa/api'),
    '- {name: o, never: {from: {notNamespace: shop}, to: api, methods: [POST]}}',
  );
  const w = narrower.get('o')?.violations[0];
  assert.deepEqual([w?.decision.rule, w?.request.path], ['any-sa-named-job', '/jobs']);
  assert.ok(w?.request.principal?.startsWith('spiffe://') && !w.request.principal.includes('/ns/shop/'), w?.request.principal);
  assert.equal(r.get('insiders')?.holds, false);
});

test('conditions: a header a rule needs shows up in the counterexample, and its absence in an always', async () => {
  const p = perimeter(
    'enforce',
    `- name: tenant-a
  action: allow
  from: {workloads: [web]}
  when:
    - header: x-tenant
      equals: a`,
  );
  const r = await check(
    p,
    `- {name: web-never, never: {from: web, to: api}}
- {name: web-always, always: {from: web, to: api}}`,
  );
  assert.deepEqual(r.get('web-never')?.violations[0]?.request.headers, { 'x-tenant': ['a'] });
  assert.equal(r.get('web-always')?.violations[0]?.request.headers?.['x-tenant'], undefined);
});

test('modes: a simulate perimeter blocks nothing today, and the written policy is proved with --mode written', async () => {
  const p = perimeter(
    'simulate',
    `- name: web-reads
  action: allow
  from: {workloads: [web]}`,
  );
  const assertion = '- {name: web2-never, never: {from: web2, to: api}}';
  const today = (await check(p, assertion)).get('web2-never');
  assert.equal(today?.holds, false);
  assert.deepEqual([today?.violations[0]?.decision.decision, today?.violations[0]?.decision.enforced], ['deny', false]);
  assert.equal((await check(p, assertion, 'written')).get('web2-never')?.holds, true);
});

test('candidate: the staged rules are proved on their own', async () => {
  const p = `${perimeter(
    'enforce',
    `- name: web-reads
  action: allow
  from: {workloads: [web]}`,
  )}  candidate:
    rules:
      - name: web-and-web2
        action: allow
        from: {workloads: [web, web2]}
`;
  const assertion = '- {name: web2-never, never: {from: web2, to: api}}';
  assert.equal((await check(p, assertion)).get('web2-never')?.holds, true);
  const staged = (await check(p, assertion, 'candidate')).get('web2-never');
  assert.equal(staged?.violations[0]?.decision.rule, 'web-and-web2');
});

test('to "*": every workload, unprotected ones by the mesh default', async () => {
  const r = await check(API, '- {name: batch-nowhere, never: {from: batch, to: "*"}}');
  const result = r.get('batch-nowhere');
  assert.deepEqual(result?.workloads.sort(), ['api', 'batch', 'lonely', 'web', 'web2']);
  assert.equal(result?.holds, true, 'the mesh default denies, and api denies batch');
});

test('assertion files: every problem at its place, unknown forms refused', async () => {
  const parsed = parseAssertions({
    name: 'bad.yaml',
    text: `apiVersion: perimeter.dev/v1
kind: Assertions
assertions:
  - {name: Bad Name, never: {to: api}}
  - {name: two, never: {to: api}, always: {to: api}}
  - {name: no-to, never: {from: web}}
  - {name: bad-path, never: {to: api, paths: ["api/*"]}}
  - {name: bad-method, never: {to: api, methods: [get]}}
  - {name: unknown, never: {to: api, paths: [/a], porst: [80]}}
  - {name: tokens, never: {to: api, from: {peer: any, requestPrincipals: ["a/b"]}}}
`,
  });
  assert.equal(parsed.ok, false);
  const text = parsed.diagnostics.map(formatDiagnostic).join('\n');
  for (const expected of [
    /bad\.yaml:4:\d+: error: .*"Bad Name" is not a valid name/,
    /exactly one of never, always or only/,
    /to is required/,
    /bad path pattern "api\/\*"/,
    /"get" is not an HTTP method/,
    /unknown field "porst"/,
    /requestPrincipals belong in rules/,
  ])
    assert.match(text, expected);
});
