/**
 * The xDS services on the gRPC layer (grpc/server.ts): ADS (SotW and Delta), the standalone
 * ECDS service and the access-log service, over mTLS with the mesh CA. Each stream is bound to the SPIFFE ID of its client
 * certificate and reads only that node's snapshot; a node.id that says otherwise is refused.
 * With `insecure` (local development only) node.id is trusted instead.
 */

import { create } from '@bufbuild/protobuf';
import { reasonOf } from '../../contracts/problem.js';
import { MAX_SPIFFE_ID_LENGTH } from '../../contracts/spiffe.js';
import { spiffeIdOf } from '../../contracts/svid.js';
import { TYPE } from '../../contracts/type-urls.js';
import {
  type CallPeer,
  type DuplexCall,
  failCall,
  type ReadableCall,
  type Reply,
  RpcServer,
  sendHeaders,
  type UnaryCall,
} from '../../grpc/server.js';
import { Status } from '../../grpc/status.js';
import { AccessLogService, type StreamAccessLogsMessage } from '../../proto/gen/envoy/service/accesslog/v3/als_pb.js';
import { AggregatedDiscoveryService } from '../../proto/gen/envoy/service/discovery/v3/ads_pb.js';
import {
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { ExtensionConfigDiscoveryService } from '../../proto/gen/envoy/service/extension/v3/config_discovery_pb.js';
import { serveAccessLogs } from './access-logs.js';
import { setVersion } from './cache.js';
import { DeltaSession } from './delta.js';
import { PushQueue } from './push-queue.js';
import { DEFAULT_STREAMS_PER_IDENTITY, type Logger, type ServerEvents, type XdsServerOptions } from './server-options.js';
import { type Session, StreamError, type StreamInfo } from './session.js';
import { SotwSession } from './sotw.js';

const silent: Logger = { info() {}, warn() {}, error() {} };

export class XdsServer {
  readonly streams = new Map<number, StreamInfo>();
  /** Open streams by identity, for the per-identity bound (a stream opens without walking them all). */
  private readonly perIdentity = new Map<string, number>();
  private readonly calls = new Map<number, DuplexCall>();
  private readonly server: RpcServer;
  private nextId = 0;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly events: ServerEvents;
  /** Counts the pushes, ACKs, NACKs, connects and disconnects: what a stream holds changes only with one. */
  changes = 0;
  private stopping = false;
  private readonly queue = new PushQueue();

  constructor(private readonly opts: XdsServerOptions) {
    this.log = opts.log ?? silent;
    this.now = opts.now ?? Date.now;
    const noop = () => {};
    const e: ServerEvents = {
      push: noop,
      ack: noop,
      nack: noop,
      staleNonce: noop,
      unservedType: noop,
      connect: noop,
      disconnect: noop,
      refused: noop,
      ...opts.events,
    };
    // What a stream holds changes only with these: `changes` tells readers of status when to look again.
    const counted = <K extends 'push' | 'ack' | 'nack' | 'connect' | 'disconnect'>(k: K): ServerEvents[K] => {
      const f = e[k] as (...a: unknown[]) => void;
      return ((...a: unknown[]) => {
        this.changes++;
        f(...a);
      }) as ServerEvents[K];
    };
    this.events = {
      ...e,
      push: counted('push'),
      ack: counted('ack'),
      nack: counted('nack'),
      connect: counted('connect'),
      disconnect: counted('disconnect'),
    };
    this.server = new RpcServer({
      ...(opts.keepaliveTimeMs !== undefined ? { keepaliveTimeMs: opts.keepaliveTimeMs } : {}),
      ...(opts.keepaliveTimeoutMs !== undefined ? { keepaliveTimeoutMs: opts.keepaliveTimeoutMs } : {}),
      ...(opts.maxConnectionAgeMs !== undefined ? { maxConnectionAgeMs: opts.maxConnectionAgeMs } : {}),
    });
    this.server.addService(AggregatedDiscoveryService, {
      StreamAggregatedResources: (call: DuplexCall) => this.serve(call, 'sotw', 'ads'),
      DeltaAggregatedResources: (call: DuplexCall) => this.serve(call, 'delta', 'ads'),
    });
    this.server.addService(ExtensionConfigDiscoveryService, {
      StreamExtensionConfigs: (call: DuplexCall) => this.serve(call, 'sotw', 'ecds', TYPE.extensionConfig),
      DeltaExtensionConfigs: (call: DuplexCall) => this.serve(call, 'delta', 'ecds', TYPE.extensionConfig),
      FetchExtensionConfigs: (call: UnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: Reply<DiscoveryResponse>) => this.fetch(call, cb),
    });
    const sink = opts.accessLogs;
    if (sink)
      this.server.addService(AccessLogService, {
        StreamAccessLogs: (call: ReadableCall<StreamAccessLogsMessage>, cb: Reply<object>) =>
          serveAccessLogs(call, cb, sink, {
            identify: (c, nodeId) => this.identify(c, nodeId),
            refuse: (c, err) => this.refuse(c, err),
          }),
      });
  }

  get secure(): boolean {
    return this.opts.tls !== undefined;
  }

  /** Binds `host:port` (port 0 picks one) and returns the port. */
  listen(address: string): Promise<number> {
    return this.server.listen(address, this.opts.tls);
  }

  /**
   * Serves a new certificate (a renewed SVID of the control server) to connections made from
   * now on; streams already open keep theirs until they reconnect.
   */
  rotate(certPem: string, keyPem: string): void {
    this.server.rotate(certPem, keyPem);
  }

  /** Ends every stream with UNAVAILABLE (clients reconnect elsewhere or later), then closes. */
  async stop(graceMs = 2_000): Promise<void> {
    this.stopping = true;
    for (const call of this.calls.values()) failCall(call, Status.UNAVAILABLE, 'the control server is shutting down');
    await this.server.stop(graceMs);
  }

  /** The identity a call may act as, or why it may not. */
  private identify(call: CallPeer, nodeId: string): string | StreamError {
    const t = this.opts.tls;
    if (!nodeId) return new StreamError(Status.INVALID_ARGUMENT, 'the first request must carry node.id (the workload SPIFFE ID)');
    if (nodeId.length > MAX_SPIFFE_ID_LENGTH)
      return new StreamError(Status.INVALID_ARGUMENT, `node.id is longer than ${MAX_SPIFFE_ID_LENGTH} characters`);
    if (!t) return nodeId;
    const bound = spiffeIdOf(call.getAuthContext()?.sslPeerCertificate, t.trustDomain);
    if (!bound.ok) return new StreamError(Status.UNAUTHENTICATED, reasonOf(bound));
    const id = bound.value;
    if (nodeId !== id)
      return new StreamError(
        Status.PERMISSION_DENIED,
        `node.id ${nodeId} contradicts the client certificate, which is ${id}: a sidecar is served only its own workload`,
      );
    return id;
  }

  private refuse(call: { getPeer(): string }, err: StreamError): void {
    const reason =
      err.code === Status.PERMISSION_DENIED
        ? 'node_mismatch'
        : err.code === Status.UNAUTHENTICATED
          ? 'unauthenticated'
          : err.code === Status.RESOURCE_EXHAUSTED
            ? 'too_many_streams'
            : 'bad_request';
    this.events.refused(reason, call.getPeer(), err.message);
    this.log.warn({ peer: call.getPeer(), code: Status[err.code], reason: err.message }, 'xDS stream refused');
  }

  private serve(call: DuplexCall, transport: 'sotw' | 'delta', service: 'ads' | 'ecds', fixedType?: string): void {
    if (this.stopping) {
      failCall(call, Status.UNAVAILABLE, 'the control server is shutting down');
      return;
    }
    let session: SotwSession | DeltaSession | undefined;
    const id = ++this.nextId;
    const fail = (err: StreamError) => {
      if (!session) this.refuse(call, err);
      else this.log.warn({ stream: id, node: session.info.identity, reason: err.message }, 'xDS stream ended: protocol error');
      failCall(call, err.code, err.message);
    };
    call.on('data', (req: DiscoveryRequest | DeltaDiscoveryRequest) => {
      try {
        const nodeId = req.node?.id ?? '';
        if (!session) {
          const who = this.identify(call, nodeId);
          if (who instanceof StreamError) return fail(who);
          const limit = this.opts.maxStreamsPerIdentity ?? DEFAULT_STREAMS_PER_IDENTITY;
          const open = this.perIdentity.get(who) ?? 0;
          if (open >= limit)
            return fail(
              new StreamError(
                Status.RESOURCE_EXHAUSTED,
                `${who} already has ${open} xDS streams open (at most ${limit}: perimeter serve --max-streams-per-identity)`,
              ),
            );
          session = this.open(id, call, transport, service, who, nodeId, fixedType);
        } else if (nodeId && nodeId !== session.info.nodeId) {
          return fail(new StreamError(Status.PERMISSION_DENIED, `node.id changed on the stream from ${session.info.nodeId} to ${nodeId}`));
        }
        if (session instanceof SotwSession) session.onRequest(req as DiscoveryRequest);
        else session.onRequest(req as DeltaDiscoveryRequest);
      } catch (e) {
        if (e instanceof StreamError) return fail(e);
        this.log.error({ stream: id, err: String((e as Error).stack ?? e) }, 'xDS request failed');
        failCall(call, Status.INTERNAL, 'internal error');
      }
    });
    const closed = () => {
      if (!this.calls.has(id) && !session) return;
      this.calls.delete(id);
      if (session && this.streams.delete(id)) {
        const left = (this.perIdentity.get(session.info.identity) ?? 1) - 1;
        if (left > 0) this.perIdentity.set(session.info.identity, left);
        else this.perIdentity.delete(session.info.identity);
        session.close();
        this.events.disconnect(session.info);
        this.log.info({ stream: id, node: session.info.identity }, 'xDS stream closed');
      }
    };
    this.calls.set(id, call);
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('cancelled', closed);
    call.on('error', closed);
    call.on('close', closed);
  }

  private open(
    id: number,
    call: DuplexCall,
    transport: 'sotw' | 'delta',
    service: 'ads' | 'ecds',
    identity: string,
    nodeId: string,
    fixedType?: string,
  ): SotwSession | DeltaSession {
    const info: StreamInfo = {
      id,
      transport,
      service,
      peer: call.getPeer(),
      identity,
      nodeId,
      secure: this.secure,
      connectedAt: this.now(),
      types: new Map(),
      refusedTypes: 0,
    };
    const session: SotwSession | DeltaSession =
      transport === 'sotw'
        ? new SotwSession(info, this.opts.cache, this.events, this.now, fixedType)
        : new DeltaSession(info, this.opts.cache, this.events, this.now, fixedType);
    session.controlPlane = this.opts.controlPlaneId ?? 'perimeter';
    session.send = (response: Uint8Array) => {
      if (!call.writable) return;
      call.write(response);
    };
    this.streams.set(id, info);
    this.perIdentity.set(info.identity, (this.perIdentity.get(info.identity) ?? 0) + 1);
    // Headers now, not with the first response: a client whose config is current learns it is connected.
    sendHeaders(call);
    (session as Session).start(this.queue);
    this.events.connect(info);
    this.log.info(
      { stream: id, node: identity, transport, service, peer: info.peer, secure: this.secure },
      this.secure ? 'xDS stream bound to client certificate' : 'xDS stream bound to node.id (insecure: identity not verified)',
    );
    return session;
  }

  /** ECDS over unary gRPC: the current resources for the caller, no subscription. */
  private fetch(call: UnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: Reply<DiscoveryResponse>): void {
    const req = call.request;
    const who = this.identify(call, req.node?.id ?? '');
    if (who instanceof StreamError) {
      this.refuse(call, who);
      cb({ code: who.code, details: who.message });
      return;
    }
    const snapshot = this.opts.cache.get(who, TYPE.extensionConfig);
    const wanted = new Set(req.resourceNames);
    const selected = [...(snapshot?.resources.values() ?? [])].filter((r) => wanted.size === 0 || wanted.has(r.name));
    cb(
      null,
      create(DiscoveryResponseSchema, {
        versionInfo: setVersion(selected),
        resources: selected.map((r) => r.resource),
        typeUrl: TYPE.extensionConfig,
        controlPlane: { identifier: this.opts.controlPlaneId ?? 'perimeter' },
      }),
    );
  }
}
