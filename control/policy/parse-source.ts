/**
 * Who a rule or a perimeter names: `from:` sources (identities, workloads, labels,
 * unauthenticated callers), selectors, and `setBy:`, the callers trusted to set a header.
 */
import { type Result, reasonOf } from '../../contracts/problem.js';
import { parseIdentityPattern, parseSpiffeId } from '../../contracts/spiffe.js';
import { matchItems } from './match-items.js';
import { emptySource, type Selector, type Source, type StringMatch } from './model.js';
import { istioMatch, parseNamespacePattern, parseServiceAccountPattern, parseTrustDomainPattern } from './patterns.js';
import type { Cursor } from './yaml-cursor.js';

export function parseLabelSelectors(c: Cursor): Record<string, string>[] {
  const one = (m: Cursor): Record<string, string> | undefined => {
    const out: Record<string, string> = {};
    for (const [k, v] of m.entries()) {
      const s = v.string();
      if (s !== undefined) out[k] = s;
    }
    if (Object.keys(out).length === 0) {
      m.error('an empty label selector would select nothing', 'give at least one label, e.g. {app: web}');
      return undefined;
    }
    return out;
  };
  const list = c.isList() ? c.items() : [c];
  const out: Record<string, string>[] = [];
  for (const m of list) {
    const sel = one(m);
    if (!sel) continue;
    m.refer({ kind: 'labels', labels: sel });
    out.push(sel);
  }
  return out;
}

function referWorkloads(c: Cursor | undefined): string[] {
  const names = c?.strings() ?? [];
  for (const [i, workload] of names.entries()) c?.items()[i]?.refer({ kind: 'workload', workload });
  return names;
}

export function parseSelector(c: Cursor): Selector | undefined {
  const f = c.fields(['workloads', 'identities', 'labels', 'namespace', 'all']);
  if (!f) return undefined;
  // `namespace` narrows the rest to one namespace; `all: true` is every workload (of it).
  const namespace = f.get('namespace')?.string();
  const all = f.get('all')?.bool();
  const idsC = f.get('identities');
  const identities = idsC?.strings() ?? [];
  for (const [i, id] of identities.entries()) {
    const at = idsC?.items()[i] as Cursor;
    const parsed = parseSpiffeId(id);
    if (!parsed.ok) at.error(`malformed SPIFFE ID "${id}": ${reasonOf(parsed)}`);
    else at.refer({ kind: 'identity', identity: id });
  }
  const sel: Selector = {
    workloads: referWorkloads(f.get('workloads')),
    identities,
    labels: f.get('labels') ? parseLabelSelectors(f.get('labels') as Cursor) : [],
  };
  if (namespace !== undefined) sel.namespace = namespace;
  if (all) sel.all = true;
  if (sel.workloads.length + sel.identities.length + sel.labels.length === 0 && !all) {
    c.error('the selector selects nothing', 'name workloads, identities or labels (or all: true)');
  }
  return sel;
}

export function parseSetBy(c: Cursor): Source | undefined {
  const f = c.fields(['identities', 'workloads', 'labels']);
  if (!f) return undefined;
  const sources = parseFrom(c);
  const s = sources.find((x) => x.peer === 'authenticated');
  if (!s) return undefined;
  if (s.principals.some((p) => p.kind === 'present')) {
    f.get('identities')?.error('setBy "*" trusts every caller', 'name the identities that set the header');
    return undefined;
  }
  return s;
}

const FROM_FIELDS = [
  'identities',
  'workloads',
  'labels',
  'unauthenticated',
  'peer',
  'notIdentities',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
  'requestPrincipals',
  'notRequestPrincipals',
];
const IDENTITY_OBJECTS = ['exact', 'prefix', 'suffix', 'contains', 'present', 'serviceAccount', 'trustDomain'] as const;

/** A native identity pattern: exact, `spiffe://…/*` (it and everything below it) or `*`. */
export function identity(text: string, at: Cursor): StringMatch | undefined {
  const parsed = parseIdentityPattern(text);
  if (!parsed.ok) {
    at.error(
      `malformed identity "${text}": ${reasonOf(parsed)}`,
      'exact: spiffe://td/ns/x/sa/y; below a segment: spiffe://td/ns/x/*; any authenticated: "*"',
    );
    return undefined;
  }
  const p = parsed.value;
  if (p.kind === 'any') return { kind: 'present', value: '' };
  if (p.kind === 'exact') return { kind: 'exact', value: p.id };
  return { kind: 'segment-prefix', value: p.base };
}

/** One of the shared pure forms (patterns.ts), its problem reported at the item. */
const reported =
  (parse: (text: string) => Result<StringMatch>) =>
  (text: string, at: Cursor): StringMatch | undefined => {
    const r = parse(text);
    if (r.ok) return r.value;
    at.error(r.problems[0]?.message ?? '', r.problems[0]?.hint);
    return undefined;
  };
const namespace = reported(parseNamespacePattern);
const serviceAccount = reported(parseServiceAccountPattern);
const trustDomain = reported(parseTrustDomainPattern);
/** `<iss>/<sub>` of the verified token, with Istio's `*` forms. */
const requestPrincipal = (text: string): StringMatch => istioMatch(text);

/**
 * Native `from` → sources. A mapping (or each mapping of a list, OR) names callers: identities,
 * workloads and labels make one source for authenticated peers, `unauthenticated: true` another;
 * the Istio-style fields (notIdentities, namespaces, serviceAccounts, trustDomains,
 * requestPrincipals and their not-forms) narrow it. `peer: any | authenticated |
 * unauthenticated` makes the mapping one source for exactly those peers: `peer: any` with only
 * negative fields also matches requests without a certificate, as Istio's sources do.
 */
export function parseFrom(c: Cursor): Source[] {
  if (c.isList()) {
    if (c.items().length === 0) c.error('from names no caller', 'give identities, workloads, labels or unauthenticated: true');
    return c.items().flatMap(parseFromItem);
  }
  return parseFromItem(c);
}

function parseFromItem(c: Cursor): Source[] {
  const f = c.fields(FROM_FIELDS);
  if (!f) return [];
  const principals = matchItems(f.get('identities'), IDENTITY_OBJECTS, identity);
  const workloads = referWorkloads(f.get('workloads'));
  const labels = f.get('labels') ? parseLabelSelectors(f.get('labels') as Cursor) : [];
  const accounts = matchItems(f.get('serviceAccounts'), ['serviceAccount'], serviceAccount);
  const narrowing = {
    notPrincipals: [
      ...matchItems(f.get('notIdentities'), IDENTITY_OBJECTS, identity),
      ...matchItems(f.get('notServiceAccounts'), ['serviceAccount'], serviceAccount),
    ],
    namespaces: matchItems(f.get('namespaces'), ['contains', 'present', 'namespace'], namespace),
    notNamespaces: matchItems(f.get('notNamespaces'), ['contains', 'present', 'namespace'], namespace),
    trustDomains: matchItems(f.get('trustDomains'), ['trustDomain', 'prefix'], trustDomain),
    notTrustDomains: matchItems(f.get('notTrustDomains'), ['trustDomain', 'prefix'], trustDomain),
  };
  const tokens = {
    requestPrincipals: matchItems(f.get('requestPrincipals'), IDENTITY_OBJECTS, requestPrincipal),
    notRequestPrincipals: matchItems(f.get('notRequestPrincipals'), IDENTITY_OBJECTS, requestPrincipal),
  };
  if (accounts.length && (f.has('identities') || f.has('namespaces') || f.has('notIdentities') || f.has('notNamespaces')))
    f.get('serviceAccounts')?.error('serviceAccounts name callers by themselves', 'give them a mapping of their own in a from list');
  principals.push(...accounts);
  const peerC = f.get('peer');
  const unauthC = f.get('unauthenticated');
  const positive = principals.length + workloads.length + labels.length + narrowing.namespaces.length + narrowing.trustDomains.length > 0;
  if (peerC) {
    const peer = peerC.oneOf(['any', 'authenticated', 'unauthenticated'] as const);
    if (unauthC) unauthC.error('peer says who already', 'write peer: any for every caller, with or without a certificate');
    if (peer === 'unauthenticated' && positive) peerC.error('an unauthenticated caller has no identity to match');
    if (!peer) return [];
    return [{ ...emptySource(peer), principals, workloads, labels, ...narrowing, ...tokens }];
  }
  const sources: Source[] = [];
  const named = f.has('identities') || f.has('workloads') || f.has('labels') || f.has('serviceAccounts');
  if (positive) sources.push({ ...emptySource('authenticated'), principals, workloads, labels, ...narrowing, ...tokens });
  else if (!named && Object.values({ ...narrowing, ...tokens }).some((l) => l.length > 0))
    c.error('say which peers these fields narrow', 'peer: any (also callers without a certificate) or peer: authenticated');
  const unauth = unauthC?.bool();
  if (unauth) sources.push({ ...emptySource('unauthenticated'), ...tokens });
  if (sources.length === 0 && !named && unauthC === undefined && !Object.values({ ...narrowing, ...tokens }).some((l) => l.length > 0)) {
    c.error('from names no caller', 'give identities, workloads, labels or unauthenticated: true');
  }
  return sources;
}

/**
 * `pathCase` says whether a path pattern matches without regard to case. An application that
 * serves `/Admin/x` as `/admin/x` (Windows, many Java and .NET stacks) must not slip past a deny,
 * so a deny or audit rule matches paths in any case unless told `sensitive`; an allow rule matches
 * them exactly as written unless told `insensitive` (it never admits more than it names).
 */
