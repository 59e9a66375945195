/**
 * `perimeter lint`: what a reviewer should look at before a policy ships, each finding at its
 * place with a severity and a fix:
 *  - rules that can never decide anything, decided exactly per workload over the policy as
 *    written (space.ts): allows whose every request a deny blocks, allows whose every request
 *    other allows already admit, rules that match no request, and denies of what nothing allows;
 *  - selectors that select no workload and `from` labels no workload carries, and identities no
 *    workload has;
 *  - allows on a crown jewel open to every identity, a whole trust domain or unauthenticated callers;
 *  - exceptions (rules with `expires`) that have expired or expire soon;
 *  - perimeters left in observe or simulate for longer than a set age (from the published history).
 */
import { Action, Mode as PMode } from '../../proto/gen/perimeter/v1/policy.js';
import { type CompileResult, ISTIO_DEFAULT_PERIMETER } from '../compile/compile.js';
import type { Location, Perimeter, PolicySet, Rule, Source } from '../policy/model.js';
import { Registry } from '../policy/registry.js';
import { type Cube, difference, intersect, isEmpty } from './cubes.js';
import { analysedPolicy } from './passing.js';
import { RequestSpace } from './space.js';

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

export function lint(set: PolicySet, compiled: CompileResult, o: LintOptions): LintFinding[] {
  const out: LintFinding[] = [];
  const registry = new Registry(set.workloads);
  const identities = new Set(set.workloads.map((w) => w.identity));
  const byName = new Map(set.perimeters.map((p) => [p.name, p]));
  const at = (p: Perimeter, r?: Rule) => `Perimeter/${p.name}${r ? `: rules[${p.rules.indexOf(r)}] ${r.name}` : ''}`;
  const add = (code: LintCode, severity: LintSeverity, location: Location, path: string, message: string, fix: string) =>
    out.push({ code, severity, location, path, message, fix });

  for (const f of deadRules(compiled, o.nowMs)) {
    const p = byName.get(f.perimeter);
    const r = p?.rules.find((x) => x.name === f.rule);
    if (p && r) add(f.code, f.code === 'deny-of-nothing' ? 'note' : 'warning', r.location, at(p, r), f.message, f.fix);
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

interface DeadRule {
  perimeter: string;
  rule: string;
  code: 'shadowed-allow' | 'redundant-allow' | 'matches-nothing' | 'deny-of-nothing';
  message: string;
  fix: string;
}

/**
 * Rules that decide nothing on any workload they apply to (a rule of a perimeter that selects
 * several workloads is reported only when it is dead on all of them), over the policy as written.
 */
function deadRules(compiled: CompileResult, nowMs: number): DeadRule[] {
  const verdicts = new Map<string, DeadRule | null>();
  for (const w of compiled.workloads) {
    const policy = analysedPolicy(w.policy, 'written');
    const space = new RequestSpace(nowMs);
    const shapes = space.addPolicy(policy);
    space.build();
    const label = (i: number) => policy.rules[i]?.name ?? '?';
    const regions = shapes.map((s) => s.terms.map((t) => space.cube(t)).filter((c) => !isEmpty(c)));
    const allows = shapes.map((s, i) => (s.rule.action === Action.ACTION_ALLOW ? i : -1)).filter((i) => i >= 0);
    const denies = shapes.map((s, i) => (s.rule.action === Action.ACTION_DENY ? i : -1)).filter((i) => i >= 0);
    const union = (is: readonly number[]) => is.flatMap((i) => regions[i] as Cube[]);
    const meets = (a: readonly Cube[], b: readonly Cube[]) => a.some((x) => b.some((y) => intersect(x, y) !== undefined));
    /** The rules, in order, each taking away some of what is left, that together cover the region; undefined if they do not. */
    const cover = (region: Cube[], rules: readonly number[]): number[] | undefined => {
      let rest = region;
      const used: number[] = [];
      for (const r of rules) {
        if (rest.length === 0) break;
        if (!meets(rest, regions[r] as Cube[])) continue;
        used.push(r);
        rest = difference(rest, regions[r] as Cube[]);
      }
      return rest.length === 0 ? used : undefined;
    };
    const defaultDeny = policy.defaultMode === PMode.MODE_ENFORCE;
    const flagged = new Set<number>();
    const found = new Map<number, DeadRule>();
    // Latest first: of two allows that cover each other, the later one is the one reported.
    for (const i of [...shapes.keys()].reverse()) {
      const s = shapes[i];
      const region = regions[i] as Cube[];
      if (!s) continue;
      const perimeter = policy.perimeters[s.rule.perimeter]?.name ?? '';
      if (perimeter === ISTIO_DEFAULT_PERIMETER) continue;
      const dead = (code: DeadRule['code'], message: string, fix: string) =>
        found.set(i, { perimeter, rule: s.rule.name, code, message, fix });
      if (region.length === 0) {
        dead('matches-nothing', 'it matches no request: its conditions cannot hold together', 'fix the conditions, or remove the rule');
        continue;
      }
      if (s.rule.action === Action.ACTION_ALLOW) {
        const blockers = cover(region, denies);
        if (blockers) {
          dead(
            'shadowed-allow',
            `every request it admits is denied by ${blockers.map(label).join(', ')}: it never allows anything`,
            'narrow the deny, or remove this allow',
          );
          continue;
        }
        const by = cover(
          region,
          allows.filter((a) => a !== i && !flagged.has(a)),
        );
        if (by) {
          flagged.add(i);
          dead(
            'redundant-allow',
            `every request it admits is already admitted by ${by.map(label).join(', ')}`,
            'remove it, or merge it into those rules',
          );
        }
      } else if (s.rule.action === Action.ACTION_DENY && defaultDeny && !meets(region, union(allows))) {
        dead(
          'deny-of-nothing',
          'no allow rule admits what it denies, so default deny already blocks it',
          'keep it as a guard against future allows, or remove it',
        );
      }
    }
    for (const [i, s] of shapes.entries()) {
      const perimeter = policy.perimeters[s.rule.perimeter]?.name ?? '';
      if (perimeter === ISTIO_DEFAULT_PERIMETER) continue;
      const key = `${perimeter}/${s.rule.name}`;
      const prior = verdicts.get(key);
      const mine = found.get(i) ?? null;
      // Dead only if dead (the same way) everywhere the rule applies.
      verdicts.set(key, prior === undefined ? mine : prior && mine && prior.code === mine.code ? prior : null);
    }
  }
  return [...verdicts.values()].filter((v): v is DeadRule => v !== null);
}
