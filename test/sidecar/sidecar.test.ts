/**
 * The local sidecar end to end on loopback: control server → ECDS over mTLS → the module in the
 * host → a real upstream app, over real TLS sockets. Allowed and denied flows, a request without a
 * client certificate, no policy yet, a live policy change, and the control server going away.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BUILT_MODULE } from '../../contracts/module.js';
import { type CaFiles, issueSvid, loadCa } from '../../control/ca/ca.js';
import { ControlServer } from '../../control/serve/control-server.js';
import type { AccessRecord } from '../../envoy/sidecar/inbound.js';
import type { OutboundPeer } from '../../envoy/sidecar/outbound.js';
import { Sidecar } from '../../envoy/sidecar/sidecar.js';
import { mtls, plain } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const APP = 'spiffe://shop.example/ns/shop/sa/app';
const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const INTRUDER = 'spiffe://shop.example/ns/shop/sa/intruder';
const policyDir = mkdtempSync(join(tmpdir(), 'perimeter-sc-policy-'));
const state = mkdtempSync(join(tmpdir(), 'perimeter-sc-state-'));
cpSync('examples/shop/policy', policyDir, { recursive: true });
const silent = { info() {}, warn() {}, error() {} };
const records: AccessRecord[] = [];
let control: ControlServer;
let controlPort = 0;
let app: Server;
let sidecar: Sidecar;
let ca: CaFiles;

const startControl = (port = 0) =>
  ControlServer.start({
    policy: [policyDir],
    state,
    listen: `127.0.0.1:${port}`,
    admin: false,
    insecure: false,
    debounceMs: 30,
    moduleFile: BUILT_MODULE,
    log: silent,
  });

async function call(from: string | undefined, method: string, path: string): Promise<{ status: number; body: string }> {
  return mtls(sidecar.inboundPort, ca.certPem, from ? await issueSvid(ca, from) : undefined, { method, path });
}

before(async () => {
  control = await startControl();
  controlPort = control.xdsPort;
  ca = loadCa(state);
  app = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const svid = await issueSvid(ca, APP);
  sidecar = await Sidecar.start({
    identity: APP,
    control: `127.0.0.1:${controlPort}`,
    controlIdentity: 'spiffe://shop.example/ns/perimeter-system/sa/perimeter-control',
    tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem },
    inboundPort: 0,
    upstream: { host: '127.0.0.1', port: (app.address() as AddressInfo).port },
    wasm: BUILT_MODULE,
    adminPort: 0,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    onRecord: (r) => records.push(r),
  });
  await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'first policy');
});
after(async () => {
  await sidecar.stop();
  await control.stop();
  app.close();
});

test('an allowed caller reaches the app, with its identity forwarded; the decision is recorded', async () => {
  const r = await call(WEB, 'GET', '/api/orders//7/../8');
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { path: '/api/orders/8', xfcc: `URI=${WEB}` });
  const rec = records.at(-1);
  assert.equal(rec?.peer, WEB);
  assert.match(rec?.decision ?? '', /^decision=allow enforced=1 mode=enforce rule=app\/web-calls-api version=[0-9a-f]+/);
});

test('a caller the policy does not allow gets 403 with the reason; the app never sees it', async () => {
  const r = await call(INTRUDER, 'GET', '/api/orders/1');
  assert.equal(r.status, 403);
  const rec = records.at(-1);
  assert.match(rec?.details ?? '', /^perimeter_denied\[app\/default@[0-9a-f]+\]$/);
  assert.match(rec?.decision ?? '', /decision=deny enforced=1/);
});

test('the filter’s counters and the sidecar’s state on the loopback admin port, in Prometheus format', async () => {
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${sidecar.adminPort}${path}`);
    return { status: res.status, text: await res.text() };
  };
  await eventually(async () => /^envoy_perimeter_denied [1-9]/m.test((await get('/stats/prometheus')).text), 3_000, 'counters flushed');
  const stats = (await get('/stats/prometheus')).text;
  assert.match(stats, /^envoy_perimeter_allowed [1-9]/m);
  assert.match(stats, /^perimeter_sidecar_policy_present 1$/m);
  assert.match(stats, /^perimeter_sidecar_control_plane_connected 1$/m);
  assert.equal((await get('/ready')).status, 200);
});

test('escaped slashes are rejected before the filter, as Envoy’s connection manager does', async () => {
  const r = await call(WEB, 'GET', '/api%2Forders');
  assert.equal(r.status, 400);
});

test('a request without a client certificate is refused at the handshake', async () => {
  await assert.rejects(call(undefined, 'GET', '/api/orders/1'));
});

test('a policy change reaches the sidecar and changes decisions without a restart', async () => {
  const before = sidecar.policyVersion;
  const file = join(policyDir, 'app.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('methods: [GET, POST]', 'methods: [POST]'));
  await eventually(() => sidecar.policyVersion !== before, 5_000, 'new policy');
  assert.equal((await call(WEB, 'GET', '/api/orders/1')).status, 403);
  assert.equal((await call(WEB, 'POST', '/api/orders')).status, 200);
});

test('outbound: the app speaks plain HTTP to its sidecar, which carries it over mTLS with its SVID to the right peer', async () => {
  const out = async (identity: string, peers: OutboundPeer[], host: string) => {
    const svid = await issueSvid(ca, identity);
    const s = await Sidecar.start({
      identity,
      control: `127.0.0.1:${controlPort}`,
      controlIdentity: 'spiffe://shop.example',
      tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem },
      inboundPort: 0,
      outboundPort: 0,
      peers,
      upstream: { host: '127.0.0.1', port: 9 },
      wasm: BUILT_MODULE,
    });
    try {
      return await plain(s.outboundPort as number, host, 'POST', '/api/orders');
    } finally {
      await s.stop();
    }
  };
  const toApp: OutboundPeer = { name: 'app', namespace: 'shop', identity: APP, host: '127.0.0.1', port: sidecar.inboundPort };
  const ok = await out(WEB, [toApp], 'app');
  assert.equal(ok.status, 200, ok.body);
  assert.equal(JSON.parse(ok.body).xfcc, `URI=${WEB}`);
  assert.equal((await out(INTRUDER, [toApp], 'app.shop:8080')).status, 403);
  assert.equal((await out(WEB, [toApp], 'payments')).status, 404);
  // Whoever answers at the address must be the destination: app's sidecar is not db.
  const impostor = await out(WEB, [{ ...toApp, name: 'db', namespace: 'data', identity: 'spiffe://shop.example/ns/data/sa/db' }], 'db');
  assert.equal(impostor.status, 503);
  assert.match(impostor.body, /expected spiffe:\/\/shop\.example\/ns\/data\/sa\/db/);
});

test('a bad policy edit is rejected by the control server; the sidecar keeps its policy and its decisions', async () => {
  const before = sidecar.policyVersion;
  const file = join(policyDir, 'app.yaml');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('methods: [POST]', 'methods: [POST, FR OB]'));
  await eventually(() => control.source.lastRejected !== undefined, 5_000, 'rejection');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(sidecar.policyVersion, before);
  assert.equal((await call(WEB, 'POST', '/api/orders')).status, 200);
  assert.equal((await call(INTRUDER, 'POST', '/api/orders')).status, 403);
  writeFileSync(file, good);
});

test('with the control server gone the last policy keeps enforcing; restarted, the sidecar converges again', async () => {
  const version = sidecar.policyVersion;
  await control.stop();
  assert.equal((await call(WEB, 'POST', '/api/orders')).status, 200);
  assert.equal((await call(INTRUDER, 'POST', '/api/orders')).status, 403);
  assert.equal(sidecar.policyVersion, version);
  const file = join(policyDir, 'app.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('methods: [POST]', 'methods: [GET, POST]'));
  control = await startControl(controlPort);
  await eventually(() => sidecar.policyVersion !== version, 10_000, 'converged after restart');
  assert.equal((await call(WEB, 'GET', '/api/orders/1')).status, 200);
});

test('a sidecar that never got a policy denies everything', async () => {
  const svid = await issueSvid(ca, APP);
  const lonely = await Sidecar.start({
    identity: APP,
    control: '127.0.0.1:1',
    controlIdentity: 'spiffe://shop.example',
    tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem },
    inboundPort: 0,
    upstream: { host: '127.0.0.1', port: (app.address() as AddressInfo).port },
    wasm: BUILT_MODULE,
  });
  const keep = sidecar;
  sidecar = lonely;
  try {
    const r = await call(WEB, 'GET', '/api/orders/1');
    assert.equal(r.status, 500);
    assert.match(r.body, /no policy/);
  } finally {
    sidecar = keep;
    await lonely.stop();
  }
});
