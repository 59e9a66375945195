/**
 * The Envoy bootstrap of one workload's sidecar, as a mesh operator deploys it:
 * - inbound: mTLS that requires a client certificate and checks SPIFFE IDs against the trust
 *   domain, HTTP/2 or HTTP/1.1 by ALPN; an HTTP connection manager that normalises paths, merges
 *   slashes and rejects escaped slashes; then (when the policy reads claims) jwt_authn, then the
 *   Perimeter Wasm filter delivered by ECDS over ADS, then the router to the local app (over
 *   HTTP/2 when it is a gRPC service);
 * - outbound: plain HTTP from the app, mTLS with the workload's SVID to each peer's sidecar,
 *   checking the peer's SPIFFE ID;
 * - the decision record in the access log, on stdout and streamed to the control server (ALS);
 * - admin on loopback only.
 * The object is Envoy's JSON form; `renderBootstrapYaml` prints it, and the CLI and tests parse
 * it strictly into Envoy's proto types before anything is written.
 */
import { stringify } from 'yaml';
import { CONNECTION_LIMITS, type ConnectionLimits } from '../../contracts/connection-limits.js';
import { DECISION_KEY } from '../../contracts/decision-record.js';
import { RESOURCE_NAME } from '../../contracts/ecds.js';
import { TYPE, typeUrl } from '../../contracts/type-urls.js';
import type { Workload } from '../policy/model.js';
import type { Peer } from './peers.js';

export const CONTROL_CLUSTER = 'perimeter-control';
export const APP_CLUSTER = 'local-app';

export interface BootstrapOptions {
  workload: Workload;
  trustDomain: string;
  /** The control server, or each of its replicas: one cluster with an endpoint each (Envoy balances and fails over). */
  control: { addresses: readonly { host: string; port: number }[]; identity: string };
  ports: { inbound: number; app: number; outbound: number; admin: number };
  /** Where the SVID (svid.crt.pem, svid.key.pem) and the mesh CA (ca.crt.pem) are mounted. */
  certDir: string;
  /**
   * The file-based SDS resource naming the SVID's files (renderSvidSds): Envoy reads the SVID
   * through it and reads it again whenever something in `certDir` is moved, so a renewed SVID
   * (a Kubernetes Secret's files swapped in) is taken without a restart.
   */
  svidSds: string;
  peers: readonly Peer[];
  resourceName?: string;
  delta?: boolean;
  /**
   * Present when the workload's policy reads verified JWT claims. `audiences`: a token must be
   * minted for one of them (a token for another service is refused).
   */
  jwt?: { jwksFile: string; issuer?: string; audiences?: readonly string[] };
  /** Inbound connection bounds; absent: CONNECTION_LIMITS. */
  limits?: ConnectionLimits;
  /** The app speaks HTTP/2 (cleartext, prior knowledge): gRPC services. Absent: HTTP/1.1. */
  appHttp2?: boolean;
}

const seconds = (ms: number) => `${ms / 1000}s`;

type Json = Record<string, unknown>;

const socket = (address: string, port: number) => ({ socket_address: { address, port_value: port } });

/** A cluster of fixed endpoints; any name among them makes it STRICT_DNS (every address of every name). */
function endpointsCluster(name: string, addresses: readonly { host: string; port: number }[]): Json {
  return {
    name,
    type: addresses.some((a) => !isIp(a.host)) ? 'STRICT_DNS' : 'STATIC',
    connect_timeout: '2s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: addresses.map((a) => ({ endpoint: { address: socket(a.host, a.port) } })) }],
    },
  };
}

const isIp = (h: string) => /^[\d.]+$/.test(h) || h.includes(':');

/** The name of the SVID's SDS secret. */
export const SVID_SECRET = 'svid';

/**
 * The file-based SDS resource of the SVID: a DiscoveryResponse whose one Secret names the
 * certificate chain and key in `certDir`.
 */
export function renderSvidSds(certDir: string): Json {
  return {
    resources: [
      {
        '@type': typeUrl('envoy.extensions.transport_sockets.tls.v3.Secret'),
        name: SVID_SECRET,
        tls_certificate: {
          certificate_chain: { filename: `${certDir}/svid.crt.pem` },
          private_key: { filename: `${certDir}/svid.key.pem` },
        },
      },
    ],
  };
}

export function renderSvidSdsYaml(certDir: string): string {
  return `# The SVID for Envoy by file-based SDS (read again whenever ${certDir} changes), by perimeter envoy bootstrap.\n${stringify(renderSvidSds(certDir), { lineWidth: 0 })}`;
}

export function renderBootstrap(o: BootstrapOptions): Json {
  const certs = { ca: `${o.certDir}/ca.crt.pem` };
  // The SVID through file-based SDS, watched: a renewed one is used by new connections, and
  // connections already open keep theirs.
  const svid = [
    {
      name: SVID_SECRET,
      sds_config: {
        path_config_source: { path: o.svidSds, watched_directory: { path: o.certDir } },
        resource_api_version: 'V3',
      },
    },
  ];
  /** mTLS to a peer that must present exactly `identity`. */
  const upstreamTls = (identity: string, sni: string) => ({
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': typeUrl('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'),
      sni,
      common_tls_context: {
        tls_certificate_sds_secret_configs: svid,
        validation_context: {
          trusted_ca: { filename: certs.ca },
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: identity } }],
        },
      },
    },
  });
  const grpcControl = { envoy_grpc: { cluster_name: CONTROL_CLUSTER } };
  const name = o.resourceName ?? RESOURCE_NAME;

  const accessLog = [
    {
      name: 'envoy.access_loggers.file',
      typed_config: {
        '@type': typeUrl('envoy.extensions.access_loggers.file.v3.FileAccessLog'),
        path: '/dev/stdout',
        log_format: {
          text_format_source: {
            inline_string: `[%START_TIME%] %DOWNSTREAM_PEER_URI_SAN% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%" %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %FILTER_STATE(${DECISION_KEY}:PLAIN)%\n`,
          },
        },
      },
    },
    {
      name: 'envoy.access_loggers.http_grpc',
      typed_config: {
        '@type': typeUrl('envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig'),
        common_config: {
          log_name: `perimeter/${o.workload.name}`,
          transport_api_version: 'V3',
          grpc_service: grpcControl,
          filter_state_objects_to_log: [DECISION_KEY],
        },
      },
    },
  ];

  const httpFilters: Json[] = [];
  if (o.jwt)
    httpFilters.push({
      name: 'envoy.filters.http.jwt_authn',
      typed_config: {
        '@type': typeUrl('envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication'),
        providers: {
          perimeter: {
            ...(o.jwt.issuer ? { issuer: o.jwt.issuer } : {}),
            ...(o.jwt.audiences?.length ? { audiences: [...o.jwt.audiences] } : {}),
            local_jwks: { filename: o.jwt.jwksFile },
            // The filter reads claims at filter_metadata["envoy.filters.http.jwt_authn"]["jwt_payload"].
            payload_in_metadata: 'jwt_payload',
            forward: true,
          },
        },
        // A missing token is the policy's business (a rule needing a claim then fails to match);
        // a token that does not verify is rejected here.
        rules: [
          { match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'perimeter' }, { allow_missing: {} }] } } },
        ],
      },
    });
  httpFilters.push(
    {
      // Delivered by ECDS over ADS. No default_config: until the policy arrives, Envoy answers
      // 500 for lack of a filter config rather than letting a request through.
      name,
      config_discovery: {
        config_source: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '15s' },
        type_urls: [TYPE.wasm],
      },
    },
    { name: 'envoy.filters.http.router', typed_config: { '@type': typeUrl('envoy.extensions.filters.http.router.v3.Router') } },
  );

  const limits = o.limits ?? CONNECTION_LIMITS;
  const inbound = {
    name: 'inbound',
    address: socket('0.0.0.0', o.ports.inbound),
    filter_chains: [
      {
        transport_socket_connect_timeout: seconds(limits.handshakeTimeoutMs),
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': typeUrl('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext'),
            require_client_certificate: true,
            common_tls_context: {
              // HTTP/2 or HTTP/1.1, by ALPN (the connection manager's AUTO codec takes either).
              alpn_protocols: ['h2', 'http/1.1'],
              tls_certificate_sds_secret_configs: svid,
              validation_context: {
                custom_validator_config: {
                  name: 'envoy.tls.cert_validator.spiffe',
                  typed_config: {
                    '@type': typeUrl('envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig'),
                    trust_domains: [{ name: o.trustDomain, trust_bundle: { filename: certs.ca } }],
                  },
                },
              },
            },
          },
        },
        filters: [
          {
            name: 'envoy.filters.network.connection_limit',
            typed_config: {
              '@type': typeUrl('envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit'),
              stat_prefix: 'inbound',
              max_connections: limits.maxConnections,
            },
          },
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': typeUrl('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'),
              stat_prefix: 'inbound',
              request_headers_timeout: seconds(limits.headersTimeoutMs),
              common_http_protocol_options: { idle_timeout: seconds(limits.idleTimeoutMs) },
              http2_protocol_options: { max_concurrent_streams: limits.maxConcurrentStreams },
              normalize_path: true,
              merge_slashes: true,
              path_with_escaped_slashes_action: 'REJECT_REQUEST',
              // Hosts are matched without port or trailing dot (the filter ignores them too;
              // Envoy's RBAC, from perimeter export rbac, relies on these two).
              strip_any_host_port: true,
              strip_trailing_host_dot: true,
              forward_client_cert_details: 'SANITIZE_SET',
              set_current_client_cert_details: { uri: true },
              route_config: {
                name: 'inbound',
                virtual_hosts: [
                  { name: APP_CLUSTER, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: APP_CLUSTER } }] },
                ],
              },
              http_filters: httpFilters,
              access_log: accessLog,
            },
          },
        ],
      },
    ],
  };

  const outCluster = (p: Peer) => `out|${p.workload.name}`;
  const outbound = {
    name: 'outbound',
    address: socket('127.0.0.1', o.ports.outbound),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': typeUrl('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'),
              stat_prefix: 'outbound',
              normalize_path: true,
              merge_slashes: true,
              route_config: {
                name: 'outbound',
                virtual_hosts: o.peers.map((p) => ({
                  name: p.workload.name,
                  domains: [
                    p.workload.name,
                    `${p.workload.name}:*`,
                    `${p.workload.name}.${p.workload.namespace}`,
                    `${p.workload.name}.${p.workload.namespace}:*`,
                  ],
                  routes: [{ match: { prefix: '/' }, route: { cluster: outCluster(p) } }],
                })),
              },
              http_filters: [
                { name: 'envoy.filters.http.router', typed_config: { '@type': typeUrl('envoy.extensions.filters.http.router.v3.Router') } },
              ],
            },
          },
        ],
      },
    ],
  };

  const control = {
    ...endpointsCluster(CONTROL_CLUSTER, o.control.addresses),
    // With several replicas: a replica that fails is ejected and its streams move to the others.
    ...(o.control.addresses.length > 1
      ? { outlier_detection: { consecutive_5xx: 3, consecutive_gateway_failure: 1, interval: '2s', base_ejection_time: '5s' } }
      : {}),
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': typeUrl('envoy.extensions.upstreams.http.v3.HttpProtocolOptions'),
        explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' } } },
      },
    },
    transport_socket: upstreamTls(o.control.identity, 'perimeter-control'),
  };

  return {
    node: { id: o.workload.identity, cluster: o.workload.name, metadata: { perimeter_workload: o.workload.name } },
    admin: { address: socket('127.0.0.1', o.ports.admin) },
    dynamic_resources: {
      ads_config: {
        api_type: o.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [grpcControl],
      },
    },
    static_resources: {
      listeners: [inbound, outbound],
      clusters: [
        control,
        {
          ...endpointsCluster(APP_CLUSTER, [{ host: '127.0.0.1', port: o.ports.app }]),
          ...(o.appHttp2
            ? {
                typed_extension_protocol_options: {
                  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                    '@type': typeUrl('envoy.extensions.upstreams.http.v3.HttpProtocolOptions'),
                    explicit_http_config: { http2_protocol_options: {} },
                  },
                },
              }
            : {}),
        },
        ...o.peers.map((p) => ({
          ...endpointsCluster(outCluster(p), [{ host: p.host, port: p.port }]),
          transport_socket: upstreamTls(p.workload.identity, p.workload.name),
        })),
      ],
    },
  };
}

export function renderBootstrapYaml(o: BootstrapOptions): string {
  return `# Envoy bootstrap for the sidecar of ${o.workload.name} (${o.workload.identity}), by perimeter envoy bootstrap.\n${stringify(renderBootstrap(o), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
