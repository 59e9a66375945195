/**
 * The sidecar side of the throughput benchmark, in a process of its own: the control server, a
 * small upstream app, and the app workload's sidecar, with the filter or (argv[2] = "bare")
 * without it. Prints the inbound port and the CA and client SVID the load generator uses.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { ControlServer } from '../../control/serve/control-server.js';
import { Sidecar } from '../../envoy/sidecar/sidecar.js';

const bare = process.argv[2] === 'bare';
const state = mkdtempSync(join(tmpdir(), 'perimeter-bench-sc-'));
const control = await ControlServer.start({
  policy: ['examples/shop/policy'],
  state,
  listen: '127.0.0.1:0',
  admin: false,
  insecure: false,
  watch: false,
  moduleFile: BUILT_MODULE,
  log: { info() {}, warn() {}, error() {} },
});
const ca = loadCa(state);
const body = JSON.stringify({ orders: [1, 2, 3] });
const app = createServer((_q, r) => {
  r.setHeader('content-type', 'application/json');
  r.end(body);
});
await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
const svid = await issueSvid(ca, 'spiffe://shop.example/ns/shop/sa/app');
const sidecar = await Sidecar.start({
  identity: 'spiffe://shop.example/ns/shop/sa/app',
  control: `127.0.0.1:${control.xdsPort}`,
  controlIdentity: `spiffe://shop.example${CONTROL_IDENTITY_PATH}`,
  tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem },
  inboundPort: 0,
  upstream: { host: '127.0.0.1', port: (app.address() as AddressInfo).port },
  wasm: BUILT_MODULE,
  withoutFilter: bare,
});
while (sidecar.policyVersion === undefined) await new Promise((r) => setTimeout(r, 20));
const client = await issueSvid(ca, 'spiffe://shop.example/ns/shop/sa/web');
process.send?.({ port: sidecar.inboundPort, ca: ca.certPem, cert: client.chainPem, key: client.keyPem });
// A CPU profile of a window the parent chooses (the measured load, not start-up): profile-start,
// then profile-stop with the directory to write it in.
const inspector = new Session();
let connected = false;
process.on('message', (m: { cmd: string; dir?: string }) => {
  if (m.cmd === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (m.cmd === 'profile-start') {
    if (!connected) inspector.connect();
    connected = true;
    inspector.post('Profiler.enable', () =>
      inspector.post('Profiler.setSamplingInterval', { interval: 100 }, () => inspector.post('Profiler.start')),
    );
  }
  if (m.cmd === 'profile-stop')
    inspector.post('Profiler.stop', (err, r) => {
      if (!err && m.dir) {
        mkdirSync(m.dir, { recursive: true });
        writeFileSync(join(m.dir, `sidecar-${bare ? 'bare' : 'filter'}.cpuprofile`), JSON.stringify(r.profile));
      }
      process.send?.({ profiled: !err });
    });
  if (m.cmd === 'stop') void sidecar.stop().then(() => control.stop().then(() => process.exit(0)));
});
