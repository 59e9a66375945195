/** `perimeter lint`: its findings on a policy with one of each problem, pinned; rollout ages from history. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lint } from '../../control/analysis/lint.js';
import { modeSince } from '../../control/analysis/rollout-age.js';
import { compile } from '../../control/compile/compile.js';
import { runCli } from '../helpers/cli.js';
import { expectGolden } from '../helpers/golden.js';
import { load, perimeter } from '../helpers/policy.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-07T00:00:00Z');

const run = runCli;

test('lint: every kind of finding on the fixture, with place, severity and fix (golden), exit 4 for the errors', async () => {
  const r = run('lint', '--policy', 'test/fixtures/lint', '--at', '2026-12-07T00:00:00Z', '--state', 'test/fixtures/lint/no-state');
  assert.equal(r.code, 4, r.err);
  expectGolden('lint/fixture.txt', r.out.replace(/\(\d+ ms\)/, '(N ms)'));
  const json = JSON.parse(run('lint', '--policy', 'test/fixtures/lint', '--at', '2026-12-07T00:00:00Z', '--json').out);
  assert.deepEqual([...new Set(json.findings.map((f: { code: string }) => f.code))].sort(), [
    'expired-exception',
    'expiring-exception',
    'matches-nothing',
    'open-crown-jewel',
    'redundant-allow',
    'selects-nothing',
    'shadowed-allow',
    'unknown-identity',
  ]);
});

test('lint: the shop example has no error', async () => {
  const r = run('lint', '--policy', 'examples/shop/policy', '--state', 'test/fixtures/lint/no-state');
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /no-deletes: no allow rule admits what it denies/);
});

test('a rule of a perimeter over several workloads is dead only if it is dead on each of them', async () => {
  const yaml = perimeter(
    'enforce',
    `- name: reads
  action: allow
  from: {workloads: [batch]}
- name: api-only
  action: allow
  from: {workloads: [batch]}
  to: {paths: [/x]}
- name: no-x-from-web2
  action: deny
  from: {workloads: [web2]}
  to: {paths: [/x]}`,
    'both',
    '{workloads: [api, web]}',
  );
  const loaded = load(yaml);
  const findings = await lint(loaded.policy, compile(loaded.policy), { nowMs: NOW, soonMs: 0, maxRolloutMs: 30 * DAY });
  assert.deepEqual(
    findings.map((f) => [f.code, f.path]),
    [
      ['redundant-allow', 'Perimeter/both: rules[1] api-only'],
      ['deny-of-nothing', 'Perimeter/both: rules[2] no-x-from-web2'],
    ],
  );
});

test('rollout age: since the oldest version of the unbroken run in the current mode', async () => {
  const v = (day: number, mode: string) => ({ timeMs: NOW - day * DAY, modes: new Map([['api', mode]]) });
  const since = modeSince([v(60, 'observe'), v(45, 'simulate'), v(40, 'simulate'), v(2, 'simulate')]);
  assert.deepEqual(since.get('api'), { mode: 'simulate', sinceMs: NOW - 45 * DAY });
  const loaded = load(perimeter('simulate', '- {name: r, action: allow, from: {workloads: [web]}}'));
  const findings = await lint(loaded.policy, compile(loaded.policy), { nowMs: NOW, soonMs: 0, maxRolloutMs: 30 * DAY, modeSince: since });
  const long = findings.find((f) => f.code === 'long-rollout');
  assert.match(long?.message ?? '', /in simulate mode for 45 days/);
  assert.equal(
    (await lint(loaded.policy, compile(loaded.policy), { nowMs: NOW, soonMs: 0, maxRolloutMs: 60 * DAY, modeSince: since })).some(
      (f) => f.code === 'long-rollout',
    ),
    false,
  );
});
