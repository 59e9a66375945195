/** `perimeter map`: the shop's workloads by perimeter, edges from recorded flows, denials marked. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FlowStore } from '../../control/flows/store.js';
import { requests, SHOP } from '../helpers/flows.js';

const TD = SHOP;
const ev = (source: string | undefined, destination: string, decision: 'allow' | 'deny', enforced: boolean, n: number) =>
  requests({ source, destination, decision, enforced, n });

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', 'map', '--policy', 'examples/shop/policy', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the map groups workloads by perimeter and draws flows, denied and would-be-denied edges marked', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-map-'));
  const store = FlowStore.open(state);
  store.record([
    ...ev(`${TD}shop/sa/web`, 'app', 'allow', true, 40),
    ...ev(`${TD}shop/sa/intruder`, 'payments', 'deny', true, 3),
    ...ev(`${TD}shop/sa/app`, 'db', 'deny', false, 2),
    ...ev(undefined, 'web', 'deny', true, 1),
  ]);
  await store.close();

  const out = join(state, 'map.svg');
  const svg = cli('--state', state, '--out', out);
  assert.equal(svg.code, 0, svg.err);
  assert.match(svg.err, /wrote .*map\.svg: \d+ workloads in \d+ groups, 4 edges \(2 denied, 1 would be denied\)/);
  const text = readFileSync(out, 'utf8');
  assert.match(text, /^<svg /);
  assert.match(text, /class="perimeter" data-name="payments"/);
  assert.match(text, />db · simulate</);
  assert.match(text, /class="edge denied" data-from="intruder" data-to="payments"/);
  assert.match(text, /class="edge would-deny" data-from="app" data-to="db"/);
  assert.match(text, /class="edge allowed" data-from="web" data-to="app"/);
  assert.match(text, /class="edge denied" data-from="unauthenticated" data-to="web"/);

  const dot = cli('--state', state, '--format', 'dot');
  assert.equal(dot.code, 0, dot.err);
  assert.match(dot.out, /^digraph perimeter \{/);
  assert.match(dot.out, /"intruder" -> "payments" \[label="3 req, 3 denied", color="#d62728"/);
  assert.match(dot.out, /"app" -> "db" \[label="2 req, 2 would deny", color="#ff7f0e", penwidth=[\d.]+, style=dashed\]/);
});

test('without recorded flows the map shows the perimeters alone and says so; a bad format is a usage error', () => {
  const empty = mkdtempSync(join(tmpdir(), 'perimeter-map-'));
  const r = cli('--state', empty, '--format', 'dot');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /no flows recorded under .*: the map shows workloads and perimeters only/);
  assert.match(r.out, /label="payments \(enforce\)"/);
  assert.doesNotMatch(r.out, /->/);
  assert.equal(cli('--state', empty, '--format', 'png').code, 1);
});
