/**
 * The record a replica keeps under `replicas/<id>`, rewritten whenever its sidecars' ACKs move
 * and read by every replica and CLI. Sidecars that hold the same thing are one group with a
 * count, so the record stays a few hundred bytes per workload however many pods it has; a
 * record is read as hostile data (another process wrote it): one whose shape is wrong is
 * refused whole, never half-trusted.
 */
import type { ReplicaReport, SidecarGroup, SidecarStatus } from '../serve/status.js';

/** Strings longer than this are not something a replica wrote. */
const MAX_TEXT = 4_096;
const MAX_GROUPS = 100_000;

export function groupSidecars(sidecars: readonly SidecarStatus[]): SidecarGroup[] {
  const groups = new Map<string, SidecarGroup>();
  for (const c of sidecars) {
    const g: SidecarGroup = {
      identity: c.identity,
      workload: c.workload,
      stream: `${c.service}/${c.transport}`,
      ackedPolicy: c.ackedPolicy,
      currentPolicy: c.currentPolicy,
      inSync: c.inSync,
      lastNack: c.lastNack?.message,
      count: 1,
    };
    const key = JSON.stringify([g.identity, g.workload, g.stream, g.ackedPolicy, g.currentPolicy, g.inSync, g.lastNack]);
    const same = groups.get(key);
    if (same) same.count++;
    else groups.set(key, g);
  }
  return [...groups.values()];
}

/** How many sidecars the groups hold, and how many of them are in sync. */
export function countSidecars(groups: readonly SidecarGroup[]): { all: number; inSync: number } {
  let all = 0;
  let inSync = 0;
  for (const g of groups) {
    all += g.count;
    if (g.inSync) inSync += g.count;
  }
  return { all, inSync };
}

export function parseReplicaRecord(text: string): ReplicaReport | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(v)) return undefined;
  const serving = v.serving;
  const okServing =
    serving === undefined ||
    (isObject(serving) && Number.isInteger(serving.seq) && (serving.seq as number) >= 0 && isText(serving.version));
  if (
    !isText(v.id) ||
    !Number.isInteger(v.pid) ||
    !optionalText(v.xds) ||
    !optionalText(v.admin) ||
    typeof v.leader !== 'boolean' ||
    !okServing ||
    !optionalText(v.storeProblem) ||
    !Array.isArray(v.sidecars) ||
    v.sidecars.length > MAX_GROUPS ||
    !v.sidecars.every(isGroup)
  )
    return undefined;
  return v as unknown as ReplicaReport;
}

function isGroup(g: unknown): boolean {
  return (
    isObject(g) &&
    isText(g.identity) &&
    optionalText(g.workload) &&
    isText(g.stream) &&
    optionalText(g.ackedPolicy) &&
    optionalText(g.currentPolicy) &&
    typeof g.inSync === 'boolean' &&
    optionalText(g.lastNack) &&
    Number.isInteger(g.count) &&
    (g.count as number) >= 1
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_TEXT;
const optionalText = (v: unknown) => v === undefined || isText(v);
