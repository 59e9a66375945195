/**
 * `perimeter verify`: each assertion decided exactly for each workload it is about, over the
 * classes the workload's rules and the assertion itself split the request space into
 * (space.ts). A violated assertion comes with one concrete request, the decision the reference
 * evaluator gives it, and the rule (or default) that made that decision.
 */
import { DEFAULT_RULE, MESH_PERIMETER, outcomeOf } from '../../contracts/decision-record.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { CompiledPolicy, type CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import type { StringMatch as PStringMatch } from '../../proto/gen/perimeter/v1/policy.js';
import { anySource, type CompileResult, encodeVersioned } from '../compile/compile.js';
import { compileSource } from '../compile/compile-source.js';
import { matchToProto } from '../compile/proto-adapter.js';
import { trustBundle } from '../compile/trust-domains.js';
import { type Decision, evaluate } from '../eval/evaluate.js';
import type { Location, PolicySet } from '../policy/model.js';
import { Registry } from '../policy/registry.js';
import type { Assertion } from './assertions.js';
import { difference, firstMeet, isEmpty, lowest } from './cubes.js';
import { perWorkload } from './parallel.js';
import { type AnalysisMode, analysedPolicy, passing } from './passing.js';
import { RequestSpace, type Term } from './space.js';

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

export async function verify(
  set: PolicySet,
  compiled: CompileResult,
  assertions: readonly Assertion[],
  o: VerifyOptions,
): Promise<AssertionResult[]> {
  const registry = new Registry(set.workloads);
  const names = { bundle: trustBundle(set.mesh), istio: false };
  const questions = assertions.map((a) => ({
    assertion: a,
    question: {
      kind: a.kind,
      sources: a.from.length === 0 ? [anySource()] : a.from.flatMap((s) => compileSource(s, registry, names)),
      methods: a.methods,
      paths: a.paths.map(matchToProto),
      hosts: a.hosts.map(matchToProto),
      ports: a.ports,
    } satisfies WorkloadQuestion,
    targets: registry.select(a.to).map((w) => w.name),
    violations: [] as Counterexample[],
  }));
  // One request space per workload, cut by its rules and by every assertion about it.
  const about = new Map<string, typeof questions>();
  for (const q of questions)
    for (const t of q.targets) {
      const list = about.get(t);
      if (list) list.push(q);
      else about.set(t, [q]);
    }
  const asked = compiled.workloads.filter((w) => about.has(w.workload.name));
  const index = new Map(questions.map((q, i) => [q, i]));
  const found = await perWorkload(
    'verify',
    asked.map((w): VerifyJob => ({ bytes: w.bytes, questions: (about.get(w.workload.name) ?? []).map((q) => index.get(q) as number) })),
    { mode: o.mode, nowMs: o.nowMs, questions: questions.map((q) => q.question) },
    checkWorkloads,
  );
  for (const [i, w] of asked.entries()) {
    for (const [k, q] of (about.get(w.workload.name) ?? []).entries()) {
      const f = found[i]?.[k];
      if (!f) continue;
      const filter = o.filter?.(o.mode === 'enforced' ? w.bytes : encodeVersioned(analysedPolicy(w.policy, o.mode)).bytes, f.request);
      if (filter && filter.blocked !== (q.assertion.kind === 'always'))
        throw new Error(
          `perimeter.wasm decides ${JSON.stringify(f.request)} on ${w.workload.name} otherwise than the analysis: please report this`,
        );
      q.violations.push({ ...f, location: ruleLocation(set, f.decision, o.mode), ...(filter ? { filter } : {}) });
    }
  }
  return questions.map((q) => ({
    assertion: q.assertion,
    holds: q.violations.length === 0,
    workloads: q.targets,
    violations: q.violations,
  }));
}

/** An assertion as one workload's analysis needs it (plain data: it may cross to a worker thread). */
export interface WorkloadQuestion {
  kind: Assertion['kind'];
  sources: CompiledSource[];
  methods: string[];
  paths: PStringMatch[];
  hosts: PStringMatch[];
  ports: number[];
}

export type Found = Omit<Counterexample, 'location' | 'filter'>;

/** A workload's compiled bytes and the questions (by index) asked of it (parallel.ts). */
export interface VerifyJob {
  bytes: Uint8Array;
  questions: number[];
}

export const checkWorkloads = (
  jobs: readonly VerifyJob[],
  o: { mode: AnalysisMode; nowMs: number; questions: WorkloadQuestion[] },
): (Found | undefined)[][] =>
  jobs.map((j) =>
    checkWorkload(
      analysedPolicy(CompiledPolicy.decode(j.bytes), o.mode),
      j.questions.map((q) => o.questions[q] as WorkloadQuestion),
      o.nowMs,
    ),
  );

/** For each question, the first request of the workload that breaks it, or undefined when it holds. */
export function checkWorkload(policy: CompiledPolicy, questions: readonly WorkloadQuestion[], nowMs: number): (Found | undefined)[] {
  const space = new RequestSpace(nowMs);
  const shapes = space.addPolicy(policy);
  const terms = questions.map((q) => space.questionTerm(policy, { ...q, otherCallers: q.kind === 'only' }));
  space.build();
  const pass = passing(space, policy, shapes);
  return questions.map((q, i) => {
    const region = [space.cube(terms[i] as Term)].filter((c) => !isEmpty(c));
    const hit = q.kind === 'always' ? difference(region, pass)[0] : firstMeet(pass, region);
    if (!hit) return undefined;
    const request = space.request(lowest(hit));
    const d = evaluate(policy, request);
    // The region says whether it passes; the evaluator must agree, or the analysis is wrong.
    if ((outcomeOf(d) === 'deny') !== (q.kind === 'always'))
      throw new Error(`analysis and evaluator disagree on ${policy.workload} for ${JSON.stringify(request)}: please report this`);
    return {
      workload: policy.workload,
      request,
      decision: { decision: d.decision, enforced: d.enforced, perimeter: d.perimeter, rule: d.rule, code: d.code },
    };
  });
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
