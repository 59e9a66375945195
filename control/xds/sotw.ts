/**
 * A state-of-the-world stream (ADS or single-type ECDS). Rules from the xDS protocol and from
 * the go-control-plane and Istio bug trackers: a NACK is recorded and not answered by re-sending
 * the rejected version; stale nonces are ignored; a response goes out only when what the client
 * subscribed to changed or it asked for something new; LDS/CDS are sent as full state; EDS is
 * re-sent after CDS changes so clusters finish warming.
 */

import { TYPE } from '../../contracts/type-urls.js';
import type { DiscoveryRequest } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { setVersion, type TypeSnapshot, type XdsResource } from './cache.js';
import { isFullState, pushOrder } from './push-order.js';
import { Session } from './session.js';
import { sotwBody, sotwResponse } from './wire.js';

interface Subscription {
  names: Set<string>;
  wildcard: boolean;
  /** The names and set version in our last response, so unchanged state is not re-sent. */
  sentVersion: string | undefined;
}

/**
 * The encoded body of a snapshot's full response, shared by every stream that is sent all of it
 * (a change reaching 1,000 sidecars encodes it once); it goes when the snapshot does.
 */
const bodies = new WeakMap<TypeSnapshot, Buffer>();

function fullBody(snapshot: TypeSnapshot, type: string): Buffer {
  let body = bodies.get(snapshot);
  if (!body) {
    body = sotwBody(
      snapshot.version,
      [...snapshot.resources.values()].map((r) => r.encoded),
      type,
    );
    bodies.set(snapshot, body);
  }
  return body;
}

/** Receives an encoded DiscoveryResponse. */
export type SotwSend = (response: Uint8Array) => void;

export class SotwSession extends Session {
  private readonly subs = new Map<string, Subscription>();
  send: SotwSend = () => {};
  controlPlane = 'perimeter';

  onRequest(req: DiscoveryRequest): void {
    const type = this.typeOf(req.typeUrl);
    if (type === undefined) return;
    this.checkRequest(req.versionInfo, req.responseNonce, req.resourceNames);
    const first = !this.subs.has(type);
    const sub = this.subs.get(type) ?? { names: new Set<string>(), wildcard: false, sentVersion: undefined };
    this.subs.set(type, sub);
    if (this.isStale(type, req.responseNonce)) return;

    const added = this.subscribe(type, sub, req.resourceNames, first);
    if (req.errorDetail) {
      // The client keeps its last good config; answering with the same version would loop.
      this.recordNack(type, req.responseNonce, req.errorDetail.message || `code ${req.errorDetail.code}`);
      return;
    }
    if (req.responseNonce !== '') {
      this.recordAck(type, req.responseNonce, req.versionInfo);
      if (added) this.respond(type, sub, false);
      return;
    }
    // A fresh request (new stream or reconnect): the client tells us what it already has.
    if (req.versionInfo !== '') {
      sub.sentVersion = req.versionInfo;
      this.status(type).ackedVersion = req.versionInfo;
    }
    this.respond(type, sub, false);
  }

  protected onChange(changed: ReadonlySet<string>): void {
    const clustersChanged = changed.has(TYPE.cluster);
    const types = clustersChanged ? new Set([...changed, TYPE.endpoint]) : changed;
    // A policy change is one type (ECDS): nothing to order.
    for (const type of types.size === 1 ? types : pushOrder(types)) {
      const sub = this.subs.get(type);
      if (sub) this.respond(type, sub, clustersChanged && type === TYPE.endpoint);
    }
  }

  private subscribe(type: string, sub: Subscription, names: readonly string[], first: boolean): boolean {
    const next = new Set(names);
    // Legacy wildcard: an empty first LDS/CDS request means "everything" until a name is given.
    const wildcard = next.has('*') || (next.size === 0 && isFullState(type) && (first || sub.wildcard) && sub.names.size === 0);
    next.delete('*');
    let added = wildcard && !sub.wildcard;
    for (const n of next) if (!sub.names.has(n)) added = true;
    sub.names = next;
    sub.wildcard = wildcard;
    this.status(type).subscribed = wildcard ? ['*', ...next] : [...next];
    return added;
  }

  private respond(type: string, sub: Subscription, force: boolean): void {
    const snapshot = this.cache.get(this.info.identity, type);
    const selected: XdsResource[] = [];
    for (const r of snapshot?.resources.values() ?? []) if (sub.wildcard || sub.names.has(r.name)) selected.push(r);
    // Usually the client wants every resource of the type, whose version the cache already knows.
    const full = snapshot !== undefined && selected.length === snapshot.resources.size;
    const version = full ? snapshot.version : setVersion(selected);
    if (!force && version === sub.sentVersion) return;
    // Nothing to say yet: the client waits (or times out) rather than being told "empty",
    // except for full-state types, where empty is an answer, and after a removal.
    if (selected.length === 0 && sub.sentVersion === undefined && !(isFullState(type) && snapshot)) return;
    const nonce = this.nextNonce();
    const body = full
      ? fullBody(snapshot, type)
      : sotwBody(
          version,
          selected.map((r) => r.encoded),
          type,
        );
    const response = sotwResponse(body, nonce, this.controlPlane);
    sub.sentVersion = version;
    this.recordPush(type, nonce, version, selected.length, 0);
    this.send(response);
  }
}
