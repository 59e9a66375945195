/**
 * What a new version is made of, wherever it is kept (the state directory or etcd): the policy's
 * own compiled workloads with today's quarantine laid over them, the summary against what was
 * served before, the history entry and the blobs it names. Pure, so every writer (the server,
 * the leader of several replicas, `perimeter apply`) builds the same entry from the same inputs.
 */
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { digest } from '../compile/compile.js';
import { diffVersions, summarize } from './diff.js';
import type { HistoryEntry } from './history.js';
import type { PublishedWorkload } from './published.js';
import { type QuarantineEntry, quarantineWorkloads, withoutQuarantine } from './quarantine.js';

export type Origin = 'policy' | 'rollback' | 'history' | 'quarantine' | 'release';

export interface Composition {
  /** The policy's own compiled workloads and their snapshot version (before the quarantine). */
  base: readonly PublishedWorkload[];
  baseVersion: string;
  quarantine: readonly QuarantineEntry[];
  origin: Exclude<Origin, 'history'>;
  /** What was served before, for the summary (absent: the first version). */
  previous: readonly PublishedWorkload[] | undefined;
  time: string;
  sources?: readonly { path: string; text: string }[];
  rollbackOf?: number;
  change?: QuarantineEntry;
}

export interface Composed {
  workloads: PublishedWorkload[];
  version: string;
  summary: string[];
  entry: Omit<HistoryEntry, 'seq'>;
  /** Every blob the entry names: compiled policies by version, the sources by digest. */
  blobs: Map<string, Uint8Array>;
}

export function compose(c: Composition): Composed {
  const { workloads, version } = quarantineWorkloads([...c.base], c.baseVersion, c.quarantine);
  const decoded = (list: readonly PublishedWorkload[]) => new Map(list.map((w) => [w.name, CompiledPolicy.decode(w.bytes)]));
  const summary = c.previous ? summarize(diffVersions(decoded(c.previous), decoded(workloads))) : [`${workloads.length} workloads`];
  const blobs = new Map(workloads.map((w) => [w.version, w.bytes]));
  let sourcesBlob: string | undefined;
  if (c.sources) {
    const bytes = Buffer.from(JSON.stringify(c.sources));
    sourcesBlob = `src-${digest(bytes)}`;
    blobs.set(sourcesBlob, bytes);
  }
  const entry: Omit<HistoryEntry, 'seq'> = {
    version,
    time: c.time,
    reason: c.origin === 'policy' ? 'publish' : c.origin,
    ...(c.rollbackOf !== undefined && c.origin === 'rollback' ? { rollbackOf: c.rollbackOf } : {}),
    ...(c.change ? { quarantine: c.change } : {}),
    ...(version !== c.baseVersion ? { baseVersion: c.baseVersion } : {}),
    summary,
    workloads: workloads.map(({ name, identity, version: v }) => ({ name, identity, version: v })),
    ...(sourcesBlob ? { sources: sourcesBlob } : {}),
  };
  return { workloads, version, summary, entry, blobs };
}

/** The workloads an entry served, as stored (`bytes` of each by its version). */
export function servedWorkloads(e: HistoryEntry, bytes: (version: string) => Uint8Array): PublishedWorkload[] {
  return e.workloads.map((w) => ({ name: w.name, identity: w.identity, version: w.version, bytes: bytes(w.version) }));
}

/** An entry's workloads without the quarantine laid over them then (today's is laid again by compose). */
export function baseWorkloads(e: HistoryEntry, bytes: (version: string) => Uint8Array): PublishedWorkload[] {
  return e.workloads.map((w) => {
    const stored = bytes(w.version);
    const p = withoutQuarantine(CompiledPolicy.decode(stored));
    return {
      name: w.name,
      identity: w.identity,
      version: p.version,
      bytes: p.version === w.version ? stored : CompiledPolicy.encode(p).finish(),
    };
  });
}

/** The snapshot version of the policy alone, for an entry. */
export const baseVersionOf = (e: HistoryEntry) => e.baseVersion ?? e.version;

/** The policy version the directory last compiled to: the newest entry that a policy change published. */
export function lastPolicyVersion(entries: readonly HistoryEntry[]): string | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i] as HistoryEntry;
    if (e.reason === 'publish') return baseVersionOf(e);
  }
  return undefined;
}
