/**
 * One workload's policy with N rules, the same for every engine: rule i allows caller-i
 * (a distinct exact SPIFFE ID) GET/POST under /api/v{i%5}; every 50th rule also denies that
 * caller /admin/*; a prefix rule and an any-authenticated rule sit beside them. Plus the four
 * requests every engine decides: an allow hit, a deny by default, a deny rule hit, and an
 * unauthenticated request.
 */

import type { PolicyRequest } from '../contracts/request.js';
import { type CompiledWorkload, compile } from '../control/compile/compile.js';
import { emptyOperation, emptySource, type PolicySet, type Rule } from '../control/policy/model.js';

const TD = 'spiffe://bench.example';
const loc = { file: 'bench', line: 1, column: 1 };
export const caller = (i: number) => `${TD}/ns/ns-${i % 100}/sa/caller-${i}`;

export function rulesPolicy(n: number): PolicySet {
  const rules: Rule[] = [];
  for (let i = 0; rules.length < n; i++) {
    const src = emptySource('authenticated');
    src.principals = [{ kind: 'exact', value: caller(i) }];
    const op = emptyOperation();
    op.methods = ['GET', 'POST'].map((value) => ({ kind: 'exact', value }));
    op.paths = [{ kind: 'segment-prefix', value: `/api/v${i % 5}` }];
    rules.push({ name: `allow-${i}`, action: 'allow', from: [src], to: [op], when: [], location: loc });
    if (i % 50 === 0 && rules.length < n) {
      const deny = emptyOperation();
      deny.paths = [{ kind: 'segment-prefix', value: '/admin' }];
      rules.push({ name: `deny-admin-${i}`, action: 'deny', from: [{ ...src }], to: [deny], when: [], location: loc });
    }
  }
  if (n >= 10) {
    const prefix = emptySource('authenticated');
    prefix.principals = [{ kind: 'segment-prefix', value: `${TD}/ns/batch` }];
    rules[rules.length - 1] = { name: 'batch', action: 'allow', from: [prefix], to: [], when: [], location: loc };
  }
  return {
    mesh: { trustDomain: 'bench.example', defaultMode: 'enforce' },
    workloads: [{ name: 'target', identity: `${TD}/ns/target/sa/target`, namespace: 'target', labels: {}, location: loc }],
    perimeters: [
      {
        name: 'target',
        owner: 'bench',
        mode: 'enforce',
        selector: { workloads: ['target'], identities: [], labels: [] },
        rules,
        origin: 'perimeter',
        crownJewel: false,
        location: loc,
      },
    ],
  };
}

/** With `staged`, the perimeter also carries a candidate: the same rules in reverse order, enforced. */
export function compiledTarget(n: number, staged = false): CompiledWorkload {
  const policy = rulesPolicy(n);
  if (staged) for (const p of policy.perimeters) p.candidate = { mode: 'enforce', rules: [...p.rules].reverse(), location: loc };
  const w = compile(policy).workloads[0];
  if (!w) throw new Error('no target');
  return w;
}

export interface BenchRequest {
  name: string;
  request: PolicyRequest;
  expect: 'allow' | 'deny';
}

export function benchRequests(n: number): BenchRequest[] {
  const mid = Math.floor(n / 2) - (Math.floor(n / 2) % 51);
  const base = {
    method: 'GET',
    host: 'target.bench.example',
    headers: { 'user-agent': 'bench', accept: '*/*', 'x-request-id': 'b3f1c0de' },
  };
  return [
    { name: 'allow hit', request: { ...base, principal: caller(mid + 1), path: `/api/v${(mid + 1) % 5}/items/42` }, expect: 'allow' },
    { name: 'deny by default', request: { ...base, principal: `${TD}/ns/x/sa/unknown`, path: '/api/v0/items' }, expect: 'deny' },
    { name: 'deny rule hit', request: { ...base, principal: caller(0), path: '/admin/users' }, expect: 'deny' },
    { name: 'unauthenticated', request: { ...base, path: '/api/v0/items' }, expect: 'deny' },
  ];
}
