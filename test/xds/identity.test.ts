/** mTLS identity binding: a stream is served only the workload of its client certificate. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TYPE } from '../../contracts/type-urls.js';
import { initCa, issueSvid } from '../../control/ca/ca.js';
import { SnapshotCache } from '../../control/xds/cache.js';
import { XdsServer } from '../../control/xds/server.js';
import { XdsClient } from '../../envoy/sidecar/xds-client.js';
import { id, names, type Pki, pki, resource, sotw, TD } from '../helpers/xds.js';

const ECDS = TYPE.extensionConfig;
const cache = new SnapshotCache();
const refused: string[] = [];
let p: Pki;
let server: XdsServer;
let addr = '';

before(async () => {
  p = await pki();
  server = new XdsServer({ cache, tls: p.server, events: { refused: (reason) => refused.push(reason) } });
  addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  cache.set(id('web'), new Map([[ECDS, [resource('perimeter.authz', 'web-policy')]]]));
  cache.set(id('db'), new Map([[ECDS, [resource('perimeter.authz', 'db-policy')]]]));
});
after(() => server.stop(200));

test('a sidecar with its own certificate and node.id gets its own policy', async () => {
  const s = sotw(addr, await p.client(id('web')));
  s.req({ node: { id: id('web') }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  const r = await s.next();
  assert.deepEqual(names(r), ['perimeter.authz']);
  assert.match(Buffer.from(r.resources[0]?.value ?? []).toString(), /web-policy/);
  const info = [...server.streams.values()].find((x) => x.identity === id('web'));
  assert.equal(info?.secure, true);
  s.close();
});

test('a node.id that contradicts the certificate is refused with PERMISSION_DENIED and gets nothing', async () => {
  const s = sotw(addr, await p.client(id('web')));
  s.req({ node: { id: id('db') }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  const st = await s.status;
  assert.equal(st.code, 7);
  assert.match(st.details, /node\.id spiffe:\/\/shop\.example\/ns\/shop\/sa\/db contradicts the client certificate/);
  await assert.rejects(s.next(100));
  assert.ok(refused.includes('node_mismatch'));
  s.close();
});

test('the same holds for Delta and the standalone ECDS service', async () => {
  const { delta } = await import('../helpers/xds.js');
  const d = delta(addr, await p.client(id('web')), true);
  d.req({ node: { id: id('db') }, resourceNamesSubscribe: ['perimeter.authz'] });
  assert.equal((await d.status).code, 7);
  d.close();
});

test('a workload certificate never reveals another workload: its own resource only, whatever names it asks for', async () => {
  const c = new XdsClient({ address: addr, nodeId: id('web'), tls: await p.client(id('web')) });
  c.subscribe(ECDS, ['perimeter.authz']);
  const held = await c.waitFor(ECDS, (h) => h.size > 0);
  assert.match(Buffer.from(held.get('perimeter.authz')?.resource.value ?? []).toString(), /web-policy/);
  c.close();
});

test('a certificate from another CA, or none, fails the handshake; no stream is opened', async () => {
  const other = await initCa(mkdtempSync(join(tmpdir(), 'perimeter-other-')), TD);
  const forged = await issueSvid(other, id('db'));
  const before = server.streams.size;
  const s = sotw(addr, { caPem: p.ca.certPem, certPem: forged.chainPem, keyPem: forged.keyPem });
  s.req({ node: { id: id('db') }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  assert.equal((await s.status).code, 14);
  s.close();
  const plain = sotw(addr);
  plain.req({ node: { id: id('db') }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  assert.equal((await plain.status).code, 14);
  plain.close();
  assert.equal(server.streams.size, before);
});

test('insecure mode trusts node.id and says so', async () => {
  const logs: string[] = [];
  const log = { info: (_o: object, m: string) => logs.push(m), warn() {}, error() {} };
  const insecure = new XdsServer({ cache, log });
  const a = `127.0.0.1:${await insecure.listen('127.0.0.1:0')}`;
  const s = sotw(a);
  s.req({ node: { id: id('db') }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  assert.match(Buffer.from((await s.next()).resources[0]?.value ?? []).toString(), /db-policy/);
  assert.ok(logs.some((m) => /insecure: identity not verified/.test(m)));
  s.close();
  await insecure.stop(100);
});
