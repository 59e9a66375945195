// The filter's lifecycle: configure (decode and swap the policy), and per request: read the
// peer identity and the L7 attributes the policy needs, decide, record, count, and enforce.
// The request path allocates no managed objects and never traps: any unexpected host status
// denies the request and counts a host fault (fail closed).
import * as claims from "./claims";
import { garbageMade } from "./collect";
import { BufferType, HeadersAction, LogLevel, Status } from "./abi";
import { isName, ptrOf, put, sameBytes, utf8 } from "./bytes";
import * as contexts from "./contexts";
import * as d from "./decide";
import * as host from "./host";
import { normalizeHost, normalizePath } from "./match";
import { policyFromJson } from "./json-config";
import { decodePolicy, MODE_ENFORCE, NEED_CLAIMS, NEED_PORT, NEED_TIME, Policy } from "./policy";

// Constants as UTF-8, made once when the module starts (no host calls there).
const URI_SAN = utf8("connection\0uri_san_peer_certificate");
const DESTINATION_PORT = utf8("destination\0port");
/** All dynamic metadata, as Envoy serialises it: a Metadata message (jwt_authn's payload inside). */
const METADATA = utf8("metadata");
const RECORD_PROPERTY = utf8("perimeter_decision");
const H_METHOD = utf8(":method");
const H_PATH = utf8(":path");
const H_AUTHORITY = utf8(":authority");
const METHODS: StaticArray<ArrayBuffer> = [
  utf8("GET"),
  utf8("HEAD"),
  utf8("POST"),
  utf8("PUT"),
  utf8("DELETE"),
  utf8("CONNECT"),
  utf8("OPTIONS"),
  utf8("TRACE"),
  utf8("PATCH"),
];
const BODY = utf8("access denied by perimeter policy\n");
const DETAILS_FAULT = utf8("perimeter_denied[host_fault]");
const DETAILS_NO_POLICY = utf8("perimeter_denied[no_policy]");
const R_ALLOW = utf8("decision=allow enforced=");
const R_DENY = utf8("decision=deny enforced=");
const R_MODE = utf8(" mode=");
const R_RULE = utf8(" rule=");
const R_VERSION = utf8(" version=");
const R_AUDIT = utf8(" audit=");
const R_STAGED = utf8(" staged=");
const R_CANDIDATE_ALLOW = utf8(" candidate=allow:");
const R_CANDIDATE_DENY = utf8(" candidate=deny:");
const R_FAULT = utf8("decision=deny enforced=1 mode=enforce rule=host_fault");
const R_NO_POLICY = utf8("decision=deny enforced=1 mode=enforce rule=no_policy");
const MODE_NAMES: StaticArray<ArrayBuffer> = [utf8("unknown"), utf8("observe"), utf8("simulate"), utf8("enforce")];

const RECORD: usize = memory.data(4096);
const RECORD_MAX: usize = 4096;

/** Rules beyond this many share one overflow counter, so a large policy cannot flood stats. */
export const MAX_RULE_COUNTERS: i32 = 1024;
export const MAX_CLAIMS: i32 = 32;

let cAllowed: u32 = 0;
let cDenied: u32 = 0;
let cWouldDeny: u32 = 0;
let cUnauthenticated: u32 = 0;
let cConfigRejected: u32 = 0;
let cHostFault: u32 = 0;
let cRuleOverflow: u32 = 0;
let cCandidateDisagree: u32 = 0;

function counter(name: string): u32 {
  const b = utf8(name);
  return host.defineCounter(ptrOf(b), b.byteLength);
}

function defineCounters(policy: Policy): void {
  cAllowed = counter("perimeter.allowed");
  cDenied = counter("perimeter.denied");
  cWouldDeny = counter("perimeter.would_deny");
  cUnauthenticated = counter("perimeter.unauthenticated");
  cConfigRejected = counter("perimeter.config_rejected");
  cHostFault = counter("perimeter.host_fault");
  cRuleOverflow = counter("perimeter.rule.overflow.hits");
  cCandidateDisagree = counter("perimeter.candidate.disagree");
  for (let i = 0; i < policy.rules.length; i++) {
    const rule = policy.rules[i];
    if (i >= MAX_RULE_COUNTERS) {
      rule.metricId = cRuleOverflow;
      continue;
    }
    // perimeter.rule.<perimeter>.<rule>.hits
    const lab = Uint8Array.wrap(rule.label);
    const head = utf8("perimeter.rule.");
    const tail = utf8(".hits");
    const name = new ArrayBuffer(head.byteLength + lab.length + tail.byteLength);
    const p = ptrOf(name);
    memory.copy(p, ptrOf(head), head.byteLength);
    for (let k = 0; k < lab.length; k++) store<u8>(p + head.byteLength + k, lab[k] == 0x2f ? 0x2e : lab[k]);
    memory.copy(p + head.byteLength + lab.length, ptrOf(tail), tail.byteLength);
    rule.metricId = host.defineCounter(p, name.byteLength);
  }
}

// === root contexts ===

export function onContextCreate(id: u32, parent: u32): void {
  if (parent == 0) {
    contexts.addRoot(id);
    return;
  }
  const root = contexts.rootOf(parent);
  contexts.putStream(id, root ? root.policy : null);
}

export function onConfigure(rootId: u32, size: u32): bool {
  const root = contexts.rootOf(rootId);
  if (!root) return false;
  const status = host.getBufferBytes(BufferType.PluginConfiguration, size);
  const ptr = host.hostPtr;
  const len = host.hostSize;
  if (status != Status.Ok || len == 0) {
    host.release(ptr);
    return reject("no plugin configuration (the CompiledPolicy bytes)");
  }
  let pool = new ArrayBuffer(<i32>len);
  memory.copy(ptrOf(pool), ptr, len);
  host.release(ptr);
  if (pool.byteLength > 0 && load<u8>(ptrOf(pool)) == 0x7b) {
    // JSON: Istio's WasmPlugin pluginConfig, {"policy": "<base64>"}.
    const decoded = policyFromJson(pool);
    if (decoded === null) return reject("JSON configuration without a base64 \"policy\" (the CompiledPolicy bytes)");
    pool = decoded;
  }
  const policy = decodePolicy(pool);
  if (policy === null) return reject("malformed CompiledPolicy or unknown format version");
  if (policy.claims.length > MAX_CLAIMS) return reject("the policy reads more than 32 claims");
  flushHits(root);
  defineCounters(policy);
  // The swap: streams created from now on see the new policy; streams in flight keep theirs.
  const previous = root.policy;
  if (previous) previous.retired = true;
  root.policy = policy;
  garbageMade();
  host.setTickPeriod(1000);
  host.log(LogLevel.Info, "perimeter: policy " + String.UTF8.decodeUnsafe(policy.versionPtr, policy.versionLen) + " applied, " + policy.rules.length.toString() + " rules");
  return true;
}

function reject(why: string): bool {
  if (cConfigRejected == 0) cConfigRejected = counter("perimeter.config_rejected");
  host.incrementCounter(cConfigRejected, 1);
  host.log(LogLevel.Error, "perimeter: configuration rejected, previous policy kept: " + why);
  return false;
}

function flushHits(root: contexts.Root): void {
  const policy = root.policy;
  if (policy === null) return;
  const rules = policy.rules;
  for (let i = 0; i < rules.length; i++) {
    const rule = unchecked(rules[i]);
    if (rule.pendingHits > 0) {
      host.incrementCounter(rule.metricId, rule.pendingHits);
      rule.pendingHits = 0;
    }
  }
}

export function onTick(rootId: u32): void {
  const root = contexts.rootOf(rootId);
  if (root) flushHits(root);
}

export function onDone(id: u32): bool {
  const root = contexts.rootOf(id);
  if (root) flushHits(root);
  return true;
}

export function onDelete(id: u32): void {
  if (contexts.getStream(id)) contexts.deleteStream(id);
  else contexts.removeRoot(id);
}

// === streams ===

const FREES: usize = memory.data(4 * 64);
let freeCount: usize = 0;

@inline function keep(p: usize): void {
  if (p != 0 && freeCount < 64) {
    store<u32>(FREES + freeCount * 4, <u32>p);
    freeCount++;
  } else if (p != 0) {
    host.release(p);
  }
}

function releaseAll(): void {
  for (let i: usize = 0; i < freeCount; i++) host.release(<usize>load<u32>(FREES + i * 4));
  freeCount = 0;
}

let rawPathPtr: usize = 0;
let rawPathLen: isize = -1;
let rawHostPtr: usize = 0;
let rawHostLen: usize = 0;

/** A repeated header's lines are joined here ("a,b"), as Envoy joins them for its matchers. */
const JOINED_MAX: usize = 65536;
const JOINED: usize = memory.data(<i32>JOINED_MAX);
/** The request's repeated headers did not fit JOINED: the request cannot be decided safely. */
let joinedOverflow = false;

/**
 * Reads the request headers (pairs format), keeping the ones the decision needs: the first line
 * of each, and when a header came more than once, every line joined by "," (a second pass, only
 * then). False when the map is malformed.
 */
function readHeaders(policy: Policy, p: usize, size: usize): bool {
  rawPathLen = -1;
  rawHostLen = 0;
  joinedOverflow = false;
  d.setMethodBit(0);
  const wanted = policy.headers;
  for (let i = 0; i < wanted.length; i++) {
    unchecked((policy.headerLens[i] = -1));
    unchecked((policy.headerCounts[i] = 0));
  }
  if (size == 0) return true; // no headers at all: nothing to read
  if (size < 4) return false;
  const n = <usize>load<u32>(p);
  if (<u64>n * 8 + 4 > <u64>size) return false;
  let off: usize = 4 + n * 8;
  let repeated = false;
  for (let i: usize = 0; i < n; i++) {
    const kl = <usize>load<u32>(p + 4 + i * 8);
    const vl = <usize>load<u32>(p + 8 + i * 8);
    if (<u64>off + <u64>kl + <u64>vl + 2 > <u64>size) return false;
    const k = p + off;
    const v = k + kl + 1;
    off += kl + vl + 2;
    if (kl > 0 && load<u8>(k) == 0x3a) {
      if (isName(k, kl, H_PATH)) {
        if (rawPathLen < 0) {
          rawPathPtr = v;
          rawPathLen = <isize>vl;
        }
      } else if (isName(k, kl, H_AUTHORITY)) {
        if (rawHostLen == 0) {
          rawHostPtr = v;
          rawHostLen = vl;
        }
      } else if (isName(k, kl, H_METHOD) && d.methodBit == 0) {
        for (let m = 0; m < METHODS.length; m++) {
          if (isName(v, vl, unchecked(METHODS[m]))) {
            d.setMethodBit(1 << m);
            break;
          }
        }
      }
      continue;
    }
    for (let h = 0; h < wanted.length; h++) {
      const w = unchecked(wanted[h]);
      if (w.len != kl || !sameBytes(w.ptr, k, kl)) continue;
      const seen = unchecked(policy.headerCounts[h]);
      if (seen == 0) {
        unchecked((policy.headerPtrs[h] = v));
        unchecked((policy.headerLens[h] = <isize>vl));
      } else {
        // Length of the joined value so far; the lines are copied in the second pass.
        unchecked((policy.headerLens[h] += <isize>(vl + 1)));
        repeated = true;
      }
      unchecked((policy.headerCounts[h] = seen + 1));
    }
  }
  if (off != size) return false;
  if (repeated) joinRepeated(policy, p, n);
  return true;
}

/** Marks a header being joined in the second pass; the low bits count the lines still to copy. */
const JOINING: u32 = 0x80000000;

/** Second pass: each repeated header's lines, in order, joined by "," into JOINED. */
function joinRepeated(policy: Policy, p: usize, n: usize): void {
  const wanted = policy.headers;
  let total: usize = 0;
  for (let h = 0; h < wanted.length; h++) {
    const count = unchecked(policy.headerCounts[h]);
    if (count < 2) continue;
    const len = <usize>unchecked(policy.headerLens[h]);
    if (total + len > JOINED_MAX) {
      joinedOverflow = true;
      return;
    }
    unchecked((policy.headerPtrs[h] = JOINED + total));
    total += len;
    unchecked((policy.headerCounts[h] = JOINING | count));
    unchecked((policy.headerLens[h] = 0)); // bytes copied so far
  }
  let off: usize = 4 + n * 8;
  for (let i: usize = 0; i < n; i++) {
    const kl = <usize>load<u32>(p + 4 + i * 8);
    const vl = <usize>load<u32>(p + 8 + i * 8);
    const k = p + off;
    off += kl + vl + 2;
    for (let h = 0; h < wanted.length; h++) {
      const state = unchecked(policy.headerCounts[h]);
      if ((state & JOINING) == 0 || state == JOINING) continue;
      const w = unchecked(wanted[h]);
      if (w.len != kl || !sameBytes(w.ptr, k, kl)) continue;
      const dst = unchecked(policy.headerPtrs[h]);
      let at = <usize>unchecked(policy.headerLens[h]);
      memory.copy(dst + at, k + kl + 1, vl);
      at += vl;
      const left = state - 1;
      if (left != JOINING) {
        store<u8>(dst + at, 0x2c);
        at++;
      }
      unchecked((policy.headerLens[h] = <isize>at));
      unchecked((policy.headerCounts[h] = left));
    }
  }
}

/** Fetches what the policy needs beyond identity and headers; false on a host fault. */
function readExtras(policy: Policy): bool {
  d.setPort(-1);
  d.setRequestPrincipalLen(-1);
  if ((policy.needs & NEED_PORT) != 0) {
    const st = host.getProperty(ptrOf(DESTINATION_PORT), DESTINATION_PORT.byteLength);
    keep(host.hostPtr);
    if (st == Status.Ok && host.hostSize == 8) d.setPort(load<i64>(host.hostPtr));
    else if (st != Status.NotFound) return false;
  }
  if ((policy.needs & NEED_TIME) != 0) {
    const ns = host.nowNanoseconds();
    if (ns < 0) return false;
    d.setNow(ns / 1000000);
  }
  if ((policy.needs & NEED_CLAIMS) != 0) {
    const st = host.getProperty(ptrOf(METADATA), METADATA.byteLength);
    keep(host.hostPtr);
    if (st == Status.NotFound) return claims.readClaims(policy, 0, 0);
    if (st != Status.Ok || !claims.readClaims(policy, host.hostPtr, host.hostSize)) return false;
    if (policy.usesRequestPrincipal) readRequestPrincipal();
  }
  return true;
}

/** "iss/sub" of the verified token, when both are strings and fit. */
function readRequestPrincipal(): void {
  const il = claims.issLen;
  const sl = claims.subLen;
  if (il < 0 || sl < 0 || <usize>(il + sl + 1) > 2048) return;
  let at = put(d.REQUEST_PRINCIPAL_BUF, 0, claims.issPtr, <usize>il);
  store<u8>(d.REQUEST_PRINCIPAL_BUF + at, 0x2f);
  at = put(d.REQUEST_PRINCIPAL_BUF, at + 1, claims.subPtr, <usize>sl);
  d.setRequestPrincipalLen(<isize>at);
}

@inline function append(at: usize, b: ArrayBuffer): usize {
  const len = <usize>b.byteLength;
  if (at + len > RECORD_MAX) return at;
  return put(RECORD, at, ptrOf(b), len);
}

@inline function appendRaw(at: usize, p: usize, len: usize): usize {
  if (at + len > RECORD_MAX) return at;
  return put(RECORD, at, p, len);
}

function label(policy: Policy, index: i32): ArrayBuffer {
  if (d.code == d.CODE_DENY_UNSAFE) return policy.unsafeLabel;
  return index >= 0 ? unchecked(policy.rules[index]).label : policy.defaultLabel;
}

function writeRecord(policy: Policy): bool {
  let at = append(0, d.decision ? R_ALLOW : R_DENY);
  store<u8>(RECORD + at, d.enforced ? 0x31 : 0x30);
  at++;
  at = append(at, R_MODE);
  at = append(at, unchecked(MODE_NAMES[d.mode <= MODE_ENFORCE ? d.mode : 0]));
  at = append(at, R_RULE);
  at = append(at, label(policy, d.ruleIndex));
  at = append(at, R_VERSION);
  at = appendRaw(at, policy.versionPtr, policy.versionLen);
  if (d.auditIndex >= 0) {
    at = append(at, R_AUDIT);
    at = append(at, unchecked(policy.rules[d.auditIndex]).label);
  }
  if (d.stagedIndex >= 0) {
    at = append(at, R_STAGED);
    at = append(at, unchecked(policy.rules[d.stagedIndex]).label);
  }
  const candidate = policy.candidate;
  if (d.disagree && candidate !== null) {
    at = append(at, d.candidateDecision ? R_CANDIDATE_ALLOW : R_CANDIDATE_DENY);
    at = append(at, label(candidate, d.candidateRule));
  }
  return host.setProperty(ptrOf(RECORD_PROPERTY), RECORD_PROPERTY.byteLength, RECORD, at) == Status.Ok;
}

function denyWith(details: ArrayBuffer): void {
  host.sendLocalResponse(403, ptrOf(details), details.byteLength, ptrOf(BODY), BODY.byteLength);
}

function fail(record: ArrayBuffer, details: ArrayBuffer, fault: bool): u32 {
  releaseAll();
  host.setProperty(ptrOf(RECORD_PROPERTY), RECORD_PROPERTY.byteLength, ptrOf(record), record.byteLength);
  if (fault) host.incrementCounter(cHostFault, 1);
  host.incrementCounter(cDenied, 1);
  denyWith(details);
  return HeadersAction.StopIteration;
}

export function onRequestHeaders(id: u32): u32 {
  contexts.getStream(id);
  const policy = contexts.found;
  if (policy === null) return fail(R_NO_POLICY, DETAILS_NO_POLICY, false);
  freeCount = 0;

  const st = host.getProperty(ptrOf(URI_SAN), URI_SAN.byteLength);
  keep(host.hostPtr);
  if (st == Status.Ok) d.setPeer(true, host.hostPtr, host.hostSize);
  else if (st == Status.NotFound) d.setPeer(false, 0, 0);
  else return fail(R_FAULT, DETAILS_FAULT, true);

  const hs = host.getRequestHeaderPairs();
  keep(host.hostPtr);
  if (hs != Status.Ok || !readHeaders(policy, host.hostPtr, host.hostSize)) return fail(R_FAULT, DETAILS_FAULT, true);
  if (!readExtras(policy)) return fail(R_FAULT, DETAILS_FAULT, true);

  const safe =
    rawPathLen >= 0 && !joinedOverflow && normalizePath(rawPathPtr, <usize>rawPathLen, policy.pathParameters) && normalizeHost(rawHostPtr, rawHostLen);
  if (safe) d.decide(policy);
  else d.decideUnsafe(policy);
  const candidate = policy.candidate;
  // An unsafe request is denied whatever either policy says, so there is nothing to compare.
  if (candidate !== null && safe) d.shadow(candidate);
  else d.clearShadow();

  const recorded = writeRecord(policy);
  releaseAll();
  if (!recorded) return fail(R_FAULT, DETAILS_FAULT, true);

  if (!d.authenticated) host.incrementCounter(cUnauthenticated, 1);
  if (d.disagree) host.incrementCounter(cCandidateDisagree, 1);
  if (d.ruleIndex >= 0) {
    const rule = unchecked(policy.rules[d.ruleIndex]);
    rule.pendingHits++;
  }
  if (d.decision) {
    host.incrementCounter(cAllowed, 1);
    return HeadersAction.Continue;
  }
  if (!d.enforced) {
    host.incrementCounter(cWouldDeny, 1);
    return HeadersAction.Continue;
  }
  host.incrementCounter(cDenied, 1);
  if (d.code == d.CODE_DENY_UNSAFE) denyWith(policy.unsafeDetails);
  else denyWith(d.ruleIndex >= 0 ? unchecked(policy.rules[d.ruleIndex]).details : policy.defaultDetails);
  return HeadersAction.StopIteration;
}

