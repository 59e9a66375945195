/** Synthetic policies for benchmarks: N workloads, one perimeter each, R rules per perimeter. */
import type { Perimeter, PolicySet, Rule, Workload } from '../control/policy/model.js';
import { emptyOperation, emptySource } from '../control/policy/model.js';

const loc = { file: 'bench', line: 1, column: 1 };

export function syntheticPolicy(perimeters: number, rulesPer: number): PolicySet {
  const workloads: Workload[] = [];
  for (let i = 0; i < perimeters; i++) {
    workloads.push({
      name: `svc-${i}`,
      identity: `spiffe://bench.example/ns/ns-${i % 100}/sa/svc-${i}`,
      namespace: `ns-${i % 100}`,
      labels: { app: `svc-${i}`, team: `team-${i % 1000}` },
      location: loc,
    });
  }
  const ps: Perimeter[] = workloads.map((w, i) => {
    const rules: Rule[] = [];
    for (let r = 0; r < rulesPer; r++) {
      const caller = workloads[(i + r + 1) % workloads.length] as Workload;
      const src = emptySource('authenticated');
      if (r % 5 === 4) src.labels = [{ team: `team-${(i + r) % 1000}` }];
      else if (r % 5 === 3) src.principals = [{ kind: 'segment-prefix', value: `spiffe://bench.example/ns/ns-${r}` }];
      else src.principals = [{ kind: 'exact', value: caller.identity }];
      const op = emptyOperation();
      op.methods = (r % 2 ? ['GET', 'HEAD'] : ['POST']).map((value) => ({ kind: 'exact', value }));
      op.paths = [
        { kind: 'segment-prefix', value: `/api/v${r}` },
        { kind: 'exact', value: `/health/${r}` },
      ];
      rules.push({
        name: `rule-${r}`,
        action: r === rulesPer - 1 ? 'deny' : 'allow',
        from: [src],
        to: [op],
        when: r % 3 === 0 ? [{ attribute: 'header', key: 'x-tenant', values: [{ kind: 'exact', value: `t${r}` }], notValues: [] }] : [],
        location: loc,
      });
    }
    return {
      name: `p-${i}`,
      owner: 'bench',
      mode: 'enforce',
      selector: { workloads: [w.name], identities: [], labels: [] },
      rules,
      origin: 'perimeter',
      crownJewel: false,
      location: loc,
    };
  });
  return { mesh: { trustDomain: 'bench.example', defaultMode: 'enforce' }, workloads, perimeters: ps };
}
