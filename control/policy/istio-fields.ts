/**
 * The fields of one Istio rule (`from[].source`, `to[].operation`, `when[]`) into the model, with
 * istiod's semantics and its validation (pkg/config/validation, pkg/config/security). A field
 * Perimeter cannot honour is returned by name, never read: the rule decides what dropping it
 * means (istio.ts).
 */
import { claimKey, claimPathProblem } from '../../contracts/claim-path.js';
import { headerOperandProblem } from '../../contracts/header-value.js';
import { isStandardMethod, METHOD_TOKEN } from '../../contracts/methods.js';
import { isIstioTemplate, templateFromIstio } from '../../contracts/path-template.js';
import { hasControl } from '../../contracts/text.js';
import { type Condition, emptyOperation, emptySource, type Operation, type Rule, type Source, type StringMatch } from './model.js';
import { istioMatch, parseServiceAccountPattern, parseTrustDomainPattern } from './patterns.js';
import type { Cursor } from './yaml-cursor.js';

/** Addresses: Perimeter decides on identities, so these are never read. */
export const ADDRESS_FIELDS = ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'];
const SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
];
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'];

/** What a field we do not read stands for, when a rule must refuse or drop it. */
export interface Unsupported {
  at: Cursor;
  field: string;
  why: string;
}

export const spiffe = (s: string) => `spiffe://${s}`;

/** Each value read, or an error at its item (Istio refuses empty values everywhere). */
function values(c: Cursor | undefined, read: (s: string, at: Cursor) => StringMatch | undefined): StringMatch[] {
  const out: StringMatch[] = [];
  const items = c?.items() ?? [];
  for (const [i, s] of (c?.strings() ?? []).entries()) {
    const at = items[i] as Cursor;
    if (s === '') at.error('an empty value', 'Istio refuses empty values too; remove it');
    else if (hasControl(s)) at.error('a control character in a value', 'no identity, path or header value holds one');
    else {
      const m = read(s, at);
      if (m) out.push(m);
    }
  }
  return out;
}

const principal = (s: string) => istioMatch(s, spiffe);

/** istiod reads any namespace text: `*` any identity, a `*` in it any characters (.*\/ns/<a>.*<b>/.*). */
function namespace(s: string): StringMatch {
  if (s === '*') return { kind: 'present', value: '' };
  if (s.includes('*')) return { kind: 'namespace-pattern', value: s };
  return { kind: 'contains', value: `/ns/${s}/` };
}

/** `<ns>/<sa>` or `<sa>` (the policy's namespace), as Istio validates it. */
function serviceAccount(policyNamespace: string) {
  return (s: string, at: Cursor): StringMatch | undefined => {
    const account = parseServiceAccountPattern(s.includes('/') ? s : `${policyNamespace}/${s}`);
    if (account.ok && s.length <= 320) return account.value;
    at.error(`"${s}" is not a service account`, 'write <namespace>/<serviceaccount> or <serviceaccount>, without wildcards');
    return undefined;
  };
}

function trustDomain(s: string, at: Cursor): StringMatch | undefined {
  const r = parseTrustDomainPattern(s);
  if (r.ok) return r.value;
  at.error(r.problems[0]?.message ?? '', r.problems[0]?.hint);
  return undefined;
}

export function parseSource(c: Cursor, policyNamespace: string): { source: Source; unsupported: Unsupported[] } {
  const src = emptySource('any');
  const f = c.fields([...SOURCE_FIELDS, ...ADDRESS_FIELDS]);
  if (!f) return { source: src, unsupported: [] };
  const unsupported = ADDRESS_FIELDS.filter((k) => f.has(k)).map((k) => ({
    at: f.get(k) as Cursor,
    field: k,
    why: 'perimeter decides on identities, never on addresses',
  }));
  const sa = serviceAccount(policyNamespace);
  src.principals = values(f.get('principals'), principal);
  src.notPrincipals = values(f.get('notPrincipals'), principal);
  src.namespaces = values(f.get('namespaces'), namespace);
  src.notNamespaces = values(f.get('notNamespaces'), namespace);
  src.requestPrincipals = values(f.get('requestPrincipals'), (s) => istioMatch(s));
  src.notRequestPrincipals = values(f.get('notRequestPrincipals'), (s) => istioMatch(s));
  src.trustDomains = values(f.get('trustDomains'), trustDomain);
  src.notTrustDomains = values(f.get('notTrustDomains'), trustDomain);
  const accounts = f.get('serviceAccounts');
  const notAccounts = f.get('notServiceAccounts');
  if (accounts || notAccounts) {
    if (['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].some((k) => f.has(k)))
      (accounts ?? notAccounts)?.error('cannot set serviceAccounts with namespaces or principals', 'Istio refuses it too');
    for (const a of [accounts, notAccounts])
      if ((a?.items().length ?? 0) > 16) a?.error('more than 16 service accounts', 'Istio allows at most 16');
    // A service account is matched against the peer identity, as principals are (never beside them).
    src.principals.push(...values(accounts, sa));
    src.notPrincipals.push(...values(notAccounts, sa));
  }
  // A positive identity field needs a peer certificate; negative ones do not (Istio: notPrincipals
  // also matches plaintext requests, which have no principal to exclude).
  if (src.principals.length + src.namespaces.length + src.trustDomains.length > 0) src.peer = 'authenticated';
  return { source: src, unsupported };
}

/** Any method string Istio accepts: tokens are matched exactly as sent (case-sensitive), with Istio's `*` forms. */
function method(s: string, at: Cursor): StringMatch {
  const literal = s.replace(/^\*|\*$/g, '');
  if (s !== '*' && !METHOD_TOKEN.test(literal))
    at.warn(`"${s}" is not an HTTP method token, so it matches no request`, 'methods are tokens such as GET or PROPFIND');
  else if (literal !== literal.toUpperCase() && isStandardMethod(literal.toUpperCase()))
    at.warn(
      `"${s}" is not ${literal.toUpperCase()}: methods are case-sensitive, so it matches no ${literal.toUpperCase()} request`,
      `write ${s.toUpperCase()}`,
    );
  return istioMatch(s);
}

function path(s: string, at: Cursor): StringMatch | undefined {
  if (isIstioTemplate(s)) {
    const t = templateFromIstio(s);
    if (t.ok) return { kind: 'template', value: t.value };
    at.error(`cannot honour path template "${s}": ${t.problems[0]?.message}`, t.problems[0]?.hint);
    return undefined;
  }
  if (s.includes('{') || s.includes('}')) {
    at.error(`"${s}" has "{" or "}" beyond the templates {*} and {**}`, 'Istio refuses it too');
    return undefined;
  }
  return istioMatch(s);
}

function ports(c: Cursor | undefined): number[] {
  const out: number[] = [];
  for (const pc of c?.items() ?? []) {
    const n = pc.integer(1, 65535);
    if (n !== undefined) out.push(n);
  }
  return out;
}

export function parseOperation(c: Cursor): Operation {
  const op = emptyOperation();
  const f = c.fields(OPERATION_FIELDS);
  if (!f) return op;
  op.methods = values(f.get('methods'), method);
  op.notMethods = values(f.get('notMethods'), method);
  op.paths = values(f.get('paths'), path);
  op.notPaths = values(f.get('notPaths'), path);
  // istiod matches hosts on the :authority header itself, case-insensitively: a port the client
  // sent is part of it ("example.com" does not match "example.com:8080"; "example.com:*" does).
  op.authorities = values(f.get('hosts'), (h) => istioMatch(h.toLowerCase()));
  op.notAuthorities = values(f.get('notHosts'), (h) => istioMatch(h.toLowerCase()));
  op.ports = ports(f.get('ports'));
  op.notPorts = ports(f.get('notPorts'));
  return op;
}

const WHEN_KEY = /^(request\.headers)\[([^\]]+)\]$/;
/** `request.auth.claims[a]`, or nested: `request.auth.claims[a][b]` (Istio's metadata path into the token). */
const CLAIM_KEY = /^request\.auth\.claims((?:\[[^\]]*\])+)$/;
/** `when` keys that name addresses or what Envoy alone sees: refused, or dropped with the rule. */
const UNSUPPORTED_KEYS: Record<string, string> = {
  'source.ip': 'perimeter decides on identities, never on addresses',
  'remote.ip': 'perimeter decides on identities, never on addresses',
  'destination.ip': 'perimeter decides on identities, never on addresses',
  'connection.sni': 'the filter decides on the HTTP request, not the TLS handshake',
  'request.auth.principal': 'write it as requestPrincipals in from',
};

/** One `when` condition into the rule, or what it names that we cannot honour. */
export function parseWhen(c: Cursor, rule: Rule, policyNamespace: string): Unsupported | undefined {
  const f = c.fields(['key', 'values', 'notValues']);
  if (!f) return undefined;
  const keyC = f.get('key');
  const key = keyC?.string();
  if (key === undefined) {
    c.error('key is required');
    return undefined;
  }
  if (UNSUPPORTED_KEYS[key] || key.startsWith('experimental.envoy.filters.'))
    return { at: keyC as Cursor, field: `when ${key}`, why: UNSUPPORTED_KEYS[key] ?? 'Envoy dynamic metadata is not read by the filter' };
  const valuesC = f.get('values');
  const notC = f.get('notValues');
  if ((valuesC?.items().length ?? 0) + (notC?.items().length ?? 0) === 0) {
    c.error('a condition needs values or notValues');
    return undefined;
  }
  const add = (attribute: Condition['attribute'], k: string, read: (s: string, at: Cursor) => StringMatch | undefined) =>
    rule.when.push({ attribute, key: k, values: values(valuesC, read), notValues: values(notC, read) });
  const m = WHEN_KEY.exec(key);
  const claim = CLAIM_KEY.exec(key);
  if (claim) {
    const segments = [...(claim[1] as string).matchAll(/\[([^\]]*)\]/g)].map((x) => x[1] as string);
    const problem = claimPathProblem(segments);
    if (problem) {
      keyC?.error(`cannot honour claim ${key}: ${problem}`);
      return undefined;
    }
    add('claim', claimKey(segments), (s) => istioMatch(s));
  } else if (m && m[1] === 'request.headers') {
    const bad = [...(valuesC?.strings() ?? []), ...(notC?.strings() ?? [])]
      .map((v) => [v, headerOperandProblem(v.replace(/^\*|\*$/g, ''))] as const)
      .find(([, p]) => p);
    if (bad) {
      keyC?.error(
        `cannot honour header value "${bad[0]}": ${bad[1]}`,
        'a header sent as "a, b" is tested as "a, b", "a" and "b" (docs/semantics.md)',
      );
      return undefined;
    }
    if (rule.action === 'allow' && (valuesC?.items().length ?? 0) > 0)
      c.warn(
        `this ALLOW trusts header ${m[2]}, which any caller it admits can set to anything`,
        'take it from a verified token (request.auth.claims[...]) instead',
      );
    add('header', (m[2] as string).toLowerCase(), (s) => istioMatch(s));
  } else if (key === 'request.auth.audiences' || key === 'request.auth.presenter') {
    // istiod reads these as the token's aud and azp claims.
    add('claim', key === 'request.auth.audiences' ? 'aud' : 'azp', (s) => istioMatch(s));
  } else if (key === 'source.principal') add('principal', '', principal);
  else if (key === 'source.namespace') add('principal', '', namespace);
  else if (key === 'source.serviceAccount') add('principal', '', serviceAccount(policyNamespace));
  else if (key === 'source.trustDomain') add('principal', '', trustDomain);
  else if (key === 'destination.port') {
    const bad = [...(valuesC?.strings() ?? []), ...(notC?.strings() ?? [])].find((s) => !/^\d+$/.test(s) || Number(s) > 65535);
    if (bad !== undefined) {
      keyC?.error(`destination.port value "${bad}" is not a port number`);
      return undefined;
    }
    add('port', '', (s) => ({ kind: 'exact', value: String(Number(s)) }));
  } else {
    keyC?.error(
      `unknown condition key "${key}"`,
      'Istio reads request.headers[...], request.auth.claims[...], source.principal, source.namespace, source.serviceAccount, source.trustDomain, destination.port and more',
    );
  }
  return undefined;
}
