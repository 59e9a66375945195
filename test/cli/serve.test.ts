/** `perimeter serve`, `status`, `versions`, `diff` and `rollback` as an operator runs them. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually } from '../helpers/xds.js';

const policy = mkdtempSync(join(tmpdir(), 'perimeter-cli-policy-'));
const state = mkdtempSync(join(tmpdir(), 'perimeter-cli-state-'));
cpSync('examples/shop/policy', policy, { recursive: true });
let server: ChildProcess;
let logs = '';

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  server = spawn(
    process.execPath,
    [
      'bin/perimeter.js',
      'serve',
      '--policy',
      policy,
      '--state',
      state,
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--debounce',
      '30',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server.stdout?.on('data', (d) => {
    logs += d;
  });
  server.stderr?.on('data', (d) => {
    logs += d;
  });
  await eventually(() => existsSync(join(state, 'server.json')), 20_000, 'server.json');
  // server.json is written just before the ready line, which may still be on its way through the pipe.
  await eventually(() => logs.includes('control server ready'), 20_000, 'the ready log line');
});
after(() => {
  if (server.exitCode === null) server.kill('SIGKILL');
});

test('serve logs structured JSON and status shows what it serves', () => {
  const lines = logs
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; level: number });
  assert.ok(lines.some((l) => l.msg === 'control server ready'));
  const r = run('status', '--state', state);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /xDS 127\.0\.0\.1:\d+ \(mTLS, trust domain shop\.example\)/);
  assert.match(r.out, /serving [0-9a-f]{16} \(#1, policy\).*8 workloads/);
  assert.match(r.out, /no sidecars connected/);
  const j = JSON.parse(run('status', '--state', state, '--json').out);
  assert.equal(j.snapshot.workloads, 8);
  // lint dates each perimeter's mode from the published history: db has been in simulate since #1.
  const lint = JSON.parse(run('lint', '--policy', policy, '--state', state, '--max-rollout', '0s', '--json').out);
  assert.equal(lint.rolloutAges, true);
  const long = lint.findings.filter((f: { code: string }) => f.code === 'long-rollout');
  assert.deepEqual(
    long.map((f: { path: string; message: string }) => [f.path, /^in simulate mode for 0 days \(since /.test(f.message)]),
    [['Perimeter/db', true]],
  );
});

test('an edit becomes version #2; versions lists both and diff names the rules that changed', async () => {
  const file = join(policy, 'db.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace('mode: simulate', 'mode: enforce').replace('name: no-deletes', 'name: never-delete'),
  );
  await eventually(() => JSON.parse(run('status', '--state', state, '--json').out).snapshot.seq === 2, 5_000, 'version 2');
  const v = run('versions', '--state', state);
  assert.equal(v.code, 0);
  assert.match(v.out, /#1 +[0-9a-f]{16} .* publish +8 +8 workloads/);
  assert.match(v.out, /#2 +[0-9a-f]{16} .* publish +8 +db: perimeter db: simulate → enforce; \+db\/never-delete; -db\/no-deletes/);
  const d = run('diff', '1', '2', '--state', state);
  assert.equal(d.code, 0, d.err);
  assert.match(d.out, /^db$/m);
  assert.match(d.out, /~ mode perimeter db: simulate → enforce/);
  assert.match(d.out, /\+ db\/never-delete/);
  assert.match(d.out, /- db\/no-deletes/);
  assert.doesNotMatch(d.out, /^web$/m);
  const j = JSON.parse(run('diff', '1', '2', '--state', state, '--json').out);
  assert.deepEqual(
    j.workloads.map((w: { workload: string }) => w.workload),
    ['db'],
  );
  // The same two published versions, by what they decide: db starts to block, nothing is newly allowed.
  const s = run('diff', '--semantic', '1', '2', '--state', state);
  assert.equal(s.code, 0, s.err);
  assert.match(s.out, /^#1 [0-9a-f]{16} → #2 [0-9a-f]{16} \(enforced rules\)/);
  assert.match(s.out, /db +- newly denied +\S+ \S+.* +db\/default +db\/default/);
  const sj = JSON.parse(run('diff', '--semantic', '1', '2', '--state', state, '--json').out);
  assert.equal(sj.newlyAllowed, false);
  assert.deepEqual(
    [...new Set(sj.workloads.flatMap((w: { classes: { change: string }[] }) => w.classes.map((c) => c.change)))],
    ['newly-denied'],
  );
});

test('rollback republishes an old version as a new history entry; bad references exit 1', () => {
  const r = run('rollback', '1', '--state', state);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /rolled back: now serving [0-9a-f]{16} as #3/);
  assert.match(run('versions', '--state', state).out, /#3 .* rollback to #1/);
  const bad = run('rollback', '42', '--state', state);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /no version #42/);
  assert.equal(run('diff', '1', 'zzzz', '--state', state).code, 1);
});

test('SIGTERM stops the server cleanly: exit 0, server.json removed, status says nothing runs', async () => {
  const exited = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
  server.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(existsSync(join(state, 'server.json')), false);
  const s = run('status', '--state', state);
  assert.equal(s.code, 1);
  assert.match(s.err, /no control server is running/);
  assert.match(run('versions', '--state', state).out, /#3/);
});

test('serve refuses flags out of range with exit 1 before it starts anything', () => {
  for (const [flag, value, says] of [
    ['--max-streams-per-identity', '0', /--max-streams-per-identity 0: a whole number from 1/],
    ['--max-streams-per-identity', '2.5', /a whole number/],
    ['--lease', '1', /--lease 1: whole seconds from 2 to 300/],
    ['--debounce', '-3', /--debounce -3/],
  ] as const) {
    const r = run('serve', '--policy', policy, '--state', mkdtempSync(join(tmpdir(), 'perimeter-cli-bad-')), flag, value);
    assert.equal(r.code, 1, `${flag} ${value}: ${r.err}`);
    assert.match(r.err, says);
  }
});
