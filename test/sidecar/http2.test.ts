/**
 * HTTP/2 through the local sidecar, beside HTTP/1.1, over real sockets: inbound by ALPN (allowed
 * and denied calls, a denied gRPC call answered the gRPC way), an HTTP/2 app behind the sidecar
 * (gRPC: TE: trailers forwarded, its trailers back through the module to the caller), and the
 * outbound side (HTTP/1.1 and h2c from the app, one multiplexed mTLS session to the peer).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import {
  type ClientHttp2Session,
  connect,
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CaFiles, issueSvid, loadCa } from '../../control/ca/ca.js';
import type { ControlServer } from '../../control/serve/control-server.js';
import type { AccessRecord } from '../../envoy/sidecar/inbound.js';
import type { Sidecar } from '../../envoy/sidecar/sidecar.js';
import { h2Connect, mtls, plain, testControl, testSidecar } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const APP = 'spiffe://shop.example/ns/shop/sa/app';
const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const INTRUDER = 'spiffe://shop.example/ns/shop/sa/intruder';
const state = mkdtempSync(join(tmpdir(), 'perimeter-h2-'));
const records: AccessRecord[] = [];
let ca: CaFiles;
let control: ControlServer;
let app: Server;
let grpcApp: Http2Server;
let appSidecar: Sidecar;
let grpcSidecar: Sidecar;
let webSidecar: Sidecar;
const grpcSeen: IncomingHttpHeaders[] = [];

interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders;
}

function h2Call(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers, { endStream: body === undefined });
    let got: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    let text = '';
    s.on('response', (h) => {
      got = h;
    });
    s.on('trailers', (t) => {
      trailers = t;
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('end', () => resolve({ status: Number(got[':status']), headers: got, body: text, trailers }));
    s.on('error', reject);
    if (body) s.end(body);
  });
}

async function h2Session(port: number, identity: string): Promise<ClientHttp2Session> {
  return h2Connect(port, ca.certPem, await issueSvid(ca, identity));
}

/** A gRPC message frame: not compressed, 4-byte length, the bytes. */
const frame = (text: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, text.length]), Buffer.from(text)]);

before(async () => {
  control = await testControl(state, { debounceMs: 30 });
  ca = loadCa(state);
  app = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, version: req.httpVersion, xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  // A gRPC-like app over h2c: one message back, then grpc-status in the trailers.
  grpcApp = createH2Server();
  grpcApp.on('stream', (stream, headers) => {
    grpcSeen.push(headers);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
    stream.resume();
    stream.on('end', () => stream.end(frame('pong')));
  });
  await new Promise<void>((r) => grpcApp.listen(0, '127.0.0.1', r));
  const onRecord = (r: AccessRecord) => records.push(r);
  appSidecar = await testSidecar(ca, control, APP, (app.address() as AddressInfo).port, { onRecord });
  grpcSidecar = await testSidecar(ca, control, APP, (grpcApp.address() as AddressInfo).port, {
    upstream: { host: '127.0.0.1', port: (grpcApp.address() as AddressInfo).port, protocol: 'http2' },
    onRecord,
  });
  webSidecar = await testSidecar(ca, control, WEB, (app.address() as AddressInfo).port, {
    outboundPort: 0,
    peers: [{ name: 'app', namespace: 'shop', identity: APP, host: '127.0.0.1', port: appSidecar.inboundPort }],
  });
  for (const s of [appSidecar, grpcSidecar, webSidecar]) await eventually(() => s.policyVersion !== undefined, 5_000, 'first policy');
});

after(async () => {
  for (const s of [appSidecar, grpcSidecar, webSidecar]) await s.stop();
  await control.stop();
  app.close();
  grpcApp.close();
});

test('HTTP/2 inbound (by ALPN): an allowed call reaches the app over HTTP/1.1, a denied one gets 403 with the reason', async () => {
  const session = await h2Session(appSidecar.inboundPort, WEB);
  try {
    assert.equal(session.alpnProtocol, 'h2');
    const ok = await h2Call(session, { ':method': 'GET', ':path': '/api/orders//7/../8', ':authority': 'app' });
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { path: '/api/orders/8', version: '1.1', xfcc: `URI=${WEB}` });
    assert.match(records.at(-1)?.decision ?? '', /^decision=allow enforced=1 mode=enforce rule=app\/web-calls-api /);
    assert.equal(records.at(-1)?.authority, 'app');
  } finally {
    session.close();
  }
  const intruder = await h2Session(appSidecar.inboundPort, INTRUDER);
  try {
    const denied = await h2Call(intruder, { ':method': 'GET', ':path': '/api/orders/1', ':authority': 'app' });
    assert.equal(denied.status, 403);
    assert.match(denied.body, /access denied by perimeter policy/);
    assert.match(records.at(-1)?.details ?? '', /^perimeter_denied\[app\/default@[0-9a-f]+\]$/);
  } finally {
    intruder.close();
  }
  // HTTP/1.1 on the same port, as before.
  const h1 = await mtls(appSidecar.inboundPort, ca.certPem, await issueSvid(ca, WEB), { path: '/api/orders/9' });
  assert.equal(h1.status, 200);
});

test('a denied gRPC call is answered as Envoy answers one: HTTP 200, grpc-status 7 (PERMISSION_DENIED), the reason as grpc-message', async () => {
  const session = await h2Session(grpcSidecar.inboundPort, INTRUDER);
  try {
    const seen = grpcSeen.length;
    const r = await h2Call(
      session,
      { ':method': 'POST', ':path': '/api/shop.Orders/Get', ':authority': 'app', 'content-type': 'application/grpc', te: 'trailers' },
      frame('ping'),
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/grpc');
    // Trailers-only: the status comes in the one header block.
    assert.equal(r.headers['grpc-status'], '7');
    assert.equal(r.headers['grpc-message'], 'access denied by perimeter policy');
    assert.equal(r.body, '');
    assert.equal(grpcSeen.length, seen, 'the app never saw it');
  } finally {
    session.close();
  }
});

test('an allowed gRPC call reaches an HTTP/2 app with TE: trailers, and its trailers come back through the module', async () => {
  const session = await h2Session(grpcSidecar.inboundPort, WEB);
  try {
    const r = await h2Call(
      session,
      { ':method': 'POST', ':path': '/api/shop.Orders/Get', ':authority': 'app', 'content-type': 'application/grpc', te: 'trailers' },
      frame('ping'),
    );
    assert.equal(r.status, 200);
    assert.equal(r.body, frame('pong').toString('latin1'));
    assert.equal(r.trailers['grpc-status'], '0');
    assert.equal(r.trailers['grpc-message'], 'ok');
    const seen = grpcSeen.at(-1);
    assert.equal(seen?.te, 'trailers');
    assert.equal(seen?.[':path'], '/api/shop.Orders/Get');
    assert.equal(seen?.['x-forwarded-client-cert'], `URI=${WEB}`);
    assert.match(records.at(-1)?.decision ?? '', /^decision=allow /);
    assert.equal(records.at(-1)?.status, 200);
  } finally {
    session.close();
  }
});

test('outbound: HTTP/1.1 and h2c from the app reach the peer over one multiplexed mTLS session', async () => {
  const port = webSidecar.outboundPort as number;
  const before = appSidecar.stats.inboundConnections;
  const h1 = await plain(port, 'app', 'GET', '/api/orders/1');
  assert.equal(h1.status, 200, h1.body);
  assert.equal(JSON.parse(h1.body).xfcc, `URI=${WEB}`);
  const h2c = connect(`http://127.0.0.1:${port}`);
  try {
    const replies = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => h2Call(h2c, { ':method': 'GET', ':path': `/api/orders/${i}`, ':authority': 'app' })),
    );
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200, 200, 200],
    );
    assert.deepEqual(
      replies.map((r) => JSON.parse(r.body).path),
      ['/api/orders/1', '/api/orders/2', '/api/orders/3', '/api/orders/4', '/api/orders/5'],
    );
    const nope = await h2Call(h2c, { ':method': 'GET', ':path': '/x', ':authority': 'nowhere' });
    assert.equal(nope.status, 404);
  } finally {
    h2c.close();
  }
  // Six requests, one connection to the peer.
  assert.equal(appSidecar.stats.inboundConnections - before, 1);
});
