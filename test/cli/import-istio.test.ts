/**
 * `perimeter import istio` as a user runs it on the shipped Istio example: refused while a field
 * cannot be honoured, converted with --skip-unsupported, and the native output decides every
 * generated request exactly as the imported Istio policies do, for every workload.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PolicyRequest } from '../../contracts/request.js';
import { compile } from '../../control/compile/compile.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { loadPaths, loadSources } from '../../control/policy/load.js';
import { rng } from '../differential/generate.js';

const EXAMPLE = 'examples/istio';

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a policy with an address field is refused, naming it, until told to skip it', () => {
  const r = run('import', 'istio', EXAMPLE);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /policies\.yaml:\d+:\d+: error: AuthorizationPolicy\/billing\.billing-partners: spec\.rules\[0\]\.from\[1\]\.source\.ipBlocks: cannot honour ipBlocks/,
  );
  assert.match(r.err, /nothing was converted/);
  assert.equal(r.out, '');
});

test('--skip-unsupported converts the rest, says what it dropped, and proves the output compiles the same', () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-'));
  const out = join(dir, 'native.yaml');
  const r = run('import', 'istio', '--skip-unsupported', '--out', out, EXAMPLE);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: .*billing\.billing-partners: spec\.rules\[0\]\.from\[1\]: dropped this source \(ipBlocks\)/);
  assert.match(r.err, /5 AuthorizationPolicies → native perimeters in .*native\.yaml \(1 part dropped/);
  assert.match(r.err, /verified: compiles to the same policy bytes for all 4 workloads/);
  const text = readFileSync(out, 'utf8');
  assert.match(
    text,
    /^# Imported from Istio AuthorizationPolicy shop\/orders-viewer \(examples\/istio\/policies\.yaml:\d+\), action ALLOW/m,
  );
  assert.match(text, /# Not converted: spec\.rules\[0\]\.from\[1\]: dropped this source \(ipBlocks\)/);
  assert.doesNotMatch(text, /security\.istio\.io/);
});

test('the native output decides every generated request as the Istio policies do', () => {
  const r = run('import', 'istio', '--skip-unsupported', EXAMPLE);
  assert.equal(r.code, 0, r.err);
  const istio = loadPaths([EXAMPLE], { skipUnsupported: true });
  const registry = ['mesh.yaml', 'workloads.yaml'].map((f) => ({ name: f, text: readFileSync(join(EXAMPLE, f), 'utf8') }));
  const native = loadSources([...registry, { name: 'native.yaml', text: r.out }]);
  assert.ok(native.ok, native.diagnostics.map((d) => d.message).join('\n'));
  assert.ok(native.policy.perimeters.every((p) => p.origin === 'perimeter'));
  const before = compile(istio.policy).workloads;
  const after = compile(native.policy).workloads;
  const callers = [
    undefined,
    ...['frontend', 'billing']
      .flatMap((sa) => [`ns/shop/sa/${sa}`, `ns/billing/sa/${sa}`])
      .flatMap((p) => ['shop.example', 'cluster.local', 'elsewhere.example'].map((td) => `spiffe://${td}/${p}`)),
    'spiffe://shop.example/ns/docs/sa/files',
  ];
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'LOCK', 'PURGE', 'get'];
  const paths = [
    '/orders/1',
    '/orders/1/items',
    '/orders/1/items/a/b',
    '/orders/1/refund',
    '/orders',
    '/admin',
    '/administrator/x',
    '/dav/',
    '/dav/a/b',
    '/dav',
    '/invoices/7',
    '/invoices/7/x',
    '/Admin',
  ];
  const r2 = rng(15);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r2() * xs.length)] as T;
  let allowed = 0;
  for (let i = 0; i < 5000; i++) {
    const principal = pick(callers);
    const req: PolicyRequest = { ...(principal ? { principal } : {}), method: pick(methods), path: pick(paths), headers: {} };
    for (const [k, w] of before.entries()) {
      const a = evaluate(w.policy, req);
      const b = evaluate((after[k] as (typeof after)[number]).policy, req);
      assert.deepEqual({ ...b, version: '' }, { ...a, version: '' }, `${w.workload.name}: ${JSON.stringify(req)}`);
      if (a.decision === 'allow') allowed++;
    }
  }
  assert.ok(allowed > 200, `only ${allowed} allowed decisions: the requests do not exercise the rules`);
});

test('--json reports each policy, the verification and the YAML', () => {
  const r = run('import', 'istio', '--skip-unsupported', '--json', EXAMPLE);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.ok, true);
  assert.deepEqual(
    j.policies.map((p: { name: string; action: string }) => `${p.name} ${p.action}`),
    [
      'shop.orders-viewer ALLOW',
      'shop.orders-no-admin DENY',
      'docs.webdav ALLOW',
      'billing.billing-audit AUDIT',
      'billing.billing-partners ALLOW',
    ],
  );
  assert.deepEqual(j.verified, { workloads: 4, differ: [] });
  assert.match(j.yaml, /kind: Perimeter/);
});

test('a file without AuthorizationPolicies is an input error', () => {
  const r = run('import', 'istio', 'examples/shop/policy');
  assert.equal(r.code, 1);
  assert.match(r.err, /no AuthorizationPolicy/);
});
