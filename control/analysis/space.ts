/**
 * The request space of one workload, as the rules of its compiled policies (and the questions
 * asked of them) split it: one dimension per attribute the filter reads (peer identity, method,
 * normalised path, :authority, destination port, the verified token, and each header a
 * condition names), each cut into finitely many classes (dimension.ts, fragments.ts).
 *
 * Every predicate is the reference evaluator's own (control/eval/evaluate.ts) applied to a
 * request that sets one attribute: the analysis cannot read a matcher differently from the
 * evaluator, and the evaluator is held to the filter by the differential test.
 */
import { claimSegments } from '../../contracts/claim-path.js';
import { METHOD_BITS, METHOD_TOKEN } from '../../contracts/methods.js';
import type { PolicyRequest } from '../../contracts/request.js';
import { normalizePath, type PathParameters } from '../../contracts/request-path.js';
import { matchAny } from '../../contracts/string-match.js';
import { CompiledOperation, CompiledPolicy, type CompiledRule, CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import { Condition_Attribute, type StringMatch, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { conditionHolds, operationMatches, pathParametersOf, sourceMatches, type View, viewOf } from '../eval/evaluate.js';
import type { Cube } from './cubes.js';
import { AnalysisLimit, type AnyDimension, Dimension, type Part } from './dimension.js';
import { Fragments, freshChar, textCandidates } from './fragments.js';

type Claims = Record<string, unknown>;
type Lines = string[] | undefined;

/** One conjunction: a part of some dimension for each constraint. */
export type Term = readonly (readonly [AnyDimension, number])[];

/** Requests a question asks about (verify's assertions). */
export interface Question {
  sources: readonly CompiledSource[];
  /** The callers that match none of the sources. */
  otherCallers: boolean;
  methods: readonly string[];
  paths: StringMatch[];
  hosts: StringMatch[];
  ports: number[];
}

/** A compiled rule as the space reads it: the OR of its terms. */
export interface RuleShape {
  index: number;
  rule: CompiledRule;
  terms: Term[];
}

/** How many candidates one dimension may try: past it the question is refused, not approximated. */
const CANDIDATE_LIMIT = 50_000;

const NO_OPERATION = CompiledOperation.fromPartial({});
const NO_SOURCE = CompiledSource.fromPartial({});

/** viewOf reads a policy only for its method table; the method dimension's parts use their own. */
const NO_METHOD_TABLE = CompiledPolicy.fromPartial({});

const COMMON_PORTS = [8080, 443, 80, 8443, 9090, 15000];

export class RequestSpace {
  // Each dimension's parts read the evaluator's view of a request that carries only that value.
  readonly principal = new Dimension<string | undefined, View>(
    'peer',
    (v) => (v === undefined ? '' : `=${v}`),
    (v) => (v === undefined ? this.base : { ...this.base, principal: v }),
  );
  /** Methods are read through each policy's own method table, so its parts make their views. */
  readonly method = new Dimension<string>(
    'method',
    (v) => v,
    (v) => v,
  );
  readonly path = new Dimension<string, View>(
    'path',
    (v) => v,
    (v) => ({ ...this.base, path: v }),
  );
  readonly authority = new Dimension<string, View>(
    'authority',
    (v) => v,
    (v) => this.view({ host: v }),
  );
  readonly port = new Dimension<number, View>('port', String, (v) => ({ ...this.base, port: v }));
  readonly token = new Dimension<Claims | undefined, View>(
    'token',
    (v) => (v === undefined ? '' : JSON.stringify(v)),
    (v) => this.view(v ? { claims: v } : {}),
  );
  readonly headers = new Map<string, Dimension<Lines, View>>();

  private readonly principalF = new Fragments();
  private readonly methodF = new Fragments();
  private readonly pathF = new Fragments();
  private readonly hostF = new Fragments();
  private readonly authorityF = new Fragments();
  private readonly ports = new Set<number>();
  private readonly portF = new Fragments();
  private readonly requestPrincipalF = new Fragments();
  private readonly claimF = new Map<string, Fragments>();
  private readonly headerF = new Map<string, Fragments>();
  /** Each header condition's values and notValues, by header. */
  private readonly headerMatchers = new Map<string, (readonly StringMatch[])[]>();
  private pathParameters: PathParameters | undefined;
  private built: AnyDimension[] | undefined;

  private readonly base: View;
  /** Views of each method under each policy's method table (a method's bits depend on it). */
  private readonly methodViews = new Map<CompiledPolicy, Map<string, View>>();

  private methodView(policy: CompiledPolicy, method: string): View {
    let views = this.methodViews.get(policy);
    if (!views) {
      views = new Map();
      this.methodViews.set(policy, views);
    }
    let v = views.get(method);
    if (!v) {
      v = viewOf(policy, { method, path: '/', nowMs: this.nowMs }, '/');
      views.set(method, v);
    }
    return v;
  }

  constructor(readonly nowMs: number) {
    this.base = this.view({});
  }

  /**
   * The evaluator's view of a request with only these attributes (methods aside: no method
   * table). Principal, path, port and header lines reach the view as they are, so those
   * dimensions set them on `base`; host and token are derived, so they go through viewOf.
   */
  private view(req: Partial<PolicyRequest>, path = '/'): View {
    return viewOf(NO_METHOD_TABLE, { method: '', path, ...req, nowMs: this.nowMs }, path);
  }

  /** The dimensions in cube order (after build). */
  get dimensions(): readonly AnyDimension[] {
    if (!this.built) throw new Error('the request space is not built yet');
    return this.built;
  }

  /** A policy's rules (those not expired at `nowMs`) as terms over this space. */
  addPolicy(policy: CompiledPolicy): RuleShape[] {
    this.pathParameters ??= pathParametersOf(policy);
    for (const m of policy.methods) this.methodF.add([m]);
    const shapes: RuleShape[] = [];
    for (const [index, rule] of policy.rules.entries()) {
      if (rule.expiresUnixMs !== 0 && this.nowMs >= rule.expiresUnixMs) continue;
      const conditions: (readonly [AnyDimension, number])[] = [];
      for (const c of rule.conditions) {
        const holds = (v: View) => conditionHolds(c, policy, v, rule.action);
        switch (c.attribute) {
          case Condition_Attribute.ATTRIBUTE_HEADER: {
            const name = policy.headers[c.key] ?? '';
            const d = this.header(name);
            this.fragmentsOf(this.headerF, name).add([...c.values, ...c.notValues]);
            const ms = this.headerMatchers.get(name) ?? [];
            this.headerMatchers.set(name, [...ms, c.values, c.notValues]);
            conditions.push(on(d, holds));
            break;
          }
          case Condition_Attribute.ATTRIBUTE_CLAIM: {
            const key = policy.claims[c.key] ?? '';
            this.fragmentsOf(this.claimF, key).add([...c.values, ...c.notValues]);
            conditions.push(on(this.token, holds));
            break;
          }
          case Condition_Attribute.ATTRIBUTE_PORT:
            this.portF.add([...c.values, ...c.notValues]);
            conditions.push(on(this.port, holds));
            break;
          default:
            // The principal, and (never true) an attribute this analysis does not know.
            this.principalF.add([...c.values, ...c.notValues]);
            conditions.push(on(this.principal, holds));
        }
      }
      const sources = rule.sources.map((s) => this.sourceTerm(s));
      const operations = rule.operations.length === 0 ? [[]] : rule.operations.map((o) => this.operationTerm(policy, o));
      const terms: Term[] = [];
      for (const s of sources) for (const o of operations) terms.push([...s, ...o, ...conditions]);
      shapes.push({ index, rule, terms });
    }
    return shapes;
  }

  /** The callers a source names, as a term (its identity part and its token part). */
  sourceTerm(s: CompiledSource): Term {
    this.notePeers(s);
    const byPeer: CompiledSource = { ...s, requestPrincipals: [], notRequestPrincipals: [] };
    const term: (readonly [AnyDimension, number])[] = [on(this.principal, (w) => sourceMatches(byPeer, w))];
    if (s.requestPrincipals.length + s.notRequestPrincipals.length > 0) {
      this.requestPrincipalF.add([...s.requestPrincipals, ...s.notRequestPrincipals]);
      const byToken: CompiledSource = {
        ...NO_SOURCE,
        requestPrincipals: s.requestPrincipals,
        notRequestPrincipals: s.notRequestPrincipals,
      };
      term.push(on(this.token, (w) => sourceMatches(byToken, w)));
    }
    return term;
  }

  operationTerm(policy: CompiledPolicy, o: CompiledOperation): Term {
    const term: (readonly [AnyDimension, number])[] = [];
    if (o.methods !== 0 || o.notMethods !== 0) {
      const only: CompiledOperation = { ...NO_OPERATION, methods: o.methods, notMethods: o.notMethods };
      term.push(on(this.method, (method) => operationMatches(only, this.methodView(policy, method))));
    }
    if (o.paths.length + o.notPaths.length > 0) {
      this.pathF.add([...o.paths, ...o.notPaths]);
      const only: CompiledOperation = { ...NO_OPERATION, paths: o.paths, notPaths: o.notPaths };
      term.push(on(this.path, (w) => operationMatches(only, w)));
    }
    if (o.hosts.length + o.notHosts.length + o.authorities.length + o.notAuthorities.length > 0) {
      this.hostF.add([...o.hosts, ...o.notHosts]);
      this.authorityF.add([...o.authorities, ...o.notAuthorities]);
      const only: CompiledOperation = {
        ...NO_OPERATION,
        hosts: o.hosts,
        notHosts: o.notHosts,
        authorities: o.authorities,
        notAuthorities: o.notAuthorities,
      };
      term.push(on(this.authority, (w) => operationMatches(only, w)));
    }
    if (o.ports.length + o.notPorts.length > 0) {
      for (const p of [...o.ports, ...o.notPorts]) this.ports.add(p);
      const only: CompiledOperation = { ...NO_OPERATION, ports: o.ports, notPorts: o.notPorts };
      term.push(on(this.port, (w) => operationMatches(only, w)));
    }
    return term;
  }

  /**
   * The requests a question names, as one term: callers matching any of `sources` (or, with
   * `otherCallers`, matching none of them), and the methods, paths, hosts and ports it lists
   * (an empty list: any). Its literals become classes of their own.
   */
  questionTerm(policy: CompiledPolicy, q: Question): Term {
    for (const s of q.sources) this.notePeers(s);
    const term: (readonly [AnyDimension, number])[] = [
      on(this.principal, (w) => q.sources.some((s) => sourceMatches(s, w)) !== q.otherCallers),
    ];
    if (q.methods.length > 0) {
      for (const m of q.methods) this.methodF.exact.add(m);
      term.push(on(this.method, (m) => q.methods.includes(m)));
    }
    term.push(...this.operationTerm(policy, { ...NO_OPERATION, paths: q.paths, hosts: q.hosts, ports: q.ports }));
    return term;
  }

  /** The identity literals of a source, for the peer dimension's candidates. */
  private notePeers(s: CompiledSource): void {
    this.principalF.add([
      ...s.principals,
      ...s.notPrincipals,
      ...s.namespaces,
      ...s.notNamespaces,
      ...s.trustDomains,
      ...s.notTrustDomains,
    ]);
  }

  private header(name: string): Dimension<Lines, View> {
    let d = this.headers.get(name);
    if (!d) {
      d = new Dimension<Lines, View>(
        `header ${name}`,
        (v) => (v === undefined ? '' : JSON.stringify(v)),
        (v) => (v ? { ...this.base, headers: { [name]: v } } : this.base),
      );
      this.headers.set(name, d);
    }
    return d;
  }

  private fragmentsOf(m: Map<string, Fragments>, key: string): Fragments {
    let f = m.get(key);
    if (!f) {
      f = new Fragments();
      m.set(key, f);
    }
    return f;
  }

  /** Classes for every dimension, from everything added so far. */
  build(): void {
    this.principal.build(this.principalCandidates(), CANDIDATE_LIMIT);
    this.method.build(this.methodCandidates(), CANDIDATE_LIMIT);
    this.path.build(this.pathCandidates(), CANDIDATE_LIMIT);
    this.authority.build(this.authorityCandidates(), CANDIDATE_LIMIT);
    this.port.build(this.portCandidates(), CANDIDATE_LIMIT);
    this.token.build(this.tokenCandidates(), CANDIDATE_LIMIT);
    const headers = [...this.headers.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [name, d] of headers)
      d.build(lineCandidates(this.headerF.get(name) ?? new Fragments(), this.headerMatchers.get(name) ?? []), CANDIDATE_LIMIT);
    this.built = [this.principal, this.method, this.path, this.authority, this.port, this.token, ...headers.map(([, d]) => d)];
  }

  /** Every request. */
  everything(): Cube {
    return this.dimensions.map((d) => d.all);
  }

  /** The cube of a term: the parts of each dimension intersected. */
  cube(term: Term): Cube {
    const dims = this.dimensions;
    const out = dims.map((d) => d.all);
    for (const [d, part] of term) {
      const i = dims.indexOf(d);
      out[i] = (out[i] as bigint) & d.setOf(part);
    }
    return out;
  }

  /**
   * The classes of a request whose path is normalised (as the filter compares it), or the
   * dimension whose classes miss it.
   */
  classify(req: PolicyRequest): number[] | { missed: string } {
    const fixed: unknown[] = [req.principal, req.method, req.path, req.host ?? '', req.port ?? 0, req.claims];
    const out: number[] = [];
    for (const [i, d] of this.dimensions.entries()) {
      const header = d.name.slice('header '.length);
      const lines = i < fixed.length ? undefined : req.headers?.[header];
      const value = i < fixed.length ? fixed[i] : lines === undefined ? undefined : typeof lines === 'string' ? [lines] : [...lines];
      const c = (d as Dimension<unknown, unknown>).classOf(value);
      if (c === undefined) return { missed: d.name };
      out.push(c);
    }
    return out;
  }

  /** A concrete request from the given class of each dimension. */
  request(classes: readonly number[]): PolicyRequest {
    const dims = this.dimensions;
    const at = <V, W>(d: Dimension<V, W>): V => d.classes[classes[dims.indexOf(d)] as number] as V;
    const principal = at(this.principal);
    const claims = at(this.token);
    const headers: Record<string, string[]> = {};
    for (const [name, d] of this.headers) {
      const lines = at(d);
      if (lines) headers[name] = lines;
    }
    // An attribute no rule reads is left out (any value decides the same): examples read better.
    return {
      ...(principal !== undefined ? { principal } : {}),
      method: at(this.method),
      path: at(this.path),
      ...(this.authority.partCount > 0 ? { host: at(this.authority) } : {}),
      ...(this.port.partCount > 0 ? { port: at(this.port) } : {}),
      ...(Object.keys(headers).length ? { headers } : {}),
      ...(claims ? { claims } : {}),
      nowMs: this.nowMs,
    };
  }

  /**
   * Identities: those named, then spiffe://T/ns/N/sa/S for every outcome of each part over the
   * literals that speak of it (trust domains, namespaces, accounts, each cut like any string),
   * the shapes Istio's patterns admit beyond that, no identity at all, and plain strings.
   */
  private *principalCandidates(): Iterable<string | undefined> {
    const f = this.principalF;
    const fresh = freshChar(f);
    yield* f.exact;
    const tds = new Fragments();
    const nss = new Fragments();
    const sas = new Fragments();
    // An exact identity is a candidate of its own; only its trust domain joins the others' parts
    // (its namespace and account would multiply the candidates by the registry's size).
    for (const v of f.exact) {
      const m = /^spiffe:\/\/([^/]+)/.exec(v);
      if (m?.[1]) tds.exact.add(m[1]);
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

  private *methodCandidates(): Iterable<string> {
    yield* Object.keys(METHOD_BITS);
    const fresh = freshChar(this.methodF);
    yield `${fresh.toUpperCase()}METHOD`;
    for (const m of textCandidates(this.methodF, fresh)) if (METHOD_TOKEN.test(m)) yield m;
  }

  private *pathCandidates(): Iterable<string> {
    const f = this.pathF;
    f.prefix.add('/');
    const params = this.pathParameters ?? 'reject';
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
  private *authorityCandidates(): Iterable<string> {
    const hosts = this.hostF;
    const ports = new Set<string>([String(COMMON_PORTS[0])]);
    for (const a of this.authorityF.exact) {
      const colon = a.lastIndexOf(':');
      if (colon > 0 && !a.endsWith(']')) {
        hosts.exact.add(a.slice(0, colon));
        ports.add(a.slice(colon + 1));
      } else hosts.exact.add(a);
    }
    // The authority's own literals, read as host and port (a host is an authority without its port).
    for (const q of this.authorityF.suffix) {
      if (/^:[0-9]+$/.test(q)) ports.add(q.slice(1));
      else if (!q.includes(':')) hosts.suffix.add(q);
    }
    for (const p of this.authorityF.prefix) {
      const colon = p.lastIndexOf(':');
      if (colon < 0) hosts.prefix.add(p);
      else hosts.exact.add(p.slice(0, colon));
    }
    for (const c of this.authorityF.contains) hosts.contains.add(c);
    const names = textCandidates(hosts, freshChar(hosts));
    for (const h of names) {
      yield h;
      for (const p of ports) yield `${h}:${p}`;
    }
    const authorities = this.authorityF;
    for (const h of names.slice(0, 64)) authorities.exact.add(h);
    yield* textCandidates(authorities, freshChar(authorities));
  }

  private *portCandidates(): Iterable<number> {
    const fresh = COMMON_PORTS.find((p) => !this.ports.has(p)) ?? 1;
    yield fresh;
    yield* this.ports;
    for (const s of textCandidates(this.portF, '7')) {
      const n = Number(s);
      if (/^[0-9]{1,5}$/.test(s) && n >= 1 && n <= 65535) yield n;
    }
  }

  /** No token; then tokens with each request principal and each combination of claim values. */
  private *tokenCandidates(): Iterable<Claims | undefined> {
    yield undefined;
    const principals: (readonly [string, string] | undefined)[] = [undefined];
    const rf = this.requestPrincipalF;
    for (const r of textCandidates(rf, freshChar(rf))) {
      const slash = r.lastIndexOf('/');
      if (slash >= 0) principals.push([r.slice(0, slash), r.slice(slash + 1)]);
    }
    const keys = [...this.claimF.keys()].sort();
    const perKey = keys.map((k) => claimCandidates(this.claimF.get(k) as Fragments));
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

function on<V, W>(d: Dimension<V, W>, p: Part<W>): readonly [AnyDimension, number] {
  return [d, d.part(p)];
}

/**
 * A header absent, sent once with each candidate, and sent two and three times. A condition
 * reads the joined field (its first and last element decide a prefix and a suffix, an exact
 * value needs one line) and each element, so values that every matcher of the header treats
 * alike are interchangeable in a list: lists are made of one value of each such kind.
 */
function* lineCandidates(f: Fragments, matchers: readonly (readonly StringMatch[])[]): Iterable<Lines> {
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
