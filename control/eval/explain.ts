/**
 * Counterfactual explanation for a deny: the allow rule that came nearest to matching and
 * each attribute it failed on, e.g. "rule app-reads matched identity and method, but path
 * /v2/refund is not /orders/*". Envoy and Istio say only "[none]" here (envoy#36346).
 */

import { claimLabel } from '../../contracts/claim-path.js';
import { MESH_PERIMETER } from '../../contracts/decision-record.js';
import { methodsOf } from '../../contracts/methods.js';
import { describeMatch } from '../../contracts/string-match.js';
import { CompiledOperation, type CompiledPolicy, type CompiledRule, type CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Condition_Attribute, Source_Peer, type StringMatch } from '../../proto/gen/perimeter/v1/policy.js';
import { attributeValues, conditionHolds, operationMatches, sourceMatches, type View } from './evaluate.js';

export interface Failure {
  attribute: string;
  expected: string;
  actual: string;
}

export interface NearMiss {
  perimeter: string;
  rule: string;
  ruleIndex: number;
  matched: string[];
  failed: Failure[];
}

const list = (ms: readonly StringMatch[]) => ms.map(describeMatch).join(' or ');
const quote = (s: string | undefined) => (s === undefined ? '(absent)' : s === '' ? '""' : s);

function sourceFailures(s: CompiledSource, v: View): Failure[] {
  const p = v.principal;
  if (s.peer === Source_Peer.PEER_UNAUTHENTICATED)
    return p === undefined ? [] : [{ attribute: 'identity', expected: 'unauthenticated', actual: p }];
  if (s.peer === Source_Peer.PEER_AUTHENTICATED && p === undefined) {
    return [
      {
        attribute: 'identity',
        expected: s.principals.length ? list(s.principals) : 'any authenticated peer',
        actual: 'unauthenticated (no client certificate)',
      },
    ];
  }
  if (sourceMatches(s, v)) return [];
  const out: Failure[] = [];
  if (s.principals.length > 0) out.push({ attribute: 'identity', expected: list(s.principals), actual: quote(p) });
  if (s.namespaces.length > 0) out.push({ attribute: 'namespace', expected: list(s.namespaces), actual: quote(p) });
  if (s.trustDomains.length > 0) out.push({ attribute: 'trust domain', expected: list(s.trustDomains), actual: quote(p) });
  if (s.requestPrincipals.length > 0)
    out.push({ attribute: 'request principal', expected: list(s.requestPrincipals), actual: quote(v.requestPrincipal) });
  if (out.length === 0) out.push({ attribute: 'identity', expected: 'not excluded', actual: quote(p) });
  return out;
}

function operationFailures(o: CompiledOperation, v: View, method: string, table: CompiledPolicy['methods']): Failure[] {
  if (operationMatches(o, v)) return [];
  const out: Failure[] = [];
  if ((o.methods !== 0 && (o.methods & v.methodBit) === 0) || (o.notMethods & v.methodBit) !== 0) {
    out.push({
      attribute: 'method',
      expected: o.methods ? methodsOf(o.methods, table).join(' or ') : `not ${methodsOf(o.notMethods, table).join(', ')}`,
      actual: method,
    });
  }
  const pathOk =
    (o.paths.length === 0 || o.paths.some((m) => operationMatches({ ...bare(), paths: [m] }, v))) &&
    !o.notPaths.some((m) => operationMatches({ ...bare(), paths: [m] }, v));
  if (!pathOk) out.push({ attribute: 'path', expected: o.paths.length ? list(o.paths) : `not ${list(o.notPaths)}`, actual: v.path });
  const hostOk = operationMatches({ ...bare(), hosts: o.hosts, notHosts: o.notHosts }, v);
  if (!hostOk) out.push({ attribute: 'host', expected: o.hosts.length ? list(o.hosts) : `not ${list(o.notHosts)}`, actual: quote(v.host) });
  const authorityOk = operationMatches({ ...bare(), authorities: o.authorities, notAuthorities: o.notAuthorities }, v);
  if (!authorityOk)
    out.push({
      attribute: 'host',
      expected: `:authority ${o.authorities.length ? list(o.authorities) : `not ${list(o.notAuthorities)}`}`,
      actual: quote(v.authority),
    });
  const portOk = operationMatches({ ...bare(), ports: o.ports, notPorts: o.notPorts }, v);
  if (!portOk)
    out.push({
      attribute: 'port',
      expected: o.ports.length ? o.ports.join(' or ') : `not ${o.notPorts.join(', ')}`,
      actual: quote(v.port?.toString()),
    });
  return out;
}

/** An operation with nothing to test, to test one attribute of another at a time. */
function bare(): CompiledOperation {
  return CompiledOperation.fromPartial({});
}

function conditionName(c: CompiledRule['conditions'][number], policy: CompiledPolicy): string {
  switch (c.attribute) {
    case Condition_Attribute.ATTRIBUTE_HEADER:
      return `header ${policy.headers[c.key]}`;
    case Condition_Attribute.ATTRIBUTE_CLAIM:
      return `claim ${claimLabel(policy.claims[c.key] ?? '')}`;
    case Condition_Attribute.ATTRIBUTE_PRINCIPAL:
      return 'source principal';
    default:
      return 'destination port';
  }
}

/** Why one rule did not match this request; empty when it did. */
export function ruleFailures(
  rule: CompiledRule,
  policy: CompiledPolicy,
  v: View,
  method: string,
): { matched: string[]; failed: Failure[] } {
  const matched: string[] = [];
  const failed: Failure[] = [];
  if (rule.expiresUnixMs !== 0 && v.nowMs >= rule.expiresUnixMs) {
    failed.push({
      attribute: 'expiry',
      expected: `before ${new Date(rule.expiresUnixMs).toISOString()}`,
      actual: new Date(v.nowMs).toISOString(),
    });
  }
  const src = best(rule.sources.map((s) => sourceFailures(s, v)));
  if (src.length === 0) matched.push('identity');
  failed.push(...src);
  if (rule.operations.length > 0) {
    const op = best(rule.operations.map((o) => operationFailures(o, v, method, policy.methods)));
    for (const a of ['method', 'path', 'host', 'port']) if (!op.some((f) => f.attribute === a)) matched.push(a);
    failed.push(...op);
  } else matched.push('any operation');
  for (const c of rule.conditions) {
    const name = conditionName(c, policy);
    if (conditionHolds(c, policy, v, rule.action)) matched.push(name);
    else {
      const values = attributeValues(c, policy, v);
      failed.push({
        attribute: name,
        expected: c.values.length ? list(c.values) : `not ${list(c.notValues)}`,
        actual: values === undefined ? '(absent)' : values.map(quote).join(', '),
      });
    }
  }
  return { matched, failed };
}

function best(alternatives: Failure[][]): Failure[] {
  return alternatives.reduce<Failure[] | undefined>((a, b) => (a === undefined || b.length < a.length ? b : a), undefined) ?? [];
}

/** The allow rule with the fewest failing attributes (earliest on ties). */
export function nearestAllow(policy: CompiledPolicy, v: View, method: string): NearMiss | undefined {
  let nearest: NearMiss | undefined;
  policy.rules.forEach((rule, i) => {
    if (rule.action !== Action.ACTION_ALLOW) return;
    const { matched, failed } = ruleFailures(rule, policy, v, method);
    if (failed.length === 0) return;
    if (!nearest || failed.length < nearest.failed.length) {
      nearest = { perimeter: policy.perimeters[rule.perimeter]?.name ?? MESH_PERIMETER, rule: rule.name, ruleIndex: i, matched, failed };
    }
  });
  return nearest;
}
