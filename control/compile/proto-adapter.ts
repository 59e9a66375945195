/**
 * The one place the domain model meets our generated protobuf types: enum mappings and
 * whole-message conversions (PolicySet for the history store, matchers for the compiler).
 */
import {
  Condition_Attribute,
  Action as PAction,
  Mode as PMode,
  type PolicySet as PPolicySet,
  type StringMatch as PStringMatch,
  Source_Peer,
  StringMatch_Kind,
} from '../../proto/gen/perimeter/v1/policy.js';
import type { Action, Attribute, MatchKind, Mode, Peer, PolicySet, StringMatch } from '../policy/model.js';

export const MODE_TO_PROTO: Record<Mode, PMode> = {
  observe: PMode.MODE_OBSERVE,
  simulate: PMode.MODE_SIMULATE,
  enforce: PMode.MODE_ENFORCE,
};

export function modeFromProto(m: PMode): Mode {
  if (m === PMode.MODE_OBSERVE) return 'observe';
  if (m === PMode.MODE_SIMULATE) return 'simulate';
  // Unknown or unspecified modes are read as enforce: never weaker than written.
  return 'enforce';
}

export const ACTION_TO_PROTO: Record<Action, PAction> = {
  allow: PAction.ACTION_ALLOW,
  deny: PAction.ACTION_DENY,
  audit: PAction.ACTION_AUDIT,
};

export const KIND_TO_PROTO: Record<MatchKind, StringMatch_Kind> = {
  exact: StringMatch_Kind.KIND_EXACT,
  prefix: StringMatch_Kind.KIND_PREFIX,
  suffix: StringMatch_Kind.KIND_SUFFIX,
  present: StringMatch_Kind.KIND_PRESENT,
  contains: StringMatch_Kind.KIND_CONTAINS,
  'segment-prefix': StringMatch_Kind.KIND_SEGMENT_PREFIX,
  template: StringMatch_Kind.KIND_TEMPLATE,
  'service-account': StringMatch_Kind.KIND_SERVICE_ACCOUNT,
  'trust-domain': StringMatch_Kind.KIND_TRUST_DOMAIN,
  'namespace-pattern': StringMatch_Kind.KIND_NAMESPACE_PATTERN,
};

export const PEER_TO_PROTO: Record<Peer, Source_Peer> = {
  any: Source_Peer.PEER_UNSPECIFIED,
  authenticated: Source_Peer.PEER_AUTHENTICATED,
  unauthenticated: Source_Peer.PEER_UNAUTHENTICATED,
};

export const ATTRIBUTE_TO_PROTO: Record<Attribute, Condition_Attribute> = {
  header: Condition_Attribute.ATTRIBUTE_HEADER,
  claim: Condition_Attribute.ATTRIBUTE_CLAIM,
  principal: Condition_Attribute.ATTRIBUTE_PRINCIPAL,
  port: Condition_Attribute.ATTRIBUTE_PORT,
};

export function matchToProto(m: StringMatch): PStringMatch {
  return { kind: KIND_TO_PROTO[m.kind], value: m.value, ignoreCase: m.ignoreCase === true };
}

const sortedLabels = (l: Record<string, string>) => Object.fromEntries(Object.entries(l).sort(([a], [b]) => a.localeCompare(b)));

/** The policy set as our protobuf API message, deterministic (labels sorted). */
export function policySetToProto(p: PolicySet): PPolicySet {
  const loc = (l?: { file: string; line: number; column: number }) => (l ? { file: l.file, line: l.line, column: l.column } : undefined);
  return {
    mesh: {
      trustDomain: p.mesh.trustDomain,
      defaultMode: MODE_TO_PROTO[p.mesh.defaultMode],
      trustDomainAliases: p.mesh.trustDomainAliases ?? [],
      location: loc(p.mesh.location),
    },
    workloads: p.workloads.map((w) => ({
      name: w.name,
      identity: w.identity,
      namespace: w.namespace,
      labels: sortedLabels(w.labels),
      location: loc(w.location),
    })),
    perimeters: p.perimeters.map((per) => ({
      name: per.name,
      owner: per.owner,
      mode: MODE_TO_PROTO[per.mode],
      origin: per.origin,
      crownJewel: per.crownJewel,
      selector: {
        all: per.selector.all ?? false,
        namespace: per.selector.namespace ?? '',
        workloads: per.selector.workloads,
        identities: per.selector.identities,
        labels: per.selector.labels.map((match) => ({ match: sortedLabels(match) })),
      },
      location: loc(per.location),
      rules: per.rules.map((r) => ({
        name: r.name,
        action: ACTION_TO_PROTO[r.action],
        mode: r.mode ? MODE_TO_PROTO[r.mode] : PMode.MODE_UNSPECIFIED,
        expiresUnixMs: r.expiresUnixMs ?? 0,
        location: loc(r.location),
        from: r.from.map((s) => ({
          peer: PEER_TO_PROTO[s.peer],
          principals: s.principals.map(matchToProto),
          notPrincipals: s.notPrincipals.map(matchToProto),
          namespaces: s.namespaces.map(matchToProto),
          notNamespaces: s.notNamespaces.map(matchToProto),
          requestPrincipals: s.requestPrincipals.map(matchToProto),
          notRequestPrincipals: s.notRequestPrincipals.map(matchToProto),
          trustDomains: s.trustDomains.map(matchToProto),
          notTrustDomains: s.notTrustDomains.map(matchToProto),
          workloads: s.workloads,
          labels: s.labels.map((match) => ({ match: sortedLabels(match) })),
        })),
        to: r.to.map((o) => ({
          methods: o.methods.map(matchToProto),
          notMethods: o.notMethods.map(matchToProto),
          paths: o.paths.map(matchToProto),
          notPaths: o.notPaths.map(matchToProto),
          hosts: o.hosts.map(matchToProto),
          notHosts: o.notHosts.map(matchToProto),
          authorities: o.authorities.map(matchToProto),
          notAuthorities: o.notAuthorities.map(matchToProto),
          ports: o.ports,
          notPorts: o.notPorts,
        })),
        when: r.when.map((c) => ({
          attribute: ATTRIBUTE_TO_PROTO[c.attribute],
          key: c.key,
          values: c.values.map(matchToProto),
          notValues: c.notValues.map(matchToProto),
        })),
      })),
    })),
  };
}
