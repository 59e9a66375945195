/** What the xDS server is configured with: its TLS, its logger, the events it reports, and its bounds. */
import type { AccessLogBatch } from './access-logs.js';
import type { SnapshotCache } from './cache.js';
import type { StreamEvents, StreamInfo } from './session.js';

export interface ServerTls {
  /** PEM of the mesh CA: client certificates must chain to it. */
  caPem: string;
  /** The server's certificate chain and key (an SVID of the control server). */
  certPem: string;
  keyPem: string;
  trustDomain: string;
}

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ServerEvents extends StreamEvents {
  connect(s: StreamInfo): void;
  disconnect(s: StreamInfo): void;
  refused(reason: 'unauthenticated' | 'node_mismatch' | 'too_many_streams' | 'bad_request', peer: string, message: string): void;
}

/**
 * Every pod of a Deployment presents the same SVID, so one identity holds a stream per pod; the
 * bound is there so that one stolen SVID cannot take every stream the server can hold.
 */
export const DEFAULT_STREAMS_PER_IDENTITY = 1024;

export interface XdsServerOptions {
  cache: SnapshotCache;
  /** Absent = plaintext, node.id trusted: local development only. */
  tls?: ServerTls;
  events?: Partial<ServerEvents>;
  log?: Logger;
  /** Identifier sent in every response's control_plane field. */
  controlPlaneId?: string;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Streams are closed after this long (clients reconnect), spreading them over replicas. */
  maxConnectionAgeMs?: number;
  /** Open xDS streams one identity may hold: a sidecar needs one, every pod of a workload shares its identity. */
  maxStreamsPerIdentity?: number;
  now?: () => number;
  /**
   * Receives Envoy's Access Log Service (StreamAccessLogs) when set: each batch of HTTP entries
   * with the identity the stream is bound to (its certificate, as for xDS) and the log name.
   */
  accessLogs?: (batch: AccessLogBatch) => void;
}
