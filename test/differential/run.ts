/**
 * Runs the differential comparison: every generated case through the real perimeter.wasm in
 * the host and through the reference evaluator; any field that differs is a disagreement.
 * Where the policy can be exported as Envoy RBAC and gRPC's RBAC engine can judge it (it never
 * matches metadata, so no claims or request principals), `perimeter export rbac`'s filters
 * must block exactly what the reference evaluator blocks, too.
 */
import { EnvoyRbacEngine } from '../../bench/engines/envoy-rbac.js';
import { ruleRef } from '../../contracts/decision-record.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { compile } from '../../control/compile/compile.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { exportRbac } from '../../control/render/rbac.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { Condition_Attribute } from '../../proto/gen/perimeter/v1/policy.js';
import { NOW, randomPolicy, rng } from './generate.js';
import { randomRequest } from './generate-request.js';

export interface Disagreement {
  policyIndex: number;
  request: PolicyRequest;
  reference: Record<string, unknown>;
  /** The filter's outcome, or with `engine: 'rbac'`, what the exported RBAC filters did. */
  filter: Record<string, unknown>;
}

/** gRPC's RBAC engine for this policy, or undefined where it cannot judge it. */
function rbacEngine(policy: CompiledPolicy, nowMs: number): EnvoyRbacEngine | undefined {
  const usesMetadata = policy.rules.some(
    (rule) =>
      rule.conditions.some((c) => c.attribute === Condition_Attribute.ATTRIBUTE_CLAIM) ||
      rule.sources.some((s) => s.requestPrincipals.length + s.notRequestPrincipals.length > 0),
  );
  if (usesMetadata) return undefined;
  const exported = exportRbac(policy, { nowMs });
  return exported.issues.some((i) => i.severity === 'error') ? undefined : new EnvoyRbacEngine(exported.filters);
}

export function runDifferential(opts: { seed: number; policies: number; requestsPerPolicy: number; onProgress?: (done: number) => void }) {
  const r = rng(opts.seed);
  const runner = new FilterRunner();
  const disagreements: Disagreement[] = [];
  let cases = 0;
  let rbacCases = 0;
  for (let p = 0; p < opts.policies; p++) {
    const set = randomPolicy(r);
    const compiled = compile(set).workloads.find((w) => w.workload.name === 'svc');
    if (!compiled) throw new Error('generator lost the target workload');
    const label = (i: number) => {
      const rule = compiled.policy.rules[i];
      return rule ? `${compiled.policy.perimeters[rule.perimeter]?.name}/${rule.name}` : undefined;
    };
    const rbac = rbacEngine(compiled.policy, NOW);
    for (let q = 0; q < opts.requestsPerPolicy; q++) {
      const req = randomRequest(r);
      const ref = evaluate(compiled.policy, req);
      const got = runner.decide(compiled.bytes, req);
      cases++;
      // Requests the connection manager would refuse never reach Envoy's RBAC.
      if (rbac && ref.code !== 'deny_unsafe_request') {
        rbacCases++;
        const blocked = ref.decision === 'deny' && ref.enforced;
        const rbacBlocks = rbac.decide(rbac.prepare(req)) === 'deny';
        if (blocked !== rbacBlocks && disagreements.length < 20)
          disagreements.push({
            policyIndex: p,
            request: req,
            reference: { blocked, rule: ref.rule },
            filter: { engine: 'rbac', blocked: rbacBlocks },
          });
      }
      const want = {
        decision: ref.decision,
        enforced: ref.enforced,
        mode: ref.mode,
        perimeter: ref.perimeter,
        rule: ref.rule,
        version: ref.version,
        staged: ref.staged ? `${ref.staged.perimeter}/${ref.staged.rule}` : undefined,
        audit: ref.auditIndex !== undefined ? label(ref.auditIndex) : undefined,
        blocked: ref.decision === 'deny' && ref.enforced,
      };
      const have = {
        decision: got.decision,
        enforced: got.enforced,
        mode: got.mode,
        ...ruleRef(got.rule),
        version: got.version,
        staged: got.staged,
        audit: got.audit,
        blocked: got.localReply?.status === 403,
      };
      if (JSON.stringify(want) !== JSON.stringify(have) && disagreements.length < 20)
        disagreements.push({ policyIndex: p, request: req, reference: want, filter: have });
    }
    opts.onProgress?.(cases);
  }
  return { cases, rbacCases, disagreements, hostCalls: runner.host.vm.hostCalls };
}
