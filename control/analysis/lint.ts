/**
 * `perimeter lint`: what a reviewer should look at before a policy ships, each finding at its
 * place with a severity and a fix:
 *  - rules that can never decide anything (dead-rules.ts);
 *  - selectors that select no workload and `from` labels no workload carries, and identities no
 *    workload has;
 *  - allows on a crown jewel open to every identity, a whole trust domain or unauthenticated callers;
 *  - exceptions (rules with `expires`) that have expired or expire soon;
 *  - perimeters left in observe or simulate for longer than a set age (from the published history).
 */
import type { CompileResult } from '../compile/compile.js';
import type { Location, Perimeter, PolicySet, Rule, Source } from '../policy/model.js';
import { Registry } from '../policy/registry.js';
import { deadEverywhere, deadRules } from './dead-rules.js';
import { perWorkload } from './parallel.js';

export type LintSeverity = 'error' | 'warning' | 'note';

export interface LintFinding {
  code: LintCode;
  severity: LintSeverity;
  location: Location;
  /** Resource and rule: `Perimeter/db: rules[3] no-deletes`. */
  path: string;
  message: string;
  fix: string;
}

export const LINT_CODES = {
  'shadowed-allow': 'an allow rule whose every request a deny rule blocks',
  'redundant-allow': 'an allow rule whose every request other allow rules already admit',
  'matches-nothing': 'a rule that matches no request',
  'deny-of-nothing': 'a deny rule that blocks only what no allow rule admits (default deny already does)',
  'selects-nothing': 'a selector or label selector that matches no registered workload',
  'unknown-identity': 'an identity no registered workload has',
  'open-crown-jewel': 'an allow rule on a crown jewel open to any identity, a whole trust domain or unauthenticated callers',
  'expired-exception': 'a rule whose expiry has passed',
  'expiring-exception': 'a rule that expires soon',
  'long-rollout': 'a perimeter left in observe or simulate longer than the set age',
} as const;
export type LintCode = keyof typeof LINT_CODES;

export interface LintOptions {
  nowMs: number;
  /** Exceptions expiring within this are reported. */
  soonMs: number;
  /** Observe and simulate longer than this are reported. */
  maxRolloutMs: number;
  /** Since when each perimeter has had its current mode (from the history), when known. */
  modeSince?: ReadonlyMap<string, { mode: string; sinceMs: number }>;
}

const DAY = 86_400_000;

export async function lint(set: PolicySet, compiled: CompileResult, o: LintOptions): Promise<LintFinding[]> {
  const out: LintFinding[] = [];
  const registry = new Registry(set.workloads);
  const identities = new Set(set.workloads.map((w) => w.identity));
  const byName = new Map(set.perimeters.map((p) => [p.name, p]));
  const at = (p: Perimeter, r?: Rule) => `Perimeter/${p.name}${r ? `: rules[${p.rules.indexOf(r)}] ${r.name}` : ''}`;
  const add = (code: LintCode, severity: LintSeverity, location: Location, path: string, message: string, fix: string) =>
    out.push({ code, severity, location, path, message, fix });

  const perWorkloadDead = await perWorkload(
    'dead',
    compiled.workloads.map((w) => w.bytes),
    { nowMs: o.nowMs },
    deadRules,
  );
  for (const f of deadEverywhere(perWorkloadDead)) {
    const p = byName.get(f.perimeter);
    const r = p?.rules.find((x) => x.name === f.rule);
    const d = f.dead;
    if (p && r) add(d.code, d.code === 'deny-of-nothing' ? 'note' : 'warning', r.location, at(p, r), d.message, d.fix);
  }

  for (const name of compiled.unused) {
    const p = byName.get(name);
    if (p)
      add(
        'selects-nothing',
        'warning',
        p.location,
        at(p),
        'its selector selects no registered workload: it protects nothing',
        'fix the selector, or register the workload',
      );
  }
  for (const p of set.perimeters) {
    const jewel = p.crownJewel || registry.select(p.selector).some((w) => w.labels['crown-jewel'] === 'true');
    for (const r of p.rules) {
      for (const s of r.from) {
        for (const l of s.labels)
          if (registry.labelled(l).length === 0)
            add(
              'selects-nothing',
              'warning',
              r.location,
              at(p, r),
              `no workload carries the labels ${JSON.stringify(l)}: this part of from names nobody`,
              'fix the labels, or remove them',
            );
        for (const m of s.principals)
          if (m.kind === 'exact' && !identities.has(m.value) && p.origin === 'perimeter')
            add(
              'unknown-identity',
              'warning',
              r.location,
              at(p, r),
              `no registered workload has the identity ${m.value}`,
              "register it as a Workload (or fix a typo); rules should name the mesh's own callers",
            );
        if (jewel && r.action === 'allow') {
          const open = openness(s);
          if (open)
            add(
              'open-crown-jewel',
              'error',
              r.location,
              at(p, r),
              `${p.name} is a crown jewel, and this allow admits ${open}`,
              'name the callers: workloads, labels or exact identities',
            );
        }
      }
      if (r.expiresUnixMs !== undefined) {
        const when = new Date(r.expiresUnixMs).toISOString();
        if (r.expiresUnixMs <= o.nowMs)
          add(
            'expired-exception',
            'warning',
            r.location,
            at(p, r),
            `expired on ${when}: it matches nothing now`,
            'remove it, or move its expiry forward',
          );
        else if (r.expiresUnixMs - o.nowMs <= o.soonMs)
          add(
            'expiring-exception',
            'note',
            r.location,
            at(p, r),
            `expires in ${Math.ceil((r.expiresUnixMs - o.nowMs) / DAY)} days (${when})`,
            'renew it, or let the callers know',
          );
      }
    }
    const since = o.modeSince?.get(p.name);
    if (p.mode !== 'enforce' && since && since.mode === p.mode && o.nowMs - since.sinceMs > o.maxRolloutMs)
      add(
        'long-rollout',
        'warning',
        p.location,
        at(p),
        `in ${p.mode} mode for ${Math.floor((o.nowMs - since.sinceMs) / DAY)} days (since ${new Date(since.sinceMs).toISOString()})`,
        p.mode === 'observe'
          ? 'write its rules from the recorded flows (perimeter recommend), then simulate'
          : 'check what it would deny (perimeter report), then enforce it',
      );
  }
  // A rule that names nobody matches nothing, and that is said once, by what names nobody.
  const namesNobody = new Set(out.filter((f) => f.code === 'selects-nothing').map((f) => f.path));
  return out
    .filter((f) => !(f.code === 'matches-nothing' && namesNobody.has(f.path)))
    .sort(
      (a, b) =>
        a.location.file.localeCompare(b.location.file) ||
        a.location.line - b.location.line ||
        a.location.column - b.location.column ||
        a.code.localeCompare(b.code),
    );
}

/** What makes a source of an allow too open for a crown jewel, or undefined. */
function openness(s: Source): string | undefined {
  const named = s.principals.length + s.workloads.length + s.labels.length > 0;
  if (s.peer === 'unauthenticated' || (s.peer === 'any' && !named && s.namespaces.length + s.trustDomains.length === 0))
    return 'callers without a certificate';
  if (s.principals.some((m) => m.kind === 'present')) return 'every authenticated identity';
  const domain = s.principals.find((m) => (m.kind === 'segment-prefix' || m.kind === 'prefix') && /^spiffe:\/\/[^/]+\/?$/.test(m.value));
  if (domain) return `every identity of the trust domain ${domain.value.replace(/\/$/, '')}`;
  if (!named && s.trustDomains.length > 0) return 'whole trust domains';
  return undefined;
}
