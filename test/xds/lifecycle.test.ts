/** Stream lifecycle: clean shutdown, keep-alives that find dead peers, disconnect bookkeeping. */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { TYPE } from '../../contracts/type-urls.js';
import { SnapshotCache } from '../../control/xds/cache.js';
import { XdsServer } from '../../control/xds/server.js';
import { delta, eventually, resource, sotw } from '../helpers/xds.js';

const ECDS = TYPE.extensionConfig;

test('stopping the server ends every stream with UNAVAILABLE, promptly', async () => {
  const cache = new SnapshotCache();
  cache.set('n', new Map([[ECDS, [resource('perimeter.authz')]]]));
  let disconnects = 0;
  const server = new XdsServer({ cache, events: { disconnect: () => disconnects++ } });
  const addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  const a = sotw(addr);
  const b = delta(addr);
  a.req({ node: { id: 'n' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  b.req({ node: { id: 'n' }, typeUrl: ECDS, resourceNamesSubscribe: ['perimeter.authz'] });
  await a.next();
  await b.next();
  assert.equal(server.streams.size, 2);
  const t0 = Date.now();
  await server.stop(2_000);
  const [sa, sb] = await Promise.all([a.status, b.status]);
  assert.equal(sa.code, 14);
  assert.match(sa.details, /shutting down/);
  assert.equal(sb.code, 14);
  assert.ok(Date.now() - t0 < 1_500, `stop took ${Date.now() - t0} ms`);
  assert.equal(server.streams.size, 0);
  assert.equal(disconnects, 2);
  a.close();
  b.close();
});

test('keep-alives: a peer that stops answering is dropped and its stream forgotten', async () => {
  const cache = new SnapshotCache();
  cache.set('n', new Map([[ECDS, [resource('perimeter.authz')]]]));
  const server = new XdsServer({ cache, keepaliveTimeMs: 200, keepaliveTimeoutMs: 300 });
  const port = await server.listen('127.0.0.1:0');
  // A TCP relay we can freeze, as a sidecar host that vanished without closing its socket.
  let frozen = false;
  const pairs: Socket[][] = [];
  const relay = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    pairs.push([client, upstream]);
    client.on('data', (d) => frozen || upstream.write(d));
    upstream.on('data', (d) => frozen || client.write(d));
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const s = sotw(`127.0.0.1:${(relay.address() as AddressInfo).port}`);
  s.req({ node: { id: 'n' }, typeUrl: ECDS, resourceNames: ['perimeter.authz'] });
  await s.next();
  assert.equal(server.streams.size, 1);
  // Alive and idle past several keep-alive periods: pings are answered, the stream stays.
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(server.streams.size, 1);
  frozen = true;
  await eventually(() => server.streams.size === 0, 3_000, 'stream dropped');
  s.close();
  relay.close();
  for (const p of pairs) for (const x of p) x.destroy();
  await server.stop(100);
});
