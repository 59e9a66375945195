/**
 * Attack: a plain request header is whatever the direct caller sends. The shop takes device
 * posture from a verified token claim (a posture header buys nothing), `perimeter validate`
 * warns on allow rules that trust a caller-set header, and `setBy` binds a header to the
 * identities trusted to set it: from anyone else it counts for nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { EnvoyRbacEngine } from '../../bench/engines/envoy-rbac.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { exportRbac } from '../../control/render/rbac.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import { perimeterCli } from '../helpers/cli.js';
import { compiled, load, perimeter, policyFor, REGISTRY, TD } from '../helpers/policy.js';

const WEB = `${TD}/ns/shop/sa/web`;
const BATCH = `${TD}/ns/batch/sa/job`;

test('the shop: a posture header without the token claim does not charge payments', async () => {
  const r = await perimeterCli(
    'check',
    '--policy',
    'examples/shop/policy',
    '--to',
    'payments',
    '--from',
    'app',
    '--method',
    'POST',
    '--path',
    '/payments/charge',
    '--header',
    'x-device-posture=compliant',
    '--claim',
    'amr=mfa',
  );
  assert.equal(r.code, 3, r.out);
  assert.match(r.out, /✗ claim device_posture: \(absent\) is not compliant/);
  const v = await perimeterCli('validate', 'examples/shop/policy');
  assert.match(v.out, /0 errors, 0 warnings/, 'the example trusts no caller-set header');
});

test('validate warns on an allow rule that trusts a caller-set header, and says what to do', () => {
  const r = load(
    perimeter(
      'enforce',
      '- name: posture\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: x-device-posture, equals: compliant}]',
    ),
  );
  assert.equal(r.ok, true);
  const w = r.diagnostics.find((d) => d.severity === 'warning');
  assert.match(w?.message ?? '', /this allow trusts header x-device-posture, which any caller it admits can set to anything/);
  assert.match(w?.hint ?? '', /claim.*setBy/);
  const bound = load(
    perimeter(
      'enforce',
      '- name: posture\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: x-device-posture, equals: compliant, setBy: {workloads: [web]}}]',
    ),
  );
  assert.equal(bound.diagnostics.filter((d) => d.severity === 'warning').length, 0);
  const deny = load(
    perimeter('enforce', '- name: d\n  action: deny\n  when: [{header: x-debug, present: true, setBy: {workloads: [web]}}]'),
  );
  assert.equal(deny.ok, false, 'setBy in a deny is an error');
  assert.match(deny.diagnostics.map((d) => d.message).join('\n'), /setBy in a deny rule/);
  const istio = load(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: shop}
spec:
  action: ALLOW
  rules: [{when: [{key: "request.headers[x-role]", values: [admin]}]}]
`);
  assert.match(istio.diagnostics.map((d) => d.message).join('\n'), /this ALLOW trusts header x-role/);
});

test('setBy: the header counts only from the identities trusted to set it (filter, reference, export rbac)', () => {
  const yaml = perimeter(
    'enforce',
    '- name: tenant\n  action: allow\n  from: {workloads: [web, batch]}\n  when: [{header: x-tenant, equals: acme, setBy: {workloads: [web]}}]',
  );
  const c = compiled(yaml);
  const policy = policyFor(c, 'api');
  const api = c.workloads.find((w) => w.workload.name === 'api');
  assert.ok(api);
  const runner = new FilterRunner();
  const rbac = new EnvoyRbacEngine(exportRbac(policy).filters);
  const cases: [string, Record<string, string>, 'allow' | 'deny'][] = [
    [WEB, { 'x-tenant': 'acme' }, 'allow'],
    [BATCH, { 'x-tenant': 'acme' }, 'deny'],
    [WEB, {}, 'deny'],
    [BATCH, {}, 'deny'],
  ];
  for (const [principal, headers, want] of cases) {
    const req = { principal, method: 'GET', path: '/', headers };
    assert.equal(evaluate(policy, req).decision, want, `reference: ${principal} ${JSON.stringify(headers)}`);
    assert.equal(runner.decide(api.bytes, req).decision, want, `filter: ${principal}`);
    assert.equal(rbac.decide(rbac.prepare(req)), want, `export rbac: ${principal}`);
  }
});

test('a setBy that selects nobody never holds (it does not widen to any caller)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-setby-'));
  writeFileSync(join(dir, 'registry.yaml'), REGISTRY);
  writeFileSync(
    join(dir, 'api.yaml'),
    perimeter(
      'enforce',
      '- name: t\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: x-t, equals: a, setBy: {labels: {app: nobody}}}]',
    ),
  );
  const flows = join(mkdtempSync(join(tmpdir(), 'perimeter-setby-flows-')), 'f.yaml');
  writeFileSync(
    flows,
    stringify({ flows: [{ from: 'web', to: 'api', method: 'GET', path: '/', headers: { 'x-t': 'a' }, expect: 'deny' }] }),
  );
  for (const engine of ['wasm', 'reference']) {
    const r = await perimeterCli('check', '--policy', dir, '--flows', flows, '--engine', engine);
    assert.equal(r.code, 0, `${engine}: ${r.out}${r.err}`);
  }
});
