// The decision: the current request (set by filter.ts) against a policy's tables. It visits
// only the rules the peer identity can reach (the identity index), each once, and combines
// the enforced and written views exactly as docs/semantics.md and the reference evaluator do.
// Nothing here allocates.
import * as claims from "./claims";
import { HOST_BUF, hostLen, Match, matchAny, matchOne, PATH_BUF, pathLen } from "./match";
import {
  ACTION_ALLOW,
  ACTION_AUDIT,
  ACTION_DENY,
  ATTR_CLAIM,
  ATTR_HEADER,
  ATTR_PORT,
  ATTR_PRINCIPAL,
  Condition,
  IdentityTable,
  MODE_ENFORCE,
  Operation,
  PEER_AUTHENTICATED,
  PEER_UNAUTHENTICATED,
  Policy,
  Rule,
  Source,
} from "./policy";

// The request being decided.
export let authenticated: bool = false;
export let principalPtr: usize = 0;
export let principalLen: usize = 0;
export let methodBit: u32 = 0;
export let port: i64 = -1;
export let nowMs: i64 = 0;
export let requestPrincipalLen: isize = -1;
export const REQUEST_PRINCIPAL_BUF: usize = memory.data(2048);
const PORT_BUF: usize = memory.data(8);
let portTextLen: usize = 0;

export function setPeer(present: bool, ptr: usize, len: usize): void {
  authenticated = present;
  principalPtr = ptr;
  principalLen = len;
}

export function setMethodBit(bit: u32): void {
  methodBit = bit;
}

export function setPort(p: i64): void {
  port = p;
  portTextLen = 0;
  if (p < 0) return;
  // Decimal text of the port, for `destination.port` conditions.
  let v = p;
  let digits: usize = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (digits > 8) digits = 8;
  for (let i = <isize>digits - 1; i >= 0; i--) {
    store<u8>(PORT_BUF + <usize>i, <u8>(0x30 + (v % 10)));
    v /= 10;
  }
  portTextLen = digits;
}

export function setNow(ms: i64): void {
  nowMs = ms;
}

export function setRequestPrincipalLen(len: isize): void {
  requestPrincipalLen = len;
}

// Outcome codes, as the reference evaluator's DecisionCode.
export const CODE_ALLOW: u32 = 0;
export const CODE_DENY_RULE: u32 = 1;
export const CODE_DENY_DEFAULT: u32 = 2;
export const CODE_DENY_UNSAFE: u32 = 3;

export let decision: bool = false; // true = allow
export let enforced: bool = false;
export let code: u32 = 0;
export let ruleIndex: i32 = -1;
export let mode: u8 = 0;
export let auditIndex: i32 = -1;
export let stagedIndex: i32 = -1;

let enforcedDeny: i32 = -1;
let writtenDeny: i32 = -1;
let enforcedAllow: i32 = -1;
let writtenAllow: i32 = -1;

@inline function earliest(current: i32, candidate: i32): i32 {
  return current < 0 || candidate < current ? candidate : current;
}

/** Whether a claim (a string, or a list's string elements) matches any matcher. */
function claimMatches(ms: StaticArray<Match>, kind: u8, p: usize, len: usize): bool {
  if (ms.length == 0) return false;
  if (kind == claims.CLAIM_STRING) return matchAny(ms, p, len);
  if (kind != claims.CLAIM_LIST) return false;
  claims.startList(p, len);
  while (claims.nextString()) if (matchAny(ms, claims.elementPtr, claims.elementLen)) return true;
  return false;
}

@inline function isOws(c: u8): bool {
  return c == 0x20 || c == 0x09;
}

/**
 * Whether `matchAny(ms, x) != negate` holds for every (`forall`) or for some x among a header's
 * value and its elements: the value split at "," with spaces and tabs trimmed (the meaning is
 * contracts/header-value.ts's). A value without a comma is its only element.
 */
function overHeader(ms: StaticArray<Match>, p: usize, len: usize, forall: bool, negate: bool): bool {
  const whole = matchAny(ms, p, len) != negate;
  if (forall != whole) return whole;
  let start: usize = 0;
  for (let i: usize = 0; i <= len; i++) {
    if (i < len && load<u8>(p + i) != 0x2c) continue;
    let a = start;
    let b = i;
    while (a < b && isOws(load<u8>(p + a))) a++;
    while (b > a && isOws(load<u8>(p + b - 1))) b--;
    if ((matchAny(ms, p + a, b - a) != negate) != forall) return !forall;
    start = i + 1;
  }
  return forall;
}

@inline function sourceMatches(s: Source): bool {
  if (s.peer == PEER_AUTHENTICATED && !authenticated) return false;
  if (s.peer == PEER_UNAUTHENTICATED && authenticated) return false;
  if (s.principals.length > 0 && (!authenticated || !matchAny(s.principals, principalPtr, principalLen))) return false;
  if (authenticated && matchAny(s.notPrincipals, principalPtr, principalLen)) return false;
  if (s.namespaces.length > 0 && (!authenticated || !matchAny(s.namespaces, principalPtr, principalLen))) return false;
  if (authenticated && matchAny(s.notNamespaces, principalPtr, principalLen)) return false;
  const rp = requestPrincipalLen;
  if (s.requestPrincipals.length > 0 && (rp < 0 || !matchAny(s.requestPrincipals, REQUEST_PRINCIPAL_BUF, <usize>rp))) return false;
  if (rp >= 0 && matchAny(s.notRequestPrincipals, REQUEST_PRINCIPAL_BUF, <usize>rp)) return false;
  return true;
}

@inline function portIn(ports: StaticArray<u32>): bool {
  for (let i = 0; i < ports.length; i++) if (<i64>unchecked(ports[i]) == port) return true;
  return false;
}

@inline function operationMatches(o: Operation): bool {
  if (o.methods != 0 && (o.methods & methodBit) == 0) return false;
  if ((o.notMethods & methodBit) != 0) return false;
  if (o.paths.length > 0 && !matchAny(o.paths, PATH_BUF, pathLen)) return false;
  if (matchAny(o.notPaths, PATH_BUF, pathLen)) return false;
  if (o.hosts.length > 0 && !matchAny(o.hosts, HOST_BUF, hostLen)) return false;
  if (matchAny(o.notHosts, HOST_BUF, hostLen)) return false;
  if (o.ports.length > 0 && (port < 0 || !portIn(o.ports))) return false;
  if (port >= 0 && portIn(o.notPorts)) return false;
  return true;
}

/** `forall`: the rule allows, so a header test must hold for every reading of the header. */
@inline function conditionHolds(c: Condition, policy: Policy, forall: bool): bool {
  let p: usize = 0;
  let len: isize = -1;
  if (c.attribute == ATTR_HEADER) {
    p = unchecked(policy.headerPtrs[c.key]);
    len = unchecked(policy.headerLens[c.key]);
    if (c.values.length > 0 && (len < 0 || !overHeader(c.values, p, <usize>len, forall, false))) return false;
    return len < 0 || c.notValues.length == 0 || overHeader(c.notValues, p, <usize>len, forall, true);
  } else if (c.attribute == ATTR_CLAIM) {
    // Only strings are ever matched; a claim of another type is present to negations and
    // absent to tests, as the reference evaluator reads it.
    const kind = unchecked(policy.claimKinds[c.key]);
    if (kind == claims.CLAIM_ABSENT || kind == claims.CLAIM_OTHER) return c.values.length == 0;
    p = unchecked(policy.claimPtrs[c.key]);
    const n = <usize>unchecked(policy.claimLens[c.key]);
    if (c.values.length > 0 && !claimMatches(c.values, kind, p, n)) return false;
    return !claimMatches(c.notValues, kind, p, n);
  } else if (c.attribute == ATTR_PRINCIPAL) {
    if (authenticated) {
      p = principalPtr;
      len = <isize>principalLen;
    }
  } else if (c.attribute == ATTR_PORT) {
    if (port >= 0) {
      p = PORT_BUF;
      len = <isize>portTextLen;
    }
  }
  if (c.values.length > 0 && (len < 0 || !matchAny(c.values, p, <usize>len))) return false;
  return len < 0 || !matchAny(c.notValues, p, <usize>len);
}

@inline function ruleMatches(rule: Rule, policy: Policy): bool {
  if (rule.expiresMs != 0 && nowMs >= rule.expiresMs) return false;
  let any = false;
  const sources = rule.sources;
  for (let i = 0; i < sources.length; i++) {
    if (sourceMatches(unchecked(sources[i]))) {
      any = true;
      break;
    }
  }
  if (!any) return false;
  const ops = rule.operations;
  if (ops.length > 0) {
    any = false;
    for (let i = 0; i < ops.length; i++) {
      if (operationMatches(unchecked(ops[i]))) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  const conds = rule.conditions;
  const forall = rule.action == ACTION_ALLOW;
  for (let i = 0; i < conds.length; i++) if (!conditionHolds(unchecked(conds[i]), policy, forall)) return false;
  return true;
}

@inline function visit(policy: Policy, r: u32): void {
  const stamps = policy.stamps;
  if (unchecked(stamps[r]) == policy.generation) return;
  unchecked((stamps[r] = policy.generation));
  const rule = unchecked(policy.rules[r]);
  if (!ruleMatches(rule, policy)) return;
  const i = <i32>r;
  const isEnforced = rule.mode == MODE_ENFORCE;
  if (rule.action == ACTION_DENY) {
    writtenDeny = earliest(writtenDeny, i);
    if (isEnforced) enforcedDeny = earliest(enforcedDeny, i);
  } else if (rule.action == ACTION_ALLOW) {
    writtenAllow = earliest(writtenAllow, i);
    if (isEnforced) enforcedAllow = earliest(enforcedAllow, i);
  } else if (rule.action == ACTION_AUDIT) {
    auditIndex = earliest(auditIndex, i);
  }
}

function visitList(policy: Policy, list: StaticArray<u32>): void {
  for (let i = 0; i < list.length; i++) visit(policy, unchecked(list[i]));
}

function visitSlot(policy: Policy, t: IdentityTable, slot: i32): void {
  if (slot < 0) return;
  const start = unchecked(t.refStart[slot]);
  const end = start + unchecked(t.refCount[slot]);
  for (let i = start; i < end; i++) visit(policy, unchecked(t.refs[i]));
}

function byRule(policy: Policy, r: i32, allow: bool, isEnforced: bool): void {
  decision = allow;
  enforced = isEnforced;
  ruleIndex = r;
  code = allow ? CODE_ALLOW : CODE_DENY_RULE;
  mode = unchecked(policy.rules[r]).mode;
}

function byDefault(policy: Policy, isEnforced: bool): void {
  decision = false;
  enforced = isEnforced;
  ruleIndex = -1;
  code = CODE_DENY_DEFAULT;
  mode = policy.defaultMode;
}

/** The request's path or authority could not be handled safely: deny. */
export function decideUnsafe(policy: Policy): void {
  byDefault(policy, policy.defaultMode == MODE_ENFORCE);
  code = CODE_DENY_UNSAFE;
  auditIndex = -1;
  stagedIndex = -1;
}

export function decide(policy: Policy): void {
  enforcedDeny = -1;
  writtenDeny = -1;
  enforcedAllow = -1;
  writtenAllow = -1;
  auditIndex = -1;
  stagedIndex = -1;
  policy.generation++;
  if (policy.generation == 0) {
    // Stamps wrapped around (after 2^32 requests): start them afresh.
    const stamps = policy.stamps;
    for (let i = 0; i < stamps.length; i++) unchecked((stamps[i] = 0));
    policy.generation = 1;
  }

  if (authenticated) {
    visitSlot(policy, policy.exact, policy.exact.find(principalPtr, principalLen));
    const prefix = policy.prefix;
    const lengths = prefix.lengths;
    for (let i = 0; i < lengths.length; i++) {
      const l = <usize>unchecked(lengths[i]);
      if (l > principalLen) continue;
      if (unchecked(prefix.rawAt[i]) == 0 && l < principalLen && load<u8>(principalPtr + l) != 0x2f) continue;
      visitSlot(policy, prefix, prefix.find(principalPtr, l));
    }
    visitList(policy, policy.authenticated);
  } else {
    visitList(policy, policy.unauthenticated);
  }

  const defaultEnforced = policy.defaultMode == MODE_ENFORCE;
  if (enforcedDeny >= 0) {
    byRule(policy, enforcedDeny, false, true);
  } else if (writtenDeny >= 0) {
    byRule(policy, writtenDeny, false, false);
    if (enforcedAllow < 0 && defaultEnforced) byDefault(policy, true);
  } else if (enforcedAllow >= 0) {
    byRule(policy, enforcedAllow, true, true);
  } else if (defaultEnforced) {
    byDefault(policy, true);
    if (writtenAllow >= 0) stagedIndex = writtenAllow;
  } else if (writtenAllow >= 0) {
    byRule(policy, writtenAllow, true, false);
  } else {
    byDefault(policy, false);
  }
}

// The staged candidate's verdict on the same request (see shadow()).
export let disagree: bool = false;
export let candidateDecision: bool = false;
export let candidateRule: i32 = -1;

/**
 * Decides the request again with the staged candidate, in shadow: the live outcome above is
 * kept as it was, and `disagree` says whether the candidate's written verdict differs.
 */
export function shadow(candidate: Policy): void {
  const d = decision,
    e = enforced,
    c = code,
    r = ruleIndex,
    m = mode,
    a = auditIndex,
    s = stagedIndex;
  decide(candidate);
  candidateDecision = decision;
  candidateRule = ruleIndex;
  disagree = decision != d;
  decision = d;
  enforced = e;
  code = c;
  ruleIndex = r;
  mode = m;
  auditIndex = a;
  stagedIndex = s;
}

export function clearShadow(): void {
  disagree = false;
}
