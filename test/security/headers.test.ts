/**
 * Attack: a header sent twice (or as a list) so that the filter decides on one reading and the
 * application acts on another. Every case goes through the local sidecar over mTLS to a real app,
 * and through `perimeter check` (the same module, the reference evaluator beside it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { perimeterCli } from '../helpers/cli.js';
import { ID, Target } from '../helpers/target.js';

let t: Target;
before(async () => {
  t = await Target.start();
});
after(() => t.stop());

const cases: { name: string; method?: string; path: string; headers: Record<string, string | string[]>; status: number }[] = [
  { name: 'x-debug empty, then x-debug 1', path: '/api/x', headers: { 'x-debug': ['', '1'] }, status: 403 },
  { name: 'x-debug 1, then x-debug empty', path: '/api/x', headers: { 'x-debug': ['1', ''] }, status: 403 },
  { name: 'x-env prod, then x-env beta', path: '/api/x', headers: { 'x-env': ['prod', 'beta'] }, status: 403 },
  { name: 'x-env as a list: prod, beta', path: '/api/x', headers: { 'x-env': 'prod, beta' }, status: 403 },
  { name: 'x-env as a list with tabs and spaces', path: '/api/x', headers: { 'x-env': 'prod,   beta-2' }, status: 403 },
  { name: 'x-env three times, beta last', path: '/api/x', headers: { 'x-env': ['a', 'prod', 'beta'] }, status: 403 },
  { name: 'x-env prod twice (no beta anywhere)', path: '/api/x', headers: { 'x-env': ['prod', 'prod'] }, status: 200 },
  {
    name: 'posture compliant, then jailbroken',
    method: 'POST',
    path: '/api/orders',
    headers: { 'x-device-posture': ['compliant', 'jailbroken'] },
    status: 403,
  },
  {
    name: 'posture as a list: compliant, jailbroken',
    method: 'POST',
    path: '/api/orders',
    headers: { 'x-device-posture': 'compliant, jailbroken' },
    status: 403,
  },
  {
    name: 'posture compliant twice (the app reads "compliant, compliant")',
    method: 'POST',
    path: '/api/orders',
    headers: { 'x-device-posture': ['compliant', 'compliant'] },
    status: 403,
  },
  { name: 'posture compliant once', method: 'POST', path: '/api/orders', headers: { 'x-device-posture': 'compliant' }, status: 200 },
];

for (const c of cases) {
  test(`sidecar: ${c.name} → ${c.status}`, async () => {
    const r = await t.call(ID.web, { method: c.method ?? 'GET', path: c.path, headers: { ...c.headers, 'content-length': '0' } });
    assert.equal(r.status, c.status, r.body);
    assert.equal(r.reached, c.status === 200, 'the app is reached exactly when the request is allowed');
  });
}

test('perimeter check decides the same: a flows file with header lines, both engines', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'perimeter-flows-')), 'flows.yaml');
  const flows = cases.map((c) => ({
    name: c.name,
    from: 'web',
    to: 'api',
    method: c.method ?? 'GET',
    path: c.path,
    headers: c.headers,
    expect: c.status === 200 ? 'allow' : 'deny',
  }));
  writeFileSync(file, stringify({ flows }));
  for (const engine of ['wasm', 'reference']) {
    const r = await perimeterCli('check', '--policy', t.policyDir, '--flows', file, '--engine', engine, '--json');
    assert.equal(r.code, 0, `${engine}: ${r.out}${r.err}`);
    assert.equal(JSON.parse(r.out).passed, cases.length);
  }
});

test('a header test that could never match as written is refused by validate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-bad-headers-'));
  const bad = readFileSync('test/security/policy/api.yaml', 'utf8')
    .replace('equals: compliant', 'equals: "compliant, managed"')
    .replace('prefix: beta', 'prefix: "beta "');
  writeFileSync(join(dir, 'api.yaml'), bad);
  writeFileSync(join(dir, 'mesh.yaml'), readFileSync('test/security/policy/mesh.yaml'));
  const r = await perimeterCli('validate', dir);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out + r.err, /equals "compliant, managed": a header value is a comma-separated list/);
  assert.match(r.out + r.err, /prefix "beta ": spaces and tabs around a header value/);
});
