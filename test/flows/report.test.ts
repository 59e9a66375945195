/** `perimeter report`: posture from the compiled policy, unused rules from the recorded rule hits. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { report } from '../../control/flows/report.js';
import { FlowStore } from '../../control/flows/store.js';
import { compiled, load, perimeter, TD } from '../helpers/policy.js';

const POLICY =
  perimeter(
    'enforce',
    `- name: web-reads
  action: allow
  from: {workloads: [web]}
  to: {methods: [GET]}
- name: anyone-health
  action: allow
  from: {identities: ["*"]}
  to: {paths: [/healthz]}
- name: batch-exports
  action: allow
  from: {workloads: [batch]}
  to: {paths: [/export]}
- name: no-admin
  action: deny
  to: {paths: [/admin/*]}`,
  ).replace('  owner: team', '  owner: team\n  crownJewel: true') +
  '---\n' +
  perimeter('observe', `- name: web2-all\n  action: allow\n  from: {workloads: [web2]}`, 'lonely', '{workloads: [lonely]}');

test('posture, rule use, and unused rules from the hits the filters recorded', async () => {
  const loaded = load(POLICY);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => d.message).join('\n'));
  const state = mkdtempSync(join(tmpdir(), 'perimeter-report-'));
  const store = FlowStore.open(state);
  const at = Date.parse('2026-11-20T00:00:00Z');
  const event = (rule: string, timeMs: number, extra: { audit?: string } = {}) => ({
    timeMs,
    source: `${TD}/ns/shop/sa/web`,
    destination: 'api',
    method: 'GET',
    host: '',
    path: '/orders/1',
    port: undefined,
    status: 200,
    decision: 'allow' as const,
    enforced: true,
    mode: 'enforce',
    rule,
    version: 'v1',
    ...extra,
  });
  store.record([event('api/web-reads', at), event('api/web-reads', at + 1000), event('api/anyone-health', at - 86_400_000)]);
  await store.close();
  const hits = await FlowStore.readHits(state);
  assert.deepEqual(
    hits?.map((h) => [h.destination, h.rule, h.hits]),
    [
      ['api', 'api/anyone-health', 1],
      ['api', 'api/web-reads', 2],
    ],
  );

  const r = report(loaded.policy, compiled(POLICY), hits, []);
  assert.deepEqual(
    r.rules?.map((u) => [u.rule, u.hits]),
    [
      ['api/web-reads', 2],
      ['api/anyone-health', 1],
      ['api/batch-exports', 0],
      ['api/no-admin', 0],
      ['lonely/web2-all', 0],
    ],
  );
  assert.deepEqual(
    r.unused?.map((u) => u.rule),
    ['api/batch-exports', 'api/no-admin', 'lonely/web2-all'],
  );
  // Only hits since a time count: the health check was last hit the day before.
  const since = report(loaded.policy, compiled(POLICY), hits, [], at - 1000);
  assert.ok(since.unused?.some((u) => u.rule === 'api/anyone-health'));

  const p = r.posture;
  assert.equal(p.workloads, 5);
  assert.deepEqual(p.notEnforced, [{ perimeter: 'lonely', mode: 'observe', workloads: ['lonely'] }]);
  assert.deepEqual(
    p.openRules.map((o) => [o.rule, o.open]),
    [['api/anyone-health', 'any authenticated identity']],
  );
  const jewel = p.crownJewels[0];
  assert.equal(jewel?.workload, 'api');
  assert.deepEqual([jewel?.anyIdentity, jewel?.unauthenticated, jewel?.registered], [true, false, 4]);
  assert.deepEqual(jewel?.reachableBy, ['batch', 'lonely', 'web', 'web2'], 'an allow rule open to any identity reaches every one');
  assert.ok(!p.defaultDeny.includes('lonely'));

  // Without any state, use is unknown rather than "unused".
  assert.equal(report(loaded.policy, compiled(POLICY), undefined, []).unused, undefined);
});
