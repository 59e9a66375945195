/**
 * Attack: HTTP/2 against the sidecar's inbound listener: a Host that names another authority than
 * :authority (to have a rule read one and the app see the other), pseudo-header and header-name
 * tricks a deny must survive, more streams at once than a connection may carry, a flood of
 * streams opened and reset at once ("rapid reset"), and an HTTP/2 session that sends nothing.
 * And against the outbound listener, a cleartext connection that never says which protocol it
 * speaks. The sidecar keeps serving, and the app sees nothing it should not.
 */
import assert from 'node:assert/strict';
import { type ClientHttp2Session, constants, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tcp } from 'node:net';
import { after, before, test } from 'node:test';
import { h2Connect } from '../helpers/mesh.js';
import { ID, Target } from '../helpers/target.js';

const LIMITS = { handshakeTimeoutMs: 5_000, headersTimeoutMs: 5_000, idleTimeoutMs: 1_500, maxConnections: 64, maxConcurrentStreams: 4 };
let t: Target;

before(async () => {
  t = await Target.start({ sidecar: { limits: LIMITS, outboundPort: 0, peers: [] } });
});
after(() => t.stop());

async function session(from: string): Promise<ClientHttp2Session> {
  const s = await h2Connect(t.sidecar.inboundPort, t.ca.certPem, await t.svid(from));
  // The attacks end sessions abruptly: what the server does to them is asserted on their streams.
  s.on('error', () => {});
  return s;
}

function request(s: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<{ status: number; body: string; code?: number }> {
  return new Promise((resolve) => {
    const r = s.request(headers, { endStream: true });
    let got: IncomingHttpHeaders = {};
    let body = '';
    r.on('response', (h) => {
      got = h;
    });
    r.on('data', (d: Buffer) => {
      body += d;
    });
    r.on('end', () => resolve({ status: Number(got[':status']), body }));
    r.on('error', () => resolve({ status: 0, body, code: r.rstCode }));
  });
}

const get = (path: string, more: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({
  ':method': 'GET',
  ':path': path,
  ':authority': 'api',
  ...more,
});

test('a Host naming another authority than :authority is refused before any rule reads either', async () => {
  const s = await session(ID.web);
  try {
    const before = t.seen.length;
    // The deny rule is for the host internal.api: hiding it in one of the two must not help.
    const hidden = await request(s, get('/api/x', { ':authority': 'public.api', host: 'internal.api' }));
    assert.equal(hidden.status, 400);
    const reversed = await request(s, get('/api/x', { ':authority': 'internal.api', host: 'public.api' }));
    assert.equal(reversed.status, 400);
    assert.equal(t.seen.length, before, 'the app saw neither');
    // The same name in both is fine, and decided as that host.
    assert.equal((await request(s, get('/api/x', { ':authority': 'internal.api', host: 'internal.api' }))).status, 403);
    assert.equal((await request(s, get('/api/x'))).status, 200);
  } finally {
    s.close();
  }
});

test('header-conditioned denies hold over HTTP/2: a repeated header is decided on every line', async () => {
  const s = await session(ID.web);
  try {
    const before = t.seen.length;
    // x-env twice, one line of it denied.
    const twice = await request(s, get('/api/x', { 'x-env': ['prod', 'beta-2'] }));
    assert.equal(twice.status, 403);
    const debug = await request(s, get('/api/x', { 'x-debug': '1' }));
    assert.equal(debug.status, 403);
    assert.equal(t.seen.length, before);
  } finally {
    s.close();
  }
});

test('more streams at once than a connection may carry are refused, and the connection goes on serving', async () => {
  const s = await session(ID.web);
  try {
    // A stream the sidecar is slow to finish: the app is reached only when its body ends.
    const open = Array.from({ length: LIMITS.maxConcurrentStreams + 4 }, () => {
      const r = s.request({ ':method': 'POST', ':path': '/api/orders', ':authority': 'api', 'x-device-posture': 'compliant' });
      r.on('error', () => {});
      r.on('response', () => {});
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    // The peer's SETTINGS cap what this client opens at once: the rest wait their turn, never
    // more than the limit in flight on the sidecar.
    assert.equal(s.remoteSettings.maxConcurrentStreams, LIMITS.maxConcurrentStreams);
    for (const r of open) r.close(constants.NGHTTP2_CANCEL);
    assert.equal((await request(s, get('/api/after'))).status, 200);
  } finally {
    s.close();
  }
});

test('a flood of streams opened and reset at once (rapid reset) leaves the sidecar serving and its streams all released', async () => {
  const s = await session(ID.web);
  for (let i = 0; i < 500; i++) {
    const r = s.request(get(`/api/flood/${i}`), { endStream: true });
    r.on('error', () => {});
    r.close(constants.NGHTTP2_CANCEL);
  }
  await new Promise((r) => setTimeout(r, 500));
  s.destroy();
  const fresh = await session(ID.web);
  try {
    assert.equal((await request(fresh, get('/api/after-flood'))).status, 200);
  } finally {
    fresh.close();
  }
  // Every stream the filter opened has finished (none left holding the plugin).
  const plugin = t.sidecar.policy.current?.plugin as unknown as { active: number };
  assert.ok(plugin.active <= 1, `${plugin.active} streams still open`);
});

test('an HTTP/2 session that sends nothing is closed when idle', async () => {
  const s = await session(ID.web);
  const start = Date.now();
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
  const ms = Date.now() - start;
  assert.ok(ms < LIMITS.idleTimeoutMs + 2_000, `closed after ${ms} ms`);
});

test('a cleartext connection to the outbound listener that never says which protocol it speaks is closed', async () => {
  const port = t.sidecar.outboundPort as number;
  const s = tcp(port, '127.0.0.1');
  s.on('error', () => {});
  // The first bytes of the HTTP/2 preface, then nothing: not enough to tell.
  s.write('PRI * HT');
  const start = Date.now();
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
  assert.ok(Date.now() - start < 15_000);
});
