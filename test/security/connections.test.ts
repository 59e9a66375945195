/**
 * Attack: holding the sidecar's connections open: TCP that never starts TLS, TLS that never sends
 * a request, request headers that never end (slowloris), a keep-alive connection left idle, and
 * more connections than the sidecar should hold. Each is closed (or refused) within its bound,
 * as the bootstrap's Envoy listener does; the bounds here are short so the suite stays fast.
 */
import assert from 'node:assert/strict';
import { type Socket, connect as tcp } from 'node:net';
import { after, before, test } from 'node:test';
import { type TLSSocket, connect as tls } from 'node:tls';
import { ID, Target } from '../helpers/target.js';

const LIMITS = { handshakeTimeoutMs: 600, headersTimeoutMs: 600, idleTimeoutMs: 900, maxConnections: 6, maxConcurrentStreams: 100 };
let t: Target;
before(async () => {
  t = await Target.start({ sidecar: { limits: LIMITS } });
});
after(() => t.stop());

/** Milliseconds until the server closes the socket (or `giveUpMs`, then -1). */
function closedAfter(s: Socket, giveUpMs = 5_000): Promise<number> {
  const start = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.destroy();
      resolve(-1);
    }, giveUpMs);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
}

async function mtlsSocket(): Promise<TLSSocket> {
  const svid = await t.svid(ID.web);
  return new Promise((resolve, reject) => {
    const s = tls({
      host: '127.0.0.1',
      port: t.sidecar.inboundPort,
      ca: t.ca.certPem,
      cert: svid.chainPem,
      key: svid.keyPem,
      checkServerIdentity: () => undefined,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

test('TCP that never starts the TLS handshake is closed after the handshake timeout', async () => {
  const s = tcp(t.sidecar.inboundPort, '127.0.0.1');
  const ms = await closedAfter(s);
  assert.ok(ms > 0 && ms < LIMITS.handshakeTimeoutMs + 1_500, `closed after ${ms} ms`);
});

test('a TLS connection that never sends a request is closed when idle', async () => {
  const s = await mtlsSocket();
  const ms = await closedAfter(s);
  assert.ok(ms > 0 && ms < LIMITS.idleTimeoutMs + 1_500, `closed after ${ms} ms`);
});

test('request headers that never end (one line every 200 ms) are cut off by the headers timeout', async () => {
  const s = await mtlsSocket();
  s.write('GET /api/x HTTP/1.1\r\nHost: api\r\n');
  const drip = setInterval(() => s.writable && s.write('x-slow: 1\r\n'), 200);
  let reply = '';
  s.on('data', (d) => {
    reply += d;
  });
  const ms = await closedAfter(s);
  clearInterval(drip);
  assert.ok(ms > 0 && ms < LIMITS.headersTimeoutMs + 1_500, `closed after ${ms} ms (the drip never stops)`);
  assert.equal(t.seen.length, 0, 'nothing reached the app');
  assert.doesNotMatch(reply, /app reached/);
});

test('a keep-alive connection left idle after a request is closed', async () => {
  const s = await mtlsSocket();
  let reply = '';
  s.on('data', (d) => {
    reply += d;
  });
  s.write('GET /api/x HTTP/1.1\r\nHost: api\r\n\r\n');
  const ms = await closedAfter(s);
  assert.match(reply, /^HTTP\/1\.1 200/);
  assert.ok(ms > 0 && ms < LIMITS.idleTimeoutMs + 1_500, `closed after ${ms} ms`);
});

test('a caller that goes away mid-body leaves no connection open to the app', async () => {
  const s = await mtlsSocket();
  s.write('POST /api/orders HTTP/1.1\r\nHost: api\r\nX-Device-Posture: compliant\r\nContent-Length: 100000\r\n\r\npartial');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await t.appConnections(), 1, 'the request was forwarded while its body streams');
  s.destroy();
  const end = Date.now() + 2_000;
  while ((await t.appConnections()) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await t.appConnections(), 0);
});

test('past the connection limit new connections are refused; below it again, they are served', async () => {
  const held = await Promise.all(Array.from({ length: LIMITS.maxConnections }, () => mtlsSocket()));
  const extra = tcp(t.sidecar.inboundPort, '127.0.0.1');
  const ms = await closedAfter(extra, 2_000);
  assert.ok(ms >= 0 && ms < 500, `the connection past the limit was closed at once (${ms} ms)`);
  for (const s of held) s.destroy();
  await new Promise((r) => setTimeout(r, 100));
  const r = await t.call(ID.web, { path: '/api/x' });
  assert.equal(r.status, 200);
});
