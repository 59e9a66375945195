/**
 * Flow collection end to end: a sidecar streams its access entries over ALS to the control
 * server, which records them as flows in <state>/flows; `perimeter flows` reads them while the
 * server runs. The stream is bound to the sidecar's certificate, as xDS is.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { accessEntry } from '../../envoy/sidecar/access-entry.js';
import { clientConstructor } from '../../grpc/codec.js';
import { svidCredentials } from '../../grpc/credentials.js';
import { AccessLogService, StreamAccessLogsMessageSchema } from '../../proto/gen/envoy/service/accesslog/v3/als_pb.js';
import { mtls, testControl, testSidecar } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const APP = 'spiffe://shop.example/ns/shop/sa/app';
const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const INTRUDER = 'spiffe://shop.example/ns/shop/sa/intruder';

function flowsCli(state: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', 'flows', '--state', state, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a sidecar’s requests become flows the control server keeps and perimeter flows shows', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-flows-e2e-'));
  const control = await testControl(state);
  const ca = loadCa(state);
  const app = createHttp((_q, r) => r.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const sidecar = await testSidecar(ca, control, APP, (app.address() as AddressInfo).port, { als: `127.0.0.1:${control.xdsPort}` });
  try {
    await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'policy');
    const web = await issueSvid(ca, WEB);
    const intruder = await issueSvid(ca, INTRUDER);
    for (const id of [1, 2, 3]) assert.equal((await mtls(sidecar.inboundPort, ca.certPem, web, { path: `/api/orders/${id}` })).status, 200);
    assert.equal((await mtls(sidecar.inboundPort, ca.certPem, intruder, { path: '/api/orders/9' })).status, 403);
    await eventually(() => control.status().flows.recorded >= 4, 10_000, 'entries recorded');
    assert.equal(control.status().flows.refused, 0);

    const r = flowsCli(state, '--to', 'app', '--json');
    assert.equal(r.code, 0, r.err);
    const { flows } = JSON.parse(r.out) as {
      flows: { source: string; destination: string; template: string; count: number; allowed: number; denied: number }[];
    };
    const fromWeb = flows.find((f) => f.source === WEB);
    assert.deepEqual(
      fromWeb && { destination: fromWeb.destination, template: fromWeb.template, count: fromWeb.count, allowed: fromWeb.allowed },
      { destination: 'app', template: '/api/orders/*', count: 3, allowed: 3 },
    );
    assert.equal(flows.find((f) => f.source === INTRUDER)?.denied, 1);

    const denied = flowsCli(state, '--denied');
    assert.equal(denied.code, 0, denied.err);
    assert.match(denied.out, /intruder\s+app\s+GET\s+\/api\/orders\/\*\s+1\s+1 denied/);
    assert.doesNotMatch(denied.out, /sa\/web /);
  } finally {
    await sidecar.stop();
    await control.stop();
    app.close();
  }
});

test('an ALS stream is bound to its certificate: claiming another node is refused, nothing recorded', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-flows-e2e-'));
  const control = await testControl(state);
  const ca = loadCa(state);
  try {
    const web = await issueSvid(ca, WEB);
    const Client = clientConstructor(AccessLogService);
    const client = new Client(
      `127.0.0.1:${control.xdsPort}`,
      svidCredentials({
        caPem: ca.certPem,
        certPem: web.chainPem,
        keyPem: web.keyPem,
        serverId: `spiffe://shop.example${CONTROL_IDENTITY_PATH}`,
      }),
    );
    const code = await new Promise<number>((resolve) => {
      const call = (
        client as unknown as { StreamAccessLogs(cb: (e: grpc.ServiceError | null) => void): grpc.ClientWritableStream<object> }
      ).StreamAccessLogs((e) => resolve(e ? e.code : 0));
      call.write(
        create(StreamAccessLogsMessageSchema, {
          identifier: { node: { id: APP }, logName: 'perimeter/app' },
          logEntries: {
            case: 'httpLogs',
            value: {
              logEntry: [
                accessEntry({
                  time: new Date().toISOString(),
                  peer: WEB,
                  method: 'GET',
                  authority: 'app',
                  path: '/x',
                  status: 200,
                  details: '',
                  decision: 'decision=allow enforced=1 mode=enforce rule=app/x version=v',
                }),
              ],
            },
          },
        }),
      );
      call.end();
    });
    client.close();
    assert.equal(code, grpc.status.PERMISSION_DENIED);
    assert.equal(control.status().flows.entries, 0);
  } finally {
    await control.stop();
  }
});

test('perimeter flows without a store says where it looked; a bad --since is a usage error', () => {
  const empty = mkdtempSync(join(tmpdir(), 'perimeter-flows-none-'));
  const r = flowsCli(empty);
  assert.equal(r.code, 1);
  assert.match(r.err, /no flows recorded under .*flows: is perimeter serve running there/);
  const bad = flowsCli(empty, '--since', 'yesterday-ish');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--since yesterday-ish: expected a duration/);
});
