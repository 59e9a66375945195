/**
 * Server credentials whose certificate can be replaced while serving. SVIDs are short-lived, and
 * a control server outlives its own; grpc-js applies a new secure context to new connections
 * through the watcher hook of ServerCredentials. Client certificates must chain to the mesh CA.
 */
import * as grpc from '@grpc/grpc-js';

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
