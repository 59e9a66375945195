/**
 * A replica's versions, shared through etcd with the others (docs/ha.md). Every replica serves
 * what the store says is current: it reads the entry and its blobs (each checked) whenever the
 * pointer moves and swaps its whole snapshot in one step, and keeps the last good one while the
 * store is unreachable or holds something it refuses. One replica at a time, the elected leader,
 * compiles the policy paths and publishes, fenced by its lease; the others only serve. Each
 * replica keeps itself and its sidecars' ACKs under its own lease, so `status` sees every live
 * replica and a dead one drops out by itself.
 */
import { ok, type Result, reasonOf } from '../../contracts/problem.js';
import { type CaFiles, generateCa } from '../ca/ca.js';
import type { HistoryEntry } from '../serve/history.js';
import type { Published, Rejected } from '../serve/published.js';
import { snapshotOf } from '../serve/publisher.js';
import type { QuarantineEntry } from '../serve/quarantine.js';
import type { QuarantineEdit, SourceParts, VersionSource } from '../serve/source.js';
import type { ReplicaReport, ReplicaRole, StatusReport } from '../serve/status.js';
import type { PolicyView } from '../serve/ui-state.js';
import type { EtcdHistory, Fence, Registration } from '../store/etcd-history.js';
import { groupSidecars } from '../store/replica-record.js';
import type { Logger } from '../xds/server-options.js';
import { sealKey, unsealKey } from './ca-seal.js';
import { StoreWriter } from './store-writer.js';

export interface SharedOptions {
  store: EtcdHistory;
  /** How the store is named in status (`etcd://…/prefix`). */
  storeName: string;
  /** This replica's name in the election and under `replicas/`. */
  id: string;
  /** Lease of the leadership and of the registration: a dead replica is gone within it. */
  leaseSeconds: number;
  /** Whether this replica campaigns to compile and publish (it has policy paths). */
  compiles: boolean;
  /** The operator's secret that seals the CA key in the store. */
  caSecret: Uint8Array | undefined;
  log: Logger;
}

const RETRY_MS = 1_000;
const REGISTER_MS = 200;
/** The fence and the other replicas' records are read every fifth tick: once a second. */
const SLOW_TICKS = 5;

export class SharedSource implements VersionSource {
  current: Published | undefined;
  lastRejected: Rejected | undefined;
  quarantine: readonly QuarantineEntry[] = [];
  view: PolicyView | undefined;
  trustDomain: string | undefined;
  private fence: Fence | undefined;
  private leaderId: string | undefined;
  private storeProblem: string | undefined;
  private readonly writer: StoreWriter;
  private stopped = false;
  private unwatch: (() => Promise<void>) | undefined;
  private resign: (() => Promise<void>) | undefined;
  private registration: Registration | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private report: (() => StatusReport) | undefined;
  private changes: () => number = () => 0;
  /** The last record written, and what it was made of: building it walks every stream. */
  private record = { key: '', text: '' };
  private peers: ReplicaReport[] = [];
  private ticks = 0;
  private refreshing: Promise<unknown> | undefined;
  private again = false;
  /** The store revision of the last change the watch reported, and the one the last read covered. */
  private changedAt = 0;
  private readAt = 0;
  private readonly waiters: { seq: number; resolve: () => void }[] = [];

  constructor(
    private readonly parts: SourceParts,
    private readonly o: SharedOptions,
  ) {
    this.writer = new StoreWriter(o.store, parts.now);
  }

  get role(): ReplicaRole {
    return {
      id: this.o.id,
      store: this.o.storeName,
      leader: this.fence !== undefined,
      leaderId: this.leaderId,
      storeProblem: this.storeProblem,
    };
  }

  /** Every live replica as it registered itself (this one included), for status. */
  get replicas(): readonly ReplicaReport[] {
    return this.peers;
  }

  async start(): Promise<void> {
    // A replica that cannot read the store at start has nothing to serve: it says so and stops.
    await this.refreshNow(true);
    this.lastRejected = await this.o.store.rejected();
    this.unwatch = await this.o.store.watch(
      (key, revision) => {
        if (key === 'rejected') return void this.loadRejected();
        this.changedAt = Math.max(this.changedAt, revision);
        if (revision > this.readAt) this.refresh();
      },
      (up) => {
        if (up) this.refresh(true);
      },
    );
    this.registration = this.o.store.register(this.o.id, this.o.leaseSeconds, () => this.ownRecord());
    this.ticker = setInterval(() => void this.tick(), REGISTER_MS);
    this.ticker.unref();
    if (this.o.compiles) this.campaign();
  }

  /** ControlServer hands over its status once it runs, for the registration. */
  registerStatus(report: () => StatusReport, changes: () => number): void {
    this.report = report;
    this.changes = changes;
  }

  private campaign(): void {
    if (this.stopped) return;
    const c = this.o.store.campaign(this.o.id, this.o.leaseSeconds);
    this.resign = () => c.resign();
    c.onLost((e) => this.deposed(e.message));
    c.elected.then(
      (fence) => {
        if (this.stopped) return;
        this.fence = fence;
        this.leaderId = this.o.id;
        this.o.log.info({ replica: this.o.id }, 'elected leader: compiling and publishing the policy');
        void this.reload();
      },
      (e: Error) => {
        if (this.stopped) return;
        this.o.log.warn({ err: e.message }, 'campaign failed; trying again');
        setTimeout(() => this.campaign(), RETRY_MS).unref();
      },
    );
  }

  /**
   * The lease behind the fence ended (etcd unreachable past the TTL, or the key gone): stop
   * writing at once and campaign again; whoever leads now publishes.
   */
  private deposed(why: string): void {
    if (!this.fence) return;
    this.fence = undefined;
    this.leaderId = undefined;
    this.o.log.error({ err: why }, 'lost the leadership: no longer compiling or publishing');
    const resign = this.resign;
    void resign?.().catch(() => {});
    setTimeout(() => this.campaign(), RETRY_MS).unref();
  }

  /** Compiles and publishes, if this replica leads. */
  async reload(): Promise<unknown> {
    const fence = this.fence;
    if (!fence) return undefined;
    const r = await this.parts.compile(this.parts.paths);
    const c = r.compiled;
    if (!c) {
      const rejected: Rejected = {
        at: (this.parts.now ?? Date.now)(),
        ...(r.rejected ?? { errors: 1, messages: [`the policy could not be compiled: ${r.error ?? 'no result'}`] }),
      };
      this.lastRejected = rejected;
      this.parts.hooks?.rejected?.(rejected);
      await this.o.store.putRejected(rejected).catch((e: Error) => this.problem(`recording the rejected change: ${e.message}`));
      return rejected;
    }
    this.parts.hooks?.compiled?.(r.seconds);
    this.view = c.view;
    this.trustDomain = c.trustDomain;
    const w = await this.writer
      .publishPolicy(c, { fence })
      .catch((e: Error) => ({ ok: false as const, problems: [{ path: '', message: e.message }] }));
    if (!w.ok) {
      this.problem(`publishing: ${reasonOf(w)}`);
      if (!(await this.o.store.holds(fence).catch(() => true))) this.deposed('the fence no longer stands');
      return w;
    }
    if (w.value.changed) await this.serving(w.value.entry.seq);
    return w;
  }

  versions(): Promise<readonly HistoryEntry[]> {
    return this.o.store.entries();
  }

  async rollback(ref: string): Promise<Result<Published>> {
    const w = await this.writer.rollback(ref, this.fence);
    if (!w.ok) return w;
    await this.serving(w.value.entry.seq);
    return ok(this.current as Published);
  }

  async setQuarantine(edit: QuarantineEdit): Promise<Result<Published | undefined>> {
    const w = await this.writer.editQuarantine(edit.kind, edit.entry);
    if (!w.ok) return w;
    if (!w.value) {
      await this.refreshNow(false);
      return ok(undefined);
    }
    await this.serving(w.value.entry.seq);
    return ok(this.current);
  }

  /** The mesh CA from the store; the first replica to start makes it and seals its key there. */
  async ca(trustDomain: string | undefined): Promise<{ ca: CaFiles; created: boolean }> {
    const secret = this.o.caSecret;
    if (!secret) throw new Error('--ca-key-file is needed with --store: the mesh CA key is kept in the store sealed with it');
    let stored = await this.o.store.ca();
    let created = false;
    if (!stored) {
      trustDomain ??= this.o.compiles ? (await this.parts.compile(this.parts.paths)).compiled?.trustDomain : undefined;
      if (!trustDomain) throw new Error('the store holds no mesh CA and there is no valid policy to take the trust domain from');
      const made = await generateCa(trustDomain);
      const put = await this.o.store.putCaIfAbsent({ certPem: made.certPem, sealedKey: sealKey(made.keyPem, secret), trustDomain });
      stored = put.ca;
      created = put.stored;
    }
    const key = unsealKey(stored.sealedKey, secret);
    if (!key.ok) throw new Error(reasonOf(key));
    return { ca: { dir: `${this.o.storeName}/ca`, certPem: stored.certPem, keyPem: key.value, trustDomain: stored.trustDomain }, created };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.retry);
    this.fence = undefined;
    // Leaving is best effort and bounded: with etcd away, the leases simply run out.
    await bounded(this.unwatch?.());
    await bounded(this.resign?.());
    await bounded(this.registration?.revoke());
  }

  /** Resolves once this replica serves entry `seq` or a later one (or after 5 s: the caller reports what is served). */
  private serving(seq: number): Promise<void> {
    if ((this.current?.seq ?? 0) >= seq) return Promise.resolve();
    this.refresh(true);
    return new Promise((resolve) => {
      const w = { seq, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      }, 5_000).unref();
    });
  }

  /**
   * Reads the store again. A read covers every change the watch had reported when it began
   * (etcd reads are linearizable), so the keys one transaction changed are one read, and a
   * change reported during a read is one more read after it.
   */
  private refresh(force = false): void {
    if (this.refreshing) {
      this.again ||= force;
      return;
    }
    const covers = this.changedAt;
    this.refreshing = this.refreshNow(false)
      .catch(() => false)
      .then((read) => {
        this.refreshing = undefined;
        // A failed read is tried again by its retry timer, not at once.
        if (read) this.readAt = Math.max(this.readAt, covers);
        if (this.again || (read && this.changedAt > this.readAt)) {
          this.again = false;
          this.refresh();
        }
      });
  }

  /** Whether the store was read. */
  private async refreshNow(throwing: boolean): Promise<boolean> {
    try {
      const s = await this.writer.state();
      this.quarantine = s.quarantine.list;
      if (s.entry && s.entry.seq !== this.current?.seq) this.serve(s.entry, s.workloads);
      this.storeProblem = undefined;
      clearTimeout(this.retry);
      return true;
    } catch (e) {
      const message = (e as Error).message;
      if (throwing) throw new Error(`cannot read the store ${this.o.storeName}: ${message}`);
      // Fail safe: what was good keeps serving; the store is read again soon.
      this.problem(`reading: ${message}; serving #${this.current?.seq ?? '-'} ${this.current?.version ?? '(nothing)'} meanwhile`);
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.refresh(true), RETRY_MS);
      this.retry.unref();
      return false;
    }
  }

  private serve(e: HistoryEntry, workloads: Published['workloads']): void {
    const p = this.parts;
    const published: Published = {
      version: e.version,
      seq: e.seq,
      origin: e.reason === 'publish' ? 'policy' : e.reason,
      at: (p.now ?? Date.now)(),
      workloads,
      summary: e.summary,
    };
    p.cache.setAll(snapshotOf(workloads, p.module, p.resourceName));
    this.current = published;
    p.hooks?.published?.(published);
    for (const w of [...this.waiters]) {
      if (w.seq > e.seq) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  private async loadRejected(): Promise<void> {
    this.lastRejected = (await this.o.store.rejected().catch(() => this.lastRejected)) ?? this.lastRejected;
  }

  private problem(message: string): void {
    if (this.storeProblem !== message) this.o.log.error({ store: this.o.storeName }, `store: ${message}`);
    this.storeProblem = message;
  }

  private ownRecord(): string {
    const key = `${this.report ? this.changes() : '-'}|${this.current?.seq}|${this.fence !== undefined}|${this.storeProblem}`;
    if (key !== this.record.key) this.record = { key, text: JSON.stringify(this.ownReport()) };
    return this.record.text;
  }

  private ownReport(): ReplicaReport {
    const s = this.report?.();
    return {
      id: this.o.id,
      pid: process.pid,
      xds: s?.server.xds,
      admin: s?.server.admin,
      leader: this.fence !== undefined,
      serving: this.current ? { seq: this.current.seq ?? 0, version: this.current.version } : undefined,
      storeProblem: this.storeProblem,
      sidecars: groupSidecars(s?.sidecars ?? []),
    };
  }

  private async tick(): Promise<void> {
    await this.registration?.refresh();
    // The client library does not always say when a campaign's lease is gone: the fence is checked.
    const fence = this.fence;
    if (++this.ticks % SLOW_TICKS !== 0) return;
    if (fence && (await this.o.store.holds(fence).catch(() => true)) === false) this.deposed('the campaign key is gone (its lease ended)');
    try {
      this.peers = await this.o.store.replicas();
      this.leaderId = this.fence ? this.o.id : this.peers.find((r) => r.leader)?.id;
    } catch {
      // Unreachable: the last list stays, and storeProblem (from the reads) says why.
    }
  }
}

function bounded(p: Promise<void> | undefined, ms = 1_500): Promise<void> {
  if (!p) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    p.catch(() => {}).finally(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
