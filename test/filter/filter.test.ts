/**
 * The filter's per-request behaviour, through the real perimeter.wasm in the Envoy-faithful
 * host: decisions, records, counters, local replies, and the fail-closed paths.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DECISION_KEY, parseDecisionRecord, ruleRef } from '../../contracts/decision-record.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { toEnvoy } from '../../envoy/filter-runner.js';
import type { Header } from '../../envoy/host/host.js';
import { validateModule } from '../../envoy/host/validate.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { perimeter } from '../helpers/policy.js';
import { BATCH, ENFORCE, policyBytes, SIMULATE, setup, WEB } from './fixture.js';

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

test('per-rule hits and decision totals are sent on the tick, not per request', () => {
  const { host, send, stat, counter, clock } = setup();
  for (let i = 0; i < 3; i++) send({ principal: WEB, path: '/orders/1' });
  send({ principal: BATCH, path: '/orders/1' });
  assert.equal(stat('perimeter.rule.api.web-reads.hits'), 0);
  assert.equal(stat('perimeter.allowed'), 0);
  assert.equal(stat('perimeter.denied'), 0);
  clock.ms += 1000;
  host.tick();
  assert.equal(stat('perimeter.rule.api.web-reads.hits'), 3);
  assert.equal(stat('perimeter.allowed'), 3);
  assert.equal(stat('perimeter.denied'), 1);
  // Sent once: the next tick adds nothing.
  assert.equal(counter('perimeter.allowed'), 3);
});

test('decision totals are sent when a policy is applied, before its counters are defined again', () => {
  const { host, send, stat } = setup();
  send({ principal: WEB, path: '/orders/1' });
  send({ principal: WEB, path: '/orders/2' });
  assert.equal(stat('perimeter.allowed'), 0);
  host.configure({ name: 'perimeter.authz', rootId: 'perimeter', configuration: SIMULATE });
  assert.equal(stat('perimeter.allowed'), 2);
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
