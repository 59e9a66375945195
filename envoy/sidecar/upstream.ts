/**
 * Upstream connections, as an Envoy cluster holds them: HTTP/1.1 over kept-alive connections,
 * or HTTP/2 over one multiplexed session that is opened again when it goes away. Cleartext to
 * the local app, or mTLS with the workload's SVID to a peer that must present its SPIFFE ID.
 * A request is sent as (method, path, authority, headers) with its body piped in; the response
 * comes back as a status, headers, a body stream and, at its end, trailers.
 */
import { Agent, type ClientRequest, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect as h2connect,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type SecureClientSessionOptions,
} from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import type { Header } from '../host/host.js';
import { notForwarded } from './hop-by-hop.js';

export type UpstreamProtocol = 'http1' | 'http2';

export interface UpstreamRequest {
  method: string;
  path: string;
  authority: string;
  /** Lower-case names, no pseudo-headers, no hop-by-hop headers. */
  headers: OutgoingHttpHeaders;
}

export interface UpstreamResponse {
  status: number;
  /** Lower-case names, no pseudo-headers, no hop-by-hop headers. */
  headers: Header[];
  body: Readable;
  /** Called once, when the body has ended, with its trailers (none: an empty list). */
  onTrailers(cb: (trailers: readonly Header[]) => void): void;
}

export interface UpstreamCall {
  /** Where the request body goes (end it, or pipe the caller's body into it). */
  readonly body: Writable;
  /** Gives up on the request (the caller went away). */
  abort(): void;
}

export interface Upstream {
  readonly protocol: UpstreamProtocol;
  send(req: UpstreamRequest, onResponse: (res: UpstreamResponse) => void, onError: (e: Error) => void): UpstreamCall;
  close(): void;
}

/**
 * Pairs of a raw header list (Node's [k, v, k, v, …]), names lower-cased, those `skip` names
 * (hop-by-hop and pseudo-headers) left out, appended to `out`.
 */
export function forwardable(raw: readonly string[], skip: (name: string) => boolean = notForwarded, out: Header[] = []): Header[] {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = (raw[i] as string).toLowerCase();
    if (skip(k)) continue;
    out.push([k, raw[i + 1] as string]);
  }
  return out;
}

/** Headers as Node sends them: a repeated name becomes a list (set-cookie, …). */
export function headerObject(pairs: readonly Header[], into: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  for (const [k, v] of pairs) {
    const prev = into[k];
    into[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
  }
  return into;
}

// Per-request objects here are classes, and callbacks are passed inline: under tsx (how the CLI
// runs) a closure given a name (a const, an object-literal property) is wrapped in a
// defineProperty call each time it is made, which costs a request about 0.3 µs apiece.

class Http1Response implements UpstreamResponse {
  readonly status: number;
  readonly headers: Header[];
  constructor(readonly body: IncomingMessage) {
    this.status = body.statusCode ?? 502;
    this.headers = forwardable(body.rawHeaders);
  }
  onTrailers(cb: (trailers: readonly Header[]) => void): void {
    const res = this.body;
    res.once('end', () => cb(forwardable(res.rawTrailers)));
  }
}

class Http1Call implements UpstreamCall {
  constructor(readonly body: ClientRequest) {}
  abort(): void {
    this.body.destroy();
  }
}

/** HTTP/1.1 to host:port over kept-alive connections. */
export class Http1Upstream implements Upstream {
  readonly protocol = 'http1';
  private readonly agent = new Agent({ keepAlive: true, scheduling: 'lifo' });

  constructor(private readonly target: { host: string; port: number }) {}

  send(req: UpstreamRequest, onResponse: (res: UpstreamResponse) => void, onError: (e: Error) => void): UpstreamCall {
    const r: ClientRequest = httpRequest(
      {
        host: this.target.host,
        port: this.target.port,
        method: req.method,
        path: req.path,
        headers: { ...req.headers, host: req.authority },
        agent: this.agent,
      },
      (res: IncomingMessage) => onResponse(new Http1Response(res)),
    );
    r.on('error', onError);
    return new Http1Call(r);
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * HTTP/2 to an authority (`http://host:port` in cleartext, prior knowledge, or `https://…` with
 * TLS options) over one session, opened on first use and again after it closes or goes away.
 * New sessions take the TLS options current then (an SVID renewed meanwhile).
 */
export class Http2Upstream implements Upstream {
  readonly protocol = 'http2';
  private session: ClientHttp2Session | undefined;

  constructor(
    private readonly origin: string,
    private tls: () => SecureClientSessionOptions | undefined = () => undefined,
  ) {}

  private open(): ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    const s = h2connect(this.origin, this.tls() ?? {});
    const forget = () => {
      if (this.session === s) this.session = undefined;
    };
    s.on('close', forget);
    s.on('goaway', forget);
    // A session that fails fails its streams (each reports its own error); nothing else to do.
    s.on('error', forget);
    // The session must not keep the process alive on its own.
    s.unref();
    this.session = s;
    return s;
  }

  send(req: UpstreamRequest, onResponse: (res: UpstreamResponse) => void, onError: (e: Error) => void): UpstreamCall {
    let stream: ClientHttp2Stream;
    try {
      stream = this.open().request({ ...req.headers, ':method': req.method, ':path': req.path, ':authority': req.authority });
    } catch (e) {
      this.session = undefined;
      throw e;
    }
    const response = new Http2Response(stream);
    stream.on('trailers', (t: IncomingHttpHeaders) => response.setTrailers(t));
    stream.on('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => onResponse(response.start(h)));
    stream.on('error', onError);
    return new Http2Call(stream);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

class Http2Response implements UpstreamResponse {
  status = 502;
  headers: Header[] = [];
  private trailers: Header[] = [];
  constructor(readonly body: ClientHttp2Stream) {}
  start(h: IncomingHttpHeaders & IncomingHttpStatusHeader): this {
    this.status = Number(h[':status'] ?? 502);
    this.headers = forwardable(rawOf(h));
    return this;
  }
  setTrailers(t: IncomingHttpHeaders): void {
    this.trailers = forwardable(rawOf(t));
  }
  onTrailers(cb: (trailers: readonly Header[]) => void): void {
    this.body.once('end', () => cb(this.trailers));
  }
}

class Http2Call implements UpstreamCall {
  constructor(readonly body: ClientHttp2Stream) {}
  abort(): void {
    this.body.close();
  }
}

/** An HTTP/2 header object as a raw list (a list value as one entry each). */
function rawOf(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const k of Object.keys(h)) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(k, x);
    else out.push(k, String(v));
  }
  return out;
}
