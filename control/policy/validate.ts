/**
 * Checks that need the whole policy set: unique names and identities, references into the
 * workload registry, one Mesh, and identities outside the trust domain.
 */

import { isStandardMethod, MAX_METHOD_TABLE } from '../../contracts/methods.js';
import { trustDomainOf } from '../../contracts/spiffe.js';
import type { Diagnostic } from './diagnostics.js';
import type { Mesh, Perimeter, PolicySet } from './model.js';
import { Registry } from './registry.js';
import type { Reference } from './yaml-cursor.js';

export function validateSet(policy: PolicySet, meshes: readonly Mesh[], references: readonly Reference[], out: Diagnostic[]): void {
  const at = (loc: { file: string; line: number; column: number }, path: string) => ({ ...loc, path });

  for (const extra of meshes.slice(1)) {
    out.push({
      severity: 'error',
      ...at(extra.location ?? { file: '', line: 1, column: 1 }, 'Mesh'),
      message: 'a second Mesh document',
      hint: `there is one Mesh per policy; the first is at ${meshes[0]?.location?.file}:${meshes[0]?.location?.line}`,
    });
  }

  const byName = new Map<string, string>();
  const byIdentity = new Map<string, string>();
  for (const w of policy.workloads) {
    const here = `${w.location.file}:${w.location.line}`;
    const prevName = byName.get(w.name);
    if (prevName)
      out.push({ severity: 'error', ...at(w.location, `Workload/${w.name}`), message: `duplicate workload name (also at ${prevName})` });
    else byName.set(w.name, here);
    const prevId = byIdentity.get(w.identity);
    if (prevId) {
      out.push({
        severity: 'error',
        ...at(w.location, `Workload/${w.name}: spec.identity`),
        message: `identity ${w.identity} is already registered (at ${prevId})`,
        hint: 'one identity names one workload',
      });
    } else byIdentity.set(w.identity, here);
    const td = trustDomainOf(w.identity);
    if (policy.mesh.trustDomain && td && td !== policy.mesh.trustDomain) {
      out.push({
        severity: 'warning',
        ...at(w.location, `Workload/${w.name}: spec.identity`),
        message: `trust domain "${td}" is not the mesh's "${policy.mesh.trustDomain}"`,
        hint: 'the mesh CA issues SVIDs in its own trust domain only',
      });
    }
  }

  const perimeterNames = new Map<string, string>();
  for (const p of policy.perimeters) {
    const prev = perimeterNames.get(p.name);
    if (prev) {
      out.push({
        severity: 'error',
        ...at(p.location, `Perimeter/${p.name}`),
        message: `duplicate perimeter name (also at ${prev})`,
        hint: 'perimeter names appear in every deny; they must be unique',
      });
    } else perimeterNames.set(p.name, `${p.location.file}:${p.location.line}`);
  }

  const registry = new Registry(policy.workloads);
  for (const ref of references) {
    if (ref.kind === 'workload' && ref.workload !== undefined && !byName.has(ref.workload)) {
      const known = [...byName.keys()];
      out.push({
        severity: 'error',
        ...ref.at,
        message: `no Workload named "${ref.workload}"`,
        hint: known.length ? `registered workloads: ${known.join(', ')}` : 'register it with a kind: Workload document',
      });
    } else if (ref.kind === 'identity' && ref.identity !== undefined && !byIdentity.has(ref.identity)) {
      out.push({
        severity: 'error',
        ...ref.at,
        message: `no Workload has identity ${ref.identity}`,
        hint: 'a perimeter protects registered workloads: add a kind: Workload document for it',
      });
    } else if (ref.kind === 'labels' && ref.labels && registry.labelled(ref.labels).length === 0) {
      out.push({
        severity: 'warning',
        ...ref.at,
        message: `label selector ${JSON.stringify(ref.labels)} matches no workload`,
        hint: 'check the labels of your Workload documents; as written it selects nobody',
      });
    }
  }
  methodTables(policy, registry, out);
}

/**
 * A workload's policies name methods beyond the nine standard ones through a table of at most
 * MAX_METHOD_TABLE entries (compiled.proto): more would not fit the filter's method mask.
 */
function methodTables(policy: PolicySet, registry: Registry, out: Diagnostic[]): void {
  const perWorkload = new Map<string, { keys: Set<string>; first: Perimeter }>();
  for (const p of policy.perimeters) {
    const keys = new Set<string>();
    for (const r of [...p.rules, ...(p.candidate?.rules ?? [])])
      for (const o of r.to)
        for (const m of [...o.methods, ...o.notMethods])
          if (m.kind !== 'exact' || !isStandardMethod(m.value)) keys.add(`${m.kind}:${m.value}`);
    if (keys.size === 0) continue;
    for (const w of registry.select(p.selector)) {
      const entry = perWorkload.get(w.name) ?? { keys: new Set<string>(), first: p };
      for (const k of keys) entry.keys.add(k);
      perWorkload.set(w.name, entry);
    }
  }
  for (const [name, { keys, first }] of perWorkload) {
    if (keys.size <= MAX_METHOD_TABLE) continue;
    out.push({
      severity: 'error',
      ...first.location,
      path: `Perimeter/${first.name}`,
      message: `workload ${name} is protected by rules naming ${keys.size} methods beyond GET…PATCH; at most ${MAX_METHOD_TABLE} fit`,
      hint: 'name fewer custom methods (or method patterns) on the rules that select it',
    });
  }
}
