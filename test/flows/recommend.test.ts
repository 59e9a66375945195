/** `perimeter recommend`: a least-privilege Perimeter from recorded flows that, enforced, allows the good traffic and denies the rest. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compile } from '../../control/compile/compile.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { policyPath } from '../../control/flows/recommend.js';
import { FlowStore } from '../../control/flows/store.js';
import { loadSources } from '../../control/policy/load.js';
import { requests, SHOP } from '../helpers/flows.js';

const TD = SHOP;
const WEB = `${TD}shop/sa/web`;
const APP = `${TD}shop/sa/app`;
const PAYMENTS = `${TD}payments/sa/payments`;
const INTRUDER = `${TD}shop/sa/intruder`;
const ev = (
  source: string | undefined,
  destination: string,
  method: string,
  path: string,
  decision: 'allow' | 'deny',
  enforced: boolean,
  n: number,
) => requests({ source, destination, method, path, decision, enforced, n });

function cli(state: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', 'recommend', '--policy', 'examples/shop/policy', '--state', state, ...args], {
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function recorded(): Promise<string> {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-recommend-'));
  const store = FlowStore.open(state);
  store.record([
    ...ev(WEB, 'app', 'GET', '/api/orders/N', 'allow', true, 40),
    ...ev(WEB, 'app', 'POST', '/api/orders', 'allow', true, 5),
    ...ev(INTRUDER, 'app', 'GET', '/api/orders/N', 'deny', true, 3),
    ...ev(undefined, 'app', 'GET', '/api/orders/1', 'deny', true, 1),
    ...ev(APP, 'db', 'GET', '/orders/N', 'allow', false, 30),
    ...ev(PAYMENTS, 'db', 'GET', '/orders/N/lines', 'deny', false, 2),
  ]);
  await store.close();
  return state;
}

/** The shop policy with `file` replaced by `text`, compiled, deciding as the filter would. */
function decideWith(file: string, text: string, workload: string) {
  const dir = 'examples/shop/policy';
  const sources = readdirSync(dir)
    .filter((f) => f !== file)
    .map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }));
  const loaded = loadSources([...sources, { name: file, text: text.replace('mode: simulate', 'mode: enforce') }]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => d.message).join('\n'));
  const w = compile(loaded.policy).workloads.find((x) => x.workload.name === workload);
  assert.ok(w);
  return (principal: string | undefined, method: string, path: string) => {
    const d = evaluate(w.policy, { ...(principal ? { principal } : {}), method, path, host: workload });
    return d.decision === 'deny' && d.enforced ? 'deny' : 'allow';
  };
}

test('recommend: observed callers, methods and templated paths in simulate mode, with the evidence; the intruder and the unauthenticated left out, and said', async () => {
  const state = await recorded();
  const r = cli(state, '--for', 'app');
  assert.equal(r.code, 0, r.err);
  const y = r.out;
  assert.match(y, /mode: simulate/);
  assert.match(y, /workloads: \[web\]/);
  assert.match(y, /methods: \[GET, POST\]/);
  assert.match(y, /paths: \[\/api\/orders, \/api\/orders\/\*\]/);
  assert.match(y, /# 45 requests, last seen /);
  assert.match(y, /# {3}GET \/api\/orders\/\*: 40 \(40 allowed, 0 would deny, 0 denied\), e\.g\. \/api\/orders\/139/);
  assert.match(y, /# Not allowed: intruder: seen only denied \(3 requests/);
  assert.match(y, /# Not allowed: unauthenticated: 1 requests without a client certificate/);
  assert.doesNotMatch(y, /intruder\]/);

  // Enforced, it allows what was observed and denies the intruder and the unauthenticated.
  const decide = decideWith('app.yaml', y, 'app');
  assert.equal(decide(WEB, 'GET', '/api/orders/777'), 'allow');
  assert.equal(decide(WEB, 'POST', '/api/orders'), 'allow');
  assert.equal(decide(WEB, 'DELETE', '/api/orders/1'), 'deny');
  assert.equal(decide(INTRUDER, 'GET', '/api/orders/1'), 'deny');
  assert.equal(decide(undefined, 'GET', '/api/orders/1'), 'deny');
});

test('a label group whose every member called becomes one label rule; would-deny traffic counts as observed', async () => {
  const state = await recorded();
  const r = cli(state, '--for', 'db');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /labels: \{tier: backend\}/);
  assert.match(r.out, /every workload labelled tier=backend called \(app, payments\)/);
  assert.match(r.out, /a template with an identifier before its end is widened/);
  const decide = decideWith('db.yaml', r.out, 'db');
  assert.equal(decide(PAYMENTS, 'GET', '/orders/5/lines'), 'allow');
  assert.equal(decide(WEB, 'GET', '/orders/5'), 'deny');
});

test('templates become policy paths; no flows or an unknown workload are usage errors', async () => {
  assert.deepEqual(policyPath('/orders/*'), { path: '/orders/*', widened: false });
  assert.deepEqual(policyPath('/orders/*/lines'), { path: '/orders/*', widened: true });
  assert.deepEqual(policyPath('/*'), { path: '/*', widened: true });
  assert.deepEqual(policyPath('/health'), { path: '/health', widened: false });
  const state = await recorded();
  const none = cli(state, '--for', 'reports');
  assert.equal(none.code, 1);
  assert.match(none.err, /no flows to reports recorded/);
  assert.match(cli(state, '--for', 'nobody').err, /no workload nobody/);
});
