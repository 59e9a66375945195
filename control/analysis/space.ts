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
import type { CompiledOperation, CompiledPolicy, CompiledRule, CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import { Condition_Attribute, Source_Peer, type StringMatch } from '../../proto/gen/perimeter/v1/policy.js';
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

const NO_OPERATION: CompiledOperation = {
  methods: 0,
  notMethods: 0,
  paths: [],
  notPaths: [],
  hosts: [],
  notHosts: [],
  authorities: [],
  notAuthorities: [],
  ports: [],
  notPorts: [],
};

const NO_SOURCE: CompiledSource = {
  peer: Source_Peer.PEER_UNSPECIFIED,
  principals: [],
  notPrincipals: [],
  requestPrincipals: [],
  notRequestPrincipals: [],
  namespaces: [],
  notNamespaces: [],
  trustDomains: [],
  notTrustDomains: [],
};

const COMMON_PORTS = [8080, 443, 80, 8443, 9090, 15000];

export class RequestSpace {
  readonly principal = new Dimension<string | undefined>('peer', (v) => (v === undefined ? '' : `=${v}`));
  readonly method = new Dimension<string>('method', (v) => v);
  readonly path = new Dimension<string>('path', (v) => v);
  readonly authority = new Dimension<string>('authority', (v) => v);
  readonly port = new Dimension<number>('port', String);
  readonly token = new Dimension<Claims | undefined>('token', (v) => (v === undefined ? '' : JSON.stringify(v)));
  readonly headers = new Map<string, Dimension<Lines>>();

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
  private pathParameters: PathParameters | undefined;
  private built: AnyDimension[] | undefined;

  constructor(readonly nowMs: number) {}

  /** The dimensions in cube order (after build). */
  get dimensions(): readonly AnyDimension[] {
    if (!this.built) throw new Error('the request space is not built yet');
    return this.built;
  }

  /** A policy's rules (those not expired at `nowMs`) as terms over this space. */
  addPolicy(policy: CompiledPolicy): RuleShape[] {
    this.pathParameters ??= pathParametersOf(policy);
    for (const m of policy.methods) this.methodF.add([m]);
    const view = (req: Partial<PolicyRequest>, path = '/'): View => viewOf(policy, { method: '', path, ...req }, path);
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
            conditions.push(on(d, (lines) => holds(view(lines ? { headers: { [name]: lines } } : {}))));
            break;
          }
          case Condition_Attribute.ATTRIBUTE_CLAIM: {
            const key = policy.claims[c.key] ?? '';
            this.fragmentsOf(this.claimF, key).add([...c.values, ...c.notValues]);
            conditions.push(on(this.token, (claims) => holds(view(claims ? { claims } : {}))));
            break;
          }
          case Condition_Attribute.ATTRIBUTE_PORT:
            this.portF.add([...c.values, ...c.notValues]);
            conditions.push(on(this.port, (port) => holds(view({ port }))));
            break;
          default:
            // The principal, and (never true) an attribute this analysis does not know.
            this.principalF.add([...c.values, ...c.notValues]);
            conditions.push(on(this.principal, (p) => holds(view(p === undefined ? {} : { principal: p }))));
        }
      }
      const sources = rule.sources.map((s) => this.sourceTerm(s, view));
      const operations = rule.operations.length === 0 ? [[]] : rule.operations.map((o) => this.operationTerm(o, view));
      const terms: Term[] = [];
      for (const s of sources) for (const o of operations) terms.push([...s, ...o, ...conditions]);
      shapes.push({ index, rule, terms });
    }
    return shapes;
  }

  /** The callers a source names, as a term (its identity part and its token part). */
  sourceTerm(s: CompiledSource, view: (req: Partial<PolicyRequest>) => View): Term {
    this.principalF.add([
      ...s.principals,
      ...s.notPrincipals,
      ...s.namespaces,
      ...s.notNamespaces,
      ...s.trustDomains,
      ...s.notTrustDomains,
    ]);
    const byPeer: CompiledSource = { ...s, requestPrincipals: [], notRequestPrincipals: [] };
    const term: (readonly [AnyDimension, number])[] = [
      on(this.principal, (p) => sourceMatches(byPeer, view(p === undefined ? {} : { principal: p }))),
    ];
    if (s.requestPrincipals.length + s.notRequestPrincipals.length > 0) {
      this.requestPrincipalF.add([...s.requestPrincipals, ...s.notRequestPrincipals]);
      const byToken: CompiledSource = {
        ...NO_SOURCE,
        requestPrincipals: s.requestPrincipals,
        notRequestPrincipals: s.notRequestPrincipals,
      };
      term.push(on(this.token, (claims) => sourceMatches(byToken, view(claims ? { claims } : {}))));
    }
    return term;
  }

  operationTerm(o: CompiledOperation, view: (req: Partial<PolicyRequest>, path?: string) => View): Term {
    const term: (readonly [AnyDimension, number])[] = [];
    if (o.methods !== 0 || o.notMethods !== 0) {
      const only: CompiledOperation = { ...NO_OPERATION, methods: o.methods, notMethods: o.notMethods };
      term.push(on(this.method, (method) => operationMatches(only, view({ method }))));
    }
    if (o.paths.length + o.notPaths.length > 0) {
      this.pathF.add([...o.paths, ...o.notPaths]);
      const only: CompiledOperation = { ...NO_OPERATION, paths: o.paths, notPaths: o.notPaths };
      term.push(on(this.path, (path) => operationMatches(only, view({}, path))));
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
      term.push(on(this.authority, (host) => operationMatches(only, view({ host }))));
    }
    if (o.ports.length + o.notPorts.length > 0) {
      for (const p of [...o.ports, ...o.notPorts]) this.ports.add(p);
      const only: CompiledOperation = { ...NO_OPERATION, ports: o.ports, notPorts: o.notPorts };
      term.push(on(this.port, (port) => operationMatches(only, view({ port }))));
    }
    return term;
  }

  /**
   * The requests a question names, as one term: callers matching any of `sources` (or, with
   * `otherCallers`, matching none of them), and the methods, paths, hosts and ports it lists
   * (an empty list: any). Its literals become classes of their own.
   */
  questionTerm(policy: CompiledPolicy, q: Question): Term {
    const view = (req: Partial<PolicyRequest>, path = '/'): View => viewOf(policy, { method: '', path, ...req }, path);
    for (const s of q.sources)
      this.principalF.add([
        ...s.principals,
        ...s.notPrincipals,
        ...s.namespaces,
        ...s.notNamespaces,
        ...s.trustDomains,
        ...s.notTrustDomains,
      ]);
    const term: (readonly [AnyDimension, number])[] = [
      on(this.principal, (p) => q.sources.some((s) => sourceMatches(s, view(p === undefined ? {} : { principal: p }))) !== q.otherCallers),
    ];
    if (q.methods.length > 0) {
      for (const m of q.methods) this.methodF.exact.add(m);
      term.push(on(this.method, (m) => q.methods.includes(m)));
    }
    term.push(...this.operationTerm({ ...NO_OPERATION, paths: q.paths, hosts: q.hosts, ports: q.ports }, view));
    return term;
  }

  private header(name: string): Dimension<Lines> {
    let d = this.headers.get(name);
    if (!d) {
      d = new Dimension<Lines>(`header ${name}`, (v) => (v === undefined ? '' : JSON.stringify(v)));
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
    for (const [name, d] of headers) d.build(lineCandidates(this.headerF.get(name) ?? new Fragments()), CANDIDATE_LIMIT);
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
      const c = (d as Dimension<unknown>).classOf(value);
      if (c === undefined) return { missed: d.name };
      out.push(c);
    }
    return out;
  }

  /** A concrete request from the given class of each dimension. */
  request(classes: readonly number[]): PolicyRequest {
    const dims = this.dimensions;
    const at = <V>(d: Dimension<V>): V => d.classes[classes[dims.indexOf(d)] as number] as V;
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
    for (const v of f.exact) {
      const m = /^spiffe:\/\/([^/]+)(?:\/ns\/([^/]+)\/sa\/([^/]+))?/.exec(v);
      if (m?.[1]) tds.exact.add(m[1]);
      if (m?.[2]) nss.exact.add(m[2]);
      if (m?.[3]) sas.exact.add(m[3]);
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
    const bounds = [...f.literals()].map((v) => v.length);
    for (const p of textCandidates(f, freshChar(f))) {
      if (!p.startsWith('/')) continue;
      for (const v of f.ignoreCase ? caseVariants(p, bounds) : [p]) {
        const n = normalizePath(v, params);
        if (n.ok && n.path === v) yield v;
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
 * and each side of every literal's length (where a case-sensitive literal may end).
 */
function caseVariants(p: string, bounds: readonly number[]): string[] {
  const out = new Set<string>([p, p.toUpperCase()]);
  const segments = p.split('/');
  for (let i = 1; i < segments.length; i++) out.add(segments.map((s, j) => (j === i ? s.toUpperCase() : s)).join('/'));
  for (const k of bounds) {
    if (k <= 0 || k >= p.length) continue;
    out.add(p.slice(0, k) + p.slice(k).toUpperCase());
    out.add(p.slice(0, k).toUpperCase() + p.slice(k));
  }
  return [...out];
}

function on<V>(d: Dimension<V>, p: Part<V>): readonly [AnyDimension, number] {
  return [d, d.part(p)];
}

/**
 * A header absent, sent once with each candidate, and with two and three of them (a condition
 * reads the joined field and each element: each distinct element can change the outcome).
 */
function* lineCandidates(f: Fragments): Iterable<Lines> {
  yield undefined;
  const values = textCandidates(f, freshChar(f)).filter((v) => !v.includes(','));
  for (const v of values) yield [v];
  for (const a of values) for (const b of values) if (a !== b) yield [a, b];
  const few = values.slice(0, 12);
  for (const a of few) for (const b of few) for (const c of few) if (a !== b && b !== c && a !== c) yield [a, b, c];
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
