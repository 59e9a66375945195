/**
 * Trust-domain aliases (Istio's trustDomainAliases): the mesh's trust domain and its other names
 * form one bundle, and identities written for one name also name callers of the others. Istio
 * policies are expanded exactly as istiod does (pilot/pkg/security/trustdomain/bundle.go:
 * ReplaceTrustDomainAliases for principals, ExpandTrustDomainAliases for trustDomains); native
 * identities name the same callers under every name of the bundle. Every expanded form is an
 * exact identity or a prefix, so the filter's identity index holds them all and never scans.
 */
import { type StringMatch as PStringMatch, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import type { Mesh, StringMatch } from '../policy/model.js';
import { istioMatch } from '../policy/patterns.js';
import { matchToProto } from './proto-adapter.js';

const SCHEME = 'spiffe://';
/** Istio reads this trust domain in a policy as "the mesh's own", whatever the mesh calls itself. */
const ISTIO_LOCAL = 'cluster.local';

/** The mesh's trust domain first, then its aliases; empty when the mesh names none. */
export function trustBundle(mesh: Mesh): string[] {
  return mesh.trustDomain ? [mesh.trustDomain, ...(mesh.trustDomainAliases ?? []).filter((a) => a !== mesh.trustDomain)] : [];
}

const prefixMatch = (a: string, pattern: string) => pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
const suffixMatch = (a: string, pattern: string) => pattern.startsWith('*') && a.endsWith(pattern.slice(1));

/** Istio's stringMatch: either side may be the pattern. */
function inBundle(td: string, bundle: readonly string[]): boolean {
  return bundle.some((s) => td === s || s === '*' || prefixMatch(td, s) || prefixMatch(s, td) || suffixMatch(td, s) || suffixMatch(s, td));
}

/** A principal matcher back in the text Istio wrote it as ("td/ns/x/sa/y", "td/ns/x/*", "*y"), if it came from one. */
function istioText(m: StringMatch): string | undefined {
  if (m.kind === 'present') return '*';
  if (m.kind === 'suffix') return `*${m.value}`;
  if ((m.kind === 'exact' || m.kind === 'prefix') && m.value.startsWith(SCHEME))
    return m.kind === 'exact' ? m.value.slice(SCHEME.length) : `${m.value.slice(SCHEME.length)}*`;
  return undefined;
}

/** One principal of an Istio policy as istiod's MigrateTrustDomain leaves it: itself, or one per name of the bundle. */
export function istioPrincipalVariants(m: StringMatch, bundle: readonly string[]): StringMatch[] {
  const text = istioText(m);
  const parts = text?.split('/');
  if (text === undefined || parts === undefined || parts.length !== 5 || parts[0] === '*' || bundle.length === 0) return [m];
  const td = parts[0] as string;
  if (!inBundle(td, bundle) && td !== ISTIO_LOCAL) return [m];
  const texts: string[] = [];
  for (const name of bundle) {
    const t = suffixMatch(name, td) ? text : [name, ...parts.slice(1)].join('/');
    if (!texts.includes(t)) texts.push(t);
  }
  return texts.map((t) => istioMatch(t, (s) => `${SCHEME}${s}`));
}

/** A native identity (exact, or everything below it) under every name of the bundle. */
export function nativeVariants(m: PStringMatch, bundle: readonly string[]): PStringMatch[] {
  if (bundle.length < 2 || (m.kind !== StringMatch_Kind.KIND_EXACT && m.kind !== StringMatch_Kind.KIND_SEGMENT_PREFIX)) return [m];
  if (!m.value.startsWith(SCHEME)) return [m];
  const rest = m.value.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  if (!bundle.includes(td)) return [m];
  const tail = slash < 0 ? '' : rest.slice(slash);
  return bundle.map((name) => ({ ...m, value: `${SCHEME}${name}${tail}` }));
}

/**
 * A trustDomains value as compiled matchers: "*" any SPIFFE peer, a name (and, when it is one of
 * the bundle's, every other name too) the prefix spiffe://<td>/, a pattern the trust-domain matcher.
 */
export function trustDomainMatchers(m: StringMatch, bundle: readonly string[]): PStringMatch[] {
  if (m.kind !== 'trust-domain') return [matchToProto(m)];
  const v = m.value;
  if (v === '*') return [{ kind: StringMatch_Kind.KIND_PREFIX, value: SCHEME, ignoreCase: false }];
  if (v.startsWith('*') || v.endsWith('*')) return [matchToProto(m)];
  const names = bundle.includes(v) ? bundle : [v];
  return names.map((td) => ({ kind: StringMatch_Kind.KIND_PREFIX, value: `${SCHEME}${td}/`, ignoreCase: false }));
}
