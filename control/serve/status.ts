/**
 * What `perimeter status` and the web page read of a running control server: the server, the
 * snapshot it serves, the change it last refused, every connected sidecar and whether it has
 * ACKed its workload's current policy, the quarantine and the flow intake.
 */
import { TYPE } from '../../contracts/type-urls.js';
import type { StreamInfo } from '../xds/session.js';
import type { Published, Rejected } from './published.js';
import type { QuarantineEntry } from './quarantine.js';

/** What a replica says of itself in `status` (absent in one process). */
export interface ReplicaRole {
  id: string;
  store: string;
  leader: boolean;
  /** The replica that leads, when known. */
  leaderId: string | undefined;
  /** The last problem reading or writing the store (cleared when it works again). */
  storeProblem: string | undefined;
}

/** What a replica keeps under its lease in a shared store, for every other replica's status. */
export interface ReplicaReport {
  id: string;
  pid: number;
  xds: string | undefined;
  admin: string | undefined;
  leader: boolean;
  serving: { seq: number; version: string } | undefined;
  storeProblem: string | undefined;
  /** Sidecars that hold the same thing, counted: every pod of a Deployment shares its identity. */
  sidecars: SidecarGroup[];
}

export interface SidecarGroup {
  identity: string;
  workload: string | undefined;
  stream: string;
  ackedPolicy: string | undefined;
  currentPolicy: string | undefined;
  inSync: boolean;
  lastNack: string | undefined;
  count: number;
}

export interface SidecarStatus {
  stream: number;
  identity: string;
  workload: string | undefined;
  transport: string;
  service: string;
  peer: string;
  connectedAt: string;
  /** Policy version of the workload the sidecar last ACKed (if it is known). */
  ackedPolicy: string | undefined;
  /** Policy version the sidecar should have now. */
  currentPolicy: string | undefined;
  inSync: boolean;
  pushes: number;
  lastNack: { at: string; message: string; policy: string | undefined } | undefined;
  /** Requests for resource types this server does not serve (answered with nothing). */
  unservedRequests: number;
}

export interface StatusReport {
  server: {
    pid: number;
    xds: string;
    admin: string | undefined;
    secure: boolean;
    trustDomain: string | undefined;
    resourceName: string;
    /** With a shared store: this replica, whether it leads, and the store's health. */
    replica?: ReplicaRole;
  };
  snapshot:
    | { version: string; seq: number | undefined; origin: string; publishedAt: string; workloads: number; summary: string[] }
    | undefined;
  lastRejected: { at: string; errors: number; messages: string[] } | undefined;
  sidecars: SidecarStatus[];
  /** Identities denied across the mesh (perimeter quarantine). */
  quarantine: QuarantineEntry[];
  /** Access-log entries received over ALS: recorded as flows, or refused (with the last reason). */
  flows: FlowStats;
  /** With a shared store: every live replica and its sidecars. */
  replicas?: ReplicaReport[];
}

/** Access-log entries received over ALS: recorded as flows, or refused (with the last reason). */
export interface FlowStats {
  entries: number;
  recorded: number;
  refused: number;
  lastRefusal: string | undefined;
  stored: number;
  dropped: number;
}

export const EMPTY_FLOW_STATS: FlowStats = { entries: 0, recorded: 0, refused: 0, lastRefusal: undefined, stored: 0, dropped: 0 };

export interface StatusParts {
  server: StatusReport['server'];
  published: Published | undefined;
  rejected: Rejected | undefined;
  streams: Iterable<StreamInfo>;
  /** xDS set version → the workload policy version it carries. */
  policyOf: ReadonlyMap<string, string>;
  quarantine: readonly QuarantineEntry[];
  flows: FlowStats;
  replicas?: readonly ReplicaReport[];
}

export function statusReport(o: StatusParts): StatusReport {
  const p = o.published;
  const byIdentity = new Map((p?.workloads ?? []).map((w) => [w.identity, w]));
  const iso = (t: number | undefined) => (t === undefined ? '' : new Date(t).toISOString());
  const sidecars = [...o.streams].map((s): SidecarStatus => {
    const t = s.types.get(TYPE.extensionConfig) ?? [...s.types.values()][0];
    const w = byIdentity.get(s.identity);
    const acked = t?.ackedVersion !== undefined ? o.policyOf.get(t.ackedVersion) : undefined;
    return {
      stream: s.id,
      identity: s.identity,
      workload: w?.name,
      transport: s.transport,
      service: s.service,
      peer: s.peer,
      connectedAt: iso(s.connectedAt),
      ackedPolicy: acked,
      currentPolicy: w?.version,
      inSync: acked !== undefined && acked === w?.version,
      pushes: t?.pushes ?? 0,
      lastNack: t?.lastNack
        ? { at: iso(t.lastNack.at), message: t.lastNack.message, policy: o.policyOf.get(t.lastNack.version) }
        : undefined,
      unservedRequests: s.refusedTypes,
    };
  });
  const r = o.rejected;
  return {
    server: o.server,
    snapshot: p
      ? { version: p.version, seq: p.seq, origin: p.origin, publishedAt: iso(p.at), workloads: p.workloads.length, summary: p.summary }
      : undefined,
    lastRejected: r ? { at: iso(r.at), errors: r.errors, messages: r.messages } : undefined,
    sidecars,
    quarantine: [...o.quarantine],
    flows: o.flows,
    ...(o.replicas ? { replicas: [...o.replicas] } : {}),
  };
}
