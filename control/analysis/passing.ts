/**
 * What a workload's policy lets through, as a region of its request space, for one of three
 * readings:
 *  - `enforced`: what the filter does today; only rules in enforce mode block or allow, and a
 *    workload whose perimeters observe or simulate blocks nothing by default;
 *  - `written`: every rule and perimeter as if enforced (simulate perimeters and staged rules
 *    included): what the policy does once rollout ends;
 *  - `candidate`: the staged candidates in place of their perimeters' rules, as written.
 * The two last are policies of their own (`analysedPolicy`), so the reference evaluator and the
 * filter decide them as they stand, and a counterexample can be replayed through either.
 */
import { outcomeOf } from '../../contracts/decision-record.js';
import type { PolicyRequest } from '../../contracts/request.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Mode as PMode } from '../../proto/gen/perimeter/v1/policy.js';
import { modeFromProto } from '../compile/proto-adapter.js';
import { evaluate } from '../eval/evaluate.js';
import { type Cube, difference, isEmpty } from './cubes.js';
import type { RequestSpace, RuleShape } from './space.js';

export const ANALYSIS_MODES = ['enforced', 'written', 'candidate'] as const;
export type AnalysisMode = (typeof ANALYSIS_MODES)[number];

/** The policy a mode reads, with every rule of it enforced unless the mode is `enforced`. */
export function analysedPolicy(policy: CompiledPolicy, mode: AnalysisMode): CompiledPolicy {
  if (mode === 'enforced') return policy;
  const p = mode === 'candidate' ? (policy.candidate ?? policy) : policy;
  return {
    ...p,
    candidate: undefined,
    rules: p.rules.map((r) => ({ ...r, mode: PMode.MODE_ENFORCE })),
    // A protected workload denies by default once enforced; an unprotected one keeps the mesh default.
    defaultMode: p.perimeters.length > 0 ? PMode.MODE_ENFORCE : p.defaultMode,
  };
}

/** The requests the policy lets through: its enforced allows (everything, without default deny) less its enforced denies. */
export function passing(space: RequestSpace, policy: CompiledPolicy, shapes: readonly RuleShape[]): Cube[] {
  const cubes = (action: Action) =>
    shapes
      .filter((s) => s.rule.mode === PMode.MODE_ENFORCE && s.rule.action === action)
      .flatMap((s) => s.terms.map((t) => space.cube(t)))
      .filter((c) => !isEmpty(c));
  const allows = modeFromProto(policy.defaultMode) === 'enforce' ? cubes(Action.ACTION_ALLOW) : [space.everything()];
  return difference(allows, cubes(Action.ACTION_DENY));
}

/** Whether the policy blocks a request, as the reference evaluator decides it. */
export function blocks(policy: CompiledPolicy, req: PolicyRequest): boolean {
  return outcomeOf(evaluate(policy, req)) === 'deny';
}
