/**
 * Attack (or accident) on the analysis commands, which CI runs on pull requests: a policy made
 * to explode the request space, and hostile assertion files. Each gets a clear error and exit 1,
 * quickly; nothing is decided on a partial answer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';

const run = runCli;

const ASSERT = 'apiVersion: perimeter.dev/v1\nkind: Assertions\nassertions:\n  - {name: a, never: {from: unauthenticated, to: db}}\n';

function shopWith(extra: string, to: string): { dir: string; assert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'analysis-attack-'));
  cpSync('examples/shop/policy', join(dir, 'policy'), { recursive: true });
  writeFileSync(join(dir, 'policy', 'extra.yaml'), extra);
  writeFileSync(join(dir, 'a.yaml'), ASSERT.replace('to: db', `to: ${to}`));
  return { dir, assert: join(dir, 'a.yaml') };
}

test('a policy whose claim conditions multiply past the bounds is refused as such, not approximated', () => {
  // Six claims, each tested against several values: every combination is a candidate token.
  const when = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'].map((c) => `        - {claim: ${c}, values: [a, b, c, d, e, f]}`).join('\n');
  const { dir, assert: file } = shopWith(
    `apiVersion: perimeter.dev/v1
kind: Perimeter
metadata: {name: tokens}
spec:
  owner: x
  mode: enforce
  selector: {workloads: [reports]}
  rules:
    - name: many-claims
      action: allow
      from: {workloads: [app]}
      when:
${when}
`,
    'reports',
  );
  const r = run('verify', '--policy', join(dir, 'policy'), '--assert', file);
  const reports = run('lint', '--policy', join(dir, 'policy'), '--state', join(dir, 'none'));
  for (const x of [r, reports]) {
    assert.equal(x.code, 1, x.out + x.err);
    assert.match(x.err, /cannot be analysed exactly .*token: \d+ combinations of claim values/);
    assert.ok(x.ms < 30_000, `${x.ms} ms`);
  }
});

test('an assertions file of aliases (a YAML bomb) is an error at its place, read in bounded time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'analysis-bomb-'));
  const lines = ['apiVersion: perimeter.dev/v1', 'kind: Assertions', 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 12; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  lines.push('assertions: *a11');
  writeFileSync(join(dir, 'bomb.yaml'), `${lines.join('\n')}\n`);
  const r = run('verify', '--policy', 'examples/shop/policy', '--assert', join(dir, 'bomb.yaml'));
  assert.equal(r.code, 1);
  assert.match(r.err, /bomb\.yaml:\d+:\d+: error/);
  assert.match(r.err, /nothing was verified/);
  assert.ok(r.ms < 30_000, `${r.ms} ms`);
});

test('an assertions path that is a FIFO is refused without blocking', () => {
  const dir = mkdtempSync(join(tmpdir(), 'analysis-fifo-'));
  execFileSync('mkfifo', [join(dir, 'a.yaml')]);
  const r = run('verify', '--policy', 'examples/shop/policy', '--assert', join(dir, 'a.yaml'));
  assert.equal(r.code, 1);
  assert.match(r.err, /not a regular file/);
});

test('what an assertions file says is validated, and its control characters never reach the terminal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'analysis-names-'));
  writeFileSync(
    join(dir, 'a.yaml'),
    'apiVersion: perimeter.dev/v1\nkind: Assertions\nassertions:\n  - {name: "x\\u001b[31m", never: {to: "db\\u001b[2J", paths: ["/a/../b"]}}\n',
  );
  const r = run('verify', '--policy', 'examples/shop/policy', '--assert', join(dir, 'a.yaml'));
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.err, /\u001b\[(31m|2J)/, 'no terminal escape reaches the output');
  assert.match(r.err, /is not a valid name/);
  assert.match(r.err, /is not a workload name/);
  assert.match(r.err, /not normalised|bad path pattern/);
});

test('a policy file quoted in a diagnostic (validate, verify, lint) shows its control characters, never sends them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'analysis-policy-escape-'));
  cpSync('examples/shop/policy', dir, { recursive: true });
  writeFileSync(
    join(dir, 'evil.yaml'),
    'apiVersion: perimeter.dev/v1\nkind: Perimeter\nmetadata: {name: "evil\\u001b]0;owned\\u0007"}\nspec: {owner: x, mode: enforce, selector: {workloads: [db]}, rules: []}\n',
  );
  for (const args of [
    ['validate', dir],
    ['lint', '--policy', dir],
  ]) {
    const r = run(...args);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.err, /\u001b|\u0007/, `${args[0]}: no escape or bell reaches the terminal`);
    assert.match(r.err, /\\x1b\]0;owned\\x07/, `${args[0]}: shown instead`);
  }
});
