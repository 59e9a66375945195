/** verify, lint, diff --semantic and validate as CI runs them: exit codes, JSON, and SARIF the published schema accepts. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { sarifProblems } from '../helpers/sarif.js';

const SHOP = 'examples/shop/policy';
const ASSERT = 'examples/shop/assertions.yaml';
const NO_STATE = ['--state', 'test/fixtures/lint/no-state'];

const run = runCli;

test('verify: the shop today breaks four assertions (db is in simulate), exit 4, each with a counterexample', () => {
  const r = run('verify', '--policy', SHOP, '--assert', ASSERT);
  assert.equal(r.code, 4, r.err);
  assert.match(r.out, /✓ card-charges-stay-in-shop/);
  assert.match(r.out, /✗ db-never-unauthenticated .*examples\/shop\/assertions\.yaml:\d+:\d+/);
  assert.match(
    r.out,
    /db: GET \/\S*, from an unauthenticated caller\n +passes: the default of db would deny it, but is not enforced \(examples\/shop\/policy\/db\.yaml:\d+:\d+\)/,
  );
  assert.match(r.out, /4 of 6 assertions broken .*confirmed by perimeter\.wasm/);
});

test('verify --engine reference: the same answers without replaying them through perimeter.wasm', () => {
  const r = run('verify', '--policy', SHOP, '--assert', ASSERT, '--engine', 'reference', '--json');
  assert.equal(r.code, 4, r.err);
  const j = JSON.parse(r.out);
  const broken = j.results.filter((x: { holds: boolean }) => !x.holds);
  assert.equal(broken.length, 4);
  assert.ok(broken.every((x: { violations: { filter?: unknown }[] }) => x.violations.every((v) => v.filter === undefined)));
  const wasm = JSON.parse(run('verify', '--policy', SHOP, '--assert', ASSERT, '--json').out);
  assert.ok(
    wasm.results
      .flatMap((x: { violations: { filter?: { blocked: boolean } }[] }) => x.violations)
      .every((v: { filter?: { blocked: boolean } }) => v.filter?.blocked === false),
  );
});

test('verify --mode written: the policy as it will be enforced holds every assertion, exit 0', () => {
  const r = run('verify', '--policy', SHOP, '--assert', ASSERT, '--mode', 'written', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.holds, true);
  assert.equal(j.results.length, 6);
});

test('verify: a bad assertions file or an unknown workload is an input error (exit 1), nothing verified', () => {
  const dir = mkdtempSync(join(tmpdir(), 'verify-'));
  const file = join(dir, 'a.yaml');
  writeFileSync(file, 'apiVersion: perimeter.dev/v1\nkind: Assertions\nassertions:\n  - {name: x, never: {from: nobody-here, to: db}}\n');
  const r = run('verify', '--policy', SHOP, '--assert', file);
  assert.equal(r.code, 1);
  assert.match(r.err, /a\.yaml:4:\d+: error: .*no workload named "nobody-here"/);
  assert.match(r.err, /nothing was verified/);
});

test('SARIF from verify, lint and validate is valid SARIF 2.1.0', () => {
  const verify = run('verify', '--policy', SHOP, '--assert', ASSERT, '--format', 'sarif');
  assert.equal(verify.code, 4);
  const v = JSON.parse(verify.out);
  assert.deepEqual(sarifProblems(v), []);
  assert.equal(v.runs[0].results.length, 4);
  assert.ok(v.runs[0].results.every((x: { relatedLocations?: unknown[] }) => x.relatedLocations?.length === 1));
  const lint = run('lint', '--policy', 'test/fixtures/lint', '--format', 'sarif', ...NO_STATE);
  assert.equal(lint.code, 4);
  const l = JSON.parse(lint.out);
  assert.deepEqual(sarifProblems(l), []);
  assert.ok(l.runs[0].results.some((x: { ruleId: string; level: string }) => x.ruleId === 'open-crown-jewel' && x.level === 'error'));
  const validate = run('validate', 'test/fixtures/invalid', '--format', 'sarif');
  assert.equal(validate.code, 1);
  assert.deepEqual(sarifProblems(JSON.parse(validate.out)), []);
  assert.deepEqual(
    sarifProblems({ version: '2.1.0', runs: [{ tool: {} }] }),
    ["/runs/0/tool must have required property 'driver'"],
    'the check can fail',
  );
});

test('diff --semantic: a widened crown jewel is newly allowed (exit 3); the same directory twice changes nothing (exit 0)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'diff-'));
  cpSync(SHOP, dir, { recursive: true });
  const file = join(dir, 'payments.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('workloads: [app]', 'workloads: [app, web]'));
  const r = run('diff', '--semantic', SHOP, dir);
  assert.equal(r.code, 3, r.err);
  assert.match(
    r.out,
    /payments +\+ newly allowed +POST \/payments\/charge, from spiffe:\/\/shop\.example\/ns\/shop\/sa\/web, token .* +payments\/default +payments\/charge-with-mfa/,
  );
  assert.match(r.out, /ask for a second review/);
  const j = JSON.parse(run('diff', '--semantic', SHOP, dir, '--json').out);
  assert.equal(j.newlyAllowed, true);
  assert.equal(j.workloads[0].classes[0].example.principal, 'spiffe://shop.example/ns/shop/sa/web');
  const same = run('diff', '--semantic', SHOP, SHOP);
  assert.equal(same.code, 0);
  assert.match(same.out, /no request is decided differently/);
});
