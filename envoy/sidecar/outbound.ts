/**
 * The outbound side of the local sidecar: the app speaks plain HTTP/1.1, or HTTP/2 with prior
 * knowledge (gRPC), to loopback; the sidecar picks the destination by Host / :authority (a
 * workload name, as in the Envoy bootstrap's outbound routes) and carries the request over
 * HTTP/2 with mTLS and the workload's SVID, one multiplexed session per destination, accepting
 * only a peer that presents the destination's SPIFFE ID. An unknown destination gets 404, as
 * Envoy's "no route".
 */
import type { Server, Socket } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { uriSans } from '../../contracts/svid.js';
import { authorityOf, type DownstreamRequest, type DownstreamResponse, isGrpc, listenCleartext, relay, sendError } from './downstream.js';
import { notForwarded } from './hop-by-hop.js';
import type { TlsMaterial } from './svid.js';
import { forwardable, Http2Upstream, headerObject } from './upstream.js';

export interface OutboundPeer {
  name: string;
  namespace: string;
  identity: string;
  host: string;
  port: number;
}

export interface OutboundOptions {
  tls: TlsMaterial;
  peers: readonly OutboundPeer[];
  /** How long a new connection may take to show its protocol (absent: SNIFF_TIMEOUT_MS). */
  sniffTimeoutMs?: number;
}

export function routeFor(peers: readonly OutboundPeer[], hostHeader: string | undefined): OutboundPeer | undefined {
  const host = (hostHeader ?? '').replace(/:\d+$/, '').toLowerCase();
  return peers.find((p) => host === p.name || host === `${p.name}.${p.namespace}` || host.startsWith(`${p.name}.${p.namespace}.svc`));
}

/** What the app's request does not carry on to the peer: Host goes as :authority. */
function notForwardedOut(name: string): boolean {
  return notForwarded(name) || name === 'host';
}

export class Outbound {
  private tls: TlsMaterial;
  private readonly pools = new Map<string, Http2Upstream>();
  private readonly open = new Set<Socket>();

  constructor(
    readonly server: Server,
    private readonly peers: readonly OutboundPeer[],
    tls: TlsMaterial,
  ) {
    this.tls = tls;
    server.on('connection', (s: Socket) => {
      this.open.add(s);
      s.once('close', () => this.open.delete(s));
    });
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** A renewed SVID: sessions opened from now on present it; open ones keep theirs. */
  setTls(tls: TlsMaterial): void {
    this.tls = tls;
  }

  private pool(peer: OutboundPeer): Http2Upstream {
    let p = this.pools.get(peer.name);
    if (!p) {
      p = new Http2Upstream(`https://${peer.host}:${peer.port}`, () => ({
        ca: this.tls.caPem,
        cert: this.tls.certPem,
        key: this.tls.keyPem,
        servername: peer.name,
        ALPNProtocols: ['h2'],
        // The destination is whoever presents its SPIFFE ID, not whoever answers at the address.
        checkServerIdentity: (_h: string, cert: PeerCertificate) =>
          uriSans(cert).includes(peer.identity)
            ? undefined
            : new Error(`${peer.name} presented ${uriSans(cert).join(', ') || 'no SPIFFE ID'}, expected ${peer.identity}`),
      }));
      this.pools.set(peer.name, p);
    }
    return p;
  }

  handle(req: DownstreamRequest, res: DownstreamResponse): void {
    const authority = authorityOf(req);
    const peer = routeFor(this.peers, authority);
    if (!peer) {
      sendError(req, res, 404, `no route to ${authority || '(no Host)'}\n`);
      return;
    }
    const headers = headerObject(forwardable(req.rawHeaders, notForwardedOut));
    if (isGrpc(req)) headers.te = 'trailers';
    const call = this.pool(peer).send(
      { method: req.method ?? 'GET', path: req.url ?? '/', authority, headers },
      (up) => relay(res, up, up.headers, undefined, () => {}),
      (e) => sendError(req, res, 503, `upstream connect error: ${e.message}\n`),
    );
    req.once('close', () => {
      if (!req.complete) call.abort();
    });
    req.pipe(call.body);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.open) s.destroy();
    for (const p of this.pools.values()) p.close();
    await closed;
  }
}

export function startOutbound(o: OutboundOptions, port: number): Promise<Outbound> {
  let outbound: Outbound | undefined;
  const server = listenCleartext((req, res) => outbound?.handle(req, res), o.sniffTimeoutMs);
  outbound = new Outbound(server, o.peers, o.tls);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(outbound as Outbound));
  });
}
