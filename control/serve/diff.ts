/** Which rules changed between two published versions, per workload: read from the compiled policies. */
import type { CompiledPolicy, CompiledRule } from '../../proto/gen/perimeter/v1/compiled.js';
import { Condition_Attribute, Mode } from '../../proto/gen/perimeter/v1/policy.js';
import { ruleLabel } from '../compile/compile.js';

export interface WorkloadDiff {
  workload: string;
  status: 'added' | 'removed' | 'changed';
  rulesAdded: string[];
  rulesRemoved: string[];
  rulesChanged: string[];
  /** "perimeter: simulate → enforce", "default: …". */
  modes: string[];
}

const modeName = (m: Mode) => (Mode[m] ?? String(m)).replace(/^MODE_/, '').toLowerCase();

/** A rule as a comparable string, with indexes (perimeter, header keys) resolved to names. */
function ruleKey(p: CompiledPolicy, r: CompiledRule): [string, string] {
  const perimeter = p.perimeters[r.perimeter];
  const id = ruleLabel(p, r);
  const content = JSON.stringify({
    ...r,
    perimeter: undefined,
    // A mode inherited from the perimeter changes with it; that change is reported once, for the perimeter.
    mode: r.mode === perimeter?.mode ? 'inherited' : r.mode,
    conditions: r.conditions.map((c) => ({
      ...c,
      key:
        c.attribute === Condition_Attribute.ATTRIBUTE_HEADER
          ? p.headers[c.key]
          : c.attribute === Condition_Attribute.ATTRIBUTE_CLAIM
            ? p.claims[c.key]
            : c.key,
    })),
  });
  return [id, content];
}

function rulesOf(p: CompiledPolicy): Map<string, string> {
  return new Map(p.rules.map((r) => ruleKey(p, r)));
}

export function diffWorkload(name: string, a: CompiledPolicy | undefined, b: CompiledPolicy | undefined): WorkloadDiff | undefined {
  const d: WorkloadDiff = {
    workload: name,
    status: !a ? 'added' : !b ? 'removed' : 'changed',
    rulesAdded: [],
    rulesRemoved: [],
    rulesChanged: [],
    modes: [],
  };
  const ra = a ? rulesOf(a) : new Map<string, string>();
  const rb = b ? rulesOf(b) : new Map<string, string>();
  for (const [id, content] of rb) {
    const old = ra.get(id);
    if (old === undefined) d.rulesAdded.push(id);
    else if (old !== content) d.rulesChanged.push(id);
  }
  for (const id of ra.keys()) if (!rb.has(id)) d.rulesRemoved.push(id);
  if (a && b) {
    const pa = new Map(a.perimeters.map((p) => [p.name, p.mode]));
    for (const p of b.perimeters) {
      const old = pa.get(p.name);
      if (old !== undefined && old !== p.mode) d.modes.push(`perimeter ${p.name}: ${modeName(old)} → ${modeName(p.mode)}`);
    }
    // The default decision follows the perimeters (or the mesh default when none protects it).
    if (a.defaultMode !== b.defaultMode && d.modes.length === 0)
      d.modes.push(`default: ${modeName(a.defaultMode)} → ${modeName(b.defaultMode)}`);
  }
  const same = d.status === 'changed' && !d.rulesAdded.length && !d.rulesRemoved.length && !d.rulesChanged.length && !d.modes.length;
  return same && a?.version === b?.version ? undefined : d;
}

export function diffVersions(a: ReadonlyMap<string, CompiledPolicy>, b: ReadonlyMap<string, CompiledPolicy>): WorkloadDiff[] {
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  return names.flatMap((n) => diffWorkload(n, a.get(n), b.get(n)) ?? []);
}

/** One line per workload, for the history's change summary and the server log. */
export function summarize(diffs: readonly WorkloadDiff[]): string[] {
  return diffs.map((d) => {
    if (d.status !== 'changed') return `${d.workload}: ${d.status}`;
    const parts = [
      ...d.modes,
      ...(d.rulesAdded.length ? [`+${d.rulesAdded.join(', +')}`] : []),
      ...(d.rulesRemoved.length ? [`-${d.rulesRemoved.join(', -')}`] : []),
      ...(d.rulesChanged.length ? [`~${d.rulesChanged.join(', ~')}`] : []),
    ];
    return `${d.workload}: ${parts.length ? parts.join('; ') : 'recompiled'}`;
  });
}
