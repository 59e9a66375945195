/**
 * Containment: identities the operator has quarantined. A quarantine is not policy a service
 * owner wrote, so it is not compiled from the policy directory: it is laid over whatever is
 * being served (a fresh compile, a rollback, the history at start) as one extra perimeter,
 * `quarantine`, with enforced deny rules. An enforced deny wins over every allow, and the
 * default mode is left alone, so a workload still in observe keeps observing everyone else.
 * The list survives restarts in `<state>/quarantine.json`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail, ok, type Result, reasonOf } from '../../contracts/problem.js';
import { QUARANTINE_PERIMETER } from '../../contracts/reserved.js';
import { parseSpiffeId } from '../../contracts/spiffe.js';
import { CompiledPolicy, type CompiledRule } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Mode, Source_Peer, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { anySource, digest, encodeVersioned } from '../compile/compile.js';
import { writeFileAtomic } from './atomic.js';
import type { PublishedWorkload } from './published.js';

/** Reserved: no perimeter in the policy directory may take this name. */
const OWNER = 'perimeter-control';

export interface QuarantineEntry {
  identity: string;
  /** Also deny every request to the identity's own workload. */
  both: boolean;
  reason: string;
  since: string;
}

export class QuarantineError extends Error {}

export function quarantinePath(state: string): string {
  return join(state, 'quarantine.json');
}

export function readQuarantine(state: string): QuarantineEntry[] {
  const p = quarantinePath(state);
  if (!existsSync(p)) return [];
  const r = parseQuarantine(readFileSync(p, 'utf8'), p);
  if (!r.ok) throw new QuarantineError(reasonOf(r));
  return r.value;
}

/** The list as JSON text, from `where` (a file, a store key); damaged is an error, never an empty list. */
export function parseQuarantine(text: string, where: string): Result<QuarantineEntry[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // Fail closed: a damaged list must not quietly lift a quarantine.
    return fail('', `${where} is not valid JSON (${(e as Error).message}); fix or remove it deliberately`);
  }
  if (!Array.isArray(parsed)) return fail('', `${where}: expected a JSON array of quarantined identities`);
  const list: QuarantineEntry[] = [];
  for (const [i, x] of parsed.entries()) {
    const e = (x ?? {}) as Partial<QuarantineEntry>;
    const bad = typeof e.identity !== 'string' ? 'identity is missing' : checkIdentity(e.identity);
    if (bad) return fail('', `${where}: [${i}].identity: ${bad}`);
    list.push({ identity: e.identity as string, both: e.both === true, reason: String(e.reason ?? ''), since: String(e.since ?? '') });
  }
  return ok(list);
}

export function writeQuarantine(state: string, entries: readonly QuarantineEntry[]): void {
  writeFileAtomic(quarantinePath(state), `${JSON.stringify(entries, null, 2)}\n`, 0o600);
}

/** undefined when the identity is a SPIFFE ID a quarantine can name. */
export function checkIdentity(identity: string): string | undefined {
  const parsed = parseSpiffeId(identity);
  if (!parsed.ok) return `"${identity}" is not a SPIFFE ID: ${reasonOf(parsed)}`;
  if (parsed.value.segments.length === 0) return `"${identity}" names a whole trust domain; quarantine one workload identity`;
  return undefined;
}

/** The served policy of one workload: its own perimeters, then the quarantine rules that concern it. */
export function withQuarantine(base: CompiledPolicy, entries: readonly QuarantineEntry[]): { policy: CompiledPolicy; bytes?: Uint8Array } {
  const clean = withoutQuarantine(base);
  const rules: CompiledRule[] = [];
  const perimeter = clean.perimeters.length;
  for (const e of entries) {
    if (e.identity !== clean.identity) rules.push(denyRule(`from:${e.identity}`, perimeter, e.identity));
    else if (e.both) rules.push(denyRule(`to:${e.identity}`, perimeter, undefined));
  }
  if (rules.length === 0) return { policy: clean };
  const message: CompiledPolicy = {
    ...clean,
    version: '',
    perimeters: [...clean.perimeters, { name: QUARANTINE_PERIMETER, mode: Mode.MODE_ENFORCE, owner: OWNER }],
    rules: [...clean.rules, ...rules],
    // A staged candidate is contained too, or it would "disagree" with every quarantined request.
    candidate: clean.candidate ? withQuarantine(clean.candidate, entries).policy : undefined,
  };
  const { bytes, version } = encodeVersioned(message);
  return { policy: { ...message, version }, bytes };
}

/** Published workloads with the quarantine laid over them, and their snapshot version; unchanged (same bytes) when nothing is quarantined. */
export function quarantineWorkloads(
  base: PublishedWorkload[],
  baseVersion: string,
  entries: readonly QuarantineEntry[],
): { workloads: PublishedWorkload[]; version: string } {
  if (entries.length === 0) return { workloads: base, version: baseVersion };
  const workloads = base.map((w) => {
    const served = withQuarantine(CompiledPolicy.decode(w.bytes), entries);
    return served.bytes ? { ...w, version: served.policy.version, bytes: served.bytes } : w;
  });
  return { workloads, version: digest(workloads.map((w) => `${w.name}=${w.version}`).join('\n')) };
}

/** A served policy without the quarantine overlay: what the policy itself compiled to. */
export function withoutQuarantine(p: CompiledPolicy): CompiledPolicy {
  const at = p.perimeters.findIndex((x) => x.name === QUARANTINE_PERIMETER && x.owner === OWNER);
  if (at < 0) return p;
  const message: CompiledPolicy = {
    ...p,
    version: '',
    perimeters: p.perimeters.filter((_, i) => i !== at),
    rules: p.rules.filter((r) => r.perimeter !== at).map((r) => (r.perimeter > at ? { ...r, perimeter: r.perimeter - 1 } : r)),
    candidate: p.candidate ? withoutQuarantine(p.candidate) : undefined,
  };
  return { ...message, version: encodeVersioned(message).version };
}

function denyRule(name: string, perimeter: number, from: string | undefined): CompiledRule {
  return {
    name,
    perimeter,
    action: Action.ACTION_DENY,
    mode: Mode.MODE_ENFORCE,
    expiresUnixMs: 0,
    // "to" denies every caller, with or without a certificate.
    sources: [
      from
        ? {
            ...anySource(),
            peer: Source_Peer.PEER_AUTHENTICATED,
            principals: [{ kind: StringMatch_Kind.KIND_EXACT, value: from, ignoreCase: false }],
          }
        : anySource(),
    ],
    operations: [],
    conditions: [],
  };
}
