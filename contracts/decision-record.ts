/**
 * The decision record: one line of `key=value` fields the filter writes to filter state for
 * every request (filter/assembly/record.ts writes it), which the access log carries to flow
 * collection, `perimeter check` reads back from the host, and the demo prints:
 *
 *   decision=deny enforced=1 mode=enforce rule=payments/no-refunds version=3f2a… candidate=allow:payments/refunds
 *
 * Values never hold a space (the filter writes none; recorded.ts refuses records that do).
 */

/** Filter state key of the record. */
export const DECISION_KEY = 'wasm.perimeter_decision';

/** Labels of decisions no rule made, and the perimeter of the mesh-wide rules. */
export const DEFAULT_RULE = 'default';
export const UNSAFE_RULE = 'unsafe-request';
export const MESH_PERIMETER = 'mesh';

export type Verdict = 'allow' | 'deny';

export interface DecisionRecord {
  decision: Verdict;
  /** True when the outcome was applied: a deny blocked, an allow came from an enforced rule. */
  enforced: boolean;
  mode: string;
  /** What decided, as written: `perimeter/rule`, or `default`, `unsafe-request`, `host_fault`, `no_policy`. */
  rule: string;
  version: string;
  /** Audit and staged rules (`perimeter/rule`) that matched too. */
  audit?: string;
  staged?: string;
  /** The staged candidate's verdict and rule, when it decides otherwise. */
  candidate?: { decision: Verdict; rule: string };
}

/** What a decision did to the request: let it through, blocked it, or would have (not enforced). */
export type Outcome = 'allow' | 'deny' | 'would-deny';

export function outcomeOf(d: { decision: Verdict; enforced: boolean }): Outcome {
  return d.decision === 'allow' ? 'allow' : d.enforced ? 'deny' : 'would-deny';
}

/** The fields a record may carry besides `decision`. */
export const RECORD_FIELDS = ['enforced', 'mode', 'rule', 'version', 'audit', 'staged', 'candidate'] as const;

/** The record's fields as written, not yet checked. */
export function recordFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of text.split(' ')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** The typed record. A record without `decision=allow` reads as a deny (fail closed). */
export function decisionRecordOf(f: Record<string, string>): DecisionRecord {
  const m = f.candidate ? /^(allow|deny):(.*)$/.exec(f.candidate) : null;
  return {
    decision: f.decision === 'allow' ? 'allow' : 'deny',
    enforced: f.enforced === '1',
    mode: f.mode ?? '',
    rule: f.rule ?? '',
    version: f.version ?? '',
    ...(f.audit ? { audit: f.audit } : {}),
    ...(f.staged ? { staged: f.staged } : {}),
    ...(m ? { candidate: { decision: m[1] as Verdict, rule: m[2] ?? '' } } : {}),
  };
}

export function parseDecisionRecord(text: string): DecisionRecord {
  return decisionRecordOf(recordFields(text));
}

/** `payments/no-refunds` → its perimeter and rule name; a label without `/` (`default`) has no perimeter. */
export function ruleRef(label: string): { perimeter: string; rule: string } {
  const slash = label.indexOf('/');
  return slash < 0 ? { perimeter: '', rule: label } : { perimeter: label.slice(0, slash), rule: label.slice(slash + 1) };
}
