/**
 * `perimeter verify`: each assertion decided exactly for each workload it is about, over the
 * classes the workload's rules and the assertion itself split the request space into
 * (space.ts). A violated assertion comes with one concrete request, the decision the reference
 * evaluator gives it, and the rule (or default) that made that decision.
 */
import { DEFAULT_RULE, MESH_PERIMETER } from '../../contracts/decision-record.js';
import type { PolicyRequest } from '../../contracts/request.js';
import type { CompiledPolicy, CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import { anySource, type CompileResult, encodeVersioned } from '../compile/compile.js';
import { compileSource } from '../compile/compile-source.js';
import { matchToProto } from '../compile/proto-adapter.js';
import { trustBundle } from '../compile/trust-domains.js';
import { type Decision, evaluate } from '../eval/evaluate.js';
import type { Location, PolicySet } from '../policy/model.js';
import { Registry } from '../policy/registry.js';
import type { Assertion } from './assertions.js';
import { difference, firstMeet, isEmpty, lowest } from './cubes.js';
import { type AnalysisMode, analysedPolicy, blocks, passing } from './passing.js';
import { RequestSpace } from './space.js';

export interface Counterexample {
  workload: string;
  request: PolicyRequest;
  /** What the evaluator decides for it. */
  decision: Pick<Decision, 'decision' | 'enforced' | 'perimeter' | 'rule' | 'code'>;
  /** Where the deciding rule (or the perimeter whose default decided) is written. */
  location?: Location;
  /** The filter's own verdict on it, when a filter was given to replay it through. */
  filter?: FilterVerdict;
}

/** The production filter's verdict on a request under a compiled policy's bytes (perimeter.wasm through the host). */
export type FilterVerdict = { blocked: boolean; rule: string };
export type Filter = (bytes: Uint8Array, request: PolicyRequest) => FilterVerdict;

export interface AssertionResult {
  assertion: Assertion;
  holds: boolean;
  /** Workloads the assertion is about. */
  workloads: string[];
  /** One counterexample per workload that breaks it. */
  violations: Counterexample[];
}

export interface VerifyOptions {
  mode: AnalysisMode;
  nowMs: number;
  /** Replays every counterexample through the filter; a filter that decides otherwise is an error. */
  filter?: Filter;
}

export function verify(set: PolicySet, compiled: CompileResult, assertions: readonly Assertion[], o: VerifyOptions): AssertionResult[] {
  const registry = new Registry(set.workloads);
  const names = { bundle: trustBundle(set.mesh), istio: false };
  const byName = new Map(compiled.workloads.map((w) => [w.workload.name, w]));
  return assertions.map((assertion) => {
    const sources: CompiledSource[] =
      assertion.from.length === 0 ? [anySource()] : assertion.from.flatMap((s) => compileSource(s, registry, names));
    const targets = registry.select(assertion.to).map((w) => w.name);
    const violations: Counterexample[] = [];
    for (const name of targets) {
      const w = byName.get(name);
      if (!w) continue;
      const policy = analysedPolicy(w.policy, o.mode);
      const found = check(policy, assertion, sources, o.nowMs);
      if (!found) continue;
      const filter = o.filter?.(policy === w.policy ? w.bytes : encodeVersioned(policy).bytes, found.request);
      if (filter && filter.blocked !== (assertion.kind === 'always'))
        throw new Error(
          `perimeter.wasm decides ${JSON.stringify(found.request)} on ${name} otherwise than the analysis: please report this`,
        );
      violations.push({ ...found, location: ruleLocation(set, found.decision, o.mode), ...(filter ? { filter } : {}) });
    }
    return { assertion, holds: violations.length === 0, workloads: targets, violations };
  });
}

/** The first request of the workload that breaks the assertion, or undefined when it holds. */
function check(
  policy: CompiledPolicy,
  a: Assertion,
  sources: CompiledSource[],
  nowMs: number,
): Omit<Counterexample, 'location'> | undefined {
  const space = new RequestSpace(nowMs);
  const shapes = space.addPolicy(policy);
  const term = space.questionTerm(policy, {
    sources,
    otherCallers: a.kind === 'only',
    methods: a.methods,
    paths: a.paths.map(matchToProto),
    hosts: a.hosts.map(matchToProto),
    ports: a.ports,
  });
  space.build();
  const region = [space.cube(term)].filter((c) => !isEmpty(c));
  const pass = passing(space, policy, shapes);
  const hit = a.kind === 'always' ? difference(region, pass)[0] : firstMeet(pass, region);
  if (!hit) return undefined;
  const request = space.request(lowest(hit));
  // The region says whether it passes; the evaluator must agree, or the analysis is wrong.
  if (blocks(policy, request) !== (a.kind === 'always'))
    throw new Error(`analysis and evaluator disagree on ${policy.workload} for ${JSON.stringify(request)}: please report this`);
  const d = evaluate(policy, request);
  return {
    workload: policy.workload,
    request,
    decision: { decision: d.decision, enforced: d.enforced, perimeter: d.perimeter, rule: d.rule, code: d.code },
  };
}

/** Where the rule that decided is written: the rule, or for a default the perimeter (or the mesh). */
function ruleLocation(set: PolicySet, d: Counterexample['decision'], mode: AnalysisMode): Location | undefined {
  if (d.perimeter === MESH_PERIMETER) return set.mesh.location;
  const p = set.perimeters.find((x) => x.name === d.perimeter);
  if (!p) return undefined;
  if (d.rule === DEFAULT_RULE) return p.location;
  const rules = mode === 'candidate' && p.candidate ? p.candidate.rules : p.rules;
  return rules.find((r) => r.name === d.rule)?.location ?? p.location;
}
