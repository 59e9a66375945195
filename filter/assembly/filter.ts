// The request path: read the peer identity and the L7 attributes the policy needs, decide (and
// decide again with the staged candidate, in shadow), record, count (counters.ts sends the
// counts in batches), and enforce. It allocates
// no managed objects and never traps: any unexpected host status denies the request and counts
// a host fault (fail closed).
import { readExtras, readPeer, readRequestHeaders, releaseAll } from "./attributes";
import { HeadersAction } from "./abi";
import { ptrOf, utf8 } from "./bytes";
import * as contexts from "./contexts";
import { ALLOWED, CANDIDATE_DISAGREE, cHostFault, count, DENIED, UNAUTHENTICATED, WOULD_DENY } from "./counters";
import { decide, decideUnsafe } from "./decide";
import * as host from "./host";
import { MAX_HOST, normalizeHost, normalizePath } from "./match";
import { R_FAULT, R_NO_POLICY, writeFixed, writeRecord } from "./record";
import { Request } from "./request";
import { CODE_DENY_UNSAFE, Verdict } from "./verdict";

const BODY = utf8("access denied by perimeter policy\n");
const DETAILS_FAULT = utf8("perimeter_denied[host_fault]");
const DETAILS_NO_POLICY = utf8("perimeter_denied[no_policy]");

/** The one request being decided (the VM runs one callback at a time), and the two verdicts on it. */
export const REQUEST = new Request();
const LIVE = new Verdict();
const CANDIDATE = new Verdict();

function denyWith(details: ArrayBuffer): void {
  host.sendLocalResponse(403, ptrOf(details), details.byteLength, ptrOf(BODY), BODY.byteLength);
}

function fail(record: ArrayBuffer, details: ArrayBuffer, fault: bool): u32 {
  releaseAll();
  writeFixed(record);
  if (fault) host.incrementCounter(cHostFault, 1);
  count(DENIED);
  denyWith(details);
  return HeadersAction.StopIteration;
}

export function onRequestHeaders(id: u32): u32 {
  contexts.getStream(id);
  const installed = contexts.found;
  if (installed === null) return fail(R_NO_POLICY, DETAILS_NO_POLICY, false);
  const policy = installed.policy;
  const req = REQUEST;

  if (!readPeer(req)) return fail(R_FAULT, DETAILS_FAULT, true);
  if (!readRequestHeaders(policy, req)) return fail(R_FAULT, DETAILS_FAULT, true);
  if (!readExtras(policy, req)) return fail(R_FAULT, DETAILS_FAULT, true);

  const pathLen = req.rawPathLen >= 0 && !req.joinedOverflow ? normalizePath(req.rawPathPtr, <usize>req.rawPathLen, policy.pathParameters) : -1;
  // An authority too long to handle is refused whether or not a rule reads it; lower-cased only when one does.
  const candidate = policy.candidate;
  const readsHost = policy.readsHost || (candidate !== null && candidate.readsHost);
  const hostLen: isize = pathLen < 0 || req.rawHostLen > MAX_HOST ? -1 : readsHost ? normalizeHost(req.rawHostPtr, req.rawHostLen) : 0;
  const safe = hostLen >= 0;
  const v = LIVE;
  if (safe) {
    req.pathLen = <usize>pathLen;
    req.hostLen = <usize>hostLen;
    decide(policy, req, v);
  } else decideUnsafe(policy, v);
  // An unsafe request is denied whatever either policy says, so there is nothing to compare.
  let disagree = false;
  if (candidate !== null && safe) {
    decide(candidate, req, CANDIDATE);
    disagree = CANDIDATE.decision != v.decision;
  }

  const recorded = writeRecord(policy, v, disagree ? candidate : null, CANDIDATE);
  releaseAll();
  if (!recorded) return fail(R_FAULT, DETAILS_FAULT, true);

  if (!req.authenticated) count(UNAUTHENTICATED);
  if (disagree) count(CANDIDATE_DISAGREE);
  if (v.ruleIndex >= 0) unchecked((installed.pendingHits[v.ruleIndex] += 1));
  if (v.decision) {
    count(ALLOWED);
    return HeadersAction.Continue;
  }
  if (!v.enforced) {
    count(WOULD_DENY);
    return HeadersAction.Continue;
  }
  count(DENIED);
  if (v.code == CODE_DENY_UNSAFE) denyWith(policy.unsafeDetails);
  else denyWith(v.ruleIndex >= 0 ? unchecked(policy.rules[v.ruleIndex]).details : policy.defaultDetails);
  return HeadersAction.StopIteration;
}
