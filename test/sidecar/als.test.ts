/** The sidecar streams each request's access entry, decision record included, over ALS as Envoy does. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { anyUnpack, BytesValueSchema } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { serviceDefinition } from '../../grpc/codec.js';
import { SvidServerCredentials } from '../../grpc/credentials.js';
import { AccessLogService, type StreamAccessLogsMessage } from '../../proto/gen/envoy/service/accesslog/v3/als_pb.js';
import { mtls, testControl, testSidecar } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const APP = 'spiffe://shop.example/ns/shop/sa/app';
const INTRUDER = 'spiffe://shop.example/ns/shop/sa/intruder';

test('access entries reach the Access Log Service with the decision record, also when the service comes up late', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-als-'));
  const control = await testControl(state);
  const ca = loadCa(state);
  const app = createHttp((_q, r) => r.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  // A port for the ALS server, which starts only after the first request.
  const probe = createHttp();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const alsPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));

  const sidecar = await testSidecar(ca, control, APP, (app.address() as AddressInfo).port, { als: `127.0.0.1:${alsPort}` });
  const als = new grpc.Server();
  try {
    await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'policy');
    const intruder = await issueSvid(ca, INTRUDER);
    const { status } = await mtls(sidecar.inboundPort, ca.certPem, intruder, { path: '/api/orders/1' });
    assert.equal(status, 403);

    const received: StreamAccessLogsMessage[] = [];
    als.addService(serviceDefinition(AccessLogService), {
      StreamAccessLogs: (call: grpc.ServerReadableStream<StreamAccessLogsMessage, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        call.on('data', (m: StreamAccessLogsMessage) => received.push(m));
        call.on('end', () => cb(null, {}));
      },
    });
    const srv = await issueSvid(ca, `spiffe://shop.example${CONTROL_IDENTITY_PATH}`);
    await new Promise<number>((resolve, reject) =>
      als.bindAsync(`127.0.0.1:${alsPort}`, new SvidServerCredentials(ca.certPem, srv.chainPem, srv.keyPem), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    await eventually(() => received.length > 0, 10_000, 'entries delivered after the service came up');
    const first = received[0] as StreamAccessLogsMessage;
    assert.equal(first.identifier?.node?.id, APP);
    assert.equal(first.identifier?.logName, `perimeter/${APP}`);
    assert.equal(first.logEntries.case, 'httpLogs');
    const entry = first.logEntries.case === 'httpLogs' ? first.logEntries.value.logEntry[0] : undefined;
    assert.equal(entry?.request?.path, '/api/orders/1');
    assert.equal(entry?.response?.responseCode, 403);
    assert.match(entry?.response?.responseCodeDetails ?? '', /^perimeter_denied\[app\/default@/);
    const san = entry?.commonProperties?.tlsProperties?.peerCertificateProperties?.subjectAltName[0]?.san;
    assert.deepEqual(san, { case: 'uri', value: INTRUDER });
    const state0 = entry?.commonProperties?.filterStateObjects['wasm.perimeter_decision'];
    const record = state0 ? Buffer.from(anyUnpack(state0, BytesValueSchema)?.value ?? []).toString() : '';
    assert.match(record, /^decision=deny enforced=1 mode=enforce rule=app\/default version=/);
  } finally {
    await sidecar.stop();
    als.forceShutdown();
    await control.stop();
    app.close();
  }
});
