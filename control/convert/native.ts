/**
 * Perimeters of the model written back as native YAML (`perimeter import istio`): every source,
 * operation and condition in the native form that compiles to the same matchers, a literal
 * matcher object (match-items.ts) where no native form says it, and Istio's trust-domain
 * expansion (trust-domains.ts) done here, so the native text decides as the imported policy.
 * Built as YAML documents by the library, never by joining strings: a value from a policy file is
 * a scalar or a comment line, and can never become structure.
 */
import { Document, isMap, isSeq, visit } from 'yaml';
import { claimSegments } from '../../contracts/claim-path.js';
import type { Result } from '../../contracts/problem.js';
import { parseIdentityPattern } from '../../contracts/spiffe.js';
import { StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { istioPrincipalVariants, nativeVariants } from '../compile/trust-domains.js';
import { printable } from '../flows/recorded.js';
import { KEY_OF } from '../policy/match-items.js';
import type { Condition, Operation, Perimeter, Rule, Selector, Source, StringMatch } from '../policy/model.js';
import { methodProblem } from '../policy/parse-rule.js';
import { istioMatch, parseHostPattern, parseNamespacePattern, parsePathPattern, parseTrustDomainPattern } from '../policy/patterns.js';

type Node = Record<string, unknown>;

/** A matcher as its literal object: {exact: v}, {present: true}, {template: "/a/{*}"}… */
function object(m: StringMatch): Node {
  const key = KEY_OF[m.kind];
  if (m.kind === 'present') return { present: true };
  if (m.kind === 'template') return { template: istioTemplate(m.value) };
  if (!key) throw new Error(`no native form for a ${m.kind} matcher`);
  return { [key]: m.value };
}

/** Envoy's template back in the form people (and Istio) write: `*` is `{*}`, `**` is `{**}`. */
const istioTemplate = (t: string) =>
  t
    .split('/')
    .map((s) => (s === '*' ? '{*}' : s === '**' ? '{**}' : s))
    .join('/');

/**
 * Identities: a native string where it compiles (and expands) to the same matchers, else literal
 * objects. Istio's principals were expanded already, so a native string that the aliases would
 * widen further is written as an object.
 */
function identities(ms: readonly StringMatch[], bundle: readonly string[], istio: boolean): unknown[] {
  const exact = new Set(ms.filter((m) => m.kind === 'exact').map((m) => m.value));
  return ms.flatMap((m): unknown[] => {
    if (m.kind === 'present') return ['*'];
    if (m.kind === 'exact' || m.kind === 'segment-prefix') {
      const text = m.kind === 'exact' ? m.value : `${m.value}/*`;
      const parsed = parseIdentityPattern(text);
      const same = parsed.ok && (parsed.value.kind === 'exact') === (m.kind === 'exact');
      // A native identity also names its callers under every alias: only where that adds nobody.
      const kind = m.kind === 'exact' ? StringMatch_Kind.KIND_EXACT : StringMatch_Kind.KIND_SEGMENT_PREFIX;
      const widens =
        istio &&
        nativeVariants({ kind, value: m.value, ignoreCase: false }, bundle).some(
          (v) => v.value !== m.value && !(m.kind === 'exact' && exact.has(v.value)),
        );
      if (same && !widens) return [text];
      // "It and everything below it", literally.
      if (m.kind === 'segment-prefix') return [{ exact: m.value }, { prefix: `${m.value}/` }];
    }
    return [object(m)];
  });
}

/**
 * The native text for a matcher when the native parser reads it back as that very matcher,
 * else the matcher's literal object.
 */
function spelled(m: StringMatch, text: string, read: (t: string) => Result<StringMatch> | StringMatch): unknown {
  const r = read(text);
  const back = 'ok' in r ? (r.ok ? r.value : undefined) : r;
  return back?.kind === m.kind && back.value === m.value ? text : object(m);
}

/** What a namespace matcher is written as: the name of `/ns/<name>/`, a pattern, or `*`. */
const namespaceText = (m: StringMatch) => (m.kind === 'present' ? '*' : m.kind === 'contains' ? m.value.slice(4, -1) : m.value);
const namespaces = (ms: readonly StringMatch[]) => ms.map((m) => spelled(m, namespaceText(m), parseNamespacePattern));
const trustDomains = (ms: readonly StringMatch[]) => ms.map((m) => spelled(m, m.value, parseTrustDomainPattern));
/** Istio's `*` forms of a token (request principals): `*`, `prefix*`, `*suffix`, exact. */
const tokenText = (m: StringMatch) =>
  spelled(m, m.kind === 'present' ? '*' : m.kind === 'prefix' ? `${m.value}*` : m.kind === 'suffix' ? `*${m.value}` : m.value, (t) =>
    istioMatch(t),
  );

function source(s: Source, bundle: readonly string[], istio: boolean): Node {
  const expand = (ms: readonly StringMatch[]) => (istio ? unique(ms.flatMap((m) => istioPrincipalVariants(m, bundle))) : ms);
  const principals = expand(s.principals);
  const out: Node = {};
  const positive = principals.length + s.workloads.length + s.labels.length + s.namespaces.length + s.trustDomains.length > 0;
  if (s.peer !== 'authenticated' || !positive) out.peer = s.peer;
  if (principals.length) out.identities = identities(principals, bundle, istio);
  if (s.workloads.length) out.workloads = [...s.workloads];
  if (s.labels.length) out.labels = s.labels.map((l) => ({ ...l }));
  const not = expand(s.notPrincipals);
  if (not.length) out.notIdentities = identities(not, bundle, istio);
  if (s.namespaces.length) out.namespaces = namespaces(s.namespaces);
  if (s.notNamespaces.length) out.notNamespaces = namespaces(s.notNamespaces);
  if (s.trustDomains.length) out.trustDomains = trustDomains(s.trustDomains);
  if (s.notTrustDomains.length) out.notTrustDomains = trustDomains(s.notTrustDomains);
  if (s.requestPrincipals.length) out.requestPrincipals = s.requestPrincipals.map(tokenText);
  if (s.notRequestPrincipals.length) out.notRequestPrincipals = s.notRequestPrincipals.map(tokenText);
  return out;
}

const methods = (ms: readonly StringMatch[]) =>
  ms.map((m) => (m.kind === 'exact' && methodProblem(m.value) === undefined ? m.value : object(m)));

const pathText = (m: StringMatch) =>
  m.kind === 'template' ? istioTemplate(m.value) : m.kind === 'segment-prefix' ? `${m.value}/*` : m.value;
const paths = (ms: readonly StringMatch[]) => ms.map((m) => spelled({ ...m, ignoreCase: false }, pathText(m), parsePathPattern));
const hostText = (m: StringMatch) => (m.kind === 'present' ? '*' : m.kind === 'suffix' ? `*${m.value}` : m.value);
const hosts = (ms: readonly StringMatch[]) => ms.map((m) => spelled(m, hostText(m), parseHostPattern));

function operation(o: Operation): Node {
  const out: Node = {};
  if (o.methods.length) out.methods = methods(o.methods);
  if (o.notMethods.length) out.notMethods = methods(o.notMethods);
  if (o.paths.length) out.paths = paths(o.paths);
  if (o.notPaths.length) out.notPaths = paths(o.notPaths);
  const all = [...o.paths, ...o.notPaths];
  if (all.length) {
    if (new Set(all.map((m) => m.ignoreCase === true)).size > 1) throw new Error('paths of one operation that differ in case sensitivity');
    out.pathCase = all[0]?.ignoreCase ? 'insensitive' : 'sensitive';
  }
  if (o.hosts.length) out.hosts = hosts(o.hosts);
  if (o.notHosts.length) out.notHosts = hosts(o.notHosts);
  if (o.authorities.length) out.authorities = o.authorities.map((m) => (m.kind === 'exact' ? m.value : object(m)));
  if (o.notAuthorities.length) out.notAuthorities = o.notAuthorities.map((m) => (m.kind === 'exact' ? m.value : object(m)));
  if (o.ports.length) out.ports = [...o.ports];
  if (o.notPorts.length) out.notPorts = [...o.notPorts];
  return out;
}

function condition(c: Condition, bundle: readonly string[], istio: boolean): Node {
  const subject: Node =
    c.attribute === 'header'
      ? { header: c.key }
      : c.attribute === 'claim'
        ? { claim: claimSegments(c.key).length > 1 ? claimSegments(c.key) : c.key }
        : { attribute: c.attribute === 'port' ? 'port' : 'identity' };
  const list = (ms: readonly StringMatch[]) => {
    if (c.attribute === 'port') return ms.map((m) => Number(m.value));
    if (c.attribute === 'principal') {
      const expanded = istio ? unique(ms.flatMap((m) => istioPrincipalVariants(m, bundle))) : ms;
      return identities(expanded, bundle, istio);
    }
    return ms.map((m) => (m.kind === 'exact' ? m.value : object(m)));
  };
  return {
    ...subject,
    ...(c.values.length ? { values: list(c.values) } : {}),
    ...(c.notValues.length ? { notValues: list(c.notValues) } : {}),
    ...(c.setBy ? { setBy: source(c.setBy, bundle, false) } : {}),
  };
}

function rule(r: Rule, bundle: readonly string[], istio: boolean): Node {
  return {
    name: r.name,
    action: r.action,
    // An empty `from` is every caller, with or without a certificate.
    from: r.from.length ? r.from.map((s) => source(s, bundle, istio)) : [{ peer: 'any' }],
    ...(r.to.length ? { to: r.to.map(operation) } : {}),
    ...(r.when.length ? { when: r.when.map((c) => condition(c, bundle, istio)) } : {}),
    ...(r.expiresUnixMs !== undefined ? { expires: new Date(r.expiresUnixMs).toISOString() } : {}),
    ...(r.mode ? { mode: r.mode } : {}),
  };
}

function selector(s: Selector): Node {
  return {
    ...(s.namespace !== undefined ? { namespace: s.namespace } : {}),
    ...(s.all ? { all: true } : {}),
    ...(s.workloads.length ? { workloads: [...s.workloads] } : {}),
    ...(s.identities.length ? { identities: [...s.identities] } : {}),
    ...(s.labels.length ? { labels: s.labels.length === 1 ? { ...s.labels[0] } : s.labels.map((l) => ({ ...l })) } : {}),
  };
}

/**
 * One perimeter as a native YAML document, its source named in the comment above it. `bundle` is
 * the mesh's trust-domain bundle, for Istio's expansion of principals.
 */
export function nativeDocument(p: Perimeter, bundle: readonly string[], comment?: string): string {
  const istio = p.origin === 'istio';
  const doc = new Document({
    apiVersion: 'perimeter.dev/v1',
    kind: 'Perimeter',
    metadata: { name: p.name },
    spec: {
      owner: p.owner,
      mode: p.mode,
      ...(p.crownJewel ? { crownJewel: true } : {}),
      ...(p.defaultDeny === false ? { defaultDeny: false } : {}),
      selector: selector(p.selector),
      rules: p.rules.map((r) => rule(r, bundle, istio)),
      ...(p.candidate ? { candidate: { mode: p.candidate.mode, rules: p.candidate.rules.map((r) => rule(r, bundle, istio)) } } : {}),
    },
  });
  // Short lists and matcher objects on one line; rules and sources as blocks.
  visit(doc, {
    Seq(_, n) {
      if (n.items.every((i) => !isMap(i) && !isSeq(i))) n.flow = true;
    },
    Map(_, n) {
      if (n.items.length <= 3 && n.items.every((i) => !isMap(i.value) && !isSeq(i.value))) n.flow = true;
    },
  });
  if (comment)
    doc.commentBefore = comment
      .split('\n')
      .map((l) => ` ${printable(l)}`)
      .join('\n');
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

function unique(ms: readonly StringMatch[]): StringMatch[] {
  const seen = new Set<string>();
  return ms.filter((m) => {
    const k = `${m.kind}:${m.value}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
