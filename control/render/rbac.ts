/**
 * One workload's compiled policy as Envoy's native RBAC (`envoy.filters.http.rbac`), for
 * operators who want the same perimeters without the Wasm filter. Our semantics need up to
 * three filters in this order, the way Istio lowers its own DENY/ALLOW/AUDIT policies:
 *  - `perimeter.rbac.deny`  (DENY): enforced deny rules; shadow: every deny rule;
 *  - `perimeter.rbac.allow` (ALLOW): enforced allow rules when the default mode is enforce
 *    (so no match = the default deny); otherwise only shadow rules, and the request passes;
 *  - `perimeter.rbac.audit` (LOG): audit rules, which mark the access log and change nothing.
 * It works from the compiled policy, so label and workload selectors are already resolved.
 * What RBAC cannot say is reported with its path, never approximated in the open direction.
 * It relies on the connection manager of `perimeter envoy bootstrap`: paths normalised and
 * merged, port and trailing dot stripped from the authority; claims from jwt_authn's metadata.
 */

import { headerOperandProblem } from '../../contracts/header-value.js';
import { JWT_METADATA } from '../../contracts/jwt.js';
import { TYPE } from '../../contracts/type-urls.js';
import type {
  CompiledCondition,
  CompiledOperation,
  CompiledPolicy,
  CompiledRule,
  CompiledSource,
} from '../../proto/gen/perimeter/v1/compiled.js';
import { MethodBit, PathParameters } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Condition_Attribute, Mode, Source_Peer, type StringMatch, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';

type Json = Record<string, unknown>;

export const RBAC_FILTER_NAMES = { deny: 'perimeter.rbac.deny', allow: 'perimeter.rbac.allow', audit: 'perimeter.rbac.audit' } as const;
/** Where the bootstrap's jwt_authn filter puts the verified token (payload_in_metadata). */
/** An authenticated peer: a verified certificate with a SPIFFE ID. */
const SPIFFE_PEER = { authenticated: { principal_name: { prefix: 'spiffe://' } } };

export interface ExportIssue {
  severity: 'error' | 'warning';
  /** `Perimeter/db: rule "allow-web": when[0]` */
  path: string;
  message: string;
}

export interface RbacExport {
  /** HttpFilter entries (Envoy JSON form) to place before the router. */
  filters: Json[];
  issues: ExportIssue[];
  /** Rules left out because they had already expired at `nowMs`. */
  expired: string[];
}

class Inexpressible extends Error {}

/** An Envoy StringMatcher (or an OR of two) with our matcher's meaning. */
function stringMatchers(m: StringMatch, ignoreCase = false): Json[] {
  const ic = ignoreCase ? { ignore_case: true } : {};
  switch (m.kind) {
    case StringMatch_Kind.KIND_EXACT:
      return [{ exact: m.value, ...ic }];
    case StringMatch_Kind.KIND_PREFIX:
      return [{ prefix: m.value, ...ic }];
    case StringMatch_Kind.KIND_SUFFIX:
      return [{ suffix: m.value, ...ic }];
    case StringMatch_Kind.KIND_CONTAINS:
      return [{ contains: m.value, ...ic }];
    case StringMatch_Kind.KIND_PRESENT:
      return [{ safe_regex: { regex: '.+' } }];
    case StringMatch_Kind.KIND_SEGMENT_PREFIX:
      return [
        { exact: m.value, ...ic },
        { prefix: `${m.value}/`, ...ic },
      ];
    default:
      throw new Inexpressible(`matcher kind ${m.kind} is unknown to this exporter`);
  }
}

/** RE2, as Envoy's safe_regex and grpc-js-xds's engine run it (both anchor the whole value). */
const reQuote = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** One element (a comma-free piece of the joined value, spaces and tabs around it) that `m` matches once trimmed. */
function elementPattern(m: StringMatch): string {
  const problem = m.kind === StringMatch_Kind.KIND_PRESENT ? undefined : headerOperandProblem(m.value);
  if (problem) throw new Inexpressible(`header value "${m.value}": ${problem}`);
  const x = reQuote(m.value);
  switch (m.kind) {
    case StringMatch_Kind.KIND_EXACT:
      return `[ \\t]*${x}[ \\t]*`;
    case StringMatch_Kind.KIND_PREFIX:
      return `[ \\t]*${x}[^,]*`;
    case StringMatch_Kind.KIND_SUFFIX:
      return `[^,]*${x}[ \\t]*`;
    case StringMatch_Kind.KIND_CONTAINS:
      return `[^,]*${x}[^,]*`;
    case StringMatch_Kind.KIND_PRESENT:
      return '[^,]*[^, \\t][^,]*';
    case StringMatch_Kind.KIND_SEGMENT_PREFIX:
      return `[ \\t]*${x}(?:[ \\t]*|/[^,]*)`;
    default:
      throw new Inexpressible(`matcher kind ${m.kind} is unknown to this exporter`);
  }
}

/**
 * A header test over the value and its elements (contracts/header-value.ts), as matchers
 * on the joined value that Envoy's RBAC sees: some of them match (`exists`), or all do.
 */
function headerTest(name: string, ms: readonly StringMatch[], exists: boolean): Json {
  const onValue = ms.flatMap((m) => stringMatchers(m).map((string_match) => ({ header: { name, string_match } })));
  const regex = (r: string) => ({ header: { name, string_match: { safe_regex: { regex: r } } } });
  if (exists) return orIds([...onValue, ...ms.map((m) => regex(`(?:[^,]*,)*${elementPattern(m)}(?:,[^,]*)*`))]);
  const any = `(?:${ms.map(elementPattern).join('|')})`;
  return andIds([orIds(onValue), regex(`${any}(?:,${any})*`)]);
}

const orIds = (ids: Json[]): Json => (ids.length === 1 ? (ids[0] as Json) : { or_ids: { ids } });
const andIds = (ids: Json[]): Json => (ids.length === 0 ? { any: true } : ids.length === 1 ? (ids[0] as Json) : { and_ids: { ids } });
const orRules = (rules: Json[]): Json => (rules.length === 1 ? (rules[0] as Json) : { or_rules: { rules } });
const andRules = (rules: Json[]): Json =>
  rules.length === 0 ? { any: true } : rules.length === 1 ? (rules[0] as Json) : { and_rules: { rules } };

const peerNamed = (ms: readonly StringMatch[]) =>
  orIds(ms.flatMap((m) => stringMatchers(m).map((principal_name) => ({ authenticated: { principal_name } }))));

/** A JWT claim at the path jwt_authn writes: a string, or a list with a matching element. */
function claimMatch(claim: string, ms: readonly StringMatch[]): Json {
  const path = [{ key: JWT_METADATA.key }, { key: claim }];
  return orIds(
    ms.flatMap((m) =>
      stringMatchers(m).flatMap((string_match) => [
        { metadata: { filter: JWT_METADATA.filter, path, value: { string_match } } },
        { metadata: { filter: JWT_METADATA.filter, path, value: { list_match: { one_of: { string_match } } } } },
      ]),
    ),
  );
}

/** `iss/sub`: split at the last slash, as only the exact form and `*` can be. */
function requestPrincipal(ms: readonly StringMatch[]): Json {
  return orIds(
    ms.map((m) => {
      if (m.kind === StringMatch_Kind.KIND_PRESENT) return andIds([claimMatch('iss', [m]), claimMatch('sub', [m])].map((x) => x as Json));
      const slash = m.value.lastIndexOf('/');
      if (m.kind !== StringMatch_Kind.KIND_EXACT || slash < 1)
        throw new Inexpressible(`request principal "${m.value}": only "iss/sub" and "*" can be expressed as jwt_authn metadata`);
      return andIds([
        claimMatch('iss', [{ kind: StringMatch_Kind.KIND_EXACT, value: m.value.slice(0, slash), ignoreCase: false }]),
        claimMatch('sub', [{ kind: StringMatch_Kind.KIND_EXACT, value: m.value.slice(slash + 1), ignoreCase: false }]),
      ]);
    }),
  );
}

function principalOf(s: CompiledSource): Json {
  const ids: Json[] = [];
  // A peer name to match already requires a verified certificate.
  if (s.peer === Source_Peer.PEER_AUTHENTICATED && s.principals.length + s.namespaces.length === 0) ids.push(SPIFFE_PEER);
  if (s.peer === Source_Peer.PEER_UNAUTHENTICATED) ids.push({ not_id: SPIFFE_PEER });
  // Identities and namespaces are both matched against the peer's SPIFFE ID.
  for (const [yes, no] of [
    [s.principals, s.notPrincipals],
    [s.namespaces, s.notNamespaces],
  ] as const) {
    if (yes.length) ids.push(peerNamed(yes));
    if (no.length) ids.push({ not_id: peerNamed(no) });
  }
  if (s.requestPrincipals.length) ids.push(requestPrincipal(s.requestPrincipals));
  if (s.notRequestPrincipals.length) ids.push({ not_id: requestPrincipal(s.notRequestPrincipals) });
  return andIds(ids);
}

const METHOD_NAMES = Object.entries(MethodBit)
  .filter(([k, v]) => typeof v === 'number' && v > 0 && k.startsWith('METHOD_BIT_'))
  .map(([k, v]) => [k.slice('METHOD_BIT_'.length), v as number] as const);

const methodsOf = (mask: number) =>
  orRules(METHOD_NAMES.filter(([, bit]) => mask & bit).map(([name]) => ({ header: { name: ':method', string_match: { exact: name } } })));
const pathsOf = (ms: readonly StringMatch[]) =>
  orRules(ms.flatMap((m) => stringMatchers(m, m.ignoreCase).map((path) => ({ url_path: { path } }))));
// Case-insensitive; the connection manager has already stripped the port and a trailing dot
// (strip_any_host_port, strip_trailing_host_dot), as our host matching ignores them.
const hostsOf = (ms: readonly StringMatch[]) =>
  orRules(ms.flatMap((m) => stringMatchers(m, true).map((string_match) => ({ header: { name: ':authority', string_match } }))));
const portsOf = (ps: readonly number[]) => orRules(ps.map((p) => ({ destination_port: p })));

function permissionOf(o: CompiledOperation): Json {
  const rules: Json[] = [];
  const part = (present: boolean, absent: boolean, yes: () => Json, no: () => Json) => {
    if (present) rules.push(yes());
    if (absent) rules.push({ not_rule: no() });
  };
  part(
    o.methods !== 0,
    o.notMethods !== 0,
    () => methodsOf(o.methods),
    () => methodsOf(o.notMethods),
  );
  part(
    o.paths.length > 0,
    o.notPaths.length > 0,
    () => pathsOf(o.paths),
    () => pathsOf(o.notPaths),
  );
  part(
    o.hosts.length > 0,
    o.notHosts.length > 0,
    () => hostsOf(o.hosts),
    () => hostsOf(o.notHosts),
  );
  part(
    o.ports.length > 0,
    o.notPorts.length > 0,
    () => portsOf(o.ports),
    () => portsOf(o.notPorts),
  );
  return andRules(rules);
}

/**
 * A condition as a principal (header, claim, peer) or a permission (port). `forall`: the rule
 * allows, so a header test must hold for every reading of the header (for some, otherwise).
 */
function conditionOf(c: CompiledCondition, policy: CompiledPolicy, forall: boolean): { principal?: Json; permission?: Json } {
  const both = (f: (ms: readonly StringMatch[]) => Json) => {
    const ids: Json[] = [];
    if (c.values.length) ids.push(f(c.values));
    if (c.notValues.length) ids.push({ not_id: f(c.notValues) });
    return andIds(ids);
  };
  switch (c.attribute) {
    case Condition_Attribute.ATTRIBUTE_HEADER: {
      const name = policy.headers[c.key];
      if (name === undefined) throw new Inexpressible(`header index ${c.key} is out of range`);
      // Negated: "no reading matches" is not(some do); "some reading does not" is not(all do).
      const ids: Json[] = [];
      if (c.values.length) ids.push(headerTest(name, c.values, !forall));
      if (c.notValues.length) ids.push({ not_id: headerTest(name, c.notValues, forall) });
      return { principal: andIds(ids) };
    }
    case Condition_Attribute.ATTRIBUTE_CLAIM: {
      const claim = policy.claims[c.key];
      if (claim === undefined) throw new Inexpressible(`claim index ${c.key} is out of range`);
      return { principal: both((ms) => claimMatch(claim, ms)) };
    }
    case Condition_Attribute.ATTRIBUTE_PRINCIPAL:
      return { principal: both(peerNamed) };
    case Condition_Attribute.ATTRIBUTE_PORT: {
      const ports = (ms: readonly StringMatch[]) =>
        ms.map((m) => {
          const n = Number(m.value);
          if (m.kind !== StringMatch_Kind.KIND_EXACT || !Number.isInteger(n) || n < 1 || n > 65535)
            throw new Inexpressible(`port condition "${m.value}": only exact port numbers can be expressed`);
          return n;
        });
      const rules: Json[] = [];
      if (c.values.length) rules.push(portsOf(ports(c.values)));
      if (c.notValues.length) rules.push({ not_rule: portsOf(ports(c.notValues)) });
      return { permission: andRules(rules) };
    }
    default:
      throw new Inexpressible(`condition attribute ${c.attribute} is unknown to this exporter`);
  }
}

/** One rule as one RBAC Policy: sources OR'd, operations OR'd, conditions AND'ed onto both. */
function policyOf(rule: CompiledRule, policy: CompiledPolicy, at: (suffix: string) => string, issues: ExportIssue[]): Json | undefined {
  const fail = (suffix: string, e: unknown): undefined => {
    if (!(e instanceof Inexpressible)) throw e;
    issues.push({ severity: 'error', path: at(suffix), message: `${e.message}; Envoy RBAC cannot express it` });
    return undefined;
  };
  const principals: Json[] = [];
  const permissions: Json[] = [];
  let ok = true;
  rule.sources.forEach((s, i) => {
    try {
      principals.push(principalOf(s));
    } catch (e) {
      ok = fail(`from[${i}]`, e) ?? false;
    }
  });
  const ops: Json[] = [];
  rule.operations.forEach((o, i) => {
    try {
      ops.push(permissionOf(o));
    } catch (e) {
      ok = fail(`to[${i}]`, e) ?? false;
    }
  });
  permissions.push(ops.length ? orRules(ops) : { any: true });
  const principalConditions: Json[] = [];
  rule.conditions.forEach((c, i) => {
    try {
      const r = conditionOf(c, policy, rule.action === Action.ACTION_ALLOW);
      if (r.principal) principalConditions.push(r.principal);
      if (r.permission) permissions.push(r.permission);
    } catch (e) {
      ok = fail(`when[${i}]`, e) ?? false;
    }
  });
  if (!ok) return undefined;
  return {
    permissions: [andRules(permissions)],
    principals: [principalConditions.length ? andIds([orIds(principals), ...principalConditions]) : orIds(principals)],
  };
}

export interface RbacExportOptions {
  /** Rules that expire before this instant are left out; later expiries are reported. */
  nowMs?: number;
}

/** The RBAC filters of one workload; `issues` with severity error mean the export is incomplete. */
export function exportRbac(policy: CompiledPolicy, opts: RbacExportOptions = {}): RbacExport {
  const now = opts.nowMs ?? Date.now();
  const issues: ExportIssue[] = [];
  const expired: string[] = [];
  const groups = {
    deny: { enforced: new Map<string, Json>(), written: new Map<string, Json>() },
    allow: { enforced: new Map<string, Json>(), written: new Map<string, Json>() },
    audit: { enforced: new Map<string, Json>(), written: new Map<string, Json>() },
  };
  const taken = new Set<string>();
  for (const rule of policy.rules) {
    const perimeter = policy.perimeters[rule.perimeter]?.name ?? 'mesh';
    const where = `Perimeter/${perimeter}: rule "${rule.name}"`;
    if (rule.expiresUnixMs !== 0 && rule.expiresUnixMs <= now) {
      expired.push(`${perimeter}/${rule.name}`);
      continue;
    }
    if (rule.expiresUnixMs !== 0) {
      const when = new Date(rule.expiresUnixMs).toISOString();
      if (rule.action === Action.ACTION_ALLOW && rule.mode === Mode.MODE_ENFORCE && policy.defaultMode === Mode.MODE_ENFORCE) {
        // Envoy RBAC has no clock: exporting the allow would keep it open after its expiry.
        issues.push({
          severity: 'error',
          path: where,
          message: `expires at ${when}; Envoy RBAC has no clock, so the allow would outlive it (remove the expiry, or export after it)`,
        });
        continue;
      }
      issues.push({ severity: 'warning', path: where, message: `expires at ${when}; the exported rule does not, re-export after it` });
    }
    const p = policyOf(rule, policy, (s) => (s ? `${where}: ${s}` : where), issues);
    if (!p) continue;
    let key = `${perimeter}/${rule.name}`;
    for (let n = 2; taken.has(key); n++) key = `${perimeter}/${rule.name}#${n}`;
    taken.add(key);
    const group =
      rule.action === Action.ACTION_DENY
        ? groups.deny
        : rule.action === Action.ACTION_ALLOW
          ? groups.allow
          : rule.action === Action.ACTION_AUDIT
            ? groups.audit
            : undefined;
    if (!group) {
      issues.push({ severity: 'error', path: where, message: `action ${rule.action} is unknown to this exporter` });
      continue;
    }
    group.written.set(key, p);
    if (rule.mode === Mode.MODE_ENFORCE) group.enforced.set(key, p);
  }

  // Path parameters (compiled.proto PathParameters): refused paths are unsafe requests, denied
  // as the default deny is (enforced when it is); stripping them is the filter's alone.
  if (policy.pathParameters === PathParameters.PATH_PARAMETERS_STRIP)
    issues.push({
      severity: 'error',
      path: `Workload/${policy.workload}: pathParameters`,
      message: 'strip cannot be expressed in Envoy RBAC, which matches the path as it is; use reject (or keep) for this workload',
    });
  else if (policy.pathParameters !== PathParameters.PATH_PARAMETERS_KEEP) {
    const refuse = {
      permissions: [orRules(['.*;.*', '.*%3[bB].*'].map((regex) => ({ url_path: { path: { safe_regex: { regex } } } })))],
      principals: [{ any: true }],
    };
    groups.deny.written.set('perimeter/path-parameters', refuse);
    if (policy.defaultMode === Mode.MODE_ENFORCE) groups.deny.enforced.set('perimeter/path-parameters', refuse);
  }

  const rbac = (name: string, body: Json) => ({ name, typed_config: { '@type': TYPE.rbac, ...body } });
  const rules = (action: string, m: Map<string, Json>) => ({ action, policies: Object.fromEntries(m) });
  const filters: Json[] = [];
  if (groups.deny.written.size)
    filters.push(
      rbac(RBAC_FILTER_NAMES.deny, {
        ...(groups.deny.enforced.size ? { rules: rules('DENY', groups.deny.enforced) } : {}),
        shadow_rules: rules('DENY', groups.deny.written),
        rules_stat_prefix: 'perimeter_deny_',
        shadow_rules_stat_prefix: 'perimeter_written_deny_',
      }),
    );
  // The default deny is the allow filter's own: no enforced allow matches, the request is denied.
  const enforcing = policy.defaultMode === Mode.MODE_ENFORCE;
  if (enforcing || groups.allow.written.size)
    filters.push(
      rbac(RBAC_FILTER_NAMES.allow, {
        ...(enforcing ? { rules: rules('ALLOW', groups.allow.enforced) } : {}),
        shadow_rules: rules('ALLOW', groups.allow.written),
        rules_stat_prefix: 'perimeter_allow_',
        shadow_rules_stat_prefix: 'perimeter_written_allow_',
      }),
    );
  if (groups.audit.written.size)
    filters.push(rbac(RBAC_FILTER_NAMES.audit, { rules: rules('LOG', groups.audit.written), rules_stat_prefix: 'perimeter_audit_' }));
  return { filters, issues, expired };
}
