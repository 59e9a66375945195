// The decision record: one line of `key=value` fields written to filter state for every
// request, which the access log carries to flow collection (contracts/decision-record.ts is its
// reader and says what each field means).
import { Status } from "./abi";
import { ptrOf, put, utf8 } from "./bytes";
import * as host from "./host";
import { MODE_ENFORCE, Policy } from "./policy";
import { CODE_DENY_UNSAFE, Verdict } from "./verdict";

/** Filter state key `wasm.perimeter_decision` (contracts/decision-record.ts DECISION_KEY). */
const RECORD_PROPERTY = utf8("perimeter_decision");
const R_ALLOW = utf8("decision=allow enforced=");
const R_DENY = utf8("decision=deny enforced=");
const R_MODE = utf8(" mode=");
const R_RULE = utf8(" rule=");
const R_VERSION = utf8(" version=");
const R_AUDIT = utf8(" audit=");
const R_STAGED = utf8(" staged=");
const R_CANDIDATE_ALLOW = utf8(" candidate=allow:");
const R_CANDIDATE_DENY = utf8(" candidate=deny:");
export const R_FAULT = utf8("decision=deny enforced=1 mode=enforce rule=host_fault");
export const R_NO_POLICY = utf8("decision=deny enforced=1 mode=enforce rule=no_policy");
const MODE_NAMES: StaticArray<ArrayBuffer> = [utf8("unknown"), utf8("observe"), utf8("simulate"), utf8("enforce")];

const RECORD: usize = memory.data(4096);
const RECORD_MAX: usize = 4096;

@inline function append(at: usize, b: ArrayBuffer): usize {
  const len = <usize>b.byteLength;
  if (at + len > RECORD_MAX) return at;
  return put(RECORD, at, ptrOf(b), len);
}

@inline function appendRaw(at: usize, p: usize, len: usize): usize {
  if (at + len > RECORD_MAX) return at;
  return put(RECORD, at, p, len);
}

/** `perimeter/rule` of what decided. */
function label(policy: Policy, v: Verdict): ArrayBuffer {
  if (v.code == CODE_DENY_UNSAFE) return policy.unsafeLabel;
  return v.ruleIndex >= 0 ? unchecked(policy.rules[v.ruleIndex]).label : policy.defaultLabel;
}

/**
 * Writes the live verdict's record; `candidate` (with its verdict) when the staged candidate
 * decided otherwise. False on a host fault.
 */
export function writeRecord(policy: Policy, v: Verdict, candidate: Policy | null, cv: Verdict): bool {
  let at = append(0, v.decision ? R_ALLOW : R_DENY);
  store<u8>(RECORD + at, v.enforced ? 0x31 : 0x30);
  at++;
  at = append(at, R_MODE);
  at = append(at, unchecked(MODE_NAMES[v.mode <= MODE_ENFORCE ? v.mode : 0]));
  at = append(at, R_RULE);
  at = append(at, label(policy, v));
  at = append(at, R_VERSION);
  at = appendRaw(at, policy.versionPtr, policy.versionLen);
  if (v.auditIndex >= 0) {
    at = append(at, R_AUDIT);
    at = append(at, unchecked(policy.rules[v.auditIndex]).label);
  }
  if (v.stagedIndex >= 0) {
    at = append(at, R_STAGED);
    at = append(at, unchecked(policy.rules[v.stagedIndex]).label);
  }
  if (candidate !== null) {
    at = append(at, cv.decision ? R_CANDIDATE_ALLOW : R_CANDIDATE_DENY);
    at = append(at, label(candidate, cv));
  }
  return host.setProperty(ptrOf(RECORD_PROPERTY), RECORD_PROPERTY.byteLength, RECORD, at) == Status.Ok;
}

/** A fixed record (a host fault, no policy). */
export function writeFixed(record: ArrayBuffer): void {
  host.setProperty(ptrOf(RECORD_PROPERTY), RECORD_PROPERTY.byteLength, ptrOf(record), record.byteLength);
}
