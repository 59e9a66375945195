/**
 * A gRPC server for protobuf-es services: keepalive and connection age bounded, channelz off, mTLS
 * with a certificate that can be rotated while serving (credentials.ts), and the few things a
 * handler does to a call (fail it with a status, send headers early, read the peer certificate).
 */
import type { PeerCertificate } from 'node:tls';
import type { DescService } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from './codec.js';
import { SvidServerCredentials } from './credentials.js';

export type DuplexCall = grpc.ServerDuplexStream<object, object>;
export type ReadableCall<Req> = grpc.ServerReadableStream<Req, object>;
export type UnaryCall<Req, Res> = grpc.ServerUnaryCall<Req, Res>;
export type Reply<Res> = grpc.sendUnaryData<Res>;
export type Handlers = grpc.UntypedServiceImplementation;

/** What identifies a call: its peer address and, over mTLS, the verified client certificate. */
export interface CallPeer {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
  getPeer(): string;
}

export interface ServerTlsPems {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface RpcServerOptions {
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  maxConnectionAgeMs?: number;
}

export class RpcServer {
  private readonly server: grpc.Server;
  private credentials: SvidServerCredentials | undefined;

  constructor(o: RpcServerOptions = {}) {
    this.server = new grpc.Server({
      'grpc.keepalive_time_ms': o.keepaliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? 10_000,
      'grpc.max_connection_age_ms': o.maxConnectionAgeMs ?? 30 * 60_000,
      'grpc.max_connection_age_grace_ms': 10_000,
      // Channelz keeps per-call traces nobody reads here: memory and CPU on every stream.
      'grpc.enable_channelz': 0,
    });
  }

  /** Handlers by method name, as in the .proto. */
  addService(service: DescService, handlers: Handlers): void {
    this.server.addService(serviceDefinition(service), handlers);
  }

  /** Binds `host:port` (port 0 picks one), over mTLS when `tls` is given, and returns the port. */
  listen(address: string, tls: ServerTlsPems | undefined): Promise<number> {
    if (tls) this.credentials = new SvidServerCredentials(tls.caPem, tls.certPem, tls.keyPem);
    const creds = this.credentials ?? grpc.ServerCredentials.createInsecure();
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  /** A new certificate for connections made from now on; open ones keep theirs. */
  rotate(certPem: string, keyPem: string): void {
    if (!this.credentials) throw new Error('rotate: the server has no TLS');
    this.credentials.rotate(certPem, keyPem);
  }

  /** Waits up to `graceMs` for calls to finish, then closes every connection. */
  async stop(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Ends a streaming call with `code`, unless it has ended already. */
export function failCall(call: DuplexCall, code: grpc.status, details: string): void {
  if (call.destroyed || call.writableEnded) return;
  call.emit('error', Object.assign(new Error(details), { code, details }));
}

/** Response headers now, not with the first message: a client whose state is current learns it is connected. */
export function sendHeaders(call: DuplexCall): void {
  call.sendMetadata(new grpc.Metadata());
}
