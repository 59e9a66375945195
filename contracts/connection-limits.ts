/**
 * What one inbound connection may hold, for Envoy (the bootstrap) and the local sidecar alike: a
 * connection that never finishes its TLS handshake or its request headers, or sits idle, is
 * closed; past the limit new connections are refused.
 */
export interface ConnectionLimits {
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
}

export const CONNECTION_LIMITS: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxConnections: 4096,
};
