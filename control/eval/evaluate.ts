/**
 * The reference evaluator: (compiled policy, request) → decision. It is the oracle the Wasm
 * filter must agree with, so it is written for obviousness: it scans every rule and ignores
 * the identity index (the filter uses the index; the differential test proves them equal).
 *
 * Semantics (docs/semantics.md has the truth table):
 *  - A rule matches when it has not expired, one of its sources matches, one of its
 *    operations matches (or it has none) and all of its conditions hold.
 *  - The *enforced* view uses only rules in enforce mode: a matching deny blocks; else a
 *    matching allow allows; else the default deny blocks if the default mode is enforce;
 *    else the request passes.
 *  - The *written* view uses every rule, whatever its mode: deny wins, then allow, else
 *    default deny. It is what the policy will do once everything is enforced.
 *  - The decision reported is the enforced one when it blocks or allows by a rule; where the
 *    enforced view passes or allows, a written-view deny is reported as not enforced
 *    (`would_deny`).
 */

import { claimValue } from '../../contracts/claim-path.js';
import { DEFAULT_RULE, MESH_PERIMETER, UNSAFE_RULE } from '../../contracts/decision-record.js';
import { overHeader } from '../../contracts/header-value.js';
import { methodBits } from '../../contracts/methods.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { MAX_AUTHORITY, normalizeHost, normalizePath, type PathParameters as Params } from '../../contracts/request-path.js';
import { asciiLower, matchAny } from '../../contracts/string-match.js';
import { type CompiledPolicy, type CompiledRule, type CompiledSource, PathParameters } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Condition_Attribute, Mode as PMode, Source_Peer } from '../../proto/gen/perimeter/v1/policy.js';
import { modeFromProto } from '../compile/proto-adapter.js';
import type { Mode } from '../policy/model.js';

export type DecisionCode = 'allow' | 'deny_rule' | 'deny_default' | 'deny_unsafe_request';

export interface Decision {
  decision: 'allow' | 'deny';
  /** True when the outcome is applied: a deny blocks, an allow comes from an enforced rule. */
  enforced: boolean;
  mode: Mode;
  perimeter: string;
  /** Rule name, or "default" / "unsafe-request". */
  rule: string;
  /** Index of the rule in the compiled policy; -1 for default and unsafe-request. */
  ruleIndex: number;
  code: DecisionCode;
  version: string;
  /** First matching audit rule, if any: its name and index. */
  audit?: string;
  auditIndex?: number;
  /** What the written policy says when it differs from what is enforced. */
  staged?: { decision: 'allow' | 'deny'; rule: string; perimeter: string };
}

/** The normalised request the matchers see. */
export interface View {
  principal?: string;
  methodBit: number;
  path: string;
  host: string;
  /** The whole :authority as sent, lower-cased (Istio hosts). */
  authority: string;
  port?: number;
  /** Every line of each header, in order. */
  headers: Record<string, readonly string[]>;
  claims?: Record<string, unknown>;
  requestPrincipal?: string;
  nowMs: number;
}

export function viewOf(policy: CompiledPolicy, req: PolicyRequest, path: string): View {
  const claims = req.claims;
  const iss = claims?.iss;
  const sub = claims?.sub;
  return {
    ...(req.principal !== undefined ? { principal: req.principal } : {}),
    methodBit: methodBits(req.method, policy.methods),
    path,
    host: normalizeHost(req.host ?? ''),
    authority: asciiLower(req.host ?? ''),
    ...(req.port !== undefined ? { port: req.port } : {}),
    headers: headerLines(req.headers),
    ...(claims ? { claims } : {}),
    ...(typeof iss === 'string' && typeof sub === 'string' ? { requestPrincipal: `${iss}/${sub}` } : {}),
    nowMs: req.nowMs ?? Date.now(),
  };
}

/** What `;` means for this workload's application (an unset field is `reject`, the safe choice). */
export function pathParametersOf(policy: CompiledPolicy): Params {
  if (policy.pathParameters === PathParameters.PATH_PARAMETERS_STRIP) return 'strip';
  if (policy.pathParameters === PathParameters.PATH_PARAMETERS_KEEP) return 'keep';
  return 'reject';
}

export function headerLines(h: PolicyRequest['headers']): Record<string, readonly string[]> {
  const out: Record<string, readonly string[]> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k] = typeof v === 'string' ? [v] : v;
  return out;
}

export function evaluate(policy: CompiledPolicy, req: PolicyRequest): Decision {
  const version = policy.version;
  const defaultMode = modeFromProto(policy.defaultMode);
  const defaultPerimeter = policy.defaultPerimeter || MESH_PERIMETER;
  const norm = normalizePath(req.path, pathParametersOf(policy));
  if (!norm.ok || (req.host ?? '').length > MAX_AUTHORITY) {
    return {
      decision: 'deny',
      enforced: defaultMode === 'enforce',
      mode: defaultMode,
      perimeter: defaultPerimeter,
      rule: UNSAFE_RULE,
      ruleIndex: -1,
      code: 'deny_unsafe_request',
      version,
    };
  }
  const v = viewOf(policy, req, norm.path);

  let enforcedDeny = -1;
  let enforcedAllow = -1;
  let writtenDeny = -1;
  let writtenAllow = -1;
  let audit = -1;
  policy.rules.forEach((rule, i) => {
    if (!ruleMatches(rule, policy, v)) return;
    const enforced = rule.mode === PMode.MODE_ENFORCE;
    if (rule.action === Action.ACTION_DENY) {
      if (writtenDeny < 0) writtenDeny = i;
      if (enforced && enforcedDeny < 0) enforcedDeny = i;
    } else if (rule.action === Action.ACTION_ALLOW) {
      if (writtenAllow < 0) writtenAllow = i;
      if (enforced && enforcedAllow < 0) enforcedAllow = i;
    } else if (rule.action === Action.ACTION_AUDIT && audit < 0) {
      audit = i;
    }
  });

  const byRule = (i: number, decision: 'allow' | 'deny', enforced: boolean): Decision => {
    const rule = policy.rules[i] as CompiledRule;
    return {
      decision,
      enforced,
      mode: modeFromProto(rule.mode),
      perimeter: policy.perimeters[rule.perimeter]?.name ?? MESH_PERIMETER,
      rule: rule.name,
      ruleIndex: i,
      code: decision === 'allow' ? 'allow' : 'deny_rule',
      version,
    };
  };
  const byDefault = (enforced: boolean): Decision => ({
    decision: 'deny',
    enforced,
    mode: defaultMode,
    perimeter: defaultPerimeter,
    rule: DEFAULT_RULE,
    ruleIndex: -1,
    code: 'deny_default',
    version,
  });
  const stagedOf = (i: number, decision: 'allow' | 'deny') => {
    const rule = policy.rules[i] as CompiledRule;
    return { decision, rule: rule.name, perimeter: policy.perimeters[rule.perimeter]?.name ?? MESH_PERIMETER };
  };

  let d: Decision;
  if (enforcedDeny >= 0) {
    d = byRule(enforcedDeny, 'deny', true);
  } else if (writtenDeny >= 0) {
    // Only a staged deny matched: the request passes (or is allowed), and would be denied.
    d = byRule(writtenDeny, 'deny', false);
    if (enforcedAllow < 0 && defaultMode === 'enforce') d = byDefault(true);
  } else if (enforcedAllow >= 0) {
    d = byRule(enforcedAllow, 'allow', true);
  } else if (defaultMode === 'enforce') {
    d = byDefault(true);
    if (writtenAllow >= 0) d.staged = stagedOf(writtenAllow, 'allow');
  } else if (writtenAllow >= 0) {
    d = byRule(writtenAllow, 'allow', false);
  } else {
    d = byDefault(false);
  }
  if (audit >= 0) {
    d.audit = (policy.rules[audit] as CompiledRule).name;
    d.auditIndex = audit;
  }
  return d;
}

export function ruleMatches(rule: CompiledRule, policy: CompiledPolicy, v: View): boolean {
  if (rule.expiresUnixMs !== 0 && v.nowMs >= rule.expiresUnixMs) return false;
  if (!rule.sources.some((s) => sourceMatches(s, v))) return false;
  if (rule.operations.length > 0 && !rule.operations.some((o) => operationMatches(o, v))) return false;
  return rule.conditions.every((c) => conditionHolds(c, policy, v, rule.action));
}

// The enums read once: under the TypeScript loader the CLI runs with, every read of an imported
// binding is a getter call, and the analysis (control/analysis) evaluates these millions of times.
const PEER = Source_Peer;
const ATTRIBUTE = Condition_Attribute;
const ACTION = Action;

export function sourceMatches(s: CompiledSource, v: View): boolean {
  const p = v.principal;
  if (s.peer === PEER.PEER_AUTHENTICATED && p === undefined) return false;
  if (s.peer === PEER.PEER_UNAUTHENTICATED && p !== undefined) return false;
  if (s.principals.length > 0 && (p === undefined || !matchAny(s.principals, p))) return false;
  if (p !== undefined && matchAny(s.notPrincipals, p)) return false;
  if (s.namespaces.length > 0 && (p === undefined || !matchAny(s.namespaces, p))) return false;
  if (p !== undefined && matchAny(s.notNamespaces, p)) return false;
  if (s.trustDomains.length > 0 && (p === undefined || !matchAny(s.trustDomains, p))) return false;
  if (p !== undefined && matchAny(s.notTrustDomains, p)) return false;
  const rp = v.requestPrincipal;
  if (s.requestPrincipals.length > 0 && (rp === undefined || !matchAny(s.requestPrincipals, rp))) return false;
  if (rp !== undefined && matchAny(s.notRequestPrincipals, rp)) return false;
  return true;
}

export function operationMatches(o: CompiledPolicy['rules'][number]['operations'][number], v: View): boolean {
  if (o.methods !== 0 && (o.methods & v.methodBit) === 0) return false;
  if ((o.notMethods & v.methodBit) !== 0) return false;
  if (o.paths.length > 0 && !matchAny(o.paths, v.path)) return false;
  if (matchAny(o.notPaths, v.path)) return false;
  if (o.hosts.length > 0 && !matchAny(o.hosts, v.host)) return false;
  if (matchAny(o.notHosts, v.host)) return false;
  if (o.authorities.length > 0 && !matchAny(o.authorities, v.authority)) return false;
  if (matchAny(o.notAuthorities, v.authority)) return false;
  if (o.ports.length > 0 && (v.port === undefined || !o.ports.includes(v.port))) return false;
  if (v.port !== undefined && o.notPorts.includes(v.port)) return false;
  return true;
}

/** The values a condition looks at; undefined when the attribute is absent. */
export function attributeValues(
  c: CompiledPolicy['rules'][number]['conditions'][number],
  policy: CompiledPolicy,
  v: View,
): readonly string[] | undefined {
  switch (c.attribute) {
    case ATTRIBUTE.ATTRIBUTE_HEADER:
      return v.headers[policy.headers[c.key] ?? ''];
    case ATTRIBUTE.ATTRIBUTE_CLAIM: {
      const value = claimValue(v.claims, policy.claims[c.key] ?? '');
      if (typeof value === 'string') return [value];
      if (Array.isArray(value)) return value.filter((x): x is string => typeof x === 'string');
      return undefined;
    }
    case ATTRIBUTE.ATTRIBUTE_PRINCIPAL:
      return v.principal === undefined ? undefined : [v.principal];
    case ATTRIBUTE.ATTRIBUTE_PORT:
      return v.port === undefined ? undefined : [String(v.port)];
    default:
      return undefined;
  }
}

/**
 * A condition of a rule with this action. Header conditions test the header's value and its
 * elements (contracts/header-value.ts): for some of them in a deny or audit rule, for all
 * of them in an allow rule. The other attributes have one value (claims: one per list element).
 */
export function conditionHolds(
  c: CompiledPolicy['rules'][number]['conditions'][number],
  policy: CompiledPolicy,
  v: View,
  action: Action,
): boolean {
  if (c.attribute === ATTRIBUTE.ATTRIBUTE_UNSPECIFIED || c.attribute === ATTRIBUTE.UNRECOGNIZED) return false;
  const values = attributeValues(c, policy, v);
  if (c.attribute === ATTRIBUTE.ATTRIBUTE_HEADER) {
    const forall = action === ACTION.ACTION_ALLOW;
    if (c.values.length > 0 && (values === undefined || !overHeader(c.values, values, forall, false))) return false;
    return values === undefined || c.notValues.length === 0 || overHeader(c.notValues, values, forall, true);
  }
  if (c.values.length > 0 && (values === undefined || !values.some((x) => matchAny(c.values, x)))) return false;
  if (values?.some((x) => matchAny(c.notValues, x))) return false;
  return true;
}
