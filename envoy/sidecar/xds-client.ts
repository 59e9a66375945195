/**
 * A small xDS client, as Envoy behaves: one ADS (or ECDS) stream, SotW or Delta, over mTLS with
 * the workload's SVID, verifying that the server's certificate carries the expected SPIFFE ID.
 * Every response is validated before it is accepted; a rejected one is NACKed with the last
 * accepted version and the client keeps what it had. On disconnect it keeps its resources and
 * reconnects with jittered exponential backoff (500 ms to 30 s, Envoy's defaults), telling the
 * server what it holds. Given several control servers (replicas), a broken stream moves on to
 * the next one; the backoff grows only after a whole round of them failed. The local sidecar takes its policy through it; tests drive it.
 */
import { EventEmitter } from 'node:events';
import { create } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import {
  bidiStream,
  type CallStatus,
  type ChannelOptions,
  type Client,
  type ClientDuplex,
  ClientRenewal,
  dial,
} from '../../grpc/client.js';
import type { ClientTls } from '../../grpc/credentials.js';
import { Status } from '../../grpc/status.js';
import { AggregatedDiscoveryService } from '../../proto/gen/envoy/service/discovery/v3/ads_pb.js';
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { ExtensionConfigDiscoveryService } from '../../proto/gen/envoy/service/extension/v3/config_discovery_pb.js';
import { resourceName } from './resource-name.js';

export interface HeldResource {
  name: string;
  version: string;
  resource: Any;
}

/** Returns an error message to NACK the response, or undefined to accept it. */
export type Validator = (type: string, resources: readonly HeldResource[]) => string | undefined;

export interface XdsClientOptions {
  /** host:port of the control server, or of each replica (tried in turn). */
  address: string | readonly string[];
  nodeId: string;
  tls?: ClientTls;
  transport?: 'sotw' | 'delta';
  service?: 'ads' | 'ecds';
  validate?: Validator;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** grpc-js channel options (keepalive and the like). */
  channelOptions?: ChannelOptions;
}

interface TypeState {
  names: string[];
  version: string;
  nonce: string;
  held: Map<string, HeldResource>;
}

export interface XdsClientEvents {
  /** Accepted: the full set now held for `type`. */
  update: [type: string, resources: ReadonlyMap<string, HeldResource>, version: string];
  nack: [type: string, message: string];
  connected: [];
  disconnected: [status: CallStatus];
}

export class XdsClient extends EventEmitter<XdsClientEvents> {
  private readonly types = new Map<string, TypeState>();
  private readonly addresses: readonly string[];
  private readonly clients: (Client | undefined)[];
  /** The replica the current (or next) stream goes to. */
  private at = 0;
  private call: ClientDuplex<object, DiscoveryResponse | DeltaDiscoveryResponse> | undefined;
  private stopped = false;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Responses accepted, NACKs sent and connections made: for tests and the sidecar's stats. */
  readonly stats = { accepted: 0, rejected: 0, connects: 0 };

  private readonly renewal = new ClientRenewal();

  constructor(private opts: XdsClientOptions) {
    super();
    this.addresses = typeof opts.address === 'string' ? [opts.address] : [...opts.address];
    if (this.addresses.length === 0) throw new Error('an xDS client needs at least one control server address');
    this.clients = this.addresses.map(() => undefined);
  }

  /** The control server the current stream goes to. */
  get server(): string {
    return this.addresses[this.at] as string;
  }

  private client(): Client {
    const existing = this.clients[this.at];
    if (existing) return existing;
    const c = dial(
      this.opts.service === 'ecds' ? ExtensionConfigDiscoveryService : AggregatedDiscoveryService,
      this.server,
      this.opts.tls,
      { 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...this.opts.channelOptions },
    );
    this.clients[this.at] = c;
    return c;
  }

  get transport(): 'sotw' | 'delta' {
    return this.opts.transport ?? 'sotw';
  }

  /** Sets the names wanted for `type` (empty with LDS/CDS: wildcard). Starts the stream if needed. */
  subscribe(type: string, names: readonly string[]): void {
    const st: TypeState = this.types.get(type) ?? { names: [], version: '', nonce: '', held: new Map() };
    const before = st.names;
    this.types.set(type, st);
    st.names = [...names];
    if (!this.call) {
      this.connect();
      return;
    }
    if (this.transport === 'sotw') this.sendSotw(type, st);
    else {
      const add = names.filter((n) => !before.includes(n));
      const drop = before.filter((n) => !names.includes(n));
      for (const n of drop) st.held.delete(n);
      this.write({ typeUrl: type, resourceNamesSubscribe: add, resourceNamesUnsubscribe: drop, responseNonce: st.nonce });
    }
  }

  held(type: string): ReadonlyMap<string, HeldResource> {
    return this.types.get(type)?.held ?? new Map();
  }

  version(type: string): string {
    return this.types.get(type)?.version ?? '';
  }

  /** Resolves on the next accepted update of `type` that satisfies `pred`. */
  waitFor(
    type: string,
    pred: (held: ReadonlyMap<string, HeldResource>) => boolean,
    timeoutMs = 5_000,
  ): Promise<ReadonlyMap<string, HeldResource>> {
    const now = this.types.get(type)?.held;
    if (now && this.version(type) !== '' && pred(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('update', on);
        reject(new Error(`no ${type} update matching within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (t: string, held: ReadonlyMap<string, HeldResource>) => {
        if (t !== type || !pred(held)) return;
        clearTimeout(timer);
        this.off('update', on);
        resolve(held);
      };
      this.on('update', on);
    });
  }

  /**
   * A renewed SVID. The stream open now keeps its connection (made with the old one); every
   * connection made from now on presents the new one.
   */
  setTls(tls: ClientTls): void {
    this.opts = { ...this.opts, tls };
    this.renewal.renew(this.clients, this.call ? this.at : -1, () => undefined);
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.call?.cancel();
    this.call = undefined;
    for (const c of this.clients) c?.close();
    this.renewal.streamEnded();
  }

  private connect(): void {
    if (this.stopped) return;
    const method =
      this.opts.service === 'ecds'
        ? this.transport === 'sotw'
          ? 'StreamExtensionConfigs'
          : 'DeltaExtensionConfigs'
        : this.transport === 'sotw'
          ? 'StreamAggregatedResources'
          : 'DeltaAggregatedResources';
    const call = bidiStream<object, DiscoveryResponse | DeltaDiscoveryResponse>(this.client(), method);
    this.call = call;
    this.sentNode = false;
    let gotData = false;
    call.on('data', (resp) => {
      if (!gotData) {
        gotData = true;
        this.attempt = 0;
      }
      if (this.transport === 'sotw') this.onSotw(resp as DiscoveryResponse);
      else this.onDelta(resp as DeltaDiscoveryResponse);
    });
    call.on('status', (status: CallStatus) => {
      if (this.call === call) this.call = undefined;
      this.renewal.streamEnded();
      this.emit('disconnected', status);
      this.scheduleReconnect();
    });
    call.on('error', () => {});
    call.on('metadata', () => {
      this.stats.connects++;
      this.emit('connected');
    });
    for (const [type, st] of this.types) {
      if (this.transport === 'sotw') this.sendSotw(type, st);
      else
        this.write({
          typeUrl: type,
          resourceNamesSubscribe: st.names,
          initialResourceVersions: Object.fromEntries([...st.held.values()].map((r) => [r.name, r.version])),
        });
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const base = this.opts.backoffBaseMs ?? 500;
    const max = this.opts.backoffMaxMs ?? 30_000;
    // The next replica; the delay doubles once per round through all of them.
    this.at = (this.at + 1) % this.addresses.length;
    const round = Math.floor(this.attempt / this.addresses.length);
    const delay = Math.min(max, base * 2 ** round) * (0.5 + Math.random() / 2);
    this.attempt++;
    // A new stream starts fresh: nonces belong to the old one.
    for (const st of this.types.values()) st.nonce = '';
    this.retry = setTimeout(() => this.connect(), delay);
  }

  /** Only the first request of a stream must carry the node (Envoy's set_node_on_first_message_only). */
  private write(msg: Record<string, unknown>): void {
    const node = this.sentNode ? {} : { node: { id: this.opts.nodeId, userAgentName: 'perimeter-sidecar' } };
    this.sentNode = true;
    const schema = this.transport === 'sotw' ? DiscoveryRequestSchema : DeltaDiscoveryRequestSchema;
    this.call?.write(create(schema as typeof DiscoveryRequestSchema, { ...node, ...msg }));
  }
  private sentNode = false;

  private sendSotw(type: string, st: TypeState): void {
    this.write({ typeUrl: type, resourceNames: st.names, versionInfo: st.version, responseNonce: st.nonce });
  }

  private onSotw(resp: DiscoveryResponse): void {
    const st = this.types.get(resp.typeUrl);
    if (!st) return;
    const names = new Set<string>();
    const list: HeldResource[] = [];
    let error: string | undefined;
    for (const [i, r] of resp.resources.entries()) {
      const name = resourceName(r);
      if (names.has(name)) error ??= `resource index ${i}: ${name} appears twice in one response`;
      names.add(name);
      list.push({ name, version: resp.versionInfo, resource: r });
    }
    error ??= this.check(resp.typeUrl, list);
    st.nonce = resp.nonce;
    if (error) {
      this.reject(resp.typeUrl, () => this.write(nackSotw(st, resp, error)), error);
      return;
    }
    st.version = resp.versionInfo;
    st.held = new Map(list.map((r) => [r.name, r]));
    this.write({ typeUrl: resp.typeUrl, versionInfo: st.version, responseNonce: resp.nonce, resourceNames: st.names });
    this.accept(resp.typeUrl, st);
  }

  private onDelta(resp: DeltaDiscoveryResponse): void {
    const st = this.types.get(resp.typeUrl);
    if (!st) return;
    st.nonce = resp.nonce;
    const next = new Map(st.held);
    for (const n of resp.removedResources) next.delete(n);
    const changed: HeldResource[] = [];
    for (const r of resp.resources) {
      if (!r.resource) continue;
      const h = { name: r.name, version: r.version, resource: r.resource };
      changed.push(h);
      next.set(r.name, h);
    }
    const error = this.check(resp.typeUrl, changed);
    if (error) {
      const nack = {
        typeUrl: resp.typeUrl,
        responseNonce: resp.nonce,
        errorDetail: { code: Status.INVALID_ARGUMENT, message: error },
      };
      this.reject(resp.typeUrl, () => this.write(nack), error);
      return;
    }
    st.held = next;
    st.version = resp.systemVersionInfo;
    this.write({ typeUrl: resp.typeUrl, responseNonce: resp.nonce });
    this.accept(resp.typeUrl, st);
  }

  /** A validator that throws rejects the update: nothing is accepted because something broke. */
  private check(type: string, resources: readonly HeldResource[]): string | undefined {
    try {
      return this.opts.validate?.(type, resources);
    } catch (e) {
      return `validation failed: ${(e as Error).message}`;
    }
  }

  private accept(type: string, st: TypeState): void {
    this.stats.accepted++;
    this.emit('update', type, st.held, st.version);
  }

  private reject(type: string, send: () => void, error: string): void {
    this.stats.rejected++;
    send();
    this.emit('nack', type, error);
  }
}

function nackSotw(st: TypeState, resp: DiscoveryResponse, message: string) {
  return {
    typeUrl: resp.typeUrl,
    versionInfo: st.version,
    responseNonce: resp.nonce,
    resourceNames: st.names,
    errorDetail: { code: Status.INVALID_ARGUMENT, message },
  };
}
