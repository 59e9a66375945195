/** What the control server serves: the published snapshot of every workload's policy, and the last change it refused. */

export interface PublishedWorkload {
  name: string;
  identity: string;
  version: string;
  bytes: Uint8Array;
}

export interface Published {
  version: string;
  /** The history entry, when a history is kept. */
  seq?: number;
  origin: 'policy' | 'rollback' | 'history' | 'quarantine' | 'release';
  at: number;
  workloads: PublishedWorkload[];
  summary: string[];
}

export interface Rejected {
  at: number;
  errors: number;
  /** The diagnostics exactly as `perimeter validate` prints them. */
  messages: string[];
}

/** A publication as the admin endpoint and the CLI report it. */
export function publishedSummary(p: Published) {
  return { version: p.version, seq: p.seq, origin: p.origin, workloads: p.workloads.length, summary: p.summary };
}
