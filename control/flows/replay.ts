/**
 * Replay: the recorded flows decided by the current policy and by a candidate, to show what the
 * candidate would change before it is published. Each flow is decided on its latest request
 * (source, method, example path, host), by each policy as it would act once published: a deny
 * in simulate mode lets the request pass, so publishing a candidate that only stages a rule
 * changes nothing enforced (its would-be denials show in the flows once it runs).
 */
import type { CompileResult } from '../compile/compile.js';
import { evaluate } from '../eval/evaluate.js';
import type { Flow } from './store.js';

export type Change = 'newly denied' | 'newly allowed' | 'unchanged';

export interface ReplayedFlow {
  flow: Flow;
  current: 'allow' | 'deny';
  candidate: 'allow' | 'deny';
  change: Change;
  /** The candidate's deciding rule. */
  rule: string;
}

export interface Replay {
  flows: ReplayedFlow[];
  /** Requests (flow counts) per change. */
  requests: Record<Change, number>;
}

/** Blocks or passes, as the filter enforces it. */
function decide(result: CompileResult, f: Flow): { verdict: 'allow' | 'deny'; rule: string } | undefined {
  const w = result.workloads.find((x) => x.workload.name === f.destination);
  if (!w) return undefined;
  const d = evaluate(w.policy, {
    ...(f.source !== undefined ? { principal: f.source } : {}),
    method: f.method,
    path: f.lastPath || f.template,
    host: f.lastHost,
  });
  const denied = d.decision === 'deny' && d.enforced;
  return { verdict: denied ? 'deny' : 'allow', rule: d.perimeter && d.rule !== 'default' ? `${d.perimeter}/${d.rule}` : d.rule };
}

export function replay(current: CompileResult, candidate: CompileResult, flows: readonly Flow[]): Replay {
  const out: ReplayedFlow[] = [];
  const requests: Record<Change, number> = { 'newly denied': 0, 'newly allowed': 0, unchanged: 0 };
  for (const flow of flows) {
    const a = decide(current, flow);
    const b = decide(candidate, flow);
    if (!a || !b) continue; // a workload the candidate (or the current policy) does not have
    const change: Change = a.verdict === b.verdict ? 'unchanged' : b.verdict === 'deny' ? 'newly denied' : 'newly allowed';
    requests[change] += flow.count;
    out.push({ flow, current: a.verdict, candidate: b.verdict, change, rule: b.rule });
  }
  return { flows: out, requests };
}
