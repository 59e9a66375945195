/**
 * `perimeter diff --semantic`: what a change does to the requests each workload lets through,
 * decided exactly over one request space cut by both versions' rules (space.ts). The requests
 * newly allowed and newly denied are grouped by the pair of rules that decide them before and
 * after, each group with an example request the reference evaluator confirms.
 */
import type { PolicyRequest } from '../../contracts/request.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { evaluate } from '../eval/evaluate.js';
import { type Cube, difference, lowest } from './cubes.js';
import { type AnalysisMode, analysedPolicy, blocks, passing } from './passing.js';
import { RequestSpace } from './space.js';

export type Change = 'newly-allowed' | 'newly-denied';

/** Requests that change the same way, decided by the same rules before and after. */
export interface ChangedClass {
  change: Change;
  /** `perimeter/rule` (or `perimeter/default`) that decides them, before and after. */
  before: string;
  after: string;
  /** One of them. */
  example: PolicyRequest;
  /** How many disjoint pieces of the request space the group spans (1 when it is one cube). */
  pieces: number;
  /** Attributes on which the group is narrower than "any", each with up to three example values. */
  where: Record<string, string[]>;
}

export interface WorkloadDiff {
  workload: string;
  status: 'changed' | 'added' | 'removed';
  classes: ChangedClass[];
}

/**
 * Each workload whose policy differs between the versions (by version digest); a workload
 * present on one side only is compared with one that lets nothing through (it has no sidecar).
 */
export function semanticDiff(
  before: ReadonlyMap<string, CompiledPolicy>,
  after: ReadonlyMap<string, CompiledPolicy>,
  o: { mode: AnalysisMode; nowMs: number },
): WorkloadDiff[] {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const out: WorkloadDiff[] = [];
  for (const name of names) {
    const [a, b] = [before.get(name), after.get(name)];
    if (a && b && a.version === b.version && a.version !== '') continue;
    const classes = diffWorkload(a && analysedPolicy(a, o.mode), b && analysedPolicy(b, o.mode), o.nowMs);
    const status = !a ? 'added' : !b ? 'removed' : 'changed';
    if (classes.length > 0 || status !== 'changed') out.push({ workload: name, status, classes });
  }
  return out;
}

function diffWorkload(a: CompiledPolicy | undefined, b: CompiledPolicy | undefined, nowMs: number): ChangedClass[] {
  const r = changedRegions(a, b, nowMs);
  return [...group(r.space, 'newly-allowed', r.allowed, a, b), ...group(r.space, 'newly-denied', r.denied, a, b)];
}

/** The requests one version lets through and the other does not, over one space cut by both. */
export function changedRegions(
  a: CompiledPolicy | undefined,
  b: CompiledPolicy | undefined,
  nowMs: number,
): { space: RequestSpace; allowed: Cube[]; denied: Cube[] } {
  const space = new RequestSpace(nowMs);
  const shapesA = a && space.addPolicy(a);
  const shapesB = b && space.addPolicy(b);
  space.build();
  const passA = a && shapesA ? passing(space, a, shapesA) : [];
  const passB = b && shapesB ? passing(space, b, shapesB) : [];
  return { space, allowed: difference(passB, passA), denied: difference(passA, passB) };
}

function group(space: RequestSpace, change: Change, cubes: readonly Cube[], a?: CompiledPolicy, b?: CompiledPolicy): ChangedClass[] {
  const groups = new Map<string, ChangedClass>();
  for (const cube of cubes) {
    const example = space.request(lowest(cube));
    // The region says how each version decides; the evaluator must agree, or the analysis is wrong.
    const passesA = a !== undefined && !blocks(a, example);
    const passesB = b !== undefined && !blocks(b, example);
    if (passesB !== (change === 'newly-allowed') || passesA === passesB)
      throw new Error(`analysis and evaluator disagree on ${JSON.stringify(example)}: please report this`);
    const [before, after] = [deciding(a, example), deciding(b, example)];
    const key = `${before}\n${after}`;
    const g = groups.get(key);
    if (g) {
      g.pieces++;
      continue;
    }
    groups.set(key, { change, before, after, example, pieces: 1, where: narrowing(space, cube) });
  }
  return [...groups.values()];
}

function deciding(p: CompiledPolicy | undefined, req: PolicyRequest): string {
  if (!p) return 'no such workload';
  const d = evaluate(p, req);
  return `${d.perimeter}/${d.rule}`;
}

/** Per attribute the cube does not leave open, a few of its values. */
function narrowing(space: RequestSpace, cube: Cube): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [i, d] of space.dimensions.entries()) {
    const set = cube[i] as bigint;
    if (set === d.all) continue;
    const values: string[] = [];
    for (let k = 0; k < d.classes.length && values.length < 3; k++) if (((set >> BigInt(k)) & 1n) === 1n) values.push(shown(d.classes[k]));
    out[d.name] = values;
  }
  return out;
}

function shown(v: unknown): string {
  if (v === undefined) return '(none)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
