// The decision: a request against a policy's tables, into a verdict, as
// decide(policy, request, verdict). It visits only the rules the peer identity can reach (the
// identity index), each once, and combines the enforced and written views exactly as
// docs/semantics.md and the reference evaluator do. Nothing here allocates or keeps state of
// its own: the request and the verdict are the caller's.
import * as claims from "./claims";
import { HOST_BUF, Match, matchAny, PATH_BUF } from "./match";
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
import { PORT_BUF, Request, REQUEST_PRINCIPAL_BUF } from "./request";
import { CODE_ALLOW, CODE_DENY_DEFAULT, CODE_DENY_RULE, CODE_DENY_UNSAFE, Verdict } from "./verdict";

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

@inline function sourceMatches(s: Source, req: Request): bool {
  const authenticated = req.authenticated;
  const principalPtr = req.principalPtr;
  const principalLen = req.principalLen;
  if (s.peer == PEER_AUTHENTICATED && !authenticated) return false;
  if (s.peer == PEER_UNAUTHENTICATED && authenticated) return false;
  if (s.principals.length > 0 && (!authenticated || !matchAny(s.principals, principalPtr, principalLen))) return false;
  if (authenticated && matchAny(s.notPrincipals, principalPtr, principalLen)) return false;
  if (s.namespaces.length > 0 && (!authenticated || !matchAny(s.namespaces, principalPtr, principalLen))) return false;
  if (authenticated && matchAny(s.notNamespaces, principalPtr, principalLen)) return false;
  if (s.trustDomains.length > 0 && (!authenticated || !matchAny(s.trustDomains, principalPtr, principalLen))) return false;
  if (authenticated && matchAny(s.notTrustDomains, principalPtr, principalLen)) return false;
  const rp = req.requestPrincipalLen;
  if (s.requestPrincipals.length > 0 && (rp < 0 || !matchAny(s.requestPrincipals, REQUEST_PRINCIPAL_BUF, <usize>rp))) return false;
  if (rp >= 0 && matchAny(s.notRequestPrincipals, REQUEST_PRINCIPAL_BUF, <usize>rp)) return false;
  return true;
}

@inline function portIn(ports: StaticArray<u32>, port: i64): bool {
  for (let i = 0; i < ports.length; i++) if (<i64>unchecked(ports[i]) == port) return true;
  return false;
}

@inline function operationMatches(o: Operation, req: Request): bool {
  const methodBit = req.methodBit;
  const port = req.port;
  if (o.methods != 0 && (o.methods & methodBit) == 0) return false;
  if ((o.notMethods & methodBit) != 0) return false;
  if (o.paths.length > 0 && !matchAny(o.paths, PATH_BUF, req.pathLen)) return false;
  if (matchAny(o.notPaths, PATH_BUF, req.pathLen)) return false;
  if (o.hosts.length > 0 && !matchAny(o.hosts, HOST_BUF, req.hostLen)) return false;
  if (matchAny(o.notHosts, HOST_BUF, req.hostLen)) return false;
  if (o.authorities.length > 0 && !matchAny(o.authorities, HOST_BUF, req.rawHostLen)) return false;
  if (matchAny(o.notAuthorities, HOST_BUF, req.rawHostLen)) return false;
  if (o.ports.length > 0 && (port < 0 || !portIn(o.ports, port))) return false;
  if (port >= 0 && portIn(o.notPorts, port)) return false;
  return true;
}

/** `forall`: the rule allows, so a header test must hold for every reading of the header. */
@inline function conditionHolds(c: Condition, req: Request, forall: bool): bool {
  let p: usize = 0;
  let len: isize = -1;
  if (c.attribute == ATTR_HEADER) {
    p = unchecked(req.headerPtrs[c.key]);
    len = unchecked(req.headerLens[c.key]);
    if (c.values.length > 0 && (len < 0 || !overHeader(c.values, p, <usize>len, forall, false))) return false;
    return len < 0 || c.notValues.length == 0 || overHeader(c.notValues, p, <usize>len, forall, true);
  } else if (c.attribute == ATTR_CLAIM) {
    // Only strings are ever matched; a claim of another type is present to negations and
    // absent to tests, as the reference evaluator reads it.
    const kind = unchecked(req.claimKinds[c.key]);
    if (kind == claims.CLAIM_ABSENT || kind == claims.CLAIM_OTHER) return c.values.length == 0;
    p = unchecked(req.claimPtrs[c.key]);
    const n = <usize>unchecked(req.claimLens[c.key]);
    if (c.values.length > 0 && !claimMatches(c.values, kind, p, n)) return false;
    return !claimMatches(c.notValues, kind, p, n);
  } else if (c.attribute == ATTR_PRINCIPAL) {
    if (req.authenticated) {
      p = req.principalPtr;
      len = <isize>req.principalLen;
    }
  } else if (c.attribute == ATTR_PORT) {
    if (req.port >= 0) {
      p = PORT_BUF;
      len = <isize>req.portTextLen;
    }
  }
  if (c.values.length > 0 && (len < 0 || !matchAny(c.values, p, <usize>len))) return false;
  return len < 0 || !matchAny(c.notValues, p, <usize>len);
}

@inline function ruleMatches(rule: Rule, req: Request): bool {
  if (rule.expiresMs != 0 && req.nowMs >= rule.expiresMs) return false;
  let any = false;
  const sources = rule.sources;
  for (let i = 0; i < sources.length; i++) {
    if (sourceMatches(unchecked(sources[i]), req)) {
      any = true;
      break;
    }
  }
  if (!any) return false;
  const ops = rule.operations;
  if (ops.length > 0) {
    any = false;
    for (let i = 0; i < ops.length; i++) {
      if (operationMatches(unchecked(ops[i]), req)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  const conds = rule.conditions;
  const forall = rule.action == ACTION_ALLOW;
  for (let i = 0; i < conds.length; i++) if (!conditionHolds(unchecked(conds[i]), req, forall)) return false;
  return true;
}

@inline function visit(policy: Policy, req: Request, v: Verdict, r: u32): void {
  const stamps = req.stamps;
  if (unchecked(stamps[r]) == req.generation) return;
  unchecked((stamps[r] = req.generation));
  const rule = unchecked(policy.rules[r]);
  if (!ruleMatches(rule, req)) return;
  const i = <i32>r;
  const isEnforced = rule.mode == MODE_ENFORCE;
  if (rule.action == ACTION_DENY) {
    v.writtenDeny = earliest(v.writtenDeny, i);
    if (isEnforced) v.enforcedDeny = earliest(v.enforcedDeny, i);
  } else if (rule.action == ACTION_ALLOW) {
    v.writtenAllow = earliest(v.writtenAllow, i);
    if (isEnforced) v.enforcedAllow = earliest(v.enforcedAllow, i);
  } else if (rule.action == ACTION_AUDIT) {
    v.auditIndex = earliest(v.auditIndex, i);
  }
}

function visitList(policy: Policy, req: Request, v: Verdict, list: StaticArray<u32>): void {
  for (let i = 0; i < list.length; i++) visit(policy, req, v, unchecked(list[i]));
}

function visitSlot(policy: Policy, req: Request, v: Verdict, t: IdentityTable, slot: i32): void {
  if (slot < 0) return;
  const start = unchecked(t.refStart[slot]);
  const end = start + unchecked(t.refCount[slot]);
  for (let i = start; i < end; i++) visit(policy, req, v, unchecked(t.refs[i]));
}

function byRule(policy: Policy, v: Verdict, r: i32, allow: bool, isEnforced: bool): void {
  v.decision = allow;
  v.enforced = isEnforced;
  v.ruleIndex = r;
  v.code = allow ? CODE_ALLOW : CODE_DENY_RULE;
  v.mode = unchecked(policy.rules[r]).mode;
}

function byDefault(policy: Policy, v: Verdict, isEnforced: bool): void {
  v.decision = false;
  v.enforced = isEnforced;
  v.ruleIndex = -1;
  v.code = CODE_DENY_DEFAULT;
  v.mode = policy.defaultMode;
}

/** The request's path or authority could not be handled safely: deny. */
export function decideUnsafe(policy: Policy, v: Verdict): void {
  byDefault(policy, v, policy.defaultMode == MODE_ENFORCE);
  v.code = CODE_DENY_UNSAFE;
  v.auditIndex = -1;
  v.stagedIndex = -1;
}

export function decide(policy: Policy, req: Request, v: Verdict): void {
  v.start();
  req.nextGeneration();

  if (req.authenticated) {
    const principalPtr = req.principalPtr;
    const principalLen = req.principalLen;
    visitSlot(policy, req, v, policy.exact, policy.exact.find(principalPtr, principalLen));
    const prefix = policy.prefix;
    const lengths = prefix.lengths;
    for (let i = 0; i < lengths.length; i++) {
      const l = <usize>unchecked(lengths[i]);
      if (l > principalLen) continue;
      if (unchecked(prefix.rawAt[i]) == 0 && l < principalLen && load<u8>(principalPtr + l) != 0x2f) continue;
      visitSlot(policy, req, v, prefix, prefix.find(principalPtr, l));
    }
    visitList(policy, req, v, policy.authenticated);
  } else {
    visitList(policy, req, v, policy.unauthenticated);
  }

  const defaultEnforced = policy.defaultMode == MODE_ENFORCE;
  if (v.enforcedDeny >= 0) {
    byRule(policy, v, v.enforcedDeny, false, true);
  } else if (v.writtenDeny >= 0) {
    byRule(policy, v, v.writtenDeny, false, false);
    if (v.enforcedAllow < 0 && defaultEnforced) byDefault(policy, v, true);
  } else if (v.enforcedAllow >= 0) {
    byRule(policy, v, v.enforcedAllow, true, true);
  } else if (defaultEnforced) {
    byDefault(policy, v, true);
    if (v.writtenAllow >= 0) v.stagedIndex = v.writtenAllow;
  } else if (v.writtenAllow >= 0) {
    byRule(policy, v, v.writtenAllow, true, false);
  } else {
    byDefault(policy, v, false);
  }
}
