/**
 * `perimeter diff --semantic`: what a change does to the requests each workload lets through,
 * decided exactly over one request space cut by both versions' rules (space.ts). The requests
 * newly allowed and newly denied are grouped by the pair of rules that decide them before and
 * after, each group with an example request the reference evaluator confirms.
 */
import { outcomeOf } from '../../contracts/decision-record.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { type Decision, evaluate } from '../eval/evaluate.js';
import { type Cube, difference, lowest } from './cubes.js';
import { perWorkload } from './parallel.js';
import { type AnalysisMode, analysedPolicy, passing } from './passing.js';
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
export async function semanticDiff(
  before: ReadonlyMap<string, CompiledPolicy>,
  after: ReadonlyMap<string, CompiledPolicy>,
  o: { mode: AnalysisMode; nowMs: number },
): Promise<WorkloadDiff[]> {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort().filter((name) => {
    const [a, b] = [before.get(name), after.get(name)];
    return !(a && b && a.version === b.version && a.version !== '');
  });
  const bytes = (p: CompiledPolicy | undefined) => (p ? CompiledPolicy.encode(p).finish() : undefined);
  const jobs = names.map((name): DiffJob => {
    const [a, b] = [bytes(before.get(name)), bytes(after.get(name))];
    return { ...(a ? { before: a } : {}), ...(b ? { after: b } : {}) };
  });
  const results = await perWorkload('diff', jobs, o, diffWorkloads);
  const out: WorkloadDiff[] = [];
  for (const [i, name] of names.entries()) {
    const classes = results[i] ?? [];
    const status = !before.has(name) ? 'added' : !after.has(name) ? 'removed' : 'changed';
    if (classes.length > 0 || status !== 'changed') out.push({ workload: name, status, classes });
  }
  return out;
}

/** A workload's two versions, as compiled bytes (parallel.ts). */
export interface DiffJob {
  before?: Uint8Array;
  after?: Uint8Array;
}

export const diffWorkloads = (jobs: readonly DiffJob[], o: { mode: AnalysisMode; nowMs: number }): ChangedClass[][] =>
  jobs.map((j) => {
    const read = (b: Uint8Array | undefined) => (b ? analysedPolicy(CompiledPolicy.decode(b), o.mode) : undefined);
    return diffWorkload(read(j.before), read(j.after), o.nowMs);
  });

export function diffWorkload(a: CompiledPolicy | undefined, b: CompiledPolicy | undefined, nowMs: number): ChangedClass[] {
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
    const [da, db] = [a && evaluate(a, example), b && evaluate(b, example)];
    // The region says how each version decides; the evaluator must agree, or the analysis is wrong.
    const [passesA, passesB] = [da !== undefined && outcomeOf(da) !== 'deny', db !== undefined && outcomeOf(db) !== 'deny'];
    if (passesB !== (change === 'newly-allowed') || passesA === passesB)
      throw new Error(`analysis and evaluator disagree on ${JSON.stringify(example)}: please report this`);
    const [before, after] = [deciding(da), deciding(db)];
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

function deciding(d: Decision | undefined): string {
  return d ? `${d.perimeter}/${d.rule}` : 'no such workload';
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
