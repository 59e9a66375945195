/**
 * Attack: a token whose claim has another type than the policy expects (an object, a number, a
 * boolean, a list with non-strings), or a string whose bytes look like the host's list
 * encoding, so that the filter reads it as a list containing "mfa". The filter must read claims
 * by their type and agree with the reference evaluator; through the sidecar, with a really
 * signed token.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { evaluate } from '../../control/eval/evaluate.js';
import type { ControlServer } from '../../control/serve/control-server.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import type { Sidecar } from '../../envoy/sidecar/sidecar.js';
import { mtls, testControl, testSidecar } from '../helpers/mesh.js';
import { compiled, perimeter, REGISTRY, TD } from '../helpers/policy.js';
import { eventually } from '../helpers/xds.js';

/** The bytes the pairs encoding gives a one-element list ["mfa"], as a string claim. */
const PAIRS_LOOKALIKE = '\x01\0\0\0\x03\0\0\0\0\0\0\0mfa\0\0';
const WEB = `${TD}/ns/shop/sa/web`;

const POLICY = perimeter(
  'enforce',
  [
    '- name: mfa-only',
    '  action: allow',
    '  from: {workloads: [web]}',
    '  when: [{claim: amr, contains: mfa}]',
    '- name: not-suspended',
    '  action: deny',
    '  from: {workloads: [web]}',
    '  when: [{claim: status, equals: suspended}]',
  ].join('\n'),
);
const result = compiled(POLICY);
const api = result.workloads.find((w) => w.workload.name === 'api');
assert.ok(api);

const cases: { name: string; claims: Record<string, unknown>; allow: boolean }[] = [
  { name: 'amr as a list with mfa', claims: { amr: ['pwd', 'mfa'] }, allow: true },
  { name: 'amr as the string mfa', claims: { amr: 'mfa' }, allow: true },
  { name: 'amr as a string that looks like a pairs-encoded list', claims: { amr: PAIRS_LOOKALIKE }, allow: false },
  { name: 'amr as an object with an mfa key', claims: { amr: { mfa: 'mfa' } }, allow: false },
  { name: 'amr as an object with an mfa value', claims: { amr: { x: 'mfa' } }, allow: false },
  { name: 'amr as a number', claims: { amr: 1 }, allow: false },
  { name: 'amr as a boolean', claims: { amr: true }, allow: false },
  { name: 'amr as null', claims: { amr: null }, allow: false },
  { name: 'amr as a list holding mfa only inside an object or a list', claims: { amr: [{ x: 'mfa' }, ['mfa'], 7] }, allow: false },
  { name: 'amr as a list with mfa after other types', claims: { amr: [7, null, 'mfa'] }, allow: true },
  { name: 'status suspended hidden in a list', claims: { amr: ['mfa'], status: ['active', 'suspended'] }, allow: false },
  { name: 'status suspended as a string', claims: { amr: ['mfa'], status: 'suspended' }, allow: false },
  { name: 'status as an object', claims: { amr: ['mfa'], status: { suspended: true } }, allow: true },
];

test('the filter reads each claim by its type, as the reference evaluator does', () => {
  const runner = new FilterRunner();
  for (const c of cases) {
    const req = { principal: WEB, method: 'GET', path: '/', claims: c.claims };
    const ref = evaluate(api.policy, req);
    const got = runner.decide(api.bytes, req);
    assert.equal(ref.decision === 'allow', c.allow, `reference: ${c.name}`);
    assert.equal(got.decision, ref.decision, `filter: ${c.name} (${got.record})`);
  }
});

test('one host call reads every claim, whatever their number', () => {
  const runner = new FilterRunner();
  runner.decide(api.bytes, { principal: WEB, method: 'GET', path: '/', claims: { amr: ['mfa'] } });
  const before = runner.host.vm.hostCalls;
  runner.decide(api.bytes, { principal: WEB, method: 'GET', path: '/', claims: { amr: ['mfa'], status: 'ok', a: 1, b: [2] } });
  // identity, headers, metadata, the decision record (counters are sent on the tick)
  assert.equal(runner.host.vm.hostCalls - before, 4);
});

// Through the sidecar: the same claims in a token signed by the issuer the sidecar trusts.
let control: ControlServer;
let sidecar: Sidecar;
let app: Server;
let sign: (claims: Record<string, unknown>) => Promise<string>;
let call: (token: string) => Promise<number>;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-claims-'));
  const policyDir = join(dir, 'policy');
  mkdirSync(policyDir);
  writeFileSync(join(policyDir, 'registry.yaml'), REGISTRY);
  writeFileSync(join(policyDir, 'api.yaml'), POLICY);
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
  sign = (claims) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://issuer.example')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  const state = join(dir, 'state');
  control = await testControl(state, { policy: [policyDir], debounceMs: 30 });
  const ca = loadCa(state);
  app = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  sidecar = await testSidecar(ca, control, `${TD}/ns/shop/sa/api`, (app.address() as AddressInfo).port, {
    jwt: { jwksFile, issuer: 'https://issuer.example' },
  });
  await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'policy');
  const svid = await issueSvid(ca, WEB);
  call = async (token) =>
    (await mtls(sidecar.inboundPort, ca.certPem, svid, { path: '/', headers: { authorization: `Bearer ${token}` } })).status;
});
after(async () => {
  await sidecar.stop();
  await control.stop();
  app.close();
});

test('through the sidecar: a signed token with mistyped claims gets no further than its type allows', async () => {
  for (const c of cases) assert.equal(await call(await sign(c.claims)), c.allow ? 200 : 403, c.name);
});
