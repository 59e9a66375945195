/**
 * The inbound side of the local sidecar: mTLS that requires a client certificate from the mesh
 * CA, HTTP/1.1 and HTTP/2 (chosen by ALPN, as Envoy's AUTO codec), the connection manager's path
 * handling, then every request through the Proxy-Wasm module (as Envoy runs it) and, if it
 * continues, to the upstream app over HTTP/1.1 or HTTP/2 (gRPC apps need it), its response
 * headers and trailers through the module on the way back. The module's decision record is
 * handed to `onRecord` for the access log.
 */
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { CONNECTION_LIMITS, type ConnectionLimits } from '../../contracts/connection-limits.js';
import { DECISION_KEY } from '../../contracts/decision-record.js';
import { JWT_METADATA } from '../../contracts/jwt.js';
import { connectionManagerPath } from '../../contracts/request-path.js';
import { uriSans } from '../../contracts/svid.js';
import { type Header, HeaderMap, type HttpStream, type StreamInfo } from '../host/host.js';
import {
  authorityOf,
  type DownstreamRequest,
  type DownstreamResponse,
  hasNoBody,
  isGrpc,
  isHttp2,
  relay,
  sendError,
  sendLocalReply,
} from './downstream.js';
import { notForwarded } from './hop-by-hop.js';
import type { JwtVerifier } from './jwt.js';
import type { PolicyHolder } from './policy-holder.js';
import type { TlsMaterial } from './svid.js';
import {
  forwardable,
  Http1Upstream,
  Http2Upstream,
  headerObject,
  type Upstream,
  type UpstreamProtocol,
  type UpstreamResponse,
} from './upstream.js';

export interface InboundOptions {
  tls: TlsMaterial;
  /** The app behind the sidecar; HTTP/1.1 unless `protocol` says http2 (cleartext, prior knowledge). */
  upstream: { host: string; port: number; protocol?: UpstreamProtocol };
  policy: PolicyHolder;
  /** Benchmarks only (never a flag): the same proxy with the module left out, for a ratio. */
  withoutFilter?: boolean;
  /** Verifies bearer tokens as Envoy's jwt_authn does (present when the policy reads claims). */
  jwt?: JwtVerifier;
  onRecord?: (r: AccessRecord) => void;
  /** As the bootstrap's listener: handshake, headers and idle timeouts, and a connection limit. */
  limits?: ConnectionLimits;
}

export interface AccessRecord {
  time: string;
  peer: string | undefined;
  method: string;
  authority: string;
  path: string;
  status: number;
  details: string;
  decision: string;
}

/** What a connection tells about every request on it: read once, at its first request. */
interface Connection {
  peer: string | undefined;
  info: StreamInfo;
}

const connections = new WeakMap<object, Connection>();

/**
 * One string object per identity: every connection of a caller then hands the host the same
 * string, which the host finds in its cache of encoded strings by pointer, not by comparing
 * characters. Bounded: past it, a string is its own.
 */
const identities = new Map<string, string>();

function canonical(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const known = identities.get(id);
  if (known !== undefined) return known;
  if (identities.size < 10_000) identities.set(id, id);
  return id;
}

function connectionOf(req: DownstreamRequest): Connection {
  // HTTP/2: the session's socket (one object per session); HTTP/1.1: the socket itself.
  const socket = req.socket as TLSSocket;
  let c = connections.get(socket);
  if (c) return c;
  // Envoy's connection.uri_san_peer_certificate: the first URI SAN.
  const peer = canonical(uriSans(socket.getPeerCertificate?.())[0]);
  c = {
    peer,
    info: {
      connection: {
        ...(peer ? { uriSanPeerCertificate: peer } : {}),
        tlsVersion: socket.getProtocol?.() ?? 'TLSv1.3',
        mtls: peer !== undefined,
      },
      source: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      destination: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
      protocol: isHttp2(req) ? 'HTTP/2' : req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1',
    },
  };
  connections.set(socket, c);
  return c;
}

/**
 * Headers the sidecar sets itself, whatever a caller (or the module) put there: besides those no
 * proxy forwards, Host (it is :authority) and the client certificate header.
 */
function sidecarSets(name: string): boolean {
  return notForwarded(name) || name === 'host' || name === 'x-forwarded-client-cert';
}

/** Request headers as the module sees them: pseudo-headers first, then the caller's own (lower-case). */
function requestHeaders(req: DownstreamRequest, method: string, path: string, authority: string): Header[] {
  return forwardable(req.rawHeaders, sidecarSets, [
    [':method', method],
    [':path', path],
    [':authority', authority],
    [':scheme', 'https'],
  ]);
}

export class Inbound {
  readonly upstream: Upstream;

  constructor(
    readonly server: Http2SecureServer,
    readonly o: InboundOptions,
  ) {
    const u = o.upstream;
    this.upstream = u.protocol === 'http2' ? new Http2Upstream(`http://${u.host}:${u.port}`) : new Http1Upstream(u);
    server.on('request', (req: DownstreamRequest, res: DownstreamResponse) => {
      try {
        new Exchange(this, req, res).start();
      } catch {
        // Nothing is allowed because something broke.
        sendError(req, res, 500, 'internal error\n');
      }
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** A renewed SVID: new connections present it; connections already open keep theirs. */
  setTls(tls: TlsMaterial): void {
    this.server.setSecureContext({ ca: tls.caPem, cert: tls.certPem, key: tls.keyPem });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    // close() waits for connections in the middle of a request: end them all.
    for (const s of this.open) s.destroy();
    this.upstream.close();
    await closed;
  }

  private readonly open = new Set<TLSSocket>();
  /** Connections accepted (Envoy's downstream_cx_total). */
  readonly stats = { connections: 0 };

  track(socket: TLSSocket): void {
    this.stats.connections++;
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
  }
}

/**
 * One request through the inbound side. A class, and callbacks passed inline: under tsx (how the
 * CLI runs) a closure given a name is wrapped in a defineProperty call each time it is made,
 * about 0.3 µs apiece, per request.
 */
class Exchange {
  private readonly conn: Connection;
  private readonly method: string;
  private readonly authority: string;
  private path = '';
  private stream: HttpStream | undefined;
  /** The stream ends once (the response ended, or the upstream failed). */
  private ended = false;

  constructor(
    private readonly inbound: Inbound,
    private readonly req: DownstreamRequest,
    private readonly res: DownstreamResponse,
  ) {
    this.conn = connectionOf(req);
    this.method = req.method ?? 'GET';
    this.authority = authorityOf(req);
  }

  private log(status: number, details: string, decision = ''): void {
    const c = this.conn;
    this.inbound.o.onRecord?.({
      time: new Date().toISOString(),
      peer: c.peer,
      method: this.method,
      authority: this.authority,
      path: this.req.url ?? '',
      status,
      details,
      decision,
    });
  }

  start(): void {
    const { req, res } = this;
    const o = this.inbound.o;
    // What Envoy's connection manager does before any filter (contracts/request-path.ts); `perimeter check` does the same.
    const path = connectionManagerPath(req.url ?? '/');
    if (!path.ok) {
      sendError(req, res, path.status, 'Bad Request\n');
      this.log(400, path.details);
      return;
    }
    this.path = path.path;
    // HTTP/2: a Host that names another authority than :authority makes the request malformed
    // (RFC 9113 §8.3.1); which one a rule read and which one the app saw must never differ.
    const host = req.headers.host;
    if (isHttp2(req) && host !== undefined && host !== this.authority) {
      sendError(req, res, 400, 'Bad Request\n');
      this.log(400, 'http2.host_authority_mismatch');
      return;
    }
    const headers = requestHeaders(req, this.method, path.path, this.authority);
    if (o.withoutFilter) {
      this.proxy(headers, undefined);
      return;
    }
    if (!o.policy.current) {
      this.noPolicy();
      return;
    }
    if (!o.jwt) {
      this.filter(this.conn.info, headers);
      return;
    }
    void o.jwt.verify(req.headers.authorization).then(
      (jwt) => {
        if (jwt.kind === 'rejected') {
          sendError(req, res, 401, 'Jwt verification fails\n', [['www-authenticate', 'Bearer realm="perimeter", error="invalid_token"']]);
          this.log(401, 'jwt_authn_access_denied{Jwt_verification_fails}');
          return;
        }
        const info =
          jwt.kind === 'verified'
            ? { ...this.conn.info, metadata: { [JWT_METADATA.filter]: { [JWT_METADATA.key]: jwt.payload as Record<string, unknown> } } }
            : this.conn.info;
        this.filter(info, headers);
      },
      () => sendError(req, res, 500, 'internal error\n'),
    );
  }

  /** As Envoy without the ECDS config and no default: nothing passes. */
  private noPolicy(): void {
    sendError(this.req, this.res, 500, 'perimeter: no policy received yet\n');
    this.log(500, 'filter_config_not_found');
  }

  /** The request through the module, then upstream if it continues. */
  private filter(info: StreamInfo, headers: readonly Header[]): void {
    const req = this.req;
    const current = this.inbound.o.policy.current;
    if (!current) {
      this.noPolicy();
      return;
    }
    const stream = current.plugin.newStream(info);
    this.stream = stream;
    const noBody = hasNoBody(req);
    // Off the wire: each character of Node's header strings is one byte, and reaches the module as that byte.
    const map = HeaderMap.of(headers, 'latin1');
    const outcome = stream.onRequestHeaders(map, noBody);
    if (outcome.action === 'LocalReply') {
      this.reject();
      return;
    }
    if (outcome.action === 'Continue' || noBody) {
      this.proxy(stream.requestHeaderMap === map ? headers : stream.requestHeaders, undefined);
      return;
    }
    // A module that stops on headers wants the body first (our filter never does; --wasm may).
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      if (stream.onRequestBody(Buffer.concat(chunks), true).action === 'LocalReply') this.reject();
      // What the module left of the body (it may rewrite it) is what goes upstream.
      else this.proxy(stream.requestHeaders, Buffer.from(stream.ctx.requestBody));
    });
  }

  /** The module's local reply (a 403 for a deny), passed through its response callbacks. */
  private reject(): void {
    const stream = this.stream as HttpStream;
    const reply = stream.localReply;
    if (!reply) throw new Error('a local reply outcome without a reply');
    sendLocalReply(this.req, this.res, reply, stream.replyHeaders?.filter(([k]) => k.startsWith('x-')) ?? []);
    this.ended = true;
    stream.finish();
    this.log(reply.status, reply.details, recordText(stream));
    stream.release();
    // An unread body is left to the connection (HTTP/1.1 discards it; HTTP/2 resets the stream).
    this.req.resume();
  }

  /** To the upstream app: what the module left of the request (all of it without a module). */
  private proxy(headers: readonly Header[], body: Buffer | undefined): void {
    const req = this.req;
    const upstream = this.inbound.upstream;
    const out = headerObject(headers.filter(([k]) => !sidecarSets(k)));
    // The peer identity as Envoy's XFCC (SANITIZE_SET); gRPC over HTTP/2 needs TE: trailers.
    if (this.conn.peer) out['x-forwarded-client-cert'] = `URI=${this.conn.peer}`;
    if (upstream.protocol === 'http2' && isGrpc(req)) out.te = 'trailers';
    const call = upstream.send(
      { method: this.method, path: this.path, authority: this.authority, headers: out },
      (up) => this.respond(up),
      () => {
        sendError(req, this.res, 503, 'upstream connect error\n');
        this.end(503, 'upstream_reset_before_response_started');
      },
    );
    // A caller that goes away (or whose body cannot be parsed) mid-request takes the upstream
    // request with it: nothing is left holding a connection to the app.
    req.once('close', () => {
      if (!req.complete) call.abort();
    });
    if (body) call.body.end(body);
    else req.pipe(call.body);
  }

  /** The app's response, through the module's response callbacks, back to the caller. */
  private respond(up: UpstreamResponse): void {
    const stream = this.stream;
    if (!stream) {
      relay(this.res, up, up.headers, undefined, (ok) =>
        this.end(up.status, ok ? 'via_upstream' : 'upstream_reset_after_response_started'),
      );
      return;
    }
    const o = stream.onResponseHeaders(HeaderMap.of(up.headers, 'latin1'), false);
    if (o.action === 'LocalReply' && o.localReply) {
      up.body.destroy();
      sendLocalReply(this.req, this.res, o.localReply);
      this.end(o.localReply.status, o.localReply.details);
      return;
    }
    relay(
      this.res,
      up,
      stream.responseHeaders,
      (t) => this.trailers(t),
      (ok) => this.end(up.status, ok ? 'via_upstream' : 'upstream_reset_after_response_started'),
    );
  }

  /** Response trailers (gRPC's status), through the module. */
  private trailers(t: readonly Header[]): readonly Header[] {
    const stream = this.stream;
    if (!stream || this.ended) return t;
    stream.onResponseTrailers(HeaderMap.of(t, 'latin1'));
    return stream.responseTrailers;
  }

  /** The end of the exchange: the stream finishes and is released (the plugin hands it to the next request), once. */
  private end(status: number, details: string): void {
    if (this.ended) return;
    this.ended = true;
    const stream = this.stream;
    stream?.finish();
    this.log(status, details, stream ? recordText(stream) : '');
    stream?.release();
  }
}

/**
 * The decision record as text. A workload's records repeat (the same rule, the same version),
 * so the last few are kept with their text, found again by their bytes.
 */
const recordCache: { bytes: Uint8Array; text: string }[] = [];
let recordNext = 0;

function recordText(stream: HttpStream): string {
  const raw = stream.filterState.get(DECISION_KEY);
  if (!raw) return '';
  for (const r of recordCache) {
    const b = r.bytes;
    if (b.length !== raw.length) continue;
    let j = 0;
    while (j < b.length && b[j] === raw[j]) j++;
    if (j === b.length) return r.text;
  }
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  if (raw.length <= 1024) {
    recordCache[recordNext] = { bytes: raw.slice(), text };
    recordNext = (recordNext + 1) % 8;
  }
  return text;
}

export function startInbound(o: InboundOptions, port: number, host = '127.0.0.1'): Promise<Inbound> {
  const limits = o.limits ?? CONNECTION_LIMITS;
  const server = createSecureServer({
    ca: o.tls.caPem,
    cert: o.tls.certPem,
    key: o.tls.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    // HTTP/2 or HTTP/1.1, by ALPN.
    allowHTTP1: true,
    // A stream past this many in flight on one connection is refused (RST_STREAM REFUSED_STREAM).
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
    // A connection that never finishes its handshake is closed.
    handshakeTimeout: limits.handshakeTimeoutMs,
  });
  // HTTP/1.1 connections: the request headers within their bound, the whole request within
  // Node's default (never less), and kept alive while idle up to the idle timeout.
  // (With allowHTTP1 an HTTP/2 server takes these HTTP/1.1 settings; Node's types omit them.)
  Object.assign(server, {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: Math.max(300_000, limits.headersTimeoutMs),
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  });
  // Idle connections (and HTTP/2 sessions) are closed; past the limit new ones are refused, as
  // Envoy's connection_limit filter does.
  server.setTimeout(limits.idleTimeoutMs);
  server.maxConnections = limits.maxConnections;
  const inbound = new Inbound(server, o);
  server.on('secureConnection', (s: TLSSocket) => inbound.track(s));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(inbound));
  });
}
