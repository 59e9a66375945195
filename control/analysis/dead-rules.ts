/**
 * Rules that decide nothing, for lint: per workload, over its policy as written (every rule
 * enforced), decided exactly over its request space (space.ts):
 *  - an allow whose every request some deny blocks (deny wins, whatever the order);
 *  - an allow whose every request other allows already admit (of two that cover each other,
 *    the later one);
 *  - a rule that matches no request at all;
 *  - on a default-deny workload, a deny of what no allow admits.
 */
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Mode as PMode } from '../../proto/gen/perimeter/v1/policy.js';
import { ISTIO_DEFAULT_PERIMETER } from '../compile/compile.js';
import { type Cube, difference, intersect, isEmpty } from './cubes.js';
import { analysedPolicy } from './passing.js';
import { RequestSpace } from './space.js';

export type DeadCode = 'shadowed-allow' | 'redundant-allow' | 'matches-nothing' | 'deny-of-nothing';

/** One rule of one workload's policy, and why it decides nothing there (if it does not). */
export interface DeadRule {
  perimeter: string;
  rule: string;
  dead?: { code: DeadCode; message: string; fix: string };
}

export function deadRulesOf(compiled: CompiledPolicy, nowMs: number): DeadRule[] {
  const policy = analysedPolicy(compiled, 'written');
  const space = new RequestSpace(nowMs);
  const shapes = space.addPolicy(policy);
  space.build();
  const label = (i: number) => shapes[i]?.rule.name ?? '?';
  const regions = shapes.map((s) => s.terms.map((t) => space.cube(t)).filter((c) => !isEmpty(c)));
  const indices = (action: Action) => shapes.flatMap((s, i) => (s.rule.action === action ? [i] : []));
  const [allows, denies] = [indices(Action.ACTION_ALLOW), indices(Action.ACTION_DENY)];
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
  const redundant = new Set<number>();
  const out: DeadRule[] = [];
  // Latest first: of two allows that cover each other, the later one is the one reported.
  for (const i of [...shapes.keys()].reverse()) {
    const s = shapes[i];
    if (!s) continue;
    const perimeter = policy.perimeters[s.rule.perimeter]?.name ?? '';
    if (perimeter === ISTIO_DEFAULT_PERIMETER) continue;
    const region = regions[i] as Cube[];
    const verdict: DeadRule = { perimeter, rule: s.rule.name };
    out.push(verdict);
    const dead = (code: DeadCode, message: string, fix: string) => {
      verdict.dead = { code, message, fix };
    };
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
        allows.filter((a) => a !== i && !redundant.has(a)),
      );
      if (by) {
        redundant.add(i);
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
  return out.reverse();
}

/** Each workload's rules, from its compiled bytes (parallel.ts). */
export const deadRules = (jobs: readonly Uint8Array[], shared: { nowMs: number }): DeadRule[][] =>
  jobs.map((bytes) => deadRulesOf(CompiledPolicy.decode(bytes), shared.nowMs));

/**
 * The rules dead on every workload they apply to (a rule of a perimeter that selects several
 * workloads is reported only when it is dead, the same way, on all of them).
 */
export function deadEverywhere(perWorkload: readonly DeadRule[][]): Required<DeadRule>[] {
  const verdicts = new Map<string, DeadRule | null>();
  for (const rules of perWorkload)
    for (const r of rules) {
      const key = `${r.perimeter}/${r.rule}`;
      const prior = verdicts.get(key);
      const mine = r.dead ? r : null;
      verdicts.set(key, prior === undefined ? mine : prior && mine && prior.dead?.code === mine.dead?.code ? prior : null);
    }
  return [...verdicts.values()].filter((v): v is Required<DeadRule> => v?.dead !== undefined);
}
