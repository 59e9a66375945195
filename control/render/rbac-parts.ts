/**
 * The parts of one rule as Envoy RBAC principals and permissions (rbac.ts assembles them into
 * policies): string matchers with our matchers' meaning, header tests over the value and its
 * elements, claims from jwt_authn's metadata, sources, operations and conditions.
 */

import { claimSegments } from '../../contracts/claim-path.js';
import { headerOperandProblem } from '../../contracts/header-value.js';
import { JWT_METADATA } from '../../contracts/jwt.js';
import { tableBit } from '../../contracts/methods.js';
import type { CompiledCondition, CompiledOperation, CompiledPolicy, CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import { MethodBit } from '../../proto/gen/perimeter/v1/compiled.js';
import { Condition_Attribute, Source_Peer, type StringMatch, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';

export type Json = Record<string, unknown>;

/** An authenticated peer: a verified certificate with a SPIFFE ID. */
export const SPIFFE_PEER = { authenticated: { principal_name: { prefix: 'spiffe://' } } };

/** A rule part Envoy's RBAC cannot say as our semantics mean it (reported with its path, never approximated). */
export class Inexpressible extends Error {}

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
    case StringMatch_Kind.KIND_TEMPLATE:
      return [{ safe_regex: { regex: templateRegex(m.value, ignoreCase) } }];
    case StringMatch_Kind.KIND_SERVICE_ACCOUNT: {
      const [ns, sa] = [m.value.slice(0, m.value.indexOf('/')), m.value.slice(m.value.indexOf('/') + 1)];
      return [{ safe_regex: { regex: `spiffe://.+/ns/${reQuote(ns)}/(.+/|)sa/${reQuote(sa)}(/.+)?` } }];
    }
    case StringMatch_Kind.KIND_NAMESPACE_PATTERN:
      return [{ safe_regex: { regex: `.*/ns/${m.value.split('*').map(reQuote).join('.*')}/.*` } }];
    case StringMatch_Kind.KIND_TRUST_DOMAIN:
      if (m.value.endsWith('*')) return [{ safe_regex: { regex: `spiffe://${reQuote(m.value.slice(0, -1))}[^/]*/.*` } }];
      if (m.value.startsWith('*')) return [{ safe_regex: { regex: `spiffe://[^/]*${reQuote(m.value.slice(1))}/.*` } }];
      return [{ prefix: `spiffe://${m.value}/` }];
    default:
      throw new Inexpressible(`matcher kind ${m.kind} is unknown to this exporter`);
  }
}

/** Envoy's own regex for a uri_template (its operators over RFC 3986 pchar), so the export means what the filter does. */
function templateRegex(template: string, ignoreCase: boolean): string {
  const pchar = "A-Za-z0-9\\-._~%!$&'()+,;:@";
  const literal = (s: string) =>
    ignoreCase ? [...s].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : reQuote(c))).join('') : reQuote(s);
  const parts = template
    .slice(1)
    .split('/')
    .map((seg) => (seg === '*' ? `[${pchar}]+` : seg === '**' ? `[${pchar}/]*` : literal(seg)));
  return `/${parts.join('/')}`;
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

export const orIds = (ids: Json[]): Json => (ids.length === 1 ? (ids[0] as Json) : { or_ids: { ids } });
export const andIds = (ids: Json[]): Json =>
  ids.length === 0 ? { any: true } : ids.length === 1 ? (ids[0] as Json) : { and_ids: { ids } };
export const orRules = (rules: Json[]): Json => (rules.length === 1 ? (rules[0] as Json) : { or_rules: { rules } });
export const andRules = (rules: Json[]): Json =>
  rules.length === 0 ? { any: true } : rules.length === 1 ? (rules[0] as Json) : { and_rules: { rules } };

const peerNamed = (ms: readonly StringMatch[]) =>
  orIds(ms.flatMap((m) => stringMatchers(m).map((principal_name) => ({ authenticated: { principal_name } }))));

/** A JWT claim at the path jwt_authn writes: a string, or a list with a matching element. */
function claimMatch(claim: string, ms: readonly StringMatch[]): Json {
  const path = [{ key: JWT_METADATA.key }, ...claimSegments(claim).map((key) => ({ key }))];
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

export function principalOf(s: CompiledSource): Json {
  const ids: Json[] = [];
  // A peer name to match already requires a verified certificate.
  if (s.peer === Source_Peer.PEER_AUTHENTICATED && s.principals.length + s.namespaces.length + s.trustDomains.length === 0)
    ids.push(SPIFFE_PEER);
  if (s.peer === Source_Peer.PEER_UNAUTHENTICATED) ids.push({ not_id: SPIFFE_PEER });
  // Identities and namespaces are both matched against the peer's SPIFFE ID.
  for (const [yes, no] of [
    [s.principals, s.notPrincipals],
    [s.namespaces, s.notNamespaces],
    [s.trustDomains, s.notTrustDomains],
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

/** The methods of a mask: the standard ones by name, the table's entries by their matchers (methods are case-sensitive). */
const methodsOf = (mask: number, table: readonly StringMatch[]) =>
  orRules([
    ...METHOD_NAMES.filter(([, bit]) => mask & bit).map(([name]) => ({ header: { name: ':method', string_match: { exact: name } } })),
    ...table.flatMap((m, i) =>
      mask & tableBit(i) ? stringMatchers(m).map((string_match) => ({ header: { name: ':method', string_match } })) : [],
    ),
  ]);
const pathsOf = (ms: readonly StringMatch[]) =>
  orRules(ms.flatMap((m) => stringMatchers(m, m.ignoreCase).map((path) => ({ url_path: { path } }))));
// Case-insensitive; the connection manager has already stripped the port and a trailing dot
// (strip_any_host_port, strip_trailing_host_dot), as our host matching ignores them.
const hostsOf = (ms: readonly StringMatch[]) =>
  orRules(ms.flatMap((m) => stringMatchers(m, true).map((string_match) => ({ header: { name: ':authority', string_match } }))));
const portsOf = (ps: readonly number[]) => orRules(ps.map((p) => ({ destination_port: p })));

export function permissionOf(o: CompiledOperation, methods: readonly StringMatch[]): Json {
  const rules: Json[] = [];
  const part = (present: boolean, absent: boolean, yes: () => Json, no: () => Json) => {
    if (present) rules.push(yes());
    if (absent) rules.push({ not_rule: no() });
  };
  part(
    o.methods !== 0,
    o.notMethods !== 0,
    () => methodsOf(o.methods, methods),
    () => methodsOf(o.notMethods, methods),
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
  // Istio hosts compare the whole :authority, port included; the connection manager in front of
  // these filters strips the port first, so RBAC there cannot say the same thing.
  if (o.authorities.length + o.notAuthorities.length > 0)
    throw new Inexpressible('Istio hosts match the :authority with its port, which this connection manager strips (strip_any_host_port)');
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
export function conditionOf(c: CompiledCondition, policy: CompiledPolicy, forall: boolean): { principal?: Json; permission?: Json } {
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
