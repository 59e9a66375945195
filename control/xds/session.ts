/**
 * What SotW and Delta streams share: the stream's identity and node, per-type status for
 * `perimeter status`, and the events metrics and logs are built from. Pure protocol state;
 * the gRPC layer feeds requests in and carries responses out.
 */

import { TYPE } from '../../contracts/type-urls.js';
import type { SnapshotCache, TypeSnapshot } from './cache.js';
import type { PushQueue } from './push-queue.js';

/**
 * What one stream may make the server hold. A sidecar subscribes to one resource of one type;
 * these leave room for any real client and keep a hostile one from growing the server's memory.
 */
export const LIMITS = {
  /** Resource names subscribed (or held, in Delta) per type. */
  namesPerType: 256,
  nameLength: 512,
  /** version_info, response_nonce and Delta resource versions. */
  versionLength: 256,
  /** A NACK's error_detail.message is kept (and shown) up to this many characters. */
  nackMessage: 1024,
} as const;

/** The types this server can publish; a request for any other type is refused and holds nothing. */
export const SERVED_TYPES: ReadonlySet<string> = new Set(Object.values(TYPE));

const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;

export interface NackRecord {
  /** The version (or, in Delta, the response's system version) the client rejected. */
  version: string;
  message: string;
  at: number;
}

export interface TypeStatus {
  typeUrl: string;
  /** Names subscribed; `*` for wildcard. */
  subscribed: string[];
  sentVersion?: string;
  sentAt?: number;
  ackedVersion?: string;
  ackedAt?: number;
  lastNack?: NackRecord;
  pushes: number;
}

export interface StreamInfo {
  id: number;
  transport: 'sotw' | 'delta';
  service: 'ads' | 'ecds';
  peer: string;
  /** The SPIFFE ID of the client certificate, or node.id with --insecure. */
  identity: string;
  nodeId: string;
  secure: boolean;
  connectedAt: number;
  types: Map<string, TypeStatus>;
  /** Requests for types this server does not serve: answered with nothing, kept as a count only. */
  refusedTypes: number;
}

export interface StreamEvents {
  push(s: StreamInfo, type: string, version: string, resources: number, removed: number): void;
  /** `pushToAckMs` from this push; `convergenceMs` from the snapshot's publication, when the ACK is of it. */
  ack(s: StreamInfo, type: string, version: string, pushToAckMs: number, convergenceMs: number | undefined): void;
  nack(s: StreamInfo, type: string, nack: NackRecord): void;
  staleNonce(s: StreamInfo, type: string): void;
  /** A request for a type the server does not serve (`type` is truncated). */
  unservedType?(s: StreamInfo, type: string): void;
}

/** A protocol violation that ends the stream with a gRPC status. */
export class StreamError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface InFlight {
  nonce: string;
  version: string;
  sentAt: number;
  snapshot: TypeSnapshot | undefined;
}

export abstract class Session {
  protected nonceCounter = 0;
  private unwatch: (() => void) | undefined;
  /** The last response sent per type, until the client answers it. */
  protected readonly inFlight = new Map<string, InFlight>();
  private readonly lastSent = new Map<string, string>();
  private queue: PushQueue | undefined;

  constructor(
    readonly info: StreamInfo,
    protected readonly cache: SnapshotCache,
    protected readonly events: StreamEvents,
    protected readonly now: () => number,
    /** Set for a single-type service (ECDS): requests may omit type_url, others are refused. */
    protected readonly fixedType?: string,
  ) {}

  /** Starts following the node's snapshot; call once the stream's identity is bound. */
  start(queue?: PushQueue): void {
    this.queue = queue;
    this.unwatch = this.cache.watch(this.info.identity, (changed) => (queue ? queue.enqueue(this, changed) : this.onChange(changed)));
  }

  /** The push queue's turn for this stream. */
  push(changed: ReadonlySet<string>): void {
    if (this.unwatch) this.onChange(changed);
  }

  close(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    this.queue?.drop(this);
  }

  protected abstract onChange(changed: ReadonlySet<string>): void;

  /** The request's type, or undefined for one this server does not serve (then nothing is kept). */
  protected typeOf(typeUrl: string): string | undefined {
    const type = typeUrl || this.fixedType;
    if (!type) throw new StreamError(INVALID_ARGUMENT, 'type_url is empty: an ADS request must name its resource type');
    if (this.fixedType && type !== this.fixedType)
      throw new StreamError(INVALID_ARGUMENT, `this service serves ${this.fixedType} only, not ${type.slice(0, 200)}`);
    if (!SERVED_TYPES.has(type)) {
      this.info.refusedTypes++;
      this.events.unservedType?.(this.info, type.slice(0, 200));
      return undefined;
    }
    return type;
  }

  /** Refuses names, nonces and versions past LIMITS before anything is kept. */
  protected checkRequest(versionInfo: string, nonce: string, names: readonly string[]): void {
    if (versionInfo.length > LIMITS.versionLength || nonce.length > LIMITS.versionLength)
      throw new StreamError(INVALID_ARGUMENT, `version_info and response_nonce are at most ${LIMITS.versionLength} characters`);
    if (names.length > LIMITS.namesPerType)
      throw new StreamError(RESOURCE_EXHAUSTED, `at most ${LIMITS.namesPerType} resource names per type on one stream`);
    for (const n of names)
      if (n.length > LIMITS.nameLength)
        throw new StreamError(INVALID_ARGUMENT, `a resource name is at most ${LIMITS.nameLength} characters`);
  }

  protected status(type: string): TypeStatus {
    const st = this.info.types.get(type) ?? { typeUrl: type, subscribed: [], pushes: 0 };
    this.info.types.set(type, st);
    return st;
  }

  protected nextNonce(): string {
    return (++this.nonceCounter).toString(36);
  }

  protected recordPush(type: string, nonce: string, version: string, resources: number, removed: number): void {
    const at = this.now();
    const st = this.status(type);
    st.sentVersion = version;
    st.sentAt = at;
    st.pushes++;
    this.inFlight.set(type, { nonce, version, sentAt: at, snapshot: this.cache.get(this.info.identity, type) });
    this.lastSent.set(type, nonce);
    this.events.push(this.info, type, version, resources, removed);
  }

  /** A nonce is valid only if it is the last one sent for its type on this stream; empty = a fresh request. */
  protected isStale(type: string, nonce: string): boolean {
    if (nonce === '' || nonce === this.lastSent.get(type)) return false;
    this.events.staleNonce(this.info, type);
    return true;
  }

  protected recordAck(type: string, nonce: string, version: string): void {
    const flight = this.inFlight.get(type);
    const st = this.status(type);
    st.ackedVersion = version;
    st.ackedAt = this.now();
    if (!flight || flight.nonce !== nonce) return;
    this.inFlight.delete(type);
    const current = this.cache.get(this.info.identity, type);
    const convergence = flight.snapshot && current === flight.snapshot ? st.ackedAt - flight.snapshot.publishedAt : undefined;
    this.events.ack(this.info, type, version, st.ackedAt - flight.sentAt, convergence);
  }

  protected recordNack(type: string, nonce: string, message: string): void {
    const flight = this.inFlight.get(type);
    const text = message.length > LIMITS.nackMessage ? `${message.slice(0, LIMITS.nackMessage)}…` : message;
    const nack = { version: flight?.version ?? this.status(type).sentVersion ?? '', message: text, at: this.now() };
    if (flight?.nonce === nonce) this.inFlight.delete(type);
    this.status(type).lastNack = nack;
    this.events.nack(this.info, type, nack);
  }
}
