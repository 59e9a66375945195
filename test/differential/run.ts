/**
 * Runs the differential comparison: every generated case through the real perimeter.wasm in
 * the host and through the reference evaluator; any field that differs is a disagreement.
 */
import { compile } from '../../control/compile/compile.js';
import { evaluate } from '../../control/eval/evaluate.js';
import type { PolicyRequest } from '../../control/eval/request.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import { randomPolicy, randomRequest, rng } from './generate.js';

export interface Disagreement {
  policyIndex: number;
  request: PolicyRequest;
  reference: Record<string, unknown>;
  filter: Record<string, unknown>;
}

export function runDifferential(opts: { seed: number; policies: number; requestsPerPolicy: number; onProgress?: (done: number) => void }) {
  const r = rng(opts.seed);
  const runner = new FilterRunner();
  const disagreements: Disagreement[] = [];
  let cases = 0;
  for (let p = 0; p < opts.policies; p++) {
    const set = randomPolicy(r);
    const compiled = compile(set).workloads.find((w) => w.workload.name === 'svc');
    if (!compiled) throw new Error('generator lost the target workload');
    const label = (i: number) => {
      const rule = compiled.policy.rules[i];
      return rule ? `${compiled.policy.perimeters[rule.perimeter]?.name}/${rule.name}` : undefined;
    };
    for (let q = 0; q < opts.requestsPerPolicy; q++) {
      const req = randomRequest(r);
      const ref = evaluate(compiled.policy, req);
      const got = runner.decide(compiled.bytes, req);
      cases++;
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
        perimeter: got.perimeter,
        rule: got.rule,
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
  return { cases, disagreements, hostCalls: runner.host.vm.hostCalls };
}
