/**
 * Flows, persisted: observed requests aggregated by (destination, source, method, path
 * template) with counts per verdict, first and last seen, and the latest example. Kept in LMDB
 * (the `lmdb` package: memory-mapped, transactional, crash-safe, readable by other processes
 * while the server writes) under `<state>/flows`. The number of flows is bounded: past the
 * limit, the flows seen least recently are dropped, and the drop is counted.
 *
 * Beside the flows, under `<state>/rule-hits`: how often each rule decided (or, audit and
 * staged, matched) a request at each workload, from the filter's decision records. Bounded by
 * the policy's size, never dropped, and what `perimeter report` reads for unused rules.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import type { FlowEvent } from './event.js';
import { pathTemplate } from './template.js';

export interface Flow {
  destination: string;
  /** SPIFFE ID, or undefined for callers without a verified certificate. */
  source: string | undefined;
  method: string;
  template: string;
  count: number;
  allowed: number;
  /** Blocked by an enforced deny. */
  denied: number;
  /** Denied by the written policy but not enforced (simulate/observe). */
  wouldDeny: number;
  firstMs: number;
  lastMs: number;
  /** The latest request of the flow, as an example. */
  lastPath: string;
  lastHost: string;
  lastRule: string;
  lastVersion: string;
  lastStatus: number;
  /** Requests the staged candidate would have decided otherwise. */
  disagree: number;
  /** The candidate's verdict on the latest such request: `deny:db/no-deletes`. */
  lastCandidate: string;
}

export interface RuleHits {
  destination: string;
  /** `perimeter/rule` */
  rule: string;
  hits: number;
  firstMs: number;
  lastMs: number;
}

export interface FlowQuery {
  to?: string;
  denied?: boolean;
  /** Only flows where the staged candidate decided otherwise. */
  disagree?: boolean;
  sinceMs?: number;
}

export const DEFAULT_MAX_FLOWS = 100_000;
const UNAUTHENTICATED = '-';

export function flowKey(destination: string, source: string | undefined, method: string, template: string): string {
  return `${destination}\u0000${source ?? UNAUTHENTICATED}\u0000${method}\u0000${template}`;
}

export class FlowStore {
  private dropped = 0;

  private constructor(
    private readonly db: RootDatabase<Flow, string>,
    private readonly hitsDb: RootDatabase<RuleHits, string>,
    readonly maxFlows: number,
  ) {}

  /** Rule hits, read while the server may be writing; undefined when none were ever recorded. */
  static async readHits(stateDir: string): Promise<RuleHits[] | undefined> {
    if (!existsSync(join(stateDir, 'rule-hits'))) return undefined;
    const store = FlowStore.open(stateDir, { readOnly: true });
    try {
      return store.hits();
    } finally {
      await store.close();
    }
  }

  hits(): RuleHits[] {
    return [...this.hitsDb.getRange()].map(({ value }) => value);
  }

  /** The flows a query selects, read while the server may be writing; undefined when none were ever recorded. */
  static async read(stateDir: string, q: FlowQuery = {}): Promise<Flow[] | undefined> {
    if (!existsSync(join(stateDir, 'flows'))) return undefined;
    const store = FlowStore.open(stateDir, { readOnly: true });
    try {
      return store.query(q);
    } finally {
      await store.close();
    }
  }

  static open(stateDir: string, opts: { maxFlows?: number; readOnly?: boolean } = {}): FlowStore {
    const path = join(stateDir, 'flows');
    const hitsPath = join(stateDir, 'rule-hits');
    const readOnly = Boolean(opts.readOnly);
    if (!readOnly) for (const p of [path, hitsPath]) mkdirSync(p, { recursive: true });
    const db = open<Flow, string>({ path, readOnly });
    // A store written before rule hits were kept has flows only.
    const hits = open<RuleHits, string>({ path: hitsPath, readOnly: readOnly && existsSync(hitsPath) });
    return new FlowStore(db, hits, opts.maxFlows ?? DEFAULT_MAX_FLOWS);
  }

  /** Adds a batch of events in one transaction; returns how many flows it created. */
  record(events: readonly FlowEvent[]): number {
    if (events.length === 0) return 0;
    let created = 0;
    this.db.transactionSync(() => {
      const touched = new Map<string, Flow>();
      for (const e of events) {
        const template = pathTemplate(e.path);
        const key = flowKey(e.destination, e.source, e.method, template);
        let f = touched.get(key);
        if (!f) {
          const stored = this.db.get(key);
          if (stored) f = { ...stored };
        }
        if (!f) {
          created++;
          f = {
            destination: e.destination,
            source: e.source,
            method: e.method,
            template,
            count: 0,
            allowed: 0,
            denied: 0,
            wouldDeny: 0,
            firstMs: e.timeMs,
            lastMs: e.timeMs,
            lastPath: '',
            lastHost: '',
            lastRule: '',
            lastVersion: '',
            lastStatus: 0,
            disagree: 0,
            lastCandidate: '',
          };
        }
        f.count++;
        f.disagree ??= 0;
        if (e.candidate) {
          f.disagree++;
          f.lastCandidate = `${e.candidate.decision}:${e.candidate.rule}`;
        }
        if (e.decision === 'allow') f.allowed++;
        else if (e.enforced) f.denied++;
        else f.wouldDeny++;
        f.firstMs = Math.min(f.firstMs, e.timeMs);
        if (e.timeMs >= f.lastMs) {
          f.lastMs = e.timeMs;
          f.lastPath = e.path;
          f.lastHost = e.host;
          f.lastRule = e.rule;
          f.lastVersion = e.version;
          f.lastStatus = e.status;
        }
        touched.set(key, f);
      }
      for (const [k, f] of touched) this.db.putSync(k, f);
    });
    this.recordHits(events);
    if (created > 0) this.bound();
    return created;
  }

  private recordHits(events: readonly FlowEvent[]): void {
    const touched = new Map<string, RuleHits>();
    const hit = (destination: string, rule: string, timeMs: number) => {
      const key = `${destination}\u0000${rule}`;
      const h = touched.get(key) ?? this.hitsDb.get(key) ?? { destination, rule, hits: 0, firstMs: timeMs, lastMs: timeMs };
      touched.set(key, { ...h, hits: h.hits + 1, firstMs: Math.min(h.firstMs, timeMs), lastMs: Math.max(h.lastMs, timeMs) });
    };
    for (const e of events) {
      if (e.rule) hit(e.destination, e.rule, e.timeMs);
      if (e.audit) hit(e.destination, e.audit, e.timeMs);
      if (e.staged) hit(e.destination, e.staged, e.timeMs);
    }
    this.hitsDb.transactionSync(() => {
      for (const [k, h] of touched) this.hitsDb.putSync(k, h);
    });
  }

  /** Past the limit, drops the flows seen least recently (down to 90% of it, so not every batch pays). */
  private bound(): void {
    const size = this.db.getCount();
    if (size <= this.maxFlows) return;
    const keep = Math.floor(this.maxFlows * 0.9);
    const byAge = [...this.db.getRange()].sort((a, b) => a.value.lastMs - b.value.lastMs);
    const drop = byAge.slice(0, size - keep);
    this.db.transactionSync(() => {
      for (const { key } of drop) this.db.removeSync(key);
    });
    this.dropped += drop.length;
  }

  /** Flows matching the query, busiest first. */
  query(q: FlowQuery = {}): Flow[] {
    const out: Flow[] = [];
    for (const { value } of this.db.getRange()) {
      // An absent source is stored as null.
      const f: Flow = {
        ...value,
        source: value.source ?? undefined,
        disagree: value.disagree ?? 0,
        lastCandidate: value.lastCandidate ?? '',
      };
      if (q.to !== undefined && f.destination !== q.to) continue;
      if (q.denied && f.denied + f.wouldDeny === 0) continue;
      if (q.disagree && f.disagree === 0) continue;
      if (q.sinceMs !== undefined && f.lastMs < q.sinceMs) continue;
      out.push(f);
    }
    const key = (f: Flow) => flowKey(f.destination, f.source, f.method, f.template);
    return out.sort((a, b) => b.count - a.count || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  get size(): number {
    return this.db.getCount();
  }

  /** Flows dropped to stay within the limit since this store was opened. */
  get droppedFlows(): number {
    return this.dropped;
  }

  async close(): Promise<void> {
    await this.db.close();
    await this.hitsDb.close();
  }
}
