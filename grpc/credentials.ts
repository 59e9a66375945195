/**
 * mTLS with SVIDs on both ends. Server credentials whose certificate can be replaced while
 * serving: SVIDs are short-lived, and a control server outlives its own; grpc-js applies a new
 * secure context to new connections through the watcher hook of ServerCredentials. Client
 * certificates must chain to the mesh CA. A client presents its workload's SVID and checks the
 * server's SPIFFE ID.
 */
import { checkServerIdentity as defaultCheck } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { uriSans } from '../contracts/svid.js';

export interface ClientTls {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** The SPIFFE ID the server must present (exact), or `spiffe://<td>` for any ID in the trust domain. */
  serverId: string;
}

/** mTLS with the workload's SVID; the server must present `serverId` (or any ID of the trust domain `spiffe://<td>`). */
export function svidCredentials(t: ClientTls): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(t.caPem), Buffer.from(t.keyPem), Buffer.from(t.certPem), {
    checkServerIdentity: (host, cert) => {
      const ids = uriSans(cert).filter((u) => u.startsWith('spiffe://'));
      const ok = /^spiffe:\/\/[^/]+$/.test(t.serverId) ? ids.some((i) => i.startsWith(`${t.serverId}/`)) : ids.includes(t.serverId);
      if (ok) return undefined;
      // Not a SPIFFE match: fall back to the hostname check for certificates made for DNS names.
      return ids.length ? new Error(`control server presented ${ids.join(', ')}, expected ${t.serverId}`) : defaultCheck(host, cert);
    },
  });
}

export class SvidServerCredentials extends grpc.ServerCredentials {
  constructor(
    private readonly caPem: string,
    certPem: string,
    keyPem: string,
  ) {
    super({ requestCert: true, rejectUnauthorized: true }, { ca: caPem, cert: certPem, key: keyPem });
  }

  rotate(certPem: string, keyPem: string): void {
    this.updateSecureContextOptions({ ca: this.caPem, cert: certPem, key: keyPem });
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
