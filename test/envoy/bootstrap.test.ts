/** `perimeter envoy bootstrap`: every rendered config parses strictly into Envoy's Bootstrap, and says what it must. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { type JsonObject, toJson } from '@bufbuild/protobuf';
import { reasonOf } from '../../contracts/problem.js';
import { envoyRegistry, parseEnvoyConfig } from '../../control/render/registry.js';
import { BootstrapSchema } from '../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';

const SHOP = 'examples/shop/policy';
const WORKLOADS = ['ingress', 'web', 'app', 'db', 'payments', 'reports', 'jump-host', 'intruder'];

function render(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['bin/perimeter.js', 'envoy', 'bootstrap', '--policy', SHOP, '--control', 'perimeter-control.perimeter-system:18000', ...args],
    {
      encoding: 'utf8',
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The bootstrap, parsed strictly, back in Envoy's canonical JSON (so field names are Envoy's own). */
function parsed(yaml: string): JsonObject {
  const p = parseEnvoyConfig(BootstrapSchema, yaml);
  assert.ok(p.ok, p.ok ? '' : reasonOf(p));
  return toJson(BootstrapSchema, p.value, { registry: envoyRegistry }) as JsonObject;
}

// biome-ignore lint/suspicious/noExplicitAny: walking Envoy's JSON in assertions
type Any = any;

test('every workload of the shop renders a bootstrap that parses strictly as Envoy’s Bootstrap', () => {
  for (const w of WORKLOADS) {
    const r = render('--workload', w);
    assert.equal(r.code, 0, r.err);
    parsed(r.out);
  }
});

test('inbound: client certificates required and checked against the trust domain; paths normalised; the filter by ECDS; the router last', () => {
  const b: Any = parsed(render('--workload', 'db').out);
  assert.equal(b.node.id, 'spiffe://shop.example/ns/data/sa/db');
  assert.deepEqual(b.admin.address.socketAddress.address, '127.0.0.1');
  const inbound = b.staticResources.listeners.find((l: Any) => l.name === 'inbound');
  const chain = inbound.filterChains[0];
  const tls = chain.transportSocket.typedConfig;
  assert.equal(tls['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
  assert.equal(tls.requireClientCertificate, true);
  const spiffe = tls.commonTlsContext.validationContext.customValidatorConfig;
  assert.equal(spiffe.name, 'envoy.tls.cert_validator.spiffe');
  assert.deepEqual(
    spiffe.typedConfig.trustDomains.map((t: Any) => t.name),
    ['shop.example'],
  );
  // Bounded connections: a limit before the connection manager, handshake, headers and idle timeouts.
  assert.deepEqual(
    chain.filters.map((f: Any) => f.name),
    ['envoy.filters.network.connection_limit', 'envoy.filters.network.http_connection_manager'],
  );
  assert.equal(chain.filters[0].typedConfig.maxConnections, '4096');
  assert.equal(chain.transportSocketConnectTimeout, '10s');
  const hcm = chain.filters[1].typedConfig;
  assert.equal(hcm.requestHeadersTimeout, '10s');
  assert.equal(hcm.commonHttpProtocolOptions.idleTimeout, '300s');
  assert.equal(hcm.normalizePath, true);
  assert.equal(hcm.mergeSlashes, true);
  assert.equal(hcm.pathWithEscapedSlashesAction, 'REJECT_REQUEST');
  assert.deepEqual(
    hcm.httpFilters.map((f: Any) => f.name),
    ['perimeter.authz', 'envoy.filters.http.router'],
    'db reads no claims: no jwt_authn',
  );
  const ecds = hcm.httpFilters[0].configDiscovery;
  assert.deepEqual(ecds.configSource.ads, {});
  assert.deepEqual(ecds.typeUrls, ['type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm']);
  assert.equal(ecds.defaultConfig, undefined, 'no default config: no policy, no traffic');
  const als = hcm.accessLog.find((l: Any) => l.name === 'envoy.access_loggers.http_grpc').typedConfig.commonConfig;
  assert.deepEqual(als.filterStateObjectsToLog, ['wasm.perimeter_decision']);
  assert.equal(als.grpcService.envoyGrpc.clusterName, 'perimeter-control');
  assert.equal(b.dynamicResources.adsConfig.apiType, 'GRPC');
  const control = b.staticResources.clusters.find((c: Any) => c.name === 'perimeter-control');
  const sans = control.transportSocket.typedConfig.commonTlsContext.validationContext.matchTypedSubjectAltNames;
  assert.deepEqual(sans, [{ sanType: 'URI', matcher: { exact: 'spiffe://shop.example/ns/perimeter-system/sa/perimeter-control' } }]);
});

test('HTTP/2 and renewal: inbound offers h2 by ALPN with streams bounded; the SVID comes by watched file-based SDS wherever it is presented; --app-http2', () => {
  const b: Any = parsed(
    render('--workload', 'app', '--max-streams', '50', '--app-http2', '--certs', '/certs', '--svid-sds', '/cfg/svid.yaml').out,
  );
  const inbound = b.staticResources.listeners.find((l: Any) => l.name === 'inbound').filterChains[0];
  const common = inbound.transportSocket.typedConfig.commonTlsContext;
  assert.deepEqual(common.alpnProtocols, ['h2', 'http/1.1']);
  assert.equal(inbound.filters[1].typedConfig.http2ProtocolOptions.maxConcurrentStreams, 50);
  // Every TLS context that presents the SVID: the inbound listener, the control cluster, each peer.
  const contexts = [
    common,
    ...b.staticResources.clusters.filter((c: Any) => c.transportSocket).map((c: Any) => c.transportSocket.typedConfig.commonTlsContext),
  ];
  assert.ok(contexts.length >= 3);
  for (const c of contexts) {
    assert.equal(c.tlsCertificates, undefined, 'no certificate read once at start');
    assert.deepEqual(c.tlsCertificateSdsSecretConfigs, [
      {
        name: 'svid',
        sdsConfig: { pathConfigSource: { path: '/cfg/svid.yaml', watchedDirectory: { path: '/certs' } }, resourceApiVersion: 'V3' },
      },
    ]);
  }
  const app = b.staticResources.clusters.find((c: Any) => c.name === 'local-app');
  assert.deepEqual(
    Object.keys(app.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicitHttpConfig),
    ['http2ProtocolOptions'],
  );
  const plain: Any = parsed(render('--workload', 'app').out);
  assert.equal(
    plain.staticResources.clusters.find((c: Any) => c.name === 'local-app').typedExtensionProtocolOptions,
    undefined,
    'HTTP/1.1 unless asked',
  );
});

test('a workload whose policy reads claims gets jwt_authn before the filter, with the payload where the filter reads it', () => {
  const b: Any = parsed(render('--workload', 'payments', '--jwks', '/etc/keys/jwks.json', '--jwt-issuer', 'https://idp.shop.example').out);
  const hcm = b.staticResources.listeners[0].filterChains[0].filters.find((f: Any) =>
    f.name.endsWith('http_connection_manager'),
  ).typedConfig;
  assert.deepEqual(
    hcm.httpFilters.map((f: Any) => f.name),
    ['envoy.filters.http.jwt_authn', 'perimeter.authz', 'envoy.filters.http.router'],
  );
  const provider = hcm.httpFilters[0].typedConfig.providers.perimeter;
  assert.equal(provider.payloadInMetadata, 'jwt_payload');
  assert.equal(provider.localJwks.filename, '/etc/keys/jwks.json');
  assert.equal(provider.issuer, 'https://idp.shop.example');
});

test('outbound: plain HTTP from the app, mTLS to each peer with its SPIFFE ID checked; --peer and --delta', () => {
  const b: Any = parsed(
    render('--workload', 'app', '--peer', 'db=10.0.0.7:15443', '--peer', 'payments=payments.local:15443', '--delta').out,
  );
  assert.equal(b.dynamicResources.adsConfig.apiType, 'DELTA_GRPC');
  const out = b.staticResources.listeners.find((l: Any) => l.name === 'outbound');
  assert.equal(out.address.socketAddress.address, '127.0.0.1');
  assert.equal(out.filterChains[0].transportSocket, undefined);
  const clusters = b.staticResources.clusters.filter((c: Any) => c.name.startsWith('out|'));
  assert.deepEqual(clusters.map((c: Any) => c.name).sort(), ['out|db', 'out|payments']);
  const db = clusters.find((c: Any) => c.name === 'out|db');
  assert.equal(db.type, 'STATIC');
  assert.equal(
    db.transportSocket.typedConfig.commonTlsContext.validationContext.matchTypedSubjectAltNames[0].matcher.exact,
    'spiffe://shop.example/ns/data/sa/db',
  );
  assert.equal(clusters.find((c: Any) => c.name === 'out|payments').type, 'STRICT_DNS');
});

test('bad input is a one-line error with exit 1; the parser rejects what Envoy would', () => {
  assert.match(render('--workload', 'nobody').err, /no workload nobody/);
  assert.equal(render('--workload', 'web', '--peer', 'db').code, 1);
  assert.equal(render('--workload', 'web', '--inbound', '70000').code, 1);
  const yaml = render('--workload', 'web').out;
  const typo = parseEnvoyConfig(BootstrapSchema, yaml.replace('normalize_path: true', 'normalise_path: true'));
  assert.equal(typo.ok, false);
  const badEnum = parseEnvoyConfig(BootstrapSchema, yaml.replace('REJECT_REQUEST', 'REJECT'));
  assert.equal(badEnum.ok, false);
});

test('several control replicas: one control cluster with an endpoint each and outlier detection, and Envoy’s types accept it', () => {
  const r = spawnSync(
    process.execPath,
    [
      'bin/perimeter.js',
      'envoy',
      'bootstrap',
      '--policy',
      SHOP,
      '--workload',
      'web',
      '--control',
      '10.0.0.1:18000,10.0.0.2:18000,10.0.0.3:18000',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const b: Any = parsed(r.stdout);
  const control = b.staticResources.clusters.find((c: Any) => c.name === 'perimeter-control');
  assert.equal(control.type, 'STATIC');
  assert.deepEqual(
    control.loadAssignment.endpoints[0].lbEndpoints.map((e: Any) => e.endpoint.address.socketAddress.address),
    ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
  );
  assert.ok(control.outlierDetection, 'a failing replica is ejected');
  const bad = spawnSync(
    process.execPath,
    ['bin/perimeter.js', 'envoy', 'bootstrap', '--policy', SHOP, '--workload', 'web', '--control', '10.0.0.1:18000,nope'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--control nope: expected host:port/);
});
