/**
 * User and device claims end to end: the payments perimeter allows POST /payments/charge from app
 * only with an MFA token that says the device is compliant. Tokens are real ES256 JWTs checked against a
 * JWKS file, their claims handed to the module where Envoy's jwt_authn puts them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type CaFiles, issueSvid, loadCa } from '../../control/ca/ca.js';
import { mtls, testControl, testSidecar } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const PAYMENTS = 'spiffe://shop.example/ns/payments/sa/payments';
const APP = 'spiffe://shop.example/ns/shop/sa/app';
const ISSUER = 'https://idp.shop.example';

async function charge(ca: CaFiles, port: number, headers: Record<string, string>): Promise<number> {
  const r = await mtls(port, ca.certPem, await issueSvid(ca, APP), {
    method: 'POST',
    path: '/payments/charge',
    headers: { 'content-length': '0', ...headers },
  });
  return r.status;
}

test('POST /payments/charge: allowed with MFA and a compliant device; denied without either; a forged token is 401', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-jwt-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const token = (amr: string[], key = privateKey, iss = ISSUER, device_posture = 'compliant') =>
    new SignJWT({ amr, device_posture })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer(iss)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);

  const control = await testControl(dir);
  const ca = loadCa(dir);
  const app = createServer((_q, r) => r.end('charged'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const sidecar = await testSidecar(ca, control, PAYMENTS, (app.address() as AddressInfo).port, {
    jwt: { jwksFile: join(dir, 'jwks.json'), issuer: ISSUER },
  });
  try {
    await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'policy');
    const port = sidecar.inboundPort;
    // The device's posture comes from the token; a header saying so counts for nothing.
    const compliant = { 'x-device-posture': 'compliant' };
    assert.equal(await charge(ca, port, { authorization: `Bearer ${await token(['pwd', 'mfa'])}` }), 200);
    assert.equal(await charge(ca, port, { ...compliant, authorization: `Bearer ${await token(['pwd'])}` }), 403, 'no MFA');
    assert.equal(await charge(ca, port, compliant), 403, 'no token');
    assert.equal(
      await charge(ca, port, { ...compliant, authorization: `Bearer ${await token(['mfa'], privateKey, ISSUER, 'unknown')}` }),
      403,
      'device not compliant in the token, whatever the header says',
    );
    const other = await generateKeyPair('ES256');
    assert.equal(
      await charge(ca, port, { ...compliant, authorization: `Bearer ${await token(['mfa'], other.privateKey)}` }),
      401,
      'forged',
    );
    assert.equal(
      await charge(ca, port, { ...compliant, authorization: `Bearer ${await token(['mfa'], privateKey, 'https://evil')}` }),
      401,
      'wrong issuer',
    );
  } finally {
    await sidecar.stop();
    await control.stop();
    app.close();
  }
});
