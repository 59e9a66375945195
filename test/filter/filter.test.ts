/**
 * The filter's behaviour, through the real perimeter.wasm in the Envoy-faithful host:
 * configure and update, per-request decisions, records, counters, local replies, and the
 * fail-closed paths.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DECISION_KEY, parseDecisionRecord, ruleRef } from '../../contracts/decision-record.js';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { toEnvoy } from '../../envoy/filter-runner.js';
import { type Header, PluginConfigError, ProxyWasmHost } from '../../envoy/host/host.js';
import { validateModule } from '../../envoy/host/validate.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { compiled, perimeter, TD } from '../helpers/policy.js';

const WEB = `${TD}/ns/shop/sa/web`;
const BATCH = `${TD}/ns/batch/sa/job`;

function policyBytes(yaml: string, workload = 'api'): Uint8Array {
  const w = compiled(yaml).workloads.find((x) => x.workload.name === workload);
  if (!w) throw new Error('no workload');
  return w.bytes;
}

const ENFORCE = policyBytes(
  perimeter('enforce', `- name: web-reads\n  action: allow\n  from: {workloads: [web]}\n  to: {methods: [GET], paths: [/orders/*]}`),
);
const SIMULATE = policyBytes(
  perimeter('simulate', `- name: web-reads\n  action: allow\n  from: {workloads: [web]}\n  to: {methods: [GET], paths: [/orders/*]}`),
);

function setup(opts: { policy?: Uint8Array; faults?: Record<string, number>; clock?: { ms: number } } = {}) {
  const logs: string[] = [];
  const clock = opts.clock ?? { ms: Date.parse('2026-06-01T00:00:00Z') };
  const host = ProxyWasmHost.load(BUILT_MODULE, {
    vmId: 'perimeter',
    log: (l, m) => logs.push(`${l}: ${m}`),
    now: () => clock.ms,
    ...(opts.faults ? { faults: opts.faults } : {}),
  });
  const plugin = host.configure({ name: RESOURCE_NAME, rootId: 'perimeter', configuration: opts.policy ?? ENFORCE });
  const send = (req: Partial<PolicyRequest>, p = plugin) => {
    const { info, headers } = toEnvoy({ method: 'GET', path: '/', ...req } as PolicyRequest);
    const stream = p.newStream(info);
    const outcome = stream.onRequestHeaders(headers, true);
    stream.finish();
    const raw = stream.filterState.get(DECISION_KEY);
    return { outcome, stream, record: raw ? Buffer.from(raw).toString() : '' };
  };
  const counter = (name: string) => Number(host.metrics.value(name) ?? -1n);
  return { host, plugin, send, counter, logs, clock };
}

test('the release module loads in Envoy: the ABI checker and our host agree', () => {
  const bytes = readFileSync(BUILT_MODULE);
  const verdict = validateModule(bytes);
  assert.deepEqual(verdict.errors, []);
  assert.equal(verdict.info?.hasStart, false, 'no start section: top-level code runs from _initialize');
  assert.deepEqual(
    verdict.info?.imports.map((i) => i.module).filter((m) => m !== 'env'),
    [],
  );
  const exported = verdict.info?.exports.map((e) => e.name) ?? [];
  for (const name of ['proxy_abi_version_0_2_1', 'malloc', '_initialize', 'proxy_on_configure', 'proxy_on_request_headers', 'memory'])
    assert.ok(exported.includes(name), name);
  const checker = new URL('../../../shared/tools/wasm-abi-check.mjs', import.meta.url).pathname;
  if (existsSync(checker)) {
    const r = spawnSync(process.execPath, [checker, BUILT_MODULE, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
});

test('an allowed request continues with a decision record and the allowed counter', () => {
  const { send, counter } = setup();
  const { outcome, record } = send({ principal: WEB, path: '/orders/7' });
  assert.equal(outcome.action, 'Continue');
  assert.equal(outcome.localReply, undefined);
  const version = CompiledPolicy.decode(ENFORCE).version;
  assert.equal(record, `decision=allow enforced=1 mode=enforce rule=api/web-reads version=${version}`);
  assert.equal(counter('perimeter.allowed'), 1);
  assert.equal(counter('perimeter.denied'), 0);
});

test('an enforced deny sends a 403 whose details name perimeter, rule and version', () => {
  const { send, counter } = setup();
  const { outcome, record, stream } = send({ principal: BATCH, path: '/orders/7' });
  const version = CompiledPolicy.decode(ENFORCE).version;
  assert.equal(outcome.action, 'LocalReply');
  assert.equal(outcome.localReply?.status, 403);
  assert.equal(outcome.localReply?.details, `perimeter_denied[api/default@${version}]`);
  assert.match(Buffer.from(outcome.localReply?.body ?? []).toString(), /access denied/);
  assert.equal(ruleRef(parseDecisionRecord(record).rule).rule, 'default');
  assert.equal(stream.replyHeaders?.[0]?.[1], '403', 'the reply passed through the response path');
  assert.equal(counter('perimeter.denied'), 1);
});

test('simulate: a deny continues and counts would_deny', () => {
  const { send, counter } = setup({ policy: SIMULATE });
  const { outcome, record } = send({ principal: BATCH, path: '/orders/7' });
  assert.equal(outcome.action, 'Continue');
  assert.match(record, /^decision=deny enforced=0 mode=simulate rule=api\/default /);
  assert.equal(counter('perimeter.would_deny'), 1);
  assert.equal(counter('perimeter.denied'), 0);
});

test('no client certificate: unauthenticated, counted, denied', () => {
  const { send, counter } = setup();
  const { outcome } = send({ path: '/orders/7' });
  assert.equal(outcome.localReply?.status, 403);
  assert.equal(counter('perimeter.unauthenticated'), 1);
});

test('paths that cannot be normalised safely are denied, and odd input never traps', () => {
  const { send, host } = setup();
  const version = CompiledPolicy.decode(ENFORCE).version;
  for (const path of ['/orders/%2F..%2Fadmin', 'orders', '/a\\b', `/${'x'.repeat(20_000)}`, '/%zz']) {
    const { outcome } = send({ principal: WEB, path });
    assert.equal(outcome.localReply?.details, `perimeter_denied[api/unsafe-request@${version}]`, path);
  }
  const { outcome } = send({ principal: WEB, path: '/orders/1', host: 'h'.repeat(2000) });
  assert.equal(outcome.localReply?.status, 403);
  assert.equal(host.vm.failed, false);
});

test('a request without :path is denied as unsafe', () => {
  const { plugin } = setup();
  const stream = plugin.newStream({ connection: { uriSanPeerCertificate: WEB, tlsVersion: 'TLSv1.3' } });
  const outcome = stream.onRequestHeaders([[':method', 'GET']] as Header[], true);
  assert.equal(outcome.localReply?.status, 403);
});

test('a malformed, JSON or unknown-version configuration is refused and counted; the previous policy keeps serving', () => {
  const { host, send, counter } = setup();
  const bad = [
    Uint8Array.from([0x0a, 0xff]),
    Buffer.from('{"rules":[]}'),
    CompiledPolicy.encode({ ...CompiledPolicy.decode(ENFORCE), formatVersion: 3 }).finish(),
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

test('an unexpected host status denies and counts a host fault (fail closed)', () => {
  for (const fault of ['proxy_get_property', 'proxy_get_header_map_pairs', 'proxy_set_property']) {
    const { host, send, counter } = setup();
    (host.hooks as { faults?: Record<string, number> }).faults = { [fault]: 10 };
    const { outcome, record } = send({ principal: WEB, path: '/orders/1' });
    assert.equal(outcome.localReply?.status, 403, fault);
    assert.equal(outcome.localReply?.details, 'perimeter_denied[host_fault]', fault);
    assert.equal(counter('perimeter.host_fault'), 1, fault);
    if (fault !== 'proxy_set_property') assert.match(record, /rule=host_fault/);
  }
});

test('per-rule hit counters are flushed on the tick', () => {
  const { host, send, counter, clock } = setup();
  for (let i = 0; i < 3; i++) send({ principal: WEB, path: '/orders/1' });
  assert.equal(counter('perimeter.rule.api.web-reads.hits'), 0);
  clock.ms += 1000;
  host.tick();
  assert.equal(counter('perimeter.rule.api.web-reads.hits'), 3);
});

test('claims from jwt_authn metadata, request principals and destination ports', () => {
  const policy = policyBytes(
    perimeter(
      'enforce',
      `- name: mfa\n  action: allow\n  from: {workloads: [web]}\n  to: {ports: [8443]}\n  when: [{claim: amr, contains: mfa}, {header: x-device-posture, equals: compliant}]`,
    ),
  );
  const { send } = setup({ policy });
  const base = { principal: WEB, path: '/pay', port: 8443, headers: { 'x-device-posture': 'compliant' } };
  assert.equal(send({ ...base, claims: { amr: ['pwd', 'mfa'] } }).outcome.action, 'Continue');
  assert.equal(send({ ...base, claims: { amr: 'mfa' } }).outcome.action, 'Continue');
  assert.equal(send({ ...base, claims: { amr: ['pwd'] } }).outcome.localReply?.status, 403);
  assert.equal(send({ ...base, port: 8080, claims: { amr: ['mfa'] } }).outcome.localReply?.status, 403);
  assert.equal(send({ ...base, headers: {}, claims: { amr: ['mfa'] } }).outcome.localReply?.status, 403);
});

test('a repeated header is decided on every reading: an allow needs all of them, a deny any', () => {
  const policy = policyBytes(
    perimeter(
      'enforce',
      [
        '- name: no-beta\n  action: deny\n  from: {identities: ["*"]}\n  when: [{header: x-env, prefix: beta}]',
        '- name: posture\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: x-device-posture, equals: compliant}]',
      ].join('\n'),
    ),
  );
  const { plugin } = setup({ policy });
  const decide = (lines: Header[]) => {
    const { info, headers } = toEnvoy({ principal: WEB, method: 'GET', path: '/' });
    const stream = plugin.newStream(info);
    const outcome = stream.onRequestHeaders([...headers, ...lines], true);
    const record = Buffer.from(stream.filterState.get(DECISION_KEY) ?? []).toString();
    stream.finish();
    return `${outcome.action} ${/rule=(\S+)/.exec(record)?.[1]}`;
  };
  const posture = (...v: string[]) => v.map((x) => ['x-device-posture', x] as Header);
  assert.equal(decide(posture('compliant')), 'Continue api/posture');
  assert.equal(decide(posture('compliant', 'jailbroken')), 'LocalReply api/default');
  assert.equal(decide(posture('jailbroken', 'compliant')), 'LocalReply api/default');
  assert.equal(decide(posture('compliant', 'compliant')), 'LocalReply api/default', 'the joined value is "compliant,compliant"');
  assert.equal(decide(posture('compliant, jailbroken')), 'LocalReply api/default');
  // Other headers between the lines do not matter; the deny sees the element "beta".
  assert.equal(decide([...posture('compliant'), ['x-env', 'prod'], ['x-other', 'y'], ['x-env', ' beta']]), 'LocalReply api/no-beta');
  assert.equal(decide([...posture('compliant'), ['x-env', 'prod'], ['x-env', 'prod']]), 'Continue api/posture');
  // A repeated header too long to join (more than 64 KiB) cannot be decided safely.
  const big = 'b'.repeat(40_000);
  assert.equal(decide([...posture('compliant'), ['x-env', big], ['x-env', big]]), 'LocalReply api/unsafe-request');
});

test('expiring rules read the host clock', () => {
  const policy = policyBytes(
    perimeter('enforce', `- name: temp\n  action: allow\n  from: {workloads: [web]}\n  expires: 2026-07-01T00:00:00Z`),
  );
  const clock = { ms: Date.parse('2026-06-30T23:59:59Z') };
  const { send } = setup({ policy, clock });
  assert.equal(send({ principal: WEB }).outcome.action, 'Continue');
  clock.ms = Date.parse('2026-07-01T00:00:00Z');
  assert.equal(send({ principal: WEB }).outcome.localReply?.status, 403);
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
