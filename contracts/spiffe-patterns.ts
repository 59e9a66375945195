/**
 * Istio's identity patterns that are not plain string matches, as istiod writes them into Envoy
 * RBAC (pilot/pkg/security/authz/model/generator.go), decided without a regular expression.
 * Written once here for the reference evaluator; the filter implements the same (match.ts).
 */

const SCHEME = 'spiffe://';

/**
 * `serviceAccounts: ["<ns>/<sa>"]`: istiod's regex spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)? ,
 * full-matched: any trust domain, `/ns/<ns>/`, then `sa/<sa>` at a segment start, then the end or
 * "/" and more. An identity with a line break matches nothing (RE2's "." stops there, and no
 * SPIFFE ID has one).
 */
export function matchServiceAccount(value: string, id: string): boolean {
  const slash = value.indexOf('/');
  if (slash <= 0 || !id.startsWith(SCHEME) || id.includes('\n')) return false;
  const ns = `/ns/${value.slice(0, slash)}/`;
  const sa = `sa/${value.slice(slash + 1)}`;
  // The leftmost "/ns/<ns>/" after at least one character leaves every later choice open.
  const i = id.indexOf(ns, SCHEME.length + 1);
  if (i < 0) return false;
  const j = i + ns.length;
  for (let k = j; k + sa.length <= id.length; k++) {
    if (k > j && (k < j + 2 || id.charCodeAt(k - 1) !== 0x2f)) continue;
    if (!id.startsWith(sa, k)) continue;
    const m = k + sa.length;
    if (m === id.length || (id.charCodeAt(m) === 0x2f && id.length - m >= 2)) return true;
  }
  return false;
}

/**
 * `namespaces: ["ns-*"]`: istiod's regex .*\/ns/<part>.*<part>/.* (each "*" of the pattern is
 * any characters, which may include "/"). The pieces are found in order, each at its leftmost
 * place after the one before, which leaves every later piece the most room.
 */
export function matchNamespacePattern(pattern: string, id: string): boolean {
  if (id.includes('\n')) return false;
  const parts = pattern.split('*');
  const pieces = parts.map((p, i) => `${i === 0 ? '/ns/' : ''}${p}${i === parts.length - 1 ? '/' : ''}`);
  let at = 0;
  for (const piece of pieces) {
    const i = id.indexOf(piece, at);
    if (i < 0) return false;
    at = i + piece.length;
  }
  return true;
}

/**
 * `trustDomains: ["<prefix>*"]` or `["*<suffix>"]`: the trust domain (what follows spiffe:// up
 * to the first "/", which must be there) starts or ends so, as istiod's regexes
 * spiffe://<prefix>[^/]*\/.* and spiffe://[^/]*<suffix>/.* say. Exact names and "*" are
 * plain prefixes (spiffe://<td>/ and spiffe://) and never reach this matcher.
 */
export function matchTrustDomain(value: string, id: string): boolean {
  if (!id.startsWith(SCHEME) || id.includes('\n')) return false;
  const end = id.indexOf('/', SCHEME.length);
  if (end < 0) return false;
  const td = id.slice(SCHEME.length, end);
  if (value.endsWith('*')) return td.startsWith(value.slice(0, -1));
  if (value.startsWith('*')) return td.endsWith(value.slice(1));
  return td === value;
}
