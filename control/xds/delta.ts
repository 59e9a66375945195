/**
 * An incremental (Delta) stream, ADS or single-type ECDS. The server tracks what the client
 * holds (name → version, seeded from `initial_resource_versions` on reconnect) and sends only
 * differences: changed resources in `resources`, deleted or non-existent subscribed names in
 * `removed_resources`. Subscription changes are honoured even with a stale nonce; a NACKed
 * version is not re-sent because it is already counted as held.
 */
import type { DeltaDiscoveryRequest } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import type { XdsResource } from './cache.js';
import { isFullState, pushOrder } from './push-order.js';
import { LIMITS, Session, StreamError } from './session.js';
import { encodeDelta } from './wire.js';

/** Version recorded for a name the client was told does not exist. */
const ABSENT = '';

interface Subscription {
  names: Set<string>;
  wildcard: boolean;
  /** What the client holds (or was told is absent), by name. */
  held: Map<string, string>;
}

/** Receives an encoded DeltaDiscoveryResponse. */
export type DeltaSend = (response: Uint8Array) => void;

export class DeltaSession extends Session {
  private readonly subs = new Map<string, Subscription>();
  send: DeltaSend = () => {};
  controlPlane = 'perimeter';

  onRequest(req: DeltaDiscoveryRequest): void {
    const type = this.typeOf(req.typeUrl);
    if (type === undefined) return;
    const initial = Object.entries(req.initialResourceVersions);
    this.checkRequest('', req.responseNonce, [...req.resourceNamesSubscribe, ...initial.map(([n]) => n)]);
    if (initial.some(([, v]) => v.length > LIMITS.versionLength))
      throw new StreamError(3, `a resource version is at most ${LIMITS.versionLength} characters`);
    let sub = this.subs.get(type);
    if (!sub) {
      sub = { names: new Set(), wildcard: false, held: new Map(Object.entries(req.initialResourceVersions)) };
      this.subs.set(type, sub);
      // Legacy wildcard: LDS/CDS streams that never name a resource want everything.
      if (req.resourceNamesSubscribe.length === 0 && isFullState(type)) sub.wildcard = true;
    }
    for (const n of req.resourceNamesSubscribe) {
      if (n === '*') sub.wildcard = true;
      else sub.names.add(n);
    }
    for (const n of req.resourceNamesUnsubscribe) {
      if (n === '*') sub.wildcard = false;
      else sub.names.delete(n);
      // Forget it, so a later subscribe sends it again; a wildcard client still holds it.
      if (!sub.wildcard) sub.held.delete(n);
    }
    if (!sub.wildcard) for (const n of [...sub.held.keys()]) if (!sub.names.has(n)) sub.held.delete(n);
    // Subscriptions add up over requests: the total is bounded too.
    if (sub.names.size > LIMITS.namesPerType || sub.held.size > LIMITS.namesPerType)
      throw new StreamError(8, `at most ${LIMITS.namesPerType} resource names per type on one stream`);
    this.status(type).subscribed = sub.wildcard ? ['*', ...sub.names] : [...sub.names];

    if (!this.isStale(type, req.responseNonce)) {
      if (req.errorDetail) this.recordNack(type, req.responseNonce, req.errorDetail.message || `code ${req.errorDetail.code}`);
      else if (req.responseNonce !== '') this.recordAck(type, req.responseNonce, this.inFlight.get(type)?.version ?? '');
    }
    this.respond(type, sub);
  }

  protected onChange(changed: ReadonlySet<string>): void {
    for (const type of pushOrder(changed)) {
      const sub = this.subs.get(type);
      if (sub) this.respond(type, sub);
    }
  }

  private respond(type: string, sub: Subscription): void {
    const snapshot = this.cache.get(this.info.identity, type);
    const changed: XdsResource[] = [];
    const removed: string[] = [];
    for (const r of snapshot?.resources.values() ?? [])
      if ((sub.wildcard || sub.names.has(r.name)) && sub.held.get(r.name) !== r.version) {
        changed.push(r);
        sub.held.set(r.name, r.version);
      }
    for (const [name, version] of sub.held)
      if (!snapshot?.resources.has(name) && version !== ABSENT) {
        removed.push(name);
        if (sub.names.has(name)) sub.held.set(name, ABSENT);
        else sub.held.delete(name);
      }
    for (const name of sub.names)
      if (!sub.held.has(name) && !snapshot?.resources.has(name)) {
        removed.push(name);
        sub.held.set(name, ABSENT);
      }
    if (changed.length === 0 && removed.length === 0) return;
    const nonce = this.nextNonce();
    const version = snapshot?.version ?? ABSENT;
    const response = encodeDelta({
      systemVersionInfo: version,
      resources: changed.map((r) => ({ name: r.name, version: r.version, any: r.encoded })),
      removed,
      typeUrl: type,
      nonce,
      controlPlane: this.controlPlane,
    });
    this.recordPush(type, nonce, version, changed.length, removed.length);
    this.send(response);
  }
}
