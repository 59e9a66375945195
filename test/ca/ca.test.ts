/** The mesh CA: real X.509-SVIDs, verified by Node's own X.509 code and used in a real mTLS handshake on loopback. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { initCa, initCaProblem, issueSvid, loadCa, writeSvid } from '../../control/ca/ca.js';

const TD = 'shop.example';
const state = () => mkdtempSync(join(tmpdir(), 'perimeter-ca-'));

test('an SVID carries the SPIFFE ID as URI SAN, is ECDSA P-256, short-lived, and chains to the CA', async () => {
  const ca = await initCa(state(), TD);
  const svid = await issueSvid(ca, 'spiffe://shop.example/ns/shop/sa/web');
  const cert = new X509Certificate(svid.certPem);
  const root = new X509Certificate(ca.certPem);
  assert.equal(cert.subjectAltName, 'URI:spiffe://shop.example/ns/shop/sa/web');
  assert.equal(cert.verify(root.publicKey), true);
  assert.equal(cert.checkIssued(root), true);
  assert.equal(cert.ca, false);
  assert.equal(root.ca, true);
  assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const lifetime = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
  assert.ok(lifetime <= 25 * 3_600_000, `lifetime ${lifetime} ms`);
});

test('keys are written 0600 under a 0700 directory; the CA is not silently replaced', async () => {
  const dir = state();
  await initCa(dir, TD);
  assert.equal(statSync(join(dir, 'ca', 'ca.key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ca')).mode & 0o777, 0o700);
  await assert.rejects(initCa(dir, TD), /a CA already exists/);
  assert.match(initCaProblem(dir, TD)?.message ?? '', /a CA already exists/, 'and says so before trying');
  const ca = loadCa(dir);
  const files = writeSvid(join(dir, 'svids'), 'web', await issueSvid(ca, 'spiffe://shop.example/ns/shop/sa/web'));
  assert.equal(statSync(files.key).mode & 0o777, 0o600);
});

test('identities outside the trust domain, malformed, or without a path are refused', async () => {
  const ca = await initCa(state(), TD);
  await assert.rejects(issueSvid(ca, 'spiffe://other.example/ns/a/sa/b'), /not in the CA's trust domain/);
  await assert.rejects(issueSvid(ca, 'spiffe://shop.example/ns//sa/b'), /malformed SPIFFE ID/);
  await assert.rejects(issueSvid(ca, 'spiffe://shop.example'), /needs a path/);
  await assert.rejects(initCa(state(), 'Bad_TD!'), /not a valid trust domain/);
});

test('two SVIDs complete a real mutual TLS handshake; the server sees the client SPIFFE ID', async () => {
  const ca = await initCa(state(), TD);
  const server = await issueSvid(ca, 'spiffe://shop.example/ns/data/sa/db');
  const client = await issueSvid(ca, 'spiffe://shop.example/ns/shop/sa/app');
  const seen = await new Promise<string>((resolve, reject) => {
    const srv = createServer(
      { key: server.keyPem, cert: server.chainPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
      (sock: TLSSocket) => {
        resolve(sock.getPeerX509Certificate()?.subjectAltName ?? '');
        sock.end();
        srv.close();
      },
    );
    srv.on('tlsClientError', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const c = connect({
        host: '127.0.0.1',
        port,
        key: client.keyPem,
        cert: client.chainPem,
        ca: ca.certPem,
        checkServerIdentity: () => undefined,
      });
      c.on('error', reject);
      c.on('secureConnect', () => c.end());
    });
  });
  assert.equal(seen, 'URI:spiffe://shop.example/ns/shop/sa/app');
});

test('a client without a certificate, or with one from another CA, is refused at the handshake', async () => {
  const ca = await initCa(state(), TD);
  const other = await initCa(state(), TD);
  const server = await issueSvid(ca, 'spiffe://shop.example/ns/data/sa/db');
  const stranger = await issueSvid(other, 'spiffe://shop.example/ns/shop/sa/app');
  const attempt = (clientOpts: object) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer(
        { key: server.keyPem, cert: server.chainPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
        (sock) => {
          sock.end('hello');
        },
      );
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        const c = connect({ host: '127.0.0.1', port, ca: ca.certPem, checkServerIdentity: () => undefined, ...clientOpts });
        let data = '';
        c.on('data', (d) => {
          data += d;
        });
        c.on('error', () => {
          srv.close();
          resolve(false);
        });
        c.on('close', () => {
          srv.close();
          resolve(data === 'hello');
        });
      });
    });
  assert.equal(await attempt({}), false);
  assert.equal(await attempt({ key: stranger.keyPem, cert: stranger.chainPem }), false);
});
