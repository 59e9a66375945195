/**
 * The outbound side of the local sidecar: the app sends plain HTTP to loopback; the sidecar picks
 * the destination by Host (a workload name, as in the Envoy bootstrap's outbound routes) and
 * originates mTLS with the workload's SVID, accepting only a peer that presents the destination's
 * SPIFFE ID. An unknown destination gets 404, as Envoy's "no route".
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { uriSans } from '../../contracts/svid.js';
import { HOP_BY_HOP } from './hop-by-hop.js';

export interface OutboundPeer {
  name: string;
  namespace: string;
  identity: string;
  host: string;
  port: number;
}

export interface OutboundOptions {
  tls: { caPem: string; certPem: string; keyPem: string };
  peers: readonly OutboundPeer[];
}

export function routeFor(peers: readonly OutboundPeer[], hostHeader: string | undefined): OutboundPeer | undefined {
  const host = (hostHeader ?? '').replace(/:\d+$/, '').toLowerCase();
  return peers.find((p) => host === p.name || host === `${p.name}.${p.namespace}` || host.startsWith(`${p.name}.${p.namespace}.svc`));
}

export function startOutbound(o: OutboundOptions, port: number): Promise<Server> {
  const server = createServer((req, res) => forward(o, req, res));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function forward(o: OutboundOptions, req: IncomingMessage, res: ServerResponse): void {
  const peer = routeFor(o.peers, req.headers.host);
  if (!peer) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route to ${req.headers.host ?? '(no Host)'}\n`);
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  const up = httpsRequest(
    {
      host: peer.host,
      port: peer.port,
      method: req.method,
      path: req.url,
      headers,
      ca: o.tls.caPem,
      cert: o.tls.certPem,
      key: o.tls.keyPem,
      servername: peer.name,
      // The destination is whoever presents its SPIFFE ID, not whoever answers at the address.
      checkServerIdentity: (_h: string, cert: PeerCertificate) =>
        uriSans(cert).includes(peer.identity)
          ? undefined
          : new Error(`${peer.name} presented ${uriSans(cert).join(', ') || 'no SPIFFE ID'}, expected ${peer.identity}`),
      agent: false,
    },
    (upRes) => {
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) h[k] = v;
      res.writeHead(upRes.statusCode ?? 502, h);
      upRes.pipe(res);
    },
  );
  up.on('error', (e) => {
    if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' }).end(`upstream connect error: ${e.message}\n`);
  });
  req.pipe(up);
}
