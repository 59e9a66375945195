/**
 * The inbound side of the local sidecar: mTLS that requires a client certificate from the mesh
 * CA, the connection manager's path handling, then every request through the Proxy-Wasm module
 * (as Envoy runs it) and, if it continues, to the upstream app (HTTP/1.1). The module's decision
 * record is handed to `onRecord` for the access log.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { CONNECTION_LIMITS, type ConnectionLimits } from '../../contracts/connection-limits.js';
import { DECISION_KEY } from '../../contracts/decision-record.js';
import { JWT_METADATA } from '../../contracts/jwt.js';
import { connectionManagerPath } from '../../contracts/request-path.js';
import { uriSans } from '../../contracts/svid.js';
import { type Header, HeaderMap, type HttpStream, type LocalReply, type StreamInfo } from '../host/host.js';
import { HOP_BY_HOP } from './hop-by-hop.js';
import type { JwtVerifier } from './jwt.js';
import type { PolicyHolder } from './policy-holder.js';

export interface InboundOptions {
  tls: { caPem: string; certPem: string; keyPem: string };
  upstream: { host: string; port: number };
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

/** Per connection, not per request: parsing the peer certificate costs as much as a small request. */
const peers = new WeakMap<TLSSocket, string | undefined>();

function peerIdentity(req: IncomingMessage): string | undefined {
  const socket = req.socket as TLSSocket;
  if (peers.has(socket)) return peers.get(socket);
  // Envoy's connection.uri_san_peer_certificate: the first URI SAN.
  const uri = uriSans(socket.getPeerCertificate?.())[0];
  peers.set(socket, uri);
  return uri;
}

function reply(res: ServerResponse, r: LocalReply, extra: Header[] = []): void {
  res.statusCode = r.status;
  for (const [k, v] of [...r.headers, ...extra]) if (!k.startsWith(':')) res.setHeader(k, v);
  res.end(Buffer.from(r.body));
}

export function startInbound(o: InboundOptions, port: number, host = '127.0.0.1'): Promise<Server> {
  const limits = o.limits ?? CONNECTION_LIMITS;
  const server = createServer(
    {
      ca: o.tls.caPem,
      cert: o.tls.certPem,
      key: o.tls.keyPem,
      requestCert: true,
      rejectUnauthorized: true,
      // A connection that never finishes its handshake, or its request headers, is closed.
      handshakeTimeout: limits.handshakeTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      // The whole request, body included, within Node's default (and never less than the headers' bound).
      requestTimeout: Math.max(300_000, limits.headersTimeoutMs),
      keepAliveTimeout: limits.idleTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    (req, res) => {
      void handle(o, req, res).catch(() => {
        // Nothing is allowed because something broke.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
      });
    },
  );
  // Idle connections (nothing sent for this long, including after the handshake) are closed,
  // and past the limit new connections are refused, as Envoy's connection_limit filter does.
  server.setTimeout(limits.idleTimeoutMs);
  server.maxConnections = limits.maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function handle(o: InboundOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const peer = peerIdentity(req);
  const log = (status: number, details: string, decision = '') =>
    o.onRecord?.({
      time: new Date().toISOString(),
      peer,
      method: req.method ?? '',
      authority: req.headers.host ?? '',
      path: req.url ?? '',
      status,
      details,
      decision,
    });
  // What Envoy's connection manager does before any filter (contracts/request-path.ts); `perimeter check` does the same.
  const path = connectionManagerPath(req.url ?? '/');
  if (!path.ok) {
    res.writeHead(path.status, { 'content-type': 'text/plain' }).end('Bad Request\n');
    log(400, path.details);
    return;
  }
  if (o.withoutFilter) return proxy(o, req, res, path.path, peer, undefined, log);
  const current = o.policy.current;
  if (!current) {
    // As Envoy without the ECDS config and no default: nothing passes.
    res.writeHead(500, { 'content-type': 'text/plain' }).end('perimeter: no policy received yet\n');
    log(500, 'filter_config_not_found');
    return;
  }
  const headers: Header[] = [
    [':method', req.method ?? 'GET'],
    [':path', path.path],
    [':authority', req.headers.host ?? ''],
    [':scheme', 'https'],
  ];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = (req.rawHeaders[i] as string).toLowerCase();
    // Host is already :authority.
    if (!HOP_BY_HOP.has(k) && k !== 'host' && k !== 'x-forwarded-client-cert') headers.push([k, req.rawHeaders[i + 1] as string]);
  }
  let claims: Record<string, unknown> | undefined;
  if (o.jwt) {
    const jwt = await o.jwt.verify(req.headers.authorization);
    if (jwt.kind === 'rejected') {
      res
        .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="perimeter", error="invalid_token"' })
        .end('Jwt verification fails\n');
      log(401, 'jwt_authn_access_denied{Jwt_verification_fails}');
      return;
    }
    if (jwt.kind === 'verified') claims = jwt.payload as Record<string, unknown>;
  }
  const socket = req.socket as TLSSocket;
  const info: StreamInfo = {
    ...(claims ? { metadata: { [JWT_METADATA.filter]: { [JWT_METADATA.key]: claims } } } : {}),
    connection: {
      ...(peer ? { uriSanPeerCertificate: peer } : {}),
      tlsVersion: socket.getProtocol?.() ?? 'TLSv1.3',
      mtls: peer !== undefined,
    },
    source: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    destination: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
    protocol: req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1',
  };
  const stream = current.plugin.newStream(info);
  const record = () => Buffer.from(stream.filterState.get(DECISION_KEY) ?? new Uint8Array()).toString('utf8');
  const noBody =
    req.headers['content-length'] === '0' || (req.headers['content-length'] === undefined && !req.headers['transfer-encoding']);
  // Off the wire: each character of Node's header strings is one byte, and reaches the module as that byte.
  let outcome: { action: string; localReply?: LocalReply } = stream.onRequestHeaders(HeaderMap.of(headers, 'latin1'), noBody);
  // A module that stops on headers wants the body first (our filter never does; --wasm may).
  let body: Buffer | undefined;
  if (outcome.action !== 'Continue' && outcome.action !== 'LocalReply' && !noBody) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    outcome = stream.onRequestBody(Buffer.concat(chunks), true);
    // What the module left of the body (it may rewrite it) is what goes upstream.
    body = Buffer.from(stream.ctx.requestBody);
  }
  if (outcome.action === 'LocalReply' && outcome.localReply) {
    reply(res, outcome.localReply, stream.replyHeaders?.filter(([k]) => k.startsWith('x-')) ?? []);
    stream.finish();
    log(outcome.localReply.status, outcome.localReply.details, record());
    stream.release();
    return;
  }
  proxy(o, req, res, path.path, peer, { stream, record, body }, log);
}

type Log = (status: number, details: string, decision?: string) => void;

/** To the upstream app: what the module left of the request (all of it without a module). */
function proxy(
  o: InboundOptions,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  peer: string | undefined,
  filtered: { stream: HttpStream; record: () => string; body: Buffer | undefined } | undefined,
  log: Log,
): void {
  const stream = filtered?.stream;
  const record = filtered?.record ?? (() => '');
  const body = filtered?.body;
  // The stream ends once (the response ended, or the upstream failed): after release() the
  // plugin hands it to the next request, so a late event must not touch it.
  let ended = false;
  const end = (status: number, details: string) => {
    if (ended) return;
    ended = true;
    stream?.finish();
    log(status, details, record());
    stream?.release();
  };
  // Forward the request headers, with the peer identity as Envoy's XFCC (SANITIZE_SET).
  const forward: Record<string, string | string[]> = {};
  const pairs: readonly Header[] = stream ? stream.requestHeaders : rawPairs(req);
  for (const [k, v] of pairs) {
    if (k.startsWith(':') || HOP_BY_HOP.has(k) || k === 'host' || k === 'x-forwarded-client-cert') continue;
    const prev = forward[k];
    forward[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  if (peer) forward['x-forwarded-client-cert'] = `URI=${peer}`;
  const up = httpRequest(
    {
      host: o.upstream.host,
      port: o.upstream.port,
      method: req.method,
      path,
      headers: { ...forward, host: req.headers.host ?? '' },
    },
    (upRes) => {
      const h: Header[] = [[':status', String(upRes.statusCode ?? 502)]];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2)
        h.push([(upRes.rawHeaders[i] as string).toLowerCase(), upRes.rawHeaders[i + 1] as string]);
      stream?.onResponseHeaders(HeaderMap.of(h, 'latin1'), false);
      res.statusCode = upRes.statusCode ?? 502;
      for (const [k, v] of stream ? stream.responseHeaders : h) if (!k.startsWith(':') && !HOP_BY_HOP.has(k)) res.setHeader(k, v);
      upRes.pipe(res);
      upRes.on('end', () => end(res.statusCode, 'via_upstream'));
    },
  );
  // A caller that goes away (or whose body cannot be parsed) mid-request takes the upstream
  // request with it: nothing is left holding a connection to the app.
  req.on('close', () => {
    if (!req.complete) up.destroy();
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream connect error\n');
    end(503, 'upstream_reset_before_response_started');
  });
  if (body) up.end(body);
  else req.pipe(up);
}

function rawPairs(req: IncomingMessage): Header[] {
  const out: Header[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    out.push([(req.rawHeaders[i] as string).toLowerCase(), req.rawHeaders[i + 1] as string]);
  return out;
}
