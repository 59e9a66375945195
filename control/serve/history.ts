/**
 * The append-only history of published snapshots under `<state>/history/`: one JSON file per
 * version (`000001.json`, …) naming each workload's compiled policy, stored once by content in
 * `blobs/<version>.pb`, plus the policy sources that produced it. Every file is written
 * atomically and blobs before the entry that names them, so a crash leaves the last complete
 * version as the latest; nothing is ever rewritten or deleted.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail, ok, type Result } from '../../contracts/problem.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { removeLeftovers, writeFileAtomic } from './atomic.js';

export interface HistoryWorkload {
  name: string;
  identity: string;
  /** Content digest of the compiled policy; also its blob's name. */
  version: string;
}

export interface HistoryEntry {
  seq: number;
  /** The snapshot version: digest over every workload's version. */
  version: string;
  time: string;
  reason: 'publish' | 'rollback' | 'quarantine' | 'release';
  /** For a rollback: the sequence number republished. */
  rollbackOf?: number;
  /** One line per changed workload, against the previous entry. */
  summary: string[];
  workloads: HistoryWorkload[];
  /** For a quarantine or a release: the identity and how. */
  quarantine?: { identity: string; both: boolean; reason: string; since: string };
  /** When a quarantine was laid over the policy: the snapshot version of the policy alone. */
  baseVersion?: string;
  /** Blob holding the policy sources as JSON [{path, text}], if recorded. */
  sources?: string;
}

export class HistoryError extends Error {}

const ENTRY = /^(\d{6,})\.json$/;

export class History {
  private readonly list: HistoryEntry[] = [];
  readonly dir: string;
  private readonly blobs: string;
  /** Names of temporary files a crashed writer left behind (removed on open). */
  readonly recovered: string[];

  private constructor(stateDir: string) {
    this.dir = join(stateDir, 'history');
    this.blobs = join(this.dir, 'blobs');
    mkdirSync(this.blobs, { recursive: true, mode: 0o700 });
    this.recovered = [...removeLeftovers(this.dir), ...removeLeftovers(this.blobs)];
    const files = readdirSync(this.dir)
      .filter((n) => ENTRY.test(n))
      .sort();
    for (const f of files) {
      const text = readFileSync(join(this.dir, f), 'utf8');
      let e: HistoryEntry;
      try {
        e = JSON.parse(text) as HistoryEntry;
      } catch (err) {
        throw new HistoryError(`${join(this.dir, f)} is not valid JSON (${(err as Error).message}); the history is damaged`);
      }
      this.list.push(e);
    }
  }

  static open(stateDir: string): History {
    return new History(stateDir);
  }

  /** Opens the history only if it exists (for read-only commands). */
  static existing(stateDir: string): History | undefined {
    return existsSync(join(stateDir, 'history')) ? new History(stateDir) : undefined;
  }

  entries(): readonly HistoryEntry[] {
    return this.list;
  }

  latest(): HistoryEntry | undefined {
    return this.list[this.list.length - 1];
  }

  /** By sequence number (`7`, `#7`) or by a prefix of the snapshot version (the latest such entry). */
  find(ref: string): Result<HistoryEntry> {
    return findEntry(this.list, ref);
  }

  hasBlob(version: string): boolean {
    return existsSync(join(this.blobs, `${version}.pb`));
  }

  blob(version: string): Uint8Array {
    const p = join(this.blobs, `${version}.pb`);
    if (!existsSync(p)) throw new HistoryError(`blob ${version} is missing from ${this.blobs}`);
    return new Uint8Array(readFileSync(p));
  }

  /** The compiled policies of an entry, by workload name. */
  policies(e: HistoryEntry): Map<string, CompiledPolicy> {
    return new Map(e.workloads.map((w) => [w.name, CompiledPolicy.decode(this.blob(w.version))]));
  }

  sources(e: HistoryEntry): { path: string; text: string }[] {
    if (!e.sources) return [];
    return JSON.parse(Buffer.from(this.blob(e.sources)).toString('utf8')) as { path: string; text: string }[];
  }

  /** Stores blobs (skipping those already stored), then the entry. Returns the entry with its number. */
  append(entry: Omit<HistoryEntry, 'seq'>, blobs: ReadonlyMap<string, Uint8Array>): HistoryEntry {
    for (const [version, bytes] of blobs) if (!this.hasBlob(version)) writeFileAtomic(join(this.blobs, `${version}.pb`), bytes, 0o600);
    const seq = (this.latest()?.seq ?? 0) + 1;
    const full: HistoryEntry = { seq, ...entry };
    writeFileAtomic(join(this.dir, `${String(seq).padStart(6, '0')}.json`), `${JSON.stringify(full, null, 2)}\n`, 0o600);
    this.list.push(full);
    return full;
  }
}

/** In `entries`, by sequence number (`7`, `#7`) or by a prefix of the snapshot version (the latest such entry). */
export function findEntry(entries: readonly HistoryEntry[], ref: string): Result<HistoryEntry> {
  const r = ref.replace(/^#/, '');
  if (/^\d+$/.test(r) && r.length < 8) {
    const e = entries.find((x) => x.seq === Number(r));
    return e ? ok(e) : fail('', `no version #${r} (history has #1…#${entries.length})`);
  }
  const hits = entries.filter((x) => x.version.startsWith(r));
  const last = hits[hits.length - 1];
  if (!last) return fail('', `no version matches "${ref}"; see perimeter versions`);
  if (new Set(hits.map((h) => h.version)).size > 1) return fail('', `"${ref}" matches several versions; give more digits`);
  return ok(last);
}
