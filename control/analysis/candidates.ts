/**
 * Candidate values for each dimension of the request space (space.ts), built from the literals
 * its matchers name (fragments.ts): enough values that every combination of outcomes any value
 * can produce is produced by one of them. The order matters: a class keeps the first candidate
 * that showed it, and that is what a counterexample shows, so readable values come first.
 */
import { claimSegments } from '../../contracts/claim-path.js';
import { METHOD_BITS, METHOD_TOKEN } from '../../contracts/methods.js';
import { normalizePath, type PathParameters } from '../../contracts/request-path.js';
import { trustDomainOf } from '../../contracts/spiffe.js';
import { matchAny } from '../../contracts/string-match.js';
import { type StringMatch, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { AnalysisLimit } from './dimension.js';
import { Fragments, freshChar, textCandidates } from './fragments.js';

export type Claims = Record<string, unknown>;
export type Lines = string[] | undefined;

/** How many candidates one dimension may try: past it the question is refused, not approximated. */
export const CANDIDATE_LIMIT = 50_000;

const COMMON_PORTS = [8080, 443, 80, 8443, 9090, 15000];

/**
 * Identities: those named, then spiffe://T/ns/N/sa/S for every outcome of each part over the
 * literals that speak of it (trust domains, namespaces, accounts, each cut like any string),
 * the shapes Istio's patterns admit beyond that, no identity at all, and plain strings.
 */
export function* peerCandidates(f: Fragments): Iterable<string | undefined> {
  const fresh = freshChar(f);
  yield* f.exact;
  const tds = new Fragments();
  const nss = new Fragments();
  const sas = new Fragments();
  // An exact identity is a candidate of its own; only its trust domain joins the others' parts
  // (its namespace and account would multiply the candidates by the registry's size).
  for (const v of f.exact) {
    const td = trustDomainOf(v);
    if (td) tds.exact.add(td);
  }
  for (const v of f.prefix) {
    // A prefix ends in the trust domain, the namespace or the account: that part is a prefix of its own.
    const m = /^spiffe:\/\/([^/]+)(\/(?:ns\/([^/]*)(\/(?:sa\/([^/]*))?)?)?)?/.exec(v);
    if (!m?.[1]) continue;
    (m[2] === undefined ? tds.prefix : tds.exact).add(m[1]);
    if (m[3] !== undefined) (m[4] === undefined ? nss.prefix : nss.exact).add(m[3]);
    if (m[5] !== undefined) sas.prefix.add(m[5]);
  }
  for (const v of f.suffix) {
    const m = /\/sa\/([^/]+)$/.exec(v);
    if (m?.[1]) sas.exact.add(m[1]);
    else if (!v.includes('/')) sas.suffix.add(v);
  }
  for (const t of f.trustDomains) {
    if (t.endsWith('*')) tds.prefix.add(t.slice(0, -1));
    else if (t.startsWith('*')) tds.suffix.add(t.slice(1));
    else tds.exact.add(t);
  }
  for (const c of f.contains) {
    const m = /^\/ns\/([^/]+)\/$/.exec(c);
    if (m?.[1]) nss.exact.add(m[1]);
  }
  for (const p of f.namespacePatterns) {
    const parts = p.split('*');
    nss.exact.add(parts.join(fresh));
    if (parts.length === 2) {
      if (parts[0]) nss.prefix.add(parts[0]);
      if (parts[1]) nss.suffix.add(parts[1]);
    }
  }
  for (const sa of f.serviceAccounts) {
    const [ns, name] = sa.split('/');
    if (ns) nss.exact.add(ns);
    if (name) sas.exact.add(name);
  }
  const part = (x: Fragments) => textCandidates(x, fresh).filter((v) => v !== '' && !v.includes('/'));
  const [domains, namespaces, accounts] = [part(tds), part(nss), part(sas)];
  if (domains.length * namespaces.length * accounts.length > CANDIDATE_LIMIT)
    throw new AnalysisLimit(`peer: ${domains.length} trust domains × ${namespaces.length} namespaces × ${accounts.length} accounts`);
  for (const t of domains) for (const ns of namespaces) for (const sa of accounts) yield `spiffe://${t}/ns/${ns}/sa/${sa}`;
  for (const sa of f.serviceAccounts) {
    // Istio's account pattern also admits segments between the namespace and sa/, and below the account.
    const [ns, name] = sa.split('/');
    for (const t of domains) {
      yield `spiffe://${t}/ns/${ns}/${fresh}/sa/${name}`;
      yield `spiffe://${t}/ns/${ns}/sa/${name}/${fresh}`;
    }
  }
  // Below an exact identity: what a segment prefix of it matches and the identity itself does not.
  for (const e of f.exact) yield `${e}/${fresh}`;
  yield undefined;
  // A peer certificate without a URI SAN is no identity at all (undefined), never "".
  for (const v of textCandidates(f, fresh)) if (v !== '') yield v;
}

export function* methodCandidates(f: Fragments): Iterable<string> {
  yield* Object.keys(METHOD_BITS);
  const fresh = freshChar(f);
  yield `${fresh.toUpperCase()}METHOD`;
  for (const m of textCandidates(f, fresh)) if (METHOD_TOKEN.test(m)) yield m;
}

export function* pathCandidates(paths: Fragments, params: PathParameters): Iterable<string> {
  const f = paths.copy();
  f.prefix.add('/');
  const literals = [...f.literals()];
  for (const p of textCandidates(f, freshChar(f))) {
    if (!p.startsWith('/')) continue;
    const n = normalizePath(p, params);
    if (!n.ok || n.path !== p) continue;
    yield p;
    // Another case of a normal path is normal, unless an escape's hex digits change case.
    if (f.ignoreCase)
      for (const v of caseVariants(p, literals)) {
        if (v === p) continue;
        if (!v.includes('%')) yield v;
        else {
          const m = normalizePath(v, params);
          if (m.ok && m.path === v) yield v;
        }
      }
  }
}

/** Hosts (as rules name them), with every port an authority matcher names and without one, and the authority matchers' own forms. */
export function* authorityCandidates(hostLiterals: Fragments, authorityLiterals: Fragments): Iterable<string> {
  const [hosts, authorities] = [hostLiterals.copy(), authorityLiterals.copy()];
  const ports = new Set<string>([String(COMMON_PORTS[0])]);
  for (const a of authorities.exact) {
    const colon = a.lastIndexOf(':');
    if (colon > 0 && !a.endsWith(']')) {
      hosts.exact.add(a.slice(0, colon));
      ports.add(a.slice(colon + 1));
    } else hosts.exact.add(a);
  }
  // The authority's own literals, read as host and port (a host is an authority without its port).
  for (const q of authorities.suffix) {
    if (/^:[0-9]+$/.test(q)) ports.add(q.slice(1));
    else if (!q.includes(':')) hosts.suffix.add(q);
  }
  for (const p of authorities.prefix) {
    const colon = p.lastIndexOf(':');
    if (colon < 0) hosts.prefix.add(p);
    else hosts.exact.add(p.slice(0, colon));
  }
  for (const c of authorities.contains) hosts.contains.add(c);
  const names = textCandidates(hosts, freshChar(hosts));
  for (const h of names) {
    yield h;
    for (const p of ports) yield `${h}:${p}`;
  }
  for (const h of names.slice(0, 64)) authorities.exact.add(h);
  yield* textCandidates(authorities, freshChar(authorities));
}

export function* portCandidates(ports: ReadonlySet<number>, f: Fragments): Iterable<number> {
  const fresh = COMMON_PORTS.find((p) => !ports.has(p)) ?? 1;
  yield fresh;
  yield* ports;
  // A digit as the fresh character: only candidates that are numbers can be ports.
  for (const s of textCandidates(f, '7')) {
    const n = Number(s);
    if (/^[0-9]{1,5}$/.test(s) && n >= 1 && n <= 65535) yield n;
  }
}

/** No token; then tokens with each request principal and each combination of claim values. */
export function* tokenCandidates(
  requestPrincipals: Fragments,
  claimFragments: ReadonlyMap<string, Fragments>,
): Iterable<Claims | undefined> {
  yield undefined;
  const principals: (readonly [string, string] | undefined)[] = [undefined];
  for (const r of textCandidates(requestPrincipals, freshChar(requestPrincipals))) {
    const slash = r.lastIndexOf('/');
    if (slash >= 0) principals.push([r.slice(0, slash), r.slice(slash + 1)]);
  }
  const keys = [...claimFragments.keys()].sort();
  const perKey = keys.map((k) => claimCandidates(claimFragments.get(k) as Fragments));
  let count = principals.length;
  for (const c of perKey) count *= c.length;
  if (count > CANDIDATE_LIMIT) throw new AnalysisLimit(`token: ${count} combinations of claim values (at most ${CANDIDATE_LIMIT})`);
  const choice = keys.map(() => 0);
  for (const rp of principals) {
    choice.fill(0);
    for (;;) {
      const claims: Claims = rp ? { iss: rp[0], sub: rp[1] } : {};
      keys.forEach((k, i) => {
        const v = perKey[i]?.[choice[i] as number];
        if (v !== undefined) setClaim(claims, k, v);
      });
      yield claims;
      // The next combination, as an odometer: the first key that does not wrap around stops it.
      let i = 0;
      for (; i < keys.length; i++) {
        const next = ((choice[i] as number) + 1) % (perKey[i] as unknown[]).length;
        choice[i] = next;
        if (next !== 0) break;
      }
      if (i === keys.length) break;
    }
  }
}

/**
 * A path in other cases: rules that ignore case see its lower-case form, the others see it as
 * sent, so a class may need a path that is upper case in some places only: each segment alone,
 * and each side of where a literal the path starts or ends with stops (a case-sensitive prefix
 * kept, a longer one broken).
 */
function caseVariants(p: string, literals: readonly string[]): string[] {
  const out = new Set<string>([p, p.toUpperCase()]);
  const segments = p.split('/');
  for (let i = 1; i < segments.length; i++) out.add(segments.map((s, j) => (j === i ? s.toUpperCase() : s)).join('/'));
  const lower = p.toLowerCase();
  for (const l of literals) {
    const ll = l.toLowerCase();
    const bounds = [lower.startsWith(ll) ? l.length : -1, lower.endsWith(ll) ? p.length - l.length : -1];
    for (const k of bounds) {
      if (k <= 0 || k >= p.length) continue;
      out.add(p.slice(0, k) + p.slice(k).toUpperCase());
      out.add(p.slice(0, k).toUpperCase() + p.slice(k));
    }
  }
  return [...out];
}

/**
 * A header absent, sent once with each candidate, and sent two and three times. A condition
 * reads the joined field (its first and last element decide a prefix and a suffix, an exact
 * value needs one line) and each element, so values that every matcher of the header treats
 * alike are interchangeable in a list: lists are made of one value of each such kind.
 */
export function* lineCandidates(f: Fragments, matchers: readonly (readonly StringMatch[])[]): Iterable<Lines> {
  yield undefined;
  const values = textCandidates(f, freshChar(f)).filter((v) => !v.includes(','));
  for (const v of values) yield [v];
  const kinds = new Map<string, string>();
  for (const v of values) {
    const key = matchers.map((ms) => (matchAny(ms, v) ? '1' : '0')).join('');
    if (!kinds.has(key)) kinds.set(key, v);
  }
  const few = [...kinds.values()].slice(0, 12);
  const plain = matchers.every((ms) => ms.every((m) => m.kind === StringMatch_Kind.KIND_EXACT || m.kind === StringMatch_Kind.KIND_PRESENT));
  if (plain && few.length <= 8) {
    // Exact and presence tests never match a joined field of several lines (an operand has no
    // comma), so only which kinds of element are sent matters: every set of two or more.
    for (let mask = 1; mask < 1 << few.length; mask++) {
      const set = few.filter((_, i) => (mask >> i) & 1);
      if (set.length >= 2) yield set;
    }
    return;
  }
  for (const a of few) for (const b of few) if (a !== b) yield [a, b];
  for (const a of few) for (const b of few) for (const c of few) if (a !== b && b !== c) yield [a, b, c];
}

/** A claim absent, each candidate string, and lists of one and of two of them. */
function claimCandidates(f: Fragments): unknown[] {
  const values = textCandidates(f, freshChar(f));
  const out: unknown[] = [undefined, ...values];
  for (const [i, a] of values.entries()) {
    out.push([a]);
    for (const b of values.slice(i + 1)) out.push([a, b]);
  }
  return out;
}

function setClaim(claims: Claims, key: string, value: unknown): void {
  const segs = claimSegments(key);
  let at: Claims = claims;
  for (const s of segs.slice(0, -1)) {
    const next = at[s];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) at[s] = {};
    at = at[s] as Claims;
  }
  at[segs[segs.length - 1] as string] = value;
}
