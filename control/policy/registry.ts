/**
 * The workload registry indexed for lookups by name, identity and label, so resolving
 * selectors costs the size of the answer, not the size of the mesh.
 */
import type { Selector, Workload } from './model.js';

export class Registry {
  private readonly byName = new Map<string, Workload>();
  private readonly byIdentity = new Map<string, Workload>();
  private readonly byLabel = new Map<string, Workload[]>();
  private readonly order = new Map<Workload, number>();

  constructor(readonly workloads: readonly Workload[]) {
    workloads.forEach((w, i) => {
      this.order.set(w, i);
      if (!this.byName.has(w.name)) this.byName.set(w.name, w);
      if (!this.byIdentity.has(w.identity)) this.byIdentity.set(w.identity, w);
      for (const [k, v] of Object.entries(w.labels)) {
        const key = `${k}\u0000${v}`;
        const list = this.byLabel.get(key);
        if (list) list.push(w);
        else this.byLabel.set(key, [w]);
      }
    });
  }

  /** Workloads carrying every label of the selector (an empty selector matches none). */
  labelled(selector: Record<string, string>): Workload[] {
    const entries = Object.entries(selector);
    if (entries.length === 0) return [];
    let best: Workload[] | undefined;
    for (const [k, v] of entries) {
      const list = this.byLabel.get(`${k}\u0000${v}`) ?? [];
      if (!best || list.length < best.length) best = list;
    }
    return (best ?? []).filter((w) => entries.every(([k, v]) => w.labels[k] === v));
  }

  /** Workloads a perimeter selector picks, in registry order. */
  select(selector: Selector): Workload[] {
    const inNamespace = (w: Workload) => selector.namespace === undefined || w.namespace === selector.namespace;
    if (selector.all) return this.workloads.filter(inNamespace);
    const picked = new Set<Workload>();
    for (const n of selector.workloads) {
      const w = this.byName.get(n);
      if (w) picked.add(w);
    }
    for (const id of selector.identities) {
      const w = this.byIdentity.get(id);
      if (w) picked.add(w);
    }
    for (const l of selector.labels) for (const w of this.labelled(l)) picked.add(w);
    return [...picked].filter(inNamespace).sort((a, b) => (this.order.get(a) ?? 0) - (this.order.get(b) ?? 0));
  }

  /** Identities named by workload names and label selectors (in `from`), sorted. */
  identitiesOf(names: readonly string[], selectors: readonly Record<string, string>[]): string[] {
    if (names.length === 0 && selectors.length === 0) return [];
    const ids = new Set<string>();
    for (const n of names) {
      const w = this.byName.get(n);
      if (w) ids.add(w.identity);
    }
    for (const s of selectors) for (const w of this.labelled(s)) ids.add(w.identity);
    return [...ids].sort();
  }
}
