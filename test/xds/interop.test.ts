/**
 * Interop with a real xDS client written by the gRPC team: @grpc/grpc-js-xds resolves
 * `xds:///echo-service` through our ADS server (LDS → RDS → CDS → EDS, SotW) and calls a
 * test gRPC service. It ACKs, NACKs an invalid Listener while calls keep working on the last
 * good config, and reconnects after the server restarts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { TYPE } from '../../contracts/type-urls.js';
import { SnapshotCache, type XdsResource, xdsResource } from '../../control/xds/cache.js';
import { XdsServer } from '../../control/xds/server.js';
import type { NackRecord } from '../../control/xds/session.js';
import { Cluster_DiscoveryType, Cluster_LbPolicy, ClusterSchema } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ApiVersion } from '../../proto/gen/envoy/config/core/v3/config_source_pb.js';
import { ClusterLoadAssignmentSchema } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { RouterSchema } from '../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { HttpConnectionManagerSchema } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { eventually } from '../helpers/xds.js';

const NODE = 'interop-client';
const ads = { configSourceSpecifier: { case: 'ads' as const, value: {} }, resourceApiVersion: ApiVersion.V3 };

function res<D extends DescMessage>(schema: D, name: string, init: MessageInitShape<D>): XdsResource {
  return xdsResource(name, anyPack(schema, create(schema, init)));
}

/** A unary JSON service: no .proto needed for the thing behind the mesh. */
const json = { serialize: (v: unknown) => Buffer.from(JSON.stringify(v)), deserialize: (b: Buffer) => JSON.parse(b.toString()) };
const ECHO: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');

function listener(valid: boolean): XdsResource {
  const hcm = create(HttpConnectionManagerSchema, {
    ...(valid ? { routeSpecifier: { case: 'rds', value: { configSource: ads, routeConfigName: 'echo-route' } } } : {}),
    httpFilters: [{ name: 'router', configType: { case: 'typedConfig', value: anyPack(RouterSchema, create(RouterSchema)) } }],
  });
  return res(ListenerSchema, 'echo-service', {
    name: 'echo-service',
    apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, hcm) },
  });
}

function snapshot(backendPort: number, validListener = true): Map<string, XdsResource[]> {
  return new Map([
    [TYPE.listener, [listener(validListener)]],
    [
      TYPE.route,
      [
        res(RouteConfigurationSchema, 'echo-route', {
          name: 'echo-route',
          virtualHosts: [
            {
              name: 'echo',
              domains: ['*'],
              routes: [
                {
                  match: { pathSpecifier: { case: 'prefix', value: '' } },
                  action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: 'echo-cluster' } } },
                },
              ],
            },
          ],
        }),
      ],
    ],
    [
      TYPE.cluster,
      [
        res(ClusterSchema, 'echo-cluster', {
          name: 'echo-cluster',
          clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
          edsClusterConfig: { edsConfig: ads, serviceName: 'echo-eds' },
          lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
        }),
      ],
    ],
    [
      TYPE.endpoint,
      [
        res(ClusterLoadAssignmentSchema, 'echo-eds', {
          clusterName: 'echo-eds',
          endpoints: [
            {
              locality: {},
              loadBalancingWeight: 1,
              lbEndpoints: [
                {
                  hostIdentifier: {
                    case: 'endpoint',
                    value: {
                      address: {
                        address: {
                          case: 'socketAddress',
                          value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: backendPort } },
                        },
                      },
                    },
                  },
                },
              ],
            },
          ],
        }),
      ],
    ],
  ]);
}

const cache = new SnapshotCache();
const nacks: NackRecord[] = [];
const newServer = () => new XdsServer({ cache, events: { nack: (_s, _t, n) => nacks.push(n) } });
let xds = newServer();
let xdsPort = 0;
let backend: grpc.Server;
let backendPort = 0;
let calls = 0;
let client: grpc.Client;

const echo = (msg: string) =>
  new Promise<{ echo: string }>((resolve, reject) =>
    (
      client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: Error | null, v: { echo: string }) => void) => void>
    ).Echo?.({ msg }, { deadline: Date.now() + 5_000 }, (e, v) => (e ? reject(e) : resolve(v))),
  );

const acked = () => {
  const s = [...xds.streams.values()].find((x) => x.nodeId === NODE);
  return s ? new Map([...s.types].map(([t, st]) => [t, st.ackedVersion === st.sentVersion && st.ackedVersion !== undefined])) : new Map();
};

before(async () => {
  backend = new grpc.Server();
  backend.addService(ECHO, {
    Echo: (call: grpc.ServerUnaryCall<{ msg: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      calls++;
      cb(null, { echo: call.request.msg });
    },
  });
  backendPort = await new Promise<number>((r, j) =>
    backend.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))),
  );
  cache.set(NODE, snapshot(backendPort));
  xdsPort = await xds.listen('127.0.0.1:0');
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: NODE, cluster: 'test', locality: {} },
  });
  const xdsClient = await import('@grpc/grpc-js-xds');
  xdsClient.register();
  client = new EchoClient('xds:///echo-service', grpc.credentials.createInsecure());
});
after(async () => {
  client.close();
  backend.forceShutdown();
  await xds.stop(200);
});

test('grpc-js-xds resolves the service through our ADS server and ACKs LDS, RDS, CDS and EDS', async () => {
  assert.deepEqual(await echo('hello'), { echo: 'hello' });
  await eventually(() => acked().size === 4 && [...acked().values()].every(Boolean), 3_000, 'all four types ACKed');
  const s = [...xds.streams.values()].find((x) => x.nodeId === NODE);
  assert.deepEqual(s?.types.get(TYPE.listener)?.subscribed, ['echo-service']);
  assert.deepEqual(s?.types.get(TYPE.endpoint)?.subscribed, ['echo-eds']);
});

test('an invalid Listener is NACKed with the old version; calls keep working on the last good config', async () => {
  const s = [...xds.streams.values()].find((x) => x.nodeId === NODE);
  const goodLds = s?.types.get(TYPE.listener)?.ackedVersion;
  cache.set(NODE, snapshot(backendPort, false));
  await eventually(() => nacks.length > 0, 3_000, 'NACK');
  assert.match(nacks[0]?.message ?? '', /Listener message validation failed/);
  assert.equal(s?.types.get(TYPE.listener)?.ackedVersion, goodLds);
  assert.equal(s?.types.get(TYPE.listener)?.lastNack?.message, nacks[0]?.message);
  const before = calls;
  assert.deepEqual(await echo('still'), { echo: 'still' });
  assert.equal(calls, before + 1);
  // Not re-sent: the NACKed version stays rejected until the snapshot changes.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(nacks.length, 1);
  cache.set(NODE, snapshot(backendPort, true));
  await eventually(
    () => s?.types.get(TYPE.listener)?.ackedVersion !== goodLds || acked().get(TYPE.listener) === true,
    3_000,
    'fixed listener ACKed',
  );
});

test('calls continue while the server is down; the client reconnects and re-subscribes after a restart', async () => {
  await xds.stop(200);
  assert.deepEqual(await echo('down'), { echo: 'down' });
  xds = newServer();
  await xds.listen(`127.0.0.1:${xdsPort}`);
  await eventually(() => acked().size === 4, 10_000, 'client back with all four subscriptions');
  assert.deepEqual(await echo('back'), { echo: 'back' });
});
