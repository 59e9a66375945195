/** Host-side state of the module's contexts: one root per plugin configuration, one per stream. */
import type { PluginIdentity, StreamInfo } from './properties.js';

export type Header = [string, string];

export interface LocalReply {
  status: number;
  details: string;
  body: Uint8Array;
  headers: Header[];
  grpcStatus?: number;
}

export interface RootContext {
  kind: 'root';
  id: number;
  plugin: PluginIdentity;
  /** Readable only while the root is created and while on_configure / proxy_validate_configuration run. */
  configuration?: Uint8Array;
  vmConfiguration: Uint8Array;
  tickPeriodMs: number;
  nextTickAt: number;
  /** proxy_on_done returned false: deletion waits for proxy_done(). */
  doneDeferred: boolean;
}

/** Where a stream is in Envoy's filter-chain lifecycle (decides which maps are readable). */
export type Phase =
  | 'request_headers'
  | 'request_body'
  | 'request_trailers'
  | 'response_headers'
  | 'response_body'
  | 'response_trailers'
  | 'log'
  | 'done';

export interface StreamContext {
  kind: 'stream';
  id: number;
  root: RootContext;
  info: StreamInfo;
  phase: Phase;
  requestHeaders: Header[];
  requestTrailers: Header[];
  responseHeaders: Header[];
  responseTrailers: Header[];
  /** Request headers stay readable until the filter continues past them (and again in on_log). */
  requestHeadersPaused: boolean;
  requestBody: Buffer;
  responseBody: Buffer;
  filterState: Map<string, Uint8Array>;
  /** Set by proxy_send_local_response; sent when the callback returns. */
  pendingReply?: LocalReply;
  localReply?: LocalReply;
  continued: { request: boolean; response: boolean };
  closed: boolean;
  responseCodeDetails?: string;
}

export type Context = RootContext | StreamContext;
