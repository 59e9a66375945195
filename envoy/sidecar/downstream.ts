/**
 * The downstream side of a listener, for HTTP/1.1 and HTTP/2 alike (Node's compatibility API
 * gives both one request and response shape): what a request says about itself, writing an
 * upstream response back with its trailers, and local replies, which a gRPC caller gets the
 * way Envoy sends them (HTTP 200 with grpc-status and grpc-message, trailers-only). A cleartext
 * listener tells HTTP/2 with prior knowledge from HTTP/1.1 by the connection preface, as an
 * Envoy listener with the AUTO codec does.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import type { Header, LocalReply } from '../host/host.js';
import type { UpstreamResponse } from './upstream.js';
import { headerObject } from './upstream.js';

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
export type DownstreamResponse = ServerResponse | Http2ServerResponse;
export type Handler = (req: DownstreamRequest, res: DownstreamResponse) => void;

export function isHttp2(req: DownstreamRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

/** `:authority` (HTTP/2) or Host (HTTP/1.1). */
export function authorityOf(req: DownstreamRequest): string {
  const h = req.headers;
  const a = isHttp2(req) ? (h[':authority'] ?? h.host) : h.host;
  return typeof a === 'string' ? a : '';
}

/** The request has no body: HTTP/2 ended the stream with its headers; HTTP/1.1 said so by its framing. */
export function hasNoBody(req: DownstreamRequest): boolean {
  if (isHttp2(req)) return req.stream.endAfterHeaders;
  const h = req.headers;
  return h['content-length'] === '0' || (h['content-length'] === undefined && !h['transfer-encoding']);
}

export function isGrpc(req: DownstreamRequest): boolean {
  return (req.headers['content-type'] ?? '').startsWith('application/grpc');
}

/**
 * Writes an upstream response: status and headers (`headers`, as the filter left them), the body
 * as it comes, then its trailers (through `trailers`, when the filter sees them). `done` is called
 * once, when the response has ended or failed.
 */
export function relay(
  res: DownstreamResponse,
  up: UpstreamResponse,
  headers: readonly Header[],
  trailers: ((t: readonly Header[]) => readonly Header[]) | undefined,
  done: (ok: boolean) => void,
): void {
  res.writeHead(up.status, headerObject(headers));
  let finished = false;
  up.onTrailers((t) => {
    const out = trailers && t.length ? trailers(t) : t;
    if (out.length && !res.writableEnded) res.addTrailers(headerObject(out) as Record<string, string>);
    res.end();
    if (!finished) {
      finished = true;
      done(true);
    }
  });
  up.body.on('error', () => {
    res.destroy();
    if (!finished) {
      finished = true;
      done(false);
    }
  });
  up.body.pipe(res as NodeJS.WritableStream, { end: false });
}

/** HTTP status → gRPC status, as Envoy maps a local reply for a gRPC caller (Grpc::Utility::httpToGrpcStatus). */
export function grpcStatusOf(http: number): number {
  switch (http) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** gRPC's Percent-Encoded grpc-message: printable ASCII but "%" as is, every other byte as %XX. */
function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8'))
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * A local reply: its status, headers and body; for a gRPC caller, HTTP 200 and the status in
 * grpc-status (the module's, or mapped from the HTTP status) with the body as grpc-message.
 */
export function sendLocalReply(req: DownstreamRequest, res: DownstreamResponse, r: LocalReply, extra: readonly Header[] = []): void {
  const headers = r.headers.filter(([k]) => k.charCodeAt(0) !== 0x3a);
  if (isGrpc(req)) {
    res.statusCode = 200;
    res.setHeader('content-type', 'application/grpc');
    for (const [k, v] of headers) res.setHeader(k, v);
    for (const [k, v] of extra) res.setHeader(k, v);
    res.setHeader('grpc-status', String(r.grpcStatus ?? grpcStatusOf(r.status)));
    const text = Buffer.from(r.body).toString('utf8').trim();
    if (text) res.setHeader('grpc-message', grpcMessage(text));
    res.end();
    return;
  }
  res.statusCode = r.status;
  for (const [k, v] of headers) res.setHeader(k, v);
  for (const [k, v] of extra) res.setHeader(k, v);
  if (r.body.length && !res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain');
  res.end(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
}

/** A reply of the sidecar's own (no module involved): plain text, or gRPC for a gRPC caller. */
export function sendError(
  req: DownstreamRequest,
  res: DownstreamResponse,
  status: number,
  text: string,
  headers: readonly Header[] = [],
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendLocalReply(req, res, { status, details: '', body: new Uint8Array(Buffer.from(text)), headers: [...headers] });
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** How long a new cleartext connection may take to send enough to tell its protocol. */
export const SNIFF_TIMEOUT_MS = 10_000;

/**
 * A cleartext listener for HTTP/1.1 and HTTP/2 with prior knowledge (h2c), told apart by the
 * first bytes of a connection (a connection that sends too few of them in time is closed).
 */
export function listenCleartext(handler: Handler, sniffTimeoutMs = SNIFF_TIMEOUT_MS): Server {
  const h1 = createHttpServer(handler as (req: IncomingMessage, res: ServerResponse) => void);
  const h2 = createH2Server({}, handler as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
  return createTcpServer((socket: Socket) => {
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
    timer.unref();
    const onData = (chunk: Buffer) => {
      seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, PREFACE.length);
      const prefaceSoFar = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (prefaceSoFar && seen.length < PREFACE.length) return; // not enough to tell yet
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      (prefaceSoFar ? h2 : h1).emit('connection', socket);
      process.nextTick(() => socket.resume());
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => clearTimeout(timer));
  });
}
