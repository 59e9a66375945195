/** The policy review of docs/ci.md, run as CI runs it: exit 0, 3 (a second review) or 1 (a failed check), with its SARIF. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sarifProblems } from '../helpers/sarif.js';

const SHOP = 'examples/shop/policy';

function review(head: string, flows = 'examples/shop/flows.yaml') {
  const out = mkdtempSync(join(tmpdir(), 'review-out-'));
  const r = spawnSync('bash', ['examples/ci/policy-review.sh', SHOP, head, 'examples/shop/assertions.yaml', flows, out], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', PERIMETER: `${process.execPath} bin/perimeter.js` },
  });
  return { code: r.status, out: r.stdout, dir: out };
}

function shopCopy(edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'review-head-'));
  cpSync(SHOP, dir, { recursive: true });
  edit(dir);
  return dir;
}

test('an unchanged policy passes every step; its SARIF is valid', () => {
  const r = review(SHOP);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /policy review: passed; nothing newly allowed/);
  for (const f of ['validate', 'lint', 'verify'])
    assert.deepEqual(sarifProblems(JSON.parse(readFileSync(join(r.dir, `${f}.sarif`), 'utf8'))), [], f);
});

test('a change that opens the crown jewel to web: every check passes, and a second review is asked for (exit 3)', () => {
  const head = shopCopy((dir) => {
    const f = join(dir, 'payments.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('workloads: [app]', 'workloads: [app, web]'));
  });
  const r = review(head);
  assert.equal(r.code, 3, r.out);
  assert.match(r.out, /newly allows requests .*second review/);
  const diff = JSON.parse(readFileSync(join(r.dir, 'diff.json'), 'utf8'));
  assert.equal(diff.workloads[0].workload, 'payments');
});

test('a change that lets the intruder in breaks an assertion and fails the review (exit 1)', () => {
  const head = shopCopy((dir) => {
    const f = join(dir, 'app.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('labels: {tier: frontend}', 'labels: {app: intruder}'));
  });
  const r = review(head);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /failed: .*verify/);
  const sarif = JSON.parse(readFileSync(join(r.dir, 'verify.sarif'), 'utf8'));
  assert.ok(sarif.runs[0].results.some((x: { ruleId: string }) => x.ruleId === 'intruder-reaches-nothing'));
});
