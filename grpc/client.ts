/**
 * A channel to the control server for one of its services, as a sidecar dials it: mTLS with the
 * workload's SVID when `tls` is given, keepalive on, and the server's TLS name fixed (SNI must be
 * a name, not an address; the SPIFFE ID check in credentials.ts is what matters).
 */
import type { DescService } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { CONTROL_SERVER_NAME } from '../contracts/control-identity.js';
import { clientConstructor } from './codec.js';
import { type ClientTls, svidCredentials } from './credentials.js';

export type Client = grpc.Client;
export type ChannelOptions = grpc.ChannelOptions;
export type CallStatus = grpc.StatusObject;
export type ClientDuplex<Req, Res> = grpc.ClientDuplexStream<Req, Res>;
export type ClientWritable<Req> = grpc.ClientWritableStream<Req>;

/** Built once per service: every channel to it uses the same constructor. */
const constructors = new Map<DescService, grpc.ServiceClientConstructor>();

export function dial(service: DescService, address: string, tls: ClientTls | undefined, options: ChannelOptions = {}): Client {
  let Ctor = constructors.get(service);
  if (!Ctor) {
    Ctor = clientConstructor(service);
    constructors.set(service, Ctor);
  }
  return new Ctor(address, tls ? svidCredentials(tls) : grpc.credentials.createInsecure(), {
    'grpc.keepalive_time_ms': 30_000,
    ...(tls ? { 'grpc.ssl_target_name_override': CONTROL_SERVER_NAME } : {}),
    ...options,
  });
}

/** Opens a client-streaming call by its method name (as in the .proto); the reply is ignored. */
export function clientStream<Req>(client: Client, method: string): ClientWritable<Req> | undefined {
  const open = (client as unknown as Record<string, (cb: (e: grpc.ServiceError | null) => void) => ClientWritable<Req>>)[method];
  return open?.call(client, () => {});
}

/** Opens a bidirectional call by its method name. */
export function bidiStream<Req, Res>(client: Client, method: string): ClientDuplex<Req, Res> {
  const open = (client as unknown as Record<string, () => ClientDuplex<Req, Res>>)[method];
  if (!open) throw new Error(`the service has no method ${method}`);
  return open.call(client);
}

/**
 * A client's channels to each control-server replica, made again when the SVID is renewed. The
 * channel carrying the open stream is not closed under it: it is kept, and closed once that
 * stream ends (streamEnded); every other old channel is closed at once.
 */
export class ClientRenewal {
  private retiring: Client | undefined;

  /** Puts `remake(i)` in each slot of `clients` (undefined: dialled on next use); `live` is the slot of the open stream, -1 if none. */
  renew<C extends Client | undefined>(clients: C[], live: number, remake: (i: number) => C): void {
    for (let i = 0; i < clients.length; i++) {
      const old = clients[i];
      clients[i] = remake(i);
      if (!old) continue;
      if (i === live) {
        this.retiring?.close();
        this.retiring = old;
      } else old.close();
    }
  }

  /** The stream that was open at a renewal ended (or the client closed): its old channel goes. */
  streamEnded(): void {
    this.retiring?.close();
    this.retiring = undefined;
  }
}
