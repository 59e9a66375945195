/** The control server renews its own short-lived SVID while serving; open streams carry on. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { TYPE } from '../../contracts/type-urls.js';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { XdsClient } from '../../envoy/sidecar/xds-client.js';
import { testControl } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const WEB = 'spiffe://shop.example/ns/shop/sa/web';

function serverCert(port: number, tls: { ca: string; cert: string; key: string }): Promise<{ serial: string; validTo: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port, ...tls, servername: 'perimeter-control', ALPNProtocols: ['h2'], rejectUnauthorized: false },
      () => {
        const c = s.getPeerCertificate();
        s.destroy();
        resolve({ serial: c.serialNumber, validTo: c.valid_to });
      },
    );
    s.on('error', reject);
  });
}

test('the server SVID is renewed at half its lifetime; new connections get the new one, existing streams keep working', async () => {
  const logs: string[] = [];
  const log = { info: (_o: object, m: string) => logs.push(m), warn() {}, error: (_o: object, m: string) => logs.push(m) };
  const state = mkdtempSync(join(tmpdir(), 'perimeter-renew-'));
  const server = await testControl(state, { log, svidTtlMs: 1_200 });
  try {
    const ca = loadCa(state);
    const svid = await issueSvid(ca, WEB);
    const tls = { ca: ca.certPem, cert: svid.chainPem, key: svid.keyPem };
    const first = await serverCert(server.xdsPort, tls);
    const client = new XdsClient({
      address: `127.0.0.1:${server.xdsPort}`,
      nodeId: WEB,
      tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem, serverId: 'spiffe://shop.example' },
    });
    client.subscribe(TYPE.extensionConfig, [RESOURCE_NAME]);
    await client.waitFor(TYPE.extensionConfig, (h) => h.has(RESOURCE_NAME));
    await eventually(() => logs.includes('control server SVID renewed'), 3_000, 'renewal');
    const second = await serverCert(server.xdsPort, tls);
    assert.notEqual(second.serial, first.serial);
    assert.ok(Date.parse(second.validTo) > Date.parse(first.validTo) - 1_000);
    assert.equal(client.stats.rejected, 0);
    assert.ok(server.streams.size >= 1, 'the stream opened before the renewal is still there');
    client.close();
  } finally {
    await server.stop();
  }
});
