/**
 * Where a control server's versions come from and go to. In one process: its own state
 * directory (file-source.ts). With several replicas: a shared store, where one leader compiles
 * and every replica serves what the store says is current (control/ha). The server, its admin
 * endpoint and the CLI see only this.
 */
import type { Result } from '../../contracts/problem.js';
import type { CaFiles } from '../ca/ca.js';
import type { HistoryEntry } from './history.js';
import type { Published, Rejected } from './published.js';
import type { PublisherOptions } from './publisher.js';
import type { QuarantineEntry } from './quarantine.js';
import type { ReplicaReport, ReplicaRole, StatusReport } from './status.js';
import type { PolicyView } from './ui-state.js';

export interface QuarantineEdit {
  kind: 'quarantine' | 'release';
  entry: QuarantineEntry;
  /** The whole list after the change. */
  list: readonly QuarantineEntry[];
}

export interface VersionSource {
  /** What this server serves now. */
  readonly current: Published | undefined;
  readonly lastRejected: Rejected | undefined;
  readonly quarantine: readonly QuarantineEntry[];
  /** What the web page shows of the last policy that loaded (the compiling replica only). */
  readonly view: PolicyView | undefined;
  /** The trust domain of the last policy that loaded. */
  readonly trustDomain: string | undefined;
  readonly role: ReplicaRole | undefined;
  /** With a shared store: every live replica as it registered itself. */
  readonly replicas?: readonly ReplicaReport[];
  /**
   * The server hands over its status once it runs (a shared store keeps it under the replica's
   * lease), and a count that moves whenever a sidecar's part of it may have changed.
   */
  registerStatus?(report: () => StatusReport, changes: () => number): void;
  /** Loads and serves the first version. */
  start(): Promise<void>;
  /** The policy paths changed: compile and publish (a no-op where this server does not write). */
  reload(): Promise<unknown>;
  versions(): Promise<readonly HistoryEntry[]>;
  /** Republishes an old version (by `#seq` or version prefix) until the next change. */
  rollback(ref: string): Promise<Result<Published>>;
  /** Replaces the quarantine list and republishes what is served with it (undefined: nothing served yet). */
  setQuarantine(edit: QuarantineEdit): Promise<Result<Published | undefined>>;
  /** The mesh CA, created for `trustDomain` when there is none yet. */
  ca(trustDomain: string | undefined): Promise<{ ca: CaFiles; created: boolean }>;
  stop(): Promise<void>;
}

/** What a server hands its version source: how to compile, where to serve, whom to tell. */
export type SourceParts = Omit<PublisherOptions, 'history' | 'quarantine'>;
