/**
 * The filter's configuration, through the real perimeter.wasm in the Envoy-faithful host:
 * refused and accepted configurations, updates while streams are in flight, memory over many
 * requests and updates, and the staged candidate decided in shadow.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDecisionRecord } from '../../contracts/decision-record.js';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { toEnvoy } from '../../envoy/filter-runner.js';
import { PluginConfigError } from '../../envoy/host/host.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { compiled, perimeter } from '../helpers/policy.js';
import { BATCH, ENFORCE, policyBytes, setup, WEB } from './fixture.js';

test('a malformed, JSON or unknown-version configuration is refused and counted; the previous policy keeps serving', () => {
  const { host, send, counter } = setup();
  const bad = [
    Uint8Array.from([0x0a, 0xff]),
    Buffer.from('{"rules":[]}'),
    CompiledPolicy.encode({ ...CompiledPolicy.decode(ENFORCE), formatVersion: 4 }).finish(),
    new Uint8Array(),
  ];
  for (const configuration of bad) {
    assert.throws(() => host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration }), PluginConfigError);
  }
  assert.equal(counter('perimeter.config_rejected'), bad.length);
  assert.equal(send({ principal: WEB, path: '/orders/1' }).outcome.action, 'Continue');
  assert.equal(send({ principal: BATCH, path: '/orders/1' }).outcome.localReply?.status, 403);
});

test('a JSON configuration {"policy": "<base64>"} (Istio WasmPlugin pluginConfig) is the same policy; without it, refused', () => {
  const { host, counter } = setup();
  const b64 = Buffer.from(ENFORCE).toString('base64');
  for (const text of [
    `{"policy": "${b64}"}`,
    `{ "other": 1, "policy":"${b64.replace(/\//g, '\\/')}" }`,
    `{"policy": "${Buffer.from(ENFORCE).toString('base64url')}"}`,
  ]) {
    const p = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: Buffer.from(text) });
    const web = p.newStream(toEnvoy({ principal: WEB, method: 'GET', path: '/orders/1' } as PolicyRequest).info);
    assert.equal(
      web.onRequestHeaders(toEnvoy({ principal: WEB, method: 'GET', path: '/orders/1' } as PolicyRequest).headers, true).action,
      'Continue',
      text,
    );
    web.finish();
    const batch = p.newStream(toEnvoy({ principal: BATCH, method: 'GET', path: '/orders/1' } as PolicyRequest).info);
    assert.equal(
      batch.onRequestHeaders(toEnvoy({ principal: BATCH, method: 'GET', path: '/orders/1' } as PolicyRequest).headers, true).localReply
        ?.status,
      403,
    );
    batch.finish();
    p.retire();
  }
  const before = counter('perimeter.config_rejected');
  for (const text of ['{"policy": "not base64!"}', '{"policy": 42}', '{"policy": "QQ"', `{"policy": "${b64.slice(0, 40)}"}`]) {
    assert.throws(
      () => host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: Buffer.from(text) }),
      PluginConfigError,
      text,
    );
  }
  assert.equal(counter('perimeter.config_rejected'), before + 4);
});

test('an update is a new root context in the same VM; streams keep the policy they started with', () => {
  const { host, plugin: first, send } = setup();
  const inFlight = first.newStream(toEnvoy({ principal: WEB, method: 'GET', path: '/orders/1' }).info);
  const deny = policyBytes(perimeter('enforce', `- name: freeze\n  action: deny\n  to: {methods: [GET]}`));
  const second = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: deny });
  first.retire();
  // The in-flight stream was created under the first root: it still sees the first policy.
  const o1 = inFlight.onRequestHeaders(toEnvoy({ principal: WEB, method: 'GET', path: '/orders/1' }).headers, true);
  assert.equal(o1.action, 'Continue');
  inFlight.finish();
  assert.equal(host.vm.contexts.has(first.root.id), false, 'the old root ended after its last stream');
  assert.equal(send({ principal: WEB, path: '/orders/1' }, second).outcome.localReply?.status, 403);
  assert.equal(host.starts, 1, 'no new VM for a configuration update');
});

test('Wasm memory does not grow with requests once warm', () => {
  const { send, host } = setup();
  for (let i = 0; i < 2_000; i++) send({ principal: i % 2 ? WEB : BATCH, path: `/orders/${i}` });
  const pages = host.vm.memory.buffer.byteLength;
  for (let i = 0; i < 20_000; i++) send({ principal: i % 3 ? WEB : undefined, path: `/orders/${i}`, headers: { 'x-n': String(i) } });
  assert.equal(host.vm.memory.buffer.byteLength, pages);
});

test('replaced policies are collected: memory stays flat over many updates, with streams in flight across them', () => {
  // The module runs AssemblyScript's minimal runtime: nothing collects unless the filter asks.
  const { host, plugin } = setup();
  const big = (n: number) =>
    policyBytes(
      perimeter(
        'enforce',
        Array.from({ length: n }, (_, i) => `- name: r${i}\n  action: allow\n  from: {workloads: [web]}\n  to: {paths: [/p${i}/*]}`).join(
          '\n',
        ),
      ),
    );
  const policies = [big(300), big(301)];
  let current = plugin;
  const round = (i: number) => {
    const inFlight = current.newStream(toEnvoy({ principal: WEB, method: 'GET', path: '/p1/x' }).info);
    const next = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: policies[i % 2] as Uint8Array });
    current.retire();
    assert.equal(
      inFlight.onRequestHeaders(toEnvoy({ principal: WEB, method: 'GET', path: '/p1/x' }).headers, true).action,
      i ? 'Continue' : 'LocalReply',
    );
    inFlight.finish();
    current = next;
  };
  for (let i = 0; i < 20; i++) round(i);
  const pages = host.vm.memory.buffer.byteLength;
  for (let i = 20; i < 220; i++) round(i);
  assert.equal(host.vm.memory.buffer.byteLength, pages);
});

test('a staged candidate is decided in shadow: the live decision stands, disagreements are recorded and counted', () => {
  const live = `- name: web-reads\n  action: allow\n  from: {workloads: [web]}\n  to: {methods: [GET], paths: [/orders/*]}`;
  const candidate = `  candidate:
    mode: enforce
    rules:
      - name: web-reads-compliant
        action: allow
        from: {workloads: [web]}
        to: {methods: [GET], paths: [/orders/*]}
        when: [{header: x-device-posture, equals: compliant}]
      - name: batch-reads
        action: allow
        from: {workloads: [batch]}
        to: {methods: [GET], ports: [8443]}
`;
  const result = compiled(perimeter('enforce', live) + candidate);
  const api = result.workloads.find((w) => w.workload.name === 'api');
  assert.ok(api?.policy.candidate);
  assert.deepEqual(api.policy.headers, ['x-device-posture'], 'the live policy reads the candidate’s headers too');
  assert.equal(api.policy.candidate.headers.length, 1);
  assert.ok((api.policy.needs & 1) !== 0, 'and fetches what it needs (the port)');

  const { send, counter } = setup({ policy: api.bytes });
  // Both allow: no disagreement, nothing extra in the record.
  const same = send({ principal: WEB, path: '/orders/1', headers: { 'x-device-posture': 'compliant' } });
  assert.equal(same.outcome.action, 'Continue');
  assert.doesNotMatch(same.record, /candidate=/);
  // Live allows, the candidate would deny (no posture header): allowed, and recorded.
  const tighter = send({ principal: WEB, path: '/orders/2' });
  assert.equal(tighter.outcome.action, 'Continue');
  assert.match(tighter.record, /^decision=allow enforced=1 .*rule=api\/web-reads .* candidate=deny:api\/default$/);
  assert.deepEqual(parseDecisionRecord(tighter.record).candidate, { decision: 'deny', rule: 'api/default' });
  // Live denies, the candidate would allow: still denied.
  const wider = send({ principal: BATCH, path: '/reports', port: 8443 });
  assert.equal(wider.outcome.localReply?.status, 403);
  assert.match(wider.record, /candidate=allow:api\/batch-reads$/);
  assert.equal(counter('perimeter.candidate.disagree'), 2);
  assert.equal(counter('perimeter.allowed'), 2);
  assert.equal(counter('perimeter.denied'), 1);
  // The filter's shadow verdict is the reference evaluator's on the candidate, request by request.
  const shadowed = api.policy.candidate;
  for (const req of [
    { principal: WEB, path: '/orders/3', headers: { 'x-device-posture': 'compliant' } },
    { principal: WEB, path: '/orders/3', method: 'POST' },
    { principal: BATCH, path: '/x', port: 8443 },
    { principal: BATCH, path: '/x', port: 80 },
    { path: '/orders/1' },
  ]) {
    const r = parseDecisionRecord(send(req).record);
    const full = { method: 'GET', ...req } as PolicyRequest;
    const live = evaluate(api.policy, full);
    const cand = evaluate(shadowed, full);
    assert.deepEqual(
      r.candidate,
      cand.decision === live.decision ? undefined : { decision: cand.decision, rule: `${cand.perimeter}/${cand.rule}` },
      JSON.stringify(req),
    );
  }

  // A candidate whose tables disagree with the live policy's is malformed: the configuration is refused.
  const bad = CompiledPolicy.decode(api.bytes);
  if (bad.candidate) bad.candidate.headers = ['x-other'];
  const { host } = setup();
  const configuration = CompiledPolicy.encode(bad).finish();
  assert.throws(() => host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration }), PluginConfigError);
});
