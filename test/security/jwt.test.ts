/**
 * Attack: a token minted for another service (or for no service) presented to a workload whose
 * policy reads claims. With audiences set, the sidecar refuses it as Envoy's jwt_authn does (401);
 * the bootstrap carries the same audiences. The families that already hold are pinned too: a
 * forged signature, `alg: none`, an HMAC token signed with the public key (key confusion), an
 * expired token and another issuer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { parse } from 'yaml';
import { issueSvid, loadCa, type Svid } from '../../control/ca/ca.js';
import type { ControlServer } from '../../control/serve/control-server.js';
import type { Sidecar } from '../../envoy/sidecar/sidecar.js';
import { mtls, testControl, testSidecar } from '../helpers/mesh.js';
import { perimeter, REGISTRY, TD } from '../helpers/policy.js';
import { eventually } from '../helpers/xds.js';

const ISSUER = 'https://idp.example';
const WEB = `${TD}/ns/shop/sa/web`;
let control: ControlServer;
let sidecar: Sidecar;
let app: Server;
let svid: Svid;
let caPem: string;
let privateKey: CryptoKey;
let otherKey: CryptoKey;
let jwk: Record<string, unknown>;

const token = (o: { aud?: string | string[]; iss?: string; key?: CryptoKey; exp?: string } = {}) => {
  const t = new SignJWT({ amr: ['mfa'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(o.iss ?? ISSUER)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m');
  if (o.aud !== undefined) t.setAudience(o.aud);
  return t.sign(o.key ?? privateKey);
};
const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
const call = async (t: string) =>
  (await mtls(sidecar.inboundPort, caPem, svid, { path: '/', headers: { authorization: `Bearer ${t}` } })).status;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-jwt-aud-'));
  const policyDir = join(dir, 'policy');
  mkdirSync(policyDir);
  writeFileSync(join(policyDir, 'registry.yaml'), REGISTRY);
  writeFileSync(
    join(policyDir, 'api.yaml'),
    perimeter('enforce', '- name: mfa\n  action: allow\n  from: {workloads: [web]}\n  when: [{claim: amr, contains: mfa}]'),
  );
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  control = await testControl(join(dir, 'state'), { policy: [policyDir] });
  const ca = loadCa(join(dir, 'state'));
  caPem = ca.certPem;
  svid = await issueSvid(ca, WEB);
  app = createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  sidecar = await testSidecar(ca, control, `${TD}/ns/shop/sa/api`, (app.address() as AddressInfo).port, {
    jwt: { jwksFile, issuer: ISSUER, audiences: ['api.shop.example', 'api'] },
  });
  await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'policy');
});
after(async () => {
  await sidecar.stop();
  await control.stop();
  app.close();
});

test('a token for this workload passes; one for another service, or for none, is 401', async () => {
  assert.equal(await call(await token({ aud: 'api' })), 200);
  assert.equal(await call(await token({ aud: ['db', 'api.shop.example'] })), 200, 'any of the audiences');
  assert.equal(await call(await token({ aud: 'db' })), 401, 'minted for db');
  assert.equal(await call(await token({ aud: ['db', 'payments'] })), 401);
  assert.equal(await call(await token()), 401, 'no aud at all');
});

test('the families that already hold: forged, alg none, key confusion, expired, another issuer', async () => {
  assert.equal(await call(await token({ aud: 'api', key: otherKey })), 401, 'signed by another key');
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISSUER, aud: 'api', amr: ['mfa'], exp: Math.floor(Date.now() / 1000) + 300 })}.`;
  assert.equal(await call(none), 401, 'alg: none');
  const head = b64({ alg: 'HS256', kid: 'k1' });
  const body = b64({ iss: ISSUER, aud: 'api', amr: ['mfa'], exp: Math.floor(Date.now() / 1000) + 300 });
  const hs = createHmac('sha256', JSON.stringify(jwk)).update(`${head}.${body}`).digest('base64url');
  assert.equal(await call(`${head}.${body}.${hs}`), 401, 'HS256 with the public key as the secret');
  assert.equal(await call(await token({ aud: 'api', exp: '-1m' })), 401, 'expired');
  assert.equal(await call(await token({ aud: 'api', iss: 'https://evil.example' })), 401, 'another issuer');
});

test('perimeter envoy bootstrap puts the audiences in jwt_authn, and warns without them', () => {
  const run = (...extra: string[]) =>
    spawnSync(
      process.execPath,
      [
        'bin/perimeter.js',
        'envoy',
        'bootstrap',
        '--workload',
        'payments',
        '--policy',
        'examples/shop/policy',
        '--control',
        'cp:18000',
        ...extra,
      ],
      { encoding: 'utf8' },
    );
  const r = run('--jwt-issuer', ISSUER, '--jwt-audience', 'payments.shop.example', '--jwt-audience', 'payments');
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning/);
  const text = JSON.stringify(parse(r.stdout));
  assert.match(text, /"audiences":\["payments\.shop\.example","payments"\]/);
  const bare = run();
  assert.equal(bare.status, 0);
  assert.match(bare.stderr, /no --jwt-audience was given: jwt_authn accepts a token minted for any service/);
});
