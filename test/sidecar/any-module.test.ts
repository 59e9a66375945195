/**
 * `--wasm` runs any Proxy-Wasm module, as Envoy's vm_config.code.local.filename does: here the
 * host's probe module, which stops on request headers and rewrites the body it then receives.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { mtls, testControl, testSidecar } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const PROBE = 'test/fixtures/probe/build/probe.wasm';
const APP = 'spiffe://shop.example/ns/shop/sa/app';

test('a module that stops on headers gets the whole body, and what it makes of the body goes upstream', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-anymod-'));
  const control = await testControl(state);
  const ca = loadCa(state);
  const app = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => res.end(`upstream got: ${body}`));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const sidecar = await testSidecar(ca, control, APP, (app.address() as AddressInfo).port, { wasm: PROBE });
  try {
    await eventually(() => sidecar.policy.current !== undefined, 5_000, 'configured');
    const caller = await issueSvid(ca, 'spiffe://shop.example/ns/shop/sa/web');
    const r = await mtls(sidecar.inboundPort, ca.certPem, caller, {
      method: 'POST',
      path: '/anything',
      headers: { 'x-probe': 'stop', 'content-type': 'text/plain', 'content-length': '5' },
      body: 'hello',
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'upstream got: HELLO');
  } finally {
    await sidecar.stop();
    await control.stop();
    app.close();
  }
});
