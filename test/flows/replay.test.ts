/** `perimeter replay`: a candidate decided on the recorded flows; exit 3 when it denies traffic that passes today. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FlowStore } from '../../control/flows/store.js';
import { requests, SHOP } from '../helpers/flows.js';

const TD = SHOP;
const ev = (source: string | undefined, destination: string, method: string, path: string, n: number) =>
  requests({ source, destination, method, path, n });

function cli(state: string, candidate: string, ...more: string[]) {
  const r = spawnSync(
    process.execPath,
    ['bin/perimeter.js', 'replay', '--policy', 'examples/shop/policy', '--candidate', candidate, '--state', state, ...more],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('replay shows what a candidate changes on observed traffic, and exits 3 when it would deny what passes today', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-replay-'));
  const store = FlowStore.open(state);
  store.record([
    ...ev(`${TD}shop/sa/web`, 'app', 'GET', '/api/orders/1', 20),
    ...ev(`${TD}shop/sa/app`, 'db', 'DELETE', '/orders/7', 2),
    ...ev(`${TD}shop/sa/app`, 'db', 'GET', '/orders/7', 30),
  ]);
  await store.close();

  // The same policy: nothing changes.
  const same = cli(state, 'examples/shop/policy');
  assert.equal(same.code, 0, same.err);
  assert.match(same.out, /0 flows \(0 requests\) newly denied, 0 flows \(0 requests\) newly allowed, 3 flows \(52 requests\) unchanged/);

  // Enforcing db (today in simulate) would block the DELETE that passes today: exit 3.
  const candidate = mkdtempSync(join(tmpdir(), 'perimeter-candidate-'));
  cpSync('examples/shop/policy', candidate, { recursive: true });
  writeFileSync(join(candidate, 'db.yaml'), readFileSync(join(candidate, 'db.yaml'), 'utf8').replace('mode: simulate', 'mode: enforce'));
  const r = cli(state, candidate);
  assert.equal(r.code, 3, r.err);
  assert.match(
    r.out,
    /newly denied\s+spiffe:\/\/shop\.example\/ns\/shop\/sa\/app\s+db\s+DELETE\s+\/orders\/\*\s+2\s+\/orders\/7\s+db\/no-deletes/,
  );
  assert.match(r.out, /1 flows \(2 requests\) newly denied/);

  // A candidate that drops web's rule on app: web's traffic is newly denied, by default.
  const strict = mkdtempSync(join(tmpdir(), 'perimeter-candidate-'));
  cpSync('examples/shop/policy', strict, { recursive: true });
  writeFileSync(
    join(strict, 'app.yaml'),
    readFileSync(join(strict, 'app.yaml'), 'utf8').replace('labels: {tier: frontend}', 'workloads: [reports]'),
  );
  const j = cli(state, strict, '--json');
  assert.equal(j.code, 3, j.err);
  const parsed = JSON.parse(j.out) as {
    requests: Record<string, number>;
    flows: { change: string; rule: string; flow: { destination: string } }[];
  };
  assert.equal(parsed.requests['newly denied'], 20);
  assert.deepEqual(
    parsed.flows.filter((f) => f.change !== 'unchanged').map((f) => [f.change, f.flow.destination, f.rule]),
    [['newly denied', 'app', 'default']],
  );
});
