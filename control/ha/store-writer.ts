/**
 * Every change to what sidecars get, made in etcd: a policy compiled by the leader or by
 * `perimeter apply`, a rollback, a quarantine or a release. Each reads what the store serves,
 * composes the next entry (compose.ts, as one server does) and publishes it in one transaction
 * conditioned on what it read; a writer that lost a race reads again and retries, one that lost
 * its leadership (the fence) stops.
 */
import { fail, ok, type Result, reasonOf } from '../../contracts/problem.js';
import { baseVersionOf, baseWorkloads, compose, lastPolicyVersion, servedWorkloads } from '../serve/compose.js';
import { findEntry, type HistoryEntry } from '../serve/history.js';
import type { PublishedWorkload } from '../serve/published.js';
import type { QuarantineEntry } from '../serve/quarantine.js';
import type { EtcdHistory, Fence, Head, QuarantineState } from '../store/etcd-history.js';

const ATTEMPTS = 5;

export interface StoreState {
  head: Head;
  entry: HistoryEntry | undefined;
  /** What the entry serves, each blob checked against its name. */
  workloads: PublishedWorkload[];
  quarantine: QuarantineState;
}

export interface Written {
  entry: HistoryEntry;
  /** False when the store already served it (nothing was written). */
  changed: boolean;
}

export interface CompiledSet {
  version: string;
  workloads: readonly PublishedWorkload[];
  sources: readonly { path: string; text: string }[];
}

export class StoreWriter {
  constructor(
    private readonly store: EtcdHistory,
    private readonly now: () => number = Date.now,
  ) {}

  /** What the store serves now, read and checked. */
  async state(): Promise<StoreState> {
    const { head, quarantine, entry } = await this.store.serving();
    if (!entry) return { head, entry: undefined, workloads: [], quarantine };
    return { head, entry, workloads: await this.workloadsOf(entry, servedWorkloads), quarantine };
  }

  private async workloadsOf(
    e: HistoryEntry,
    pick: (e: HistoryEntry, bytes: (v: string) => Uint8Array) => PublishedWorkload[],
  ): Promise<PublishedWorkload[]> {
    const bytes = new Map(await Promise.all(e.workloads.map(async (w) => [w.version, await this.store.blob(w.version)] as const)));
    return pick(e, (v) => bytes.get(v) as Uint8Array);
  }

  /**
   * Publishes a compiled policy unless the store's last policy change was this very version (so
   * an unchanged directory never undoes a rollback). `expect` refuses if the current version
   * is not the one named (`#seq`, a digest prefix, or `#0` for an empty store).
   */
  publishPolicy(set: CompiledSet, o: { fence?: Fence; expect?: string } = {}): Promise<Result<Written>> {
    return this.retrying(!o.expect, async (s) => {
      if (o.expect !== undefined) {
        const moved = movedFrom(s, o.expect);
        if (moved) return { done: fail('', moved, 'read perimeter versions again, review, and apply with the new version') };
      }
      if (s.entry && lastPolicyVersion(await this.store.entries()) === set.version) return { done: ok({ entry: s.entry, changed: false }) };
      return {
        base: set.workloads,
        baseVersion: set.version,
        origin: 'policy',
        sources: set.sources,
        fence: o.fence,
      };
    });
  }

  /** Republishes an old version (by `#seq` or version prefix), with today's quarantine laid over it. */
  rollback(ref: string, fence?: Fence): Promise<Result<Written>> {
    return this.retrying(true, async () => {
      const target = findEntry(await this.store.entries(), ref);
      if (!target.ok) return { done: target };
      const base = await this.workloadsOf(target.value, baseWorkloads);
      return { base, baseVersion: baseVersionOf(target.value), origin: 'rollback', rollbackOf: target.value.seq, fence };
    });
  }

  /** Quarantines or releases an identity on the store's own list (changes made elsewhere meanwhile are kept). */
  editQuarantine(kind: 'quarantine' | 'release', entry: QuarantineEntry, fence?: Fence): Promise<Result<Written | undefined>> {
    return this.retrying(true, async (s) => {
      const others = s.quarantine.list.filter((e) => e.identity !== entry.identity);
      if (kind === 'release' && others.length === s.quarantine.list.length)
        return { done: fail('', `${entry.identity} is not quarantined`) };
      const list = kind === 'quarantine' ? [...others, entry] : others;
      if (!s.entry) {
        const r = await this.store.setQuarantineAlone(list, s.quarantine, s.head);
        return r.ok ? { done: ok(undefined) } : { retry: reasonOf(r) };
      }
      const base = await this.workloadsOf(s.entry, baseWorkloads);
      return { base, baseVersion: baseVersionOf(s.entry), origin: kind, change: entry, quarantine: list, fence };
    });
  }

  private async retrying<T>(retry: boolean, plan: (s: StoreState) => Promise<Plan<T>>): Promise<Result<T | Written>> {
    let last = '';
    for (let attempt = 0; attempt < (retry ? ATTEMPTS : 1); attempt++) {
      const s = await this.state();
      const p = await plan(s);
      if ('done' in p) return p.done;
      if ('retry' in p) {
        last = p.retry;
        continue;
      }
      const quarantine = p.quarantine ?? s.quarantine.list;
      const made = compose({
        base: p.base,
        baseVersion: p.baseVersion,
        quarantine,
        origin: p.origin,
        previous: s.entry ? s.workloads : undefined,
        time: new Date(this.now()).toISOString(),
        ...(p.sources ? { sources: p.sources } : {}),
        ...(p.rollbackOf !== undefined ? { rollbackOf: p.rollbackOf } : {}),
        ...(p.change ? { change: p.change } : {}),
      });
      const r = await this.store.publish(made.entry, made.blobs, s.head, p.fence, { list: quarantine, expected: s.quarantine.revision });
      if (r.ok) return ok({ entry: r.value, changed: true });
      last = reasonOf(r);
      if (p.fence && !(await this.store.holds(p.fence))) return r;
    }
    return fail('', `the store kept changing while this change was made (${last})`, 'try again');
  }
}

type Plan<T> =
  | { done: Result<T> }
  | { retry: string }
  | {
      base: readonly PublishedWorkload[];
      baseVersion: string;
      origin: 'policy' | 'rollback' | 'quarantine' | 'release';
      sources?: readonly { path: string; text: string }[];
      rollbackOf?: number;
      change?: QuarantineEntry;
      quarantine?: QuarantineEntry[];
      fence: Fence | undefined;
    };

/** Why the store's current version is not `expect`, or undefined when it is. */
function movedFrom(s: StoreState, expect: string): string | undefined {
  const ref = expect.replace(/^#/, '');
  const here = s.entry ? `#${s.entry.seq} ${s.entry.version}` : 'nothing (#0)';
  if (/^\d+$/.test(ref) && ref.length < 8) return Number(ref) === s.head.seq ? undefined : `the current version is ${here}, not #${ref}`;
  return s.entry?.version.startsWith(ref) ? undefined : `the current version is ${here}, not ${expect}`;
}
