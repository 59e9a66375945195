/** Type URLs: how an `Any` on the wire says what it holds, for every resource the two planes exchange. */

const PREFIX = 'type.googleapis.com/';

/** The type URL of a protobuf message by its full name (`envoy.config.core.v3.TypedExtensionConfig`). */
export function typeUrl(fullName: string): string {
  return `${PREFIX}${fullName}`;
}

export const TYPE = {
  cluster: typeUrl('envoy.config.cluster.v3.Cluster'),
  endpoint: typeUrl('envoy.config.endpoint.v3.ClusterLoadAssignment'),
  listener: typeUrl('envoy.config.listener.v3.Listener'),
  route: typeUrl('envoy.config.route.v3.RouteConfiguration'),
  secret: typeUrl('envoy.extensions.transport_sockets.tls.v3.Secret'),
  extensionConfig: typeUrl('envoy.config.core.v3.TypedExtensionConfig'),
  /** The HTTP Wasm filter inside the ECDS resource. */
  wasm: typeUrl('envoy.extensions.filters.http.wasm.v3.Wasm'),
  /** Envoy's RBAC filter, as `perimeter export rbac` writes it. */
  rbac: typeUrl('envoy.extensions.filters.http.rbac.v3.RBAC'),
} as const;

/** The message name at the end of a type URL (`TypedExtensionConfig`), for logs and metrics. */
export function shortType(url: string): string {
  return url.slice(url.lastIndexOf('.') + 1);
}
