/**
 * What `perimeter check` decides for one request: the request as Envoy handles it (its
 * connection manager first, contracts/request-path.ts, as the local sidecar does), then an
 * engine (the reference evaluator, or the built filter handed in by the caller), the staged
 * candidate's verdict, and for a default deny the nearest allow rule and what failed.
 */
import { DEFAULT_RULE, type DecisionRecord, MESH_PERIMETER, ruleRef, UNSAFE_RULE } from '../../contracts/decision-record.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { connectionManagerPath, normalizePath } from '../../contracts/request-path.js';
import { type CompiledWorkload, ruleLabel } from '../compile/compile.js';
import { type Decision, evaluate, pathParametersOf, viewOf } from './evaluate.js';
import { type NearMiss, nearestAllow } from './explain.js';

/** What the filter (run elsewhere, on the data plane's host) decided: its record and Envoy's local reply. */
export interface FilterVerdict extends DecisionRecord {
  record: string;
  localReply?: { status: number; details: string };
}

/** Runs the built filter on a workload's CompiledPolicy bytes. */
export type FilterEngine = (policy: Uint8Array, request: PolicyRequest) => FilterVerdict;

export type CheckedDecision = Decision & { record?: string; localReply?: { status: number; details: string } };

export interface Checked {
  result: CheckedDecision;
  nearest?: NearMiss;
  /** With a staged candidate: what it decides (the filter compares the same in shadow). */
  candidate?: { decision: 'allow' | 'deny'; perimeter: string; rule: string; differs: boolean };
  /** Envoy's connection manager refuses the request before any filter runs (as the sidecar does). */
  rejected?: { status: number; details: string };
}

/** The filter's verdict in the reference evaluator's shape (rule indices from the rule labels). */
export function decisionOfFilter(target: CompiledWorkload, f: FilterVerdict): CheckedDecision {
  const decided = ruleRef(f.rule);
  const policy = target.policy;
  const indexOf = (label: string | undefined) => (label === undefined ? -1 : policy.rules.findIndex((r) => ruleLabel(policy, r) === label));
  const ruleIndex = indexOf(f.rule);
  const code =
    decided.rule === DEFAULT_RULE
      ? 'deny_default'
      : decided.rule === UNSAFE_RULE
        ? 'deny_unsafe_request'
        : f.decision === 'allow'
          ? 'allow'
          : 'deny_rule';
  const stagedIndex = indexOf(f.staged);
  const auditIndex = indexOf(f.audit);
  return {
    decision: f.decision,
    enforced: f.enforced,
    mode: f.mode as Decision['mode'],
    perimeter: decided.perimeter,
    rule: decided.rule,
    ruleIndex,
    code,
    version: f.version,
    ...(auditIndex >= 0 ? { audit: policy.rules[auditIndex]?.name as string, auditIndex } : {}),
    ...(stagedIndex >= 0 && f.staged
      ? {
          staged: { decision: 'allow' as const, rule: ruleRef(f.staged).rule, perimeter: ruleRef(f.staged).perimeter },
        }
      : {}),
    record: f.record,
    ...(f.localReply ? { localReply: { status: f.localReply.status, details: f.localReply.details } } : {}),
  };
}

/** Decides `sent` for `target` with `filter`, or with the reference evaluator when there is none. */
export function checkRequest(target: CompiledWorkload, sent: PolicyRequest, filter?: FilterEngine): Checked {
  const cm = connectionManagerPath(sent.path);
  if (!cm.ok) {
    const result: Decision = {
      decision: 'deny',
      enforced: true,
      mode: 'enforce',
      perimeter: target.policy.defaultPerimeter || MESH_PERIMETER,
      rule: UNSAFE_RULE,
      ruleIndex: -1,
      code: 'deny_unsafe_request',
      version: target.policy.version,
    };
    return { result, rejected: { status: cm.status, details: cm.details } };
  }
  const request = { ...sent, path: cm.path };
  const result = filter ? decisionOfFilter(target, filter(target.bytes, request)) : evaluate(target.policy, request);
  const staged = target.policy.candidate ? evaluate(target.policy.candidate, request) : undefined;
  const candidate = staged && {
    candidate: { decision: staged.decision, perimeter: staged.perimeter, rule: staged.rule, differs: staged.decision !== result.decision },
  };
  if (result.decision === 'allow' || result.code !== 'deny_default') return { result, ...candidate };
  const norm = normalizePath(request.path, pathParametersOf(target.policy));
  const nearest = norm.ok ? nearestAllow(target.policy, viewOf(target.policy, request, norm.path), request.method) : undefined;
  return { result, ...(nearest ? { nearest } : {}), ...candidate };
}
