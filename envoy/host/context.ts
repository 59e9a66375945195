/** Host-side state of the module's contexts: one root per plugin configuration, one per stream. */
import { FilterState } from './filter-state.js';
import { type Header, HeaderMap } from './header-map.js';
import type { PluginIdentity, StreamInfo } from './properties.js';

export type { Header };

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
  requestHeaders: HeaderMap;
  requestTrailers: HeaderMap;
  responseHeaders: HeaderMap;
  responseTrailers: HeaderMap;
  /** The maps (bit 1 << MapType) that are still the caller's own: cloned when the module first changes them. */
  borrowed: number;
  /** Request headers stay readable until the filter continues past them (and again in on_log). */
  requestHeadersPaused: boolean;
  /** Replaced, never written in place (a local reply's body is shared with every reply that sends it). */
  requestBody: Uint8Array;
  responseBody: Uint8Array;
  filterState: FilterState;
  /** Set by proxy_send_local_response; sent when the callback returns. */
  pendingReply: LocalReply | undefined;
  localReply: LocalReply | undefined;
  continued: { request: boolean; response: boolean };
  closed: boolean;
  responseCodeDetails: string | undefined;
}

export type Context = RootContext | StreamContext;

/** The maps a stream starts with: shared, and borrowed, so the first change makes the stream's own. */
const NO_HEADERS = HeaderMap.EMPTY;
const ALL_BORROWED = 0b1111;
/** Bodies are replaced, never written in place: every stream starts from this one. */
export const NO_BODY: Uint8Array = new Uint8Array(0);

export function newStreamContext(root: RootContext, id: number, info: StreamInfo): StreamContext {
  const s: StreamContext = {
    kind: 'stream',
    id,
    root,
    info,
    phase: 'request_headers',
    requestHeaders: NO_HEADERS,
    requestTrailers: NO_HEADERS,
    responseHeaders: NO_HEADERS,
    responseTrailers: NO_HEADERS,
    borrowed: ALL_BORROWED,
    requestHeadersPaused: false,
    requestBody: NO_BODY,
    responseBody: NO_BODY,
    filterState: new FilterState(),
    pendingReply: undefined,
    localReply: undefined,
    continued: { request: false, response: false },
    closed: false,
    responseCodeDetails: undefined,
  };
  return s;
}

/** A released stream's context made new for the next stream, keeping its objects (and filter-state buffers). */
export function reuseStreamContext(s: StreamContext, root: RootContext, id: number, info: StreamInfo): void {
  s.id = id;
  s.root = root;
  s.info = info;
  s.phase = 'request_headers';
  s.requestHeaders = NO_HEADERS;
  s.requestTrailers = NO_HEADERS;
  s.responseHeaders = NO_HEADERS;
  s.responseTrailers = NO_HEADERS;
  s.borrowed = ALL_BORROWED;
  s.requestHeadersPaused = false;
  s.requestBody = NO_BODY;
  s.responseBody = NO_BODY;
  s.filterState.clear();
  s.pendingReply = undefined;
  s.localReply = undefined;
  s.continued.request = false;
  s.continued.response = false;
  s.closed = false;
  s.responseCodeDetails = undefined;
}

/** The map of `type` (0–3, MapType) of a stream. */
function mapOf(s: StreamContext, type: number): HeaderMap {
  return type === 0 ? s.requestHeaders : type === 1 ? s.requestTrailers : type === 2 ? s.responseHeaders : s.responseTrailers;
}

function setMap(s: StreamContext, type: number, m: HeaderMap): void {
  if (type === 0) s.requestHeaders = m;
  else if (type === 1) s.requestTrailers = m;
  else if (type === 2) s.responseHeaders = m;
  else s.responseTrailers = m;
}

/**
 * Gives a stream the caller's map of `type`: a HeaderMap is borrowed (cloned before the module
 * changes it), an array made the stream's own map (which encodes it, on the request path: a
 * caller with a map in hand passes the map). The caller's map or array is never changed.
 */
export function adoptHeaderMap(s: StreamContext, type: number, headers: HeaderMap | readonly Header[]): void {
  if (headers instanceof HeaderMap) {
    setMap(s, type, headers);
    s.borrowed |= 1 << type;
  } else ownNewHeaderMap(s, type, HeaderMap.of(headers));
}

/** A map the host made for the stream (a local reply's headers): the stream's own. */
export function ownNewHeaderMap(s: StreamContext, type: number, map: HeaderMap): void {
  setMap(s, type, map);
  s.borrowed &= ~(1 << type);
}

/** Before the module changes a map: a borrowed one becomes the stream's own clone. */
export function ownHeaderMap(s: StreamContext, type: number): void {
  if (!(s.borrowed & (1 << type))) return;
  setMap(s, type, mapOf(s, type).clone());
  s.borrowed &= ~(1 << type);
}
