/**
 * Istio `AuthorizationPolicy` (security.istio.io/v1 and v1beta1) into the same model, with
 * Istio's semantics: rules OR, sources/operations OR, fields AND, values OR; principals get
 * `spiffe://`; exact / `prefix*` / `*suffix` / `*` forms; DENY before ALLOW; a workload with
 * no ALLOW policy allows (the compiler adds that default); `spec: {}` allows nothing;
 * `rules: [{}]` allows everything; `istio.io/dry-run` becomes simulate mode. A field we
 * cannot honour is an error that names it: nothing is silently dropped.
 */
import { headerOperandProblem } from '../../contracts/header-value.js';
import {
  emptyOperation,
  emptySource,
  HTTP_METHODS,
  type Operation,
  type Perimeter,
  type Rule,
  type Selector,
  type Source,
  type StringMatch,
} from './model.js';
import { NAME } from './names.js';
import type { Cursor } from './yaml-cursor.js';
import { location } from './yaml-cursor.js';

/** Policies here apply mesh-wide (Istio's default root namespace). */
export const ISTIO_ROOT_NAMESPACE = 'istio-system';

const UNSUPPORTED_SOURCE: Record<string, string> = {
  ipBlocks: 'perimeter decides on identities, never on addresses',
  notIpBlocks: 'perimeter decides on identities, never on addresses',
  remoteIpBlocks: 'perimeter decides on identities, never on addresses',
  notRemoteIpBlocks: 'perimeter decides on identities, never on addresses',
  serviceAccounts: 'rewrite as principals: ["<trust-domain>/ns/<ns>/sa/<sa>"]',
  notServiceAccounts: 'rewrite as notPrincipals',
  trustDomains: 'rewrite as principals: ["<trust-domain>/*"]',
  notTrustDomains: 'rewrite as notPrincipals: ["<trust-domain>/*"]',
};
const SOURCE_FIELDS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces'];
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'];

export function parseIstioPolicy(root: Cursor, meta: Cursor | undefined, spec: Cursor): Perimeter | undefined {
  const mf = meta?.fields(['name', 'namespace', 'annotations', 'labels', 'uid', 'resourceVersion', 'generation', 'creationTimestamp']);
  const name = mf?.get('name')?.string();
  if (!name) {
    (meta ?? root).error('metadata.name is required');
    return undefined;
  }
  const namespace = mf?.get('namespace')?.string() ?? 'default';
  const pname = `${namespace}.${name}`;
  root.ctx.resource = `AuthorizationPolicy/${pname}`;
  if (!NAME.test(pname)) (meta ?? root).error(`"${pname}" does not make a valid perimeter name`, 'use lower-case names');
  const annotations = new Map((mf?.get('annotations')?.entries() ?? []).map(([k, v]) => [k, v]));
  const dryRun = annotations.get('istio.io/dry-run')?.string() === 'true';
  const owner = annotations.get('perimeter.dev/owner')?.string() ?? `istio:${namespace}`;

  const f = spec.present ? spec.fields(['selector', 'action', 'rules', 'provider', 'targetRef', 'targetRefs']) : new Map<string, Cursor>();
  if (!f) return undefined;
  for (const k of ['provider', 'targetRef', 'targetRefs']) {
    f.get(k)?.error(
      `cannot honour ${k}`,
      k === 'provider' ? 'CUSTOM providers (ext_authz) are not supported' : 'perimeter selects sidecar workloads, not gateways',
    );
  }
  const actionC = f.get('action');
  const action = actionC ? actionC.oneOf(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const) : 'ALLOW';
  if (action === 'CUSTOM') {
    actionC?.error('cannot honour action CUSTOM', 'CUSTOM delegates to an external authorizer; write the policy as ALLOW/DENY rules');
    return undefined;
  }
  if (!action) return undefined;

  const selector: Selector = { workloads: [], identities: [], labels: [] };
  if (namespace !== ISTIO_ROOT_NAMESPACE) selector.namespace = namespace;
  const selC = f.get('selector');
  const sf = selC?.fields(['matchLabels']);
  const labels: Record<string, string> = {};
  for (const [k, v] of sf?.get('matchLabels')?.entries() ?? []) {
    const s = v.string();
    if (s !== undefined) labels[k] = s;
  }
  if (Object.keys(labels).length > 0) {
    selector.labels.push(labels);
    sf?.get('matchLabels')?.refer({ kind: 'labels', labels });
  } else selector.all = true;

  const rulesC = f.get('rules');
  const items = rulesC?.items() ?? [];
  if ((action === 'DENY' || action === 'AUDIT') && items.length === 0) {
    (rulesC ?? spec).error(`a ${action} policy without rules is meaningless`, 'Istio rejects it too; add rules or remove the policy');
  }
  const rules: Rule[] = [];
  for (const [i, rc] of items.entries()) {
    const rule = parseIstioRule(rc, i, action === 'ALLOW' ? 'allow' : action === 'DENY' ? 'deny' : 'audit');
    if (rule) rules.push(rule);
  }
  return {
    name: pname,
    owner,
    mode: dryRun ? 'simulate' : 'enforce',
    selector,
    rules,
    origin: 'istio',
    istioAction: action,
    crownJewel: false,
    location: location(meta ?? root),
  };
}

function parseIstioRule(c: Cursor, index: number, action: Rule['action']): Rule | undefined {
  const f = c.present ? c.fields(['from', 'to', 'when']) : new Map<string, Cursor>();
  if (!f) return undefined;
  const from: Source[] = [];
  for (const fc of f.get('from')?.items() ?? []) {
    const src = fc.fields(['source'])?.get('source');
    if (src) from.push(parseSource(src));
  }
  const to: Operation[] = [];
  for (const tc of f.get('to')?.items() ?? []) {
    const op = tc.fields(['operation'])?.get('operation');
    if (op) to.push(parseOperation(op));
  }
  const rule: Rule = { name: `rule-${index}`, action, from, to, when: [], location: location(c) };
  for (const wc of f.get('when')?.items() ?? []) parseWhen(wc, rule);
  return rule;
}

/** Istio string forms: exact, `prefix*`, `*suffix`, `*` (presence). */
export function istioMatch(text: string, transform: (s: string) => string = (s) => s): StringMatch {
  if (text === '*') return { kind: 'present', value: '' };
  if (text.endsWith('*')) return { kind: 'prefix', value: transform(text.slice(0, -1)) };
  if (text.startsWith('*')) return { kind: 'suffix', value: text.slice(1) };
  return { kind: 'exact', value: transform(text) };
}

const spiffe = (s: string) => `spiffe://${s}`;

function principalMatches(c: Cursor | undefined): StringMatch[] {
  return (c?.strings() ?? []).map((s) => {
    // Istio compiles a principal suffix to the regex spiffe://.*<suffix>: a plain suffix match.
    return istioMatch(s, spiffe);
  });
}

function namespaceMatches(c: Cursor | undefined): StringMatch[] {
  const out: StringMatch[] = [];
  for (const [i, ns] of (c?.strings() ?? []).entries()) {
    if (ns === '*') out.push({ kind: 'present', value: '' });
    else if (ns.includes('*')) c?.items()[i]?.error(`cannot honour namespace pattern "${ns}"`, 'list namespaces by exact name');
    else out.push({ kind: 'contains', value: `/ns/${ns}/` });
  }
  return out;
}

function parseSource(c: Cursor): Source {
  const f = c.fields([...SOURCE_FIELDS, ...Object.keys(UNSUPPORTED_SOURCE)]);
  const src = emptySource('any');
  if (!f) return src;
  for (const [k, why] of Object.entries(UNSUPPORTED_SOURCE)) f.get(k)?.error(`cannot honour ${k}`, why);
  src.principals = principalMatches(f.get('principals'));
  src.notPrincipals = principalMatches(f.get('notPrincipals'));
  src.namespaces = namespaceMatches(f.get('namespaces'));
  src.notNamespaces = namespaceMatches(f.get('notNamespaces'));
  src.requestPrincipals = (f.get('requestPrincipals')?.strings() ?? []).map((s) => istioMatch(s));
  src.notRequestPrincipals = (f.get('notRequestPrincipals')?.strings() ?? []).map((s) => istioMatch(s));
  // A positive principal or namespace needs a peer certificate; negative ones do not (Istio:
  // notPrincipals also matches plaintext requests, which have no principal to exclude).
  if (src.principals.length > 0 || src.namespaces.length > 0) src.peer = 'authenticated';
  return src;
}

function methodList(c: Cursor | undefined): string[] {
  const out: string[] = [];
  for (const [i, m] of (c?.strings() ?? []).entries()) {
    if ((HTTP_METHODS as readonly string[]).includes(m)) out.push(m);
    else c?.items()[i]?.error(`cannot honour method "${m}"`, `perimeter matches the HTTP methods ${HTTP_METHODS.join(', ')}`);
  }
  return out;
}

function pathList(c: Cursor | undefined): StringMatch[] {
  const out: StringMatch[] = [];
  for (const [i, p] of (c?.strings() ?? []).entries()) {
    if (p.includes('{')) c?.items()[i]?.error(`cannot honour path template "${p}"`, 'write it as a prefix ("/api/*") or exact path');
    else out.push(istioMatch(p));
  }
  return out;
}

function portList(c: Cursor | undefined): number[] {
  const out: number[] = [];
  for (const pc of c?.items() ?? []) {
    const n = pc.integer(1, 65535);
    if (n !== undefined) out.push(n);
  }
  return out;
}

function parseOperation(c: Cursor): Operation {
  const op = emptyOperation();
  const f = c.fields(OPERATION_FIELDS);
  if (!f) return op;
  op.methods = methodList(f.get('methods'));
  op.notMethods = methodList(f.get('notMethods'));
  op.paths = pathList(f.get('paths'));
  op.notPaths = pathList(f.get('notPaths'));
  op.hosts = (f.get('hosts')?.strings() ?? []).map((h) => istioMatch(h.toLowerCase()));
  op.notHosts = (f.get('notHosts')?.strings() ?? []).map((h) => istioMatch(h.toLowerCase()));
  op.ports = portList(f.get('ports'));
  op.notPorts = portList(f.get('notPorts'));
  return op;
}

const WHEN_KEY = /^(request\.headers|request\.auth\.claims)\[([^\]]+)\]$/;

function parseWhen(c: Cursor, rule: Rule): void {
  const f = c.fields(['key', 'values', 'notValues']);
  if (!f) return;
  const keyC = f.get('key');
  const key = keyC?.string();
  if (key === undefined) {
    c.error('key is required');
    return;
  }
  const raw = f.get('values')?.strings() ?? [];
  const notRaw = f.get('notValues')?.strings() ?? [];
  if (raw.length + notRaw.length === 0) {
    c.error('a condition needs values or notValues');
    return;
  }
  const m = WHEN_KEY.exec(key);
  if (m && m[1] === 'request.headers') {
    const bad = [...raw, ...notRaw].map((v) => [v, headerOperandProblem(v.replace(/^\*|\*$/g, ''))] as const).find(([, p]) => p);
    if (bad) {
      keyC?.error(
        `cannot honour header value "${bad[0]}": ${bad[1]}`,
        'a header sent as "a, b" is tested as "a, b", "a" and "b" (docs/semantics.md)',
      );
      return;
    }
    if (rule.action === 'allow' && raw.length > 0)
      c.warn(
        `this ALLOW trusts header ${m[2]}, which any caller it admits can set to anything`,
        'take it from a verified token (request.auth.claims[...]) instead',
      );
    rule.when.push({
      attribute: 'header',
      key: (m[2] as string).toLowerCase(),
      values: raw.map((s) => istioMatch(s)),
      notValues: notRaw.map((s) => istioMatch(s)),
    });
  } else if (m && m[1] === 'request.auth.claims') {
    if (key.includes('][')) {
      keyC?.error(`cannot honour nested claim ${key}`, 'only top-level claims are read');
      return;
    }
    rule.when.push({
      attribute: 'claim',
      key: m[2] as string,
      values: raw.map((s) => istioMatch(s)),
      notValues: notRaw.map((s) => istioMatch(s)),
    });
  } else if (key === 'source.principal') {
    rule.when.push({
      attribute: 'principal',
      key: '',
      values: raw.map((s) => istioMatch(s, spiffe)),
      notValues: notRaw.map((s) => istioMatch(s, spiffe)),
    });
  } else if (key === 'source.namespace') {
    const ns = (s: string): StringMatch => (s === '*' ? { kind: 'present', value: '' } : { kind: 'contains', value: `/ns/${s}/` });
    if ([...raw, ...notRaw].some((s) => s !== '*' && s.includes('*'))) {
      keyC?.error('cannot honour namespace patterns in source.namespace', 'list namespaces by exact name');
      return;
    }
    rule.when.push({ attribute: 'principal', key: '', values: raw.map(ns), notValues: notRaw.map(ns) });
  } else if (key === 'destination.port') {
    const bad = [...raw, ...notRaw].find((s) => !/^\d+$/.test(s));
    if (bad !== undefined) {
      keyC?.error(`destination.port value "${bad}" is not a port number`);
      return;
    }
    const exact = (s: string): StringMatch => ({ kind: 'exact', value: String(Number(s)) });
    rule.when.push({ attribute: 'port', key: '', values: raw.map(exact), notValues: notRaw.map(exact) });
  } else {
    keyC?.error(
      `cannot honour condition key "${key}"`,
      'supported: request.headers[...], request.auth.claims[...], source.principal, source.namespace, destination.port',
    );
  }
}
