/**
 * SVID renewal in the local sidecar, on real sockets: with SVIDs that live a few seconds, the
 * sidecar renews its own at half its lifetime; HTTP/1.1 and HTTP/2 connections opened before a
 * renewal keep working on the same connection after it, new connections are served the new
 * certificate, and once the first SVID has expired the sidecar still reaches the control server
 * (its reconnection presents the renewed one). A source that fails, or hands a certificate of
 * another identity, is refused and the current SVID kept.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { type CaFiles, issueSvid, loadCa } from '../../control/ca/ca.js';
import type { ControlServer } from '../../control/serve/control-server.js';
import type { Sidecar } from '../../envoy/sidecar/sidecar.js';
import { renewalProblem, SvidRenewer, svidFacts, type TlsMaterial } from '../../envoy/sidecar/svid.js';
import { testControl, testSidecar } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const APP = 'spiffe://shop.example/ns/shop/sa/app';
const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const TTL_MS = 6_000;
const state = mkdtempSync(join(tmpdir(), 'perimeter-svid-'));
let ca: CaFiles;
let control: ControlServer;
let app: Server;
let sidecar: Sidecar;
const events: { event: string; fields: Record<string, unknown> }[] = [];
/** When the SVID the sidecar started with expires. */
let firstNotAfter = 0;

const material = async (identity: string, ttlMs = TTL_MS): Promise<TlsMaterial> => {
  const svid = await issueSvid(ca, identity, { ttlMs });
  return { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem };
};

before(async () => {
  control = await testControl(state);
  ca = loadCa(state);
  app = createServer((req, res) => res.end(`ok ${req.url}`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  sidecar = await testSidecar(ca, control, APP, (app.address() as AddressInfo).port, {
    tls: await material(APP),
    renewSvid: () => material(APP),
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    log: (event, fields) => events.push({ event, fields }),
  });
  await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'first policy');
  firstNotAfter = svidFacts(sidecar.tls).notAfter;
});

after(async () => {
  await sidecar.stop();
  await control.stop();
  app.close();
});

test('a renewal keeps open HTTP/1.1 and HTTP/2 connections; new connections get the new certificate', async () => {
  const web = await material(WEB, 60_000);
  const tls = { ca: web.caPem, cert: web.certPem, key: web.keyPem, checkServerIdentity: () => undefined };
  const first = svidFacts(sidecar.tls).serial;
  // One kept-alive HTTP/1.1 connection, one HTTP/2 session, both opened before the renewal.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...tls });
  const h1 = (path: string) =>
    new Promise<{ status: number; reused: boolean; serial: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: sidecar.inboundPort, path, agent, headers: { host: 'app' } }, (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, serial }));
      });
      req.on('error', reject);
      req.end();
    });
  const session = connect(`https://127.0.0.1:${sidecar.inboundPort}`, tls);
  const h2 = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const s = session.request({ ':method': 'GET', ':path': path, ':authority': 'app' });
      s.on('response', (h) => resolve(Number(h[':status'])));
      s.on('error', reject);
      s.resume();
    });
  try {
    const a = await h1('/api/orders/1');
    assert.deepEqual([a.status, a.reused, a.serial], [200, false, first]);
    assert.equal(await h2('/api/orders/1'), 200);
    const h2Serial = (session.socket as unknown as TLSSocket).getPeerCertificate().serialNumber;
    assert.equal(h2Serial, first);

    await eventually(() => svidFacts(sidecar.tls).serial !== first, TTL_MS, 'a renewal at half the lifetime');
    const renewed = svidFacts(sidecar.tls);
    assert.ok(renewed.notAfter > Date.now() + TTL_MS / 4);
    assert.ok(events.some((e) => e.event === 'svid renewed' && e.fields.serial === renewed.serial));

    // The same connections, still up, still served.
    const b = await h1('/api/orders/2');
    assert.deepEqual([b.status, b.reused, b.serial], [200, true, first]);
    assert.equal(await h2('/api/orders/2'), 200);
    assert.equal(session.closed, false);

    // A new connection is served the new certificate.
    const fresh = new Agent({ keepAlive: false, ...tls });
    const serial = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: sidecar.inboundPort, path: '/api/orders/3', agent: fresh }, (res) => {
        resolve((res.socket as TLSSocket).getPeerCertificate().serialNumber);
        res.resume();
      });
      req.on('error', reject);
      req.end();
    });
    assert.notEqual(serial, first);
    assert.equal(serial, svidFacts(sidecar.tls).serial);
  } finally {
    session.close();
    agent.destroy();
  }
});

test('after the first SVID has expired, a reconnection to the control server presents the renewed one', async () => {
  // Wait until the SVID the sidecar started with has expired.
  await new Promise((r) => setTimeout(r, Math.max(0, firstNotAfter - Date.now()) + 1_000));
  assert.ok(svidFacts(sidecar.tls).notAfter > Date.now(), 'renewed again meanwhile');
  const connects = sidecar.xds.stats.connects;
  const port = control.xdsPort;
  await control.stop();
  control = await testControl(state, { listen: `127.0.0.1:${port}` });
  await eventually(() => sidecar.xds.stats.connects > connects, 10_000, 'reconnected with the renewed SVID');
  assert.ok(svidFacts(sidecar.tls).notAfter > Date.now());
});

test('a source that fails, or hands the SVID of another identity, is refused and the current SVID kept', async () => {
  const start = await material(APP, 60_000);
  const failures: string[] = [];
  const renewed: TlsMaterial[] = [];
  let next: () => Promise<TlsMaterial> = async () => {
    throw new Error('the CA is unreachable');
  };
  const r = new SvidRenewer(start, APP, () => next(), { renewed: (t) => renewed.push(t), failed: (m) => failures.push(m) });
  try {
    await r.renew();
    next = () => material(WEB);
    await r.renew();
    next = async () => ({ ...(await material(APP)), keyPem: (await material(APP)).keyPem });
    await r.renew();
    assert.deepEqual(failures, [
      'the CA is unreachable',
      `the certificate is for ${WEB}, not ${APP}`,
      'the private key does not match the certificate',
    ]);
    assert.equal(renewed.length, 0);
    assert.equal(r.current, start);
    // The same certificate again (an agent that has not rotated yet) is not a renewal either.
    next = async () => start;
    await r.renew();
    assert.equal(renewed.length, 0);
    next = () => material(APP);
    await r.renew();
    assert.equal(renewed.length, 1);
    assert.equal(r.current, renewed[0]);
  } finally {
    r.stop();
  }
  assert.equal(renewalProblem(await material(APP, 1), APP, Date.now() + 5_000), 'the certificate has expired');
});
