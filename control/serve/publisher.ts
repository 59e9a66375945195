/**
 * From the policy directory to the snapshot cache: load, validate, compile (on the compile
 * worker, compiler.ts), record in the history, publish. A batch with errors is rejected whole and
 * the last good snapshot keeps serving. A rollback republishes an old version's stored policies
 * until the next change.
 */

import { filterConfigAny, type ModuleRef } from '../../contracts/ecds.js';
import { ok, type Result } from '../../contracts/problem.js';
import { TYPE } from '../../contracts/type-urls.js';
import { type SnapshotCache, type XdsResource, xdsResource } from '../xds/cache.js';
import type { CompileResponse } from './compiler.js';
import { baseVersionOf, baseWorkloads, compose } from './compose.js';
import type { History, HistoryEntry } from './history.js';
import type { Published, PublishedWorkload, Rejected } from './published.js';
import type { QuarantineEntry } from './quarantine.js';
import type { PolicyView } from './ui-state.js';

export interface PublisherHooks {
  compiled?(seconds: number): void;
  published?(p: Published): void;
  rejected?(r: Rejected): void;
}

export interface PublisherOptions {
  paths: readonly string[];
  /** Loads and compiles the paths (the compile worker). */
  compile: (paths: readonly string[]) => Promise<CompileResponse>;
  cache: SnapshotCache;
  module: ModuleRef;
  resourceName: string;
  history?: History;
  hooks?: PublisherHooks;
  now?: () => number;
  /** Identities quarantined when the publisher starts (laid over everything it serves). */
  quarantine?: readonly QuarantineEntry[];
}

export type ReloadResult = { ok: true; published: Published; changed: boolean } | { ok: false; rejected: Rejected };

export class Publisher {
  current: Published | undefined;
  lastRejected: Rejected | undefined;
  /** The trust domain of the last policy that loaded. */
  trustDomain: string | undefined;
  /** What the web page shows of the last policy that loaded. */
  view: PolicyView | undefined;
  /** The version the policy paths last compiled to. */
  private policyVersion: string | undefined;
  private readonly now: () => number;
  private quarantined: readonly QuarantineEntry[];
  /** What is served before the quarantine overlay: the policy's own compiled workloads. */
  private base: { workloads: PublishedWorkload[]; version: string } | undefined;
  /** The reload compiling now, and one more asked for meanwhile (a burst of changes is one reload). */
  private running: Promise<ReloadResult> | undefined;
  private next: Promise<ReloadResult> | undefined;

  constructor(private readonly opts: PublisherOptions) {
    this.now = opts.now ?? Date.now;
    this.quarantined = opts.quarantine ?? [];
  }

  get quarantine(): readonly QuarantineEntry[] {
    return this.quarantined;
  }

  /**
   * Replaces the quarantine list and republishes what is served with it; the change is an entry
   * of its own in the history. Returns undefined when nothing is being served yet (the list
   * then applies to the first publish).
   */
  setQuarantine(
    entries: readonly QuarantineEntry[],
    change: { kind: 'quarantine' | 'release'; entry: QuarantineEntry },
  ): Published | undefined {
    this.quarantined = entries;
    if (!this.base) return undefined;
    return this.publish(this.base.workloads, this.base.version, change.kind, { change: change.entry });
  }

  /**
   * Loads the policy paths; publishes if valid (and different), else rejects and keeps serving.
   * One reload at a time: asked again while one compiles, it runs once more after it.
   */
  reload(): Promise<ReloadResult> {
    if (this.next) return this.next;
    if (!this.running) {
      this.running = this.reloadNow().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // Whatever the running one ends with, the next one runs (a failure must not stop later changes).
    this.next = this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.reload();
      });
    return this.next;
  }

  private async reloadNow(): Promise<ReloadResult> {
    const r = await this.opts.compile(this.opts.paths);
    const result = r.compiled;
    if (!result) {
      this.lastRejected = {
        at: this.now(),
        ...(r.rejected ?? { errors: 1, messages: [`the policy could not be compiled: ${r.error ?? 'no result'}`] }),
      };
      this.opts.hooks?.rejected?.(this.lastRejected);
      return { ok: false, rejected: this.lastRejected };
    }
    this.trustDomain = result.trustDomain;
    this.opts.hooks?.compiled?.(r.seconds);
    this.view = result.view;
    const workloads = result.workloads;
    // Only a change of the policy itself publishes: after a rollback, an edit that compiles to
    // what was already there does not undo it.
    if (this.current && result.version === this.policyVersion) return { ok: true, published: this.current, changed: false };
    this.policyVersion = result.version;
    if (this.current && this.base?.version === result.version) return { ok: true, published: this.current, changed: false };
    return { ok: true, published: this.publish(workloads, result.version, 'policy', { sources: result.sources }), changed: true };
  }

  /** Serves the latest history entry (at start, when the policy directory does not load). */
  restoreLatest(): Published | undefined {
    const h = this.opts.history;
    const e = h?.latest();
    if (!h || !e) return undefined;
    return this.publishEntry(e, 'history');
  }

  /** Republishes an old version (by `#seq` or version prefix) until the next change; the problem when there is no such version. */
  rollback(ref: string): Result<Published> {
    const h = this.opts.history;
    if (!h) throw new Error('rollback needs a state directory with a history');
    const e = h.find(ref);
    return e.ok ? ok(this.publishEntry(e.value, 'rollback')) : e;
  }

  private publishEntry(e: HistoryEntry, origin: 'rollback' | 'history'): Published {
    const h = this.opts.history as History;
    // Entries store what was served; the quarantine laid over it then is stripped, and today's is laid again.
    const workloads = baseWorkloads(e, (v) => h.blob(v));
    return this.publish(workloads, baseVersionOf(e), origin, { rollbackOf: e.seq, entry: origin === 'history' ? e : undefined });
  }

  private publish(
    base: PublishedWorkload[],
    baseVersion: string,
    origin: Published['origin'],
    meta: { sources?: { path: string; text: string }[]; rollbackOf?: number; entry?: HistoryEntry; change?: QuarantineEntry },
  ): Published {
    this.base = { workloads: base, version: baseVersion };
    const made = compose({
      base,
      baseVersion,
      quarantine: this.quarantined,
      origin: origin === 'history' ? 'policy' : origin,
      previous: this.current?.workloads,
      time: new Date(this.now()).toISOString(),
      ...(meta.sources ? { sources: meta.sources } : {}),
      ...(meta.rollbackOf !== undefined ? { rollbackOf: meta.rollbackOf } : {}),
      ...(meta.change ? { change: meta.change } : {}),
    });
    const { workloads, version, summary } = made;
    let seq = meta.entry?.seq;
    const h = this.opts.history;
    if (h && !meta.entry && !(origin === 'policy' && h.latest()?.version === version && !this.current))
      seq = h.append(made.entry, made.blobs).seq;
    else if (h && !meta.entry) seq = h.latest()?.seq;
    const published: Published = { version, ...(seq !== undefined ? { seq } : {}), origin, at: this.now(), workloads, summary };
    this.opts.cache.setAll(snapshotOf(workloads, this.opts.module, this.opts.resourceName));
    this.current = published;
    this.opts.hooks?.published?.(published);
    return published;
  }
}

/** Node key (the workload's SPIFFE ID) → its one ECDS resource. */
export function snapshotOf(
  workloads: readonly PublishedWorkload[],
  module: ModuleRef,
  resourceName: string,
): Map<string, Map<string, XdsResource[]>> {
  return new Map(
    workloads.map((w) => [
      w.identity,
      new Map([[TYPE.extensionConfig, [xdsResource(resourceName, filterConfigAny(w.bytes, module, resourceName))]]]),
    ]),
  );
}
