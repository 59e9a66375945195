/**
 * Who a compiled rule names: model sources into compiled sources (workloads and label selectors
 * resolved through the registry into exact identities), the identities trusted to set a header,
 * and every identity under each name of the mesh's trust-domain bundle (trust-domains.ts).
 */
import { type CompiledCondition, CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import {
  Condition_Attribute,
  type StringMatch as PStringMatch,
  Source_Peer,
  StringMatch_Kind,
} from '../../proto/gen/perimeter/v1/policy.js';
import type { Rule, Source, StringMatch } from '../policy/model.js';
import type { Registry } from '../policy/registry.js';
import { matchToProto, PEER_TO_PROTO } from './proto-adapter.js';
import { istioPrincipalVariants, nativeVariants, trustDomainMatchers } from './trust-domains.js';

/** A source every caller matches, with or without a certificate. */
export function anySource(): CompiledSource {
  return CompiledSource.fromPartial({ peer: Source_Peer.PEER_UNSPECIFIED });
}

/**
 * A header bound to the identities that may set it holds only for them: a principal condition
 * beside it. An empty binding (its selectors match nobody) holds for nobody.
 */
export function trustedSetters(c: Rule['when'][number], registry: Registry, names: Names): CompiledCondition[] {
  if (!c.setBy) return [];
  const principals = compileSource(c.setBy, registry, names)[0]?.principals ?? [];
  const values = principals.length ? principals : [{ kind: StringMatch_Kind.KIND_EXACT, value: '', ignoreCase: false }];
  return [{ attribute: Condition_Attribute.ATTRIBUTE_PRINCIPAL, key: 0, values, notValues: [] }];
}

/** How identities of one perimeter's rules are written: the bundle, and whether Istio's expansion applies. */
export interface Names {
  bundle: readonly string[];
  istio: boolean;
}

/**
 * One model source into compiled sources. Workload names and label selectors become exact
 * principals; a source whose selectors resolve to nobody and that names no identity is
 * dropped (it must not widen into "any authenticated peer").
 */
export function compileSource(s: Source, registry: Registry, names: Names): CompiledSource[] {
  // Registered workloads are named by their exact identities, under every name of the bundle.
  const resolved = registry
    .identitiesOf(s.workloads, s.labels)
    .flatMap((id) => nativeVariants({ kind: StringMatch_Kind.KIND_EXACT, value: id, ignoreCase: false }, names.bundle));
  const principals = unique([...identityMatchers(s.principals, names), ...resolved]);
  const namedSomeone = s.workloads.length + s.labels.length > 0;
  // Selectors that resolve to nobody must not widen into "any authenticated peer".
  if (namedSomeone && principals.length === 0) return [];
  return [
    {
      peer: PEER_TO_PROTO[s.peer],
      principals,
      notPrincipals: identityMatchers(s.notPrincipals, names),
      requestPrincipals: s.requestPrincipals.map(matchToProto),
      notRequestPrincipals: s.notRequestPrincipals.map(matchToProto),
      namespaces: s.namespaces.map(matchToProto),
      notNamespaces: s.notNamespaces.map(matchToProto),
      trustDomains: unique(s.trustDomains.flatMap((m) => trustDomainMatchers(m, names.bundle))),
      notTrustDomains: unique(s.notTrustDomains.flatMap((m) => trustDomainMatchers(m, names.bundle))),
    },
  ];
}

/** Identity matchers under every name of the trust-domain bundle, as the rule's format expands them. */
export function identityMatchers(ms: readonly StringMatch[], names: Names): PStringMatch[] {
  return unique(
    ms.flatMap((m) => {
      if (m.kind === 'trust-domain') return trustDomainMatchers(m, names.bundle);
      if (names.istio) return istioPrincipalVariants(m, names.bundle).map(matchToProto);
      if (m.literal) return [matchToProto(m)];
      return nativeVariants(matchToProto(m), names.bundle);
    }),
  );
}

function unique(ms: readonly PStringMatch[]): PStringMatch[] {
  const seen = new Set<string>();
  return ms.filter((m) => {
    const k = `${m.kind}:${m.ignoreCase ? 1 : 0}:${m.value}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
