/** The `perimeter` command as a user runs it: output and exit codes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';

const SHOP = 'examples/shop/policy';

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('validate: a valid policy exits 0 with a summary', () => {
  const r = run('validate', SHOP);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /8 workloads, 4 perimeters, 9 rules: 0 errors, 0 warnings/);
});

test('validate: errors exit 1 and are printed with file:line:col', () => {
  const r = run('validate', 'test/fixtures/invalid');
  assert.equal(r.code, 1);
  assert.match(r.err, /test\/fixtures\/invalid\/perimeters\.yaml:6:9: error: Perimeter\/api: spec\.mode: "enforcing" is not one of/);
  assert.match(r.err, /nothing from this batch may be applied/);
});

test('validate --json is machine-readable', () => {
  const r = run('validate', '--json', 'test/fixtures/invalid');
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out);
  assert.equal(j.ok, false);
  assert.ok(j.diagnostics.length > 10);
  assert.deepEqual(Object.keys(j.diagnostics[0]).sort(), ['column', 'file', 'line', 'message', 'path', 'severity']);
});

test('validate: a missing path is an input error', () => {
  assert.equal(run('validate', 'no/such/dir').code, 1);
});

test('check: allow exits 0 and names the deciding rule', () => {
  const r = run('check', '--policy', SHOP, '--to', 'web', '--from', 'ingress', '--method', 'GET', '--path', '/shop/x');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ALLOW/);
  assert.match(r.out, /decided by {2}web\/shoppers-via-ingress/);
});

test('check: deny exits 3 and explains the nearest rule and the failing attribute', () => {
  const r = run(
    'check',
    '--policy',
    SHOP,
    '--to',
    'payments',
    '--from',
    'spiffe://shop.example/ns/shop/sa/app',
    '--method',
    'POST',
    '--path',
    '/payments/charge',
    '--claim',
    'device_posture=compliant',
    '--claim',
    'amr=pwd',
  );
  assert.equal(r.code, 3, r.err);
  assert.match(r.out, /^DENY/);
  assert.match(r.out, /nearest rule: payments\/charge-with-mfa matched identity, method, path, host, port, claim device_posture, but/);
  assert.match(r.out, /✗ claim amr: pwd is not mfa/);
});

test('check: a would-deny (simulate) also exits 3 and says it is not blocked', () => {
  const r = run('check', '--policy', SHOP, '--to', 'db', '--from', 'web', '--method', 'GET', '--path', '/orders/1');
  assert.equal(r.code, 3);
  assert.match(r.out, /^WOULD DENY/);
  assert.match(r.out, /not blocked: the deciding perimeter is in simulate mode/);
});

test('check --json carries decision, enforced, mode, perimeter, rule and version', () => {
  const r = run('check', '--json', '--policy', SHOP, '--to', 'web', '--from', 'unauthenticated', '--method', 'GET', '--path', '/');
  assert.equal(r.code, 3);
  const j = JSON.parse(r.out);
  assert.equal(j.result.decision, 'deny');
  assert.equal(j.result.enforced, true);
  assert.equal(j.result.mode, 'enforce');
  assert.equal(j.result.perimeter, 'web');
  assert.equal(j.result.rule, 'default');
  assert.match(j.result.version, /^[0-9a-f]{16}$/);
  assert.equal(j.nearest.failed[0].attribute, 'identity');
});

test('check: usage errors exit 1', () => {
  assert.equal(run('check', '--policy', SHOP, '--to', 'web').code, 1);
  assert.equal(run('check', '--policy', SHOP, '--to', 'nope', '--from', 'web', '--method', 'GET', '--path', '/').code, 1);
  assert.equal(run('check', '--policy', SHOP, '--to', 'web', '--from', 'web', '--method', 'GET', '--path', '/', '--port', 'x').code, 1);
  assert.equal(run('check', '--policy', 'test/fixtures/invalid', '--to', 'web', '--from', 'web', '--method', 'GET', '--path', '/').code, 1);
  assert.equal(run('frobnicate').code, 1);
});

test('check --flows: the shop flows all decide as expected (exit 0)', () => {
  const r = run('check', '--policy', SHOP, '--flows', 'examples/shop/flows.yaml');
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /19 flows, 19\/19 as expected/);
  assert.match(r.out, /intruder on payments +intruder → payments +POST \/payments\/charge +DENY/);
});

test('check --flows: an unmet expectation exits 4', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-'));
  const file = join(dir, 'flows.yaml');
  writeFileSync(file, 'flows:\n  - {from: intruder, to: web, method: GET, path: /, expect: allow}\n');
  const r = run('check', '--policy', SHOP, '--flows', file);
  assert.equal(r.code, 4);
  assert.match(r.out, /✗ expected allow/);
});

test('compile: a summary per workload, --json, and --out writes decodable .pb files', () => {
  const r = run('compile', SHOP);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /payments +spiffe:\/\/shop\.example\/ns\/payments\/sa\/payments +payments +2 +enforce/);
  const j = JSON.parse(run('compile', '--json', SHOP).out);
  assert.equal(j.workloads.length, 8);
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-'));
  assert.equal(run('compile', '--out', dir, SHOP).code, 0);
  assert.equal(readdirSync(dir).length, 8);
  const db = CompiledPolicy.decode(readFileSync(join(dir, 'db.pb')));
  assert.equal(db.workload, 'db');
  assert.equal(db.rules.length, 4);
});

test('ca init and ca issue write a CA and an SVID; bad input exits 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-'));
  assert.equal(run('ca', 'init', '--state', dir, '--trust-domain', 'shop.example').code, 0);
  assert.equal(run('ca', 'init', '--state', dir, '--trust-domain', 'shop.example').code, 1, 'an existing CA is not replaced');
  const r = run('ca', 'issue', '--state', dir, '--identity', 'spiffe://shop.example/ns/shop/sa/web', '--ttl', '1h', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.match(readFileSync(j.cert, 'utf8'), /BEGIN CERTIFICATE[\s\S]*BEGIN CERTIFICATE/);
  assert.ok(Date.parse(j.notAfter) - Date.now() <= 3_600_000);
  assert.equal(run('ca', 'issue', '--state', dir, '--identity', 'spiffe://other.example/ns/a/sa/b').code, 1);
  assert.equal(run('ca', 'issue', '--state', dir, '--identity', 'spiffe://shop.example/ns/a/sa/b', '--ttl', 'soon').code, 1);
});

test('a staged candidate: check shows its verdict; promote and rollback move between versions, validated, comments kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-promote-'));
  for (const f of readdirSync(SHOP)) writeFileSync(join(dir, f), readFileSync(join(SHOP, f), 'utf8'));
  const db = join(dir, 'db.yaml');
  writeFileSync(
    db,
    `${readFileSync(db, 'utf8')}  candidate:\n    mode: enforce\n    rules:\n      # deletes allowed, for app only\n      - {name: from-app, action: allow, from: {workloads: [app]}, to: {methods: [DELETE, GET]}}\n`,
  );
  const version = () => (JSON.parse(run('compile', dir, '--json').out) as { version: string }).version;
  const staged = version();

  const c = run('check', '--policy', dir, '--from', 'app', '--to', 'db', '--method', 'DELETE', '--path', '/orders/1');
  assert.equal(c.code, 3);
  assert.match(c.out, /staged candidate: db\/from-app would allow it \(differs from the live rules\)/);

  const dry = run('promote', 'db', '--policy', dir, '--dry-run', '--state', dir);
  assert.equal(dry.code, 0, dry.err);
  assert.match(dry.out, /would be promoted: Perimeter\/db/);
  assert.equal(version(), staged, '--dry-run writes nothing');

  const p = run('promote', 'db', '--policy', dir, '--state', dir, '--json');
  assert.equal(p.code, 0, p.err);
  assert.deepEqual((JSON.parse(p.out) as { mode: unknown; rules: { added: string[] } }).mode, { from: 'simulate', to: 'enforce' });
  const promoted = readFileSync(db, 'utf8');
  assert.match(promoted, /# Being rolled out/, 'comments kept');
  assert.match(promoted, /previous:\n {4}mode: simulate/);
  assert.equal(run('validate', dir).code, 0);
  const d = run('check', '--policy', dir, '--from', 'app', '--to', 'db', '--method', 'DELETE', '--path', '/orders/1');
  assert.equal(d.code, 0, 'the candidate is live');
  assert.equal(run('promote', 'db', '--policy', dir, '--state', dir).code, 1, 'nothing left to promote');

  const r = run('rollback', 'db', '--policy', dir, '--state', dir);
  assert.equal(r.code, 0, r.err);
  assert.equal(version(), staged, 'rollback returns to exactly the staged policy');
  const again = run('rollback', 'db', '--policy', dir, '--state', dir);
  assert.equal(again.code, 1);
  assert.match(again.err, /no previous version to roll back to/);
  const web = run('promote', 'web', '--policy', dir, '--state', dir);
  assert.match(web.err, /Perimeter\/web has no candidate to promote/);
});
