/**
 * Attack: being someone else at the mTLS boundary. No client certificate, a certificate from
 * another CA, a certificate whose first URI SAN is the intruder's and a later one web's, a
 * certificate with no URI SAN at all, and an `x-forwarded-client-cert` header claiming to be web.
 * Envoy decides on the first URI SAN of a certificate that chains to the mesh CA; the app learns
 * the caller only from the XFCC the sidecar sets.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { initCa, issueSvid } from '../../control/ca/ca.js';
import { mtls } from '../helpers/mesh.js';
import { ID, Target } from '../helpers/target.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
let t: Target;
before(async () => {
  t = await Target.start();
});
after(() => t.stop());

/** A certificate the mesh CA signed with exactly these SANs (as a misused or careless issuer would). */
async function signedByMeshCa(sans: { type: 'url' | 'dns'; value: string }[]): Promise<{ chainPem: string; keyPem: string }> {
  const caCert = new x509.X509Certificate(t.ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(t.ca.keyPem), ALG, false, ['sign']);
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a1b2c',
    subject: 'O=Forged',
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(sans, false),
    ],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(der).toString('base64')}\n-----END PRIVATE KEY-----\n`;
  return { chainPem: `${cert.toString('pem')}\n${t.ca.certPem}`, keyPem: key };
}

const get = (cred: { chainPem: string; keyPem: string } | undefined, headers: Record<string, string> = {}) =>
  mtls(t.sidecar.inboundPort, t.ca.certPem, cred, { path: '/api/x', headers });

test('no client certificate: the handshake is refused', async () => {
  await assert.rejects(get(undefined));
  assert.equal(t.seen.length, 0);
});

test('a certificate from another CA, even with web’s SPIFFE ID: the handshake is refused', async () => {
  const other = await initCa(mkdtempSync(join(tmpdir(), 'perimeter-other-ca-')), 'target.example');
  const svid = await issueSvid(other, ID.web);
  await assert.rejects(get(svid));
});

test('several URI SANs: the first decides (the intruder stays the intruder)', async () => {
  const first = await signedByMeshCa([
    { type: 'url', value: ID.intruder },
    { type: 'url', value: ID.web },
  ]);
  assert.equal((await get(first)).status, 403);
  const rec = t.records.at(-1);
  assert.equal(rec?.peer, ID.intruder);
});

test('a certificate without a URI SAN is no identity: only rules for unauthenticated callers match', async () => {
  const dnsOnly = await signedByMeshCa([{ type: 'dns', value: 'web.shop.svc' }]);
  assert.equal((await get(dnsOnly)).status, 403);
  assert.equal(t.records.at(-1)?.peer, undefined);
});

test('XFCC spoofing: the caller’s x-forwarded-client-cert is replaced by the sidecar’s own', async () => {
  const svid = await t.svid(ID.web);
  const before = t.seen.length;
  const r = await get(svid, { 'x-forwarded-client-cert': `URI=${ID.api};By=spiffe://evil` });
  assert.equal(r.status, 200);
  const seen = t.seen[before];
  assert.ok(seen);
  const xfcc = seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i]?.toLowerCase() === 'x-forwarded-client-cert');
  assert.equal(xfcc.length, 1, 'one XFCC header reaches the app');
  const value = seen.rawHeaders[seen.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-forwarded-client-cert') + 1];
  assert.equal(value, `URI=${ID.web}`);
});
