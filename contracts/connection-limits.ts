/**
 * What one inbound connection may hold, for Envoy (the bootstrap) and the local sidecar alike: a
 * connection that never finishes its TLS handshake or its request headers, or sits idle, is
 * closed; past the limit new connections are refused; an HTTP/2 connection carries at most so
 * many requests at once (a stream past it is refused).
 */
export interface ConnectionLimits {
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxConcurrentStreams: number;
}

export const CONNECTION_LIMITS: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxConnections: 4096,
  // As Istio sets Envoy's (its default would be 2^31 - 1).
  maxConcurrentStreams: 100,
};
