import type { PolicyRequest } from '../../contracts/request.js';
import type { PathParameters } from '../../contracts/request-path.js';
import { CompiledOperation, CompiledPolicy, type CompiledRule, CompiledSource } from '../../proto/gen/perimeter/v1/compiled.js';
import { Condition_Attribute, type StringMatch } from '../../proto/gen/perimeter/v1/policy.js';
import { conditionHolds, operationMatches, pathParametersOf, sourceMatches, type View, viewOf } from '../eval/evaluate.js';
import {
  authorityCandidates,
  CANDIDATE_LIMIT,
  type Claims,
  type Lines,
  lineCandidates,
  methodCandidates,
  pathCandidates,
  peerCandidates,
  portCandidates,
  tokenCandidates,
} from './candidates.js';
import type { Cube } from './cubes.js';
import { type AnyDimension, Dimension, type Part } from './dimension.js';
import { Fragments } from './fragments.js';

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

const NO_OPERATION = CompiledOperation.fromPartial({});
const NO_SOURCE = CompiledSource.fromPartial({});

/** viewOf reads a policy only for its method table; the method dimension's parts use their own. */
const NO_METHOD_TABLE = CompiledPolicy.fromPartial({});

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
  /** Each header condition's values and notValues, by header (its literals are theirs). */
  private readonly headerMatchers = new Map<string, (readonly StringMatch[])[]>();
  private pathParameters: PathParameters | undefined;
  private built: AnyDimension[] | undefined;
  /** Header names in the order of their dimensions (after the fixed ones), once built. */
  private headerOrder: string[] = [];

  private readonly base: View;
  /** Views of each method under each policy's method table (a method's bits depend on it). */
  private readonly methodViews = new Map<CompiledPolicy, Map<string, View>>();

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
            this.headerMatchers.set(name, [...(this.headerMatchers.get(name) ?? []), c.values, c.notValues]);
            conditions.push(on(this.header(name), holds));
            break;
          }
          case Condition_Attribute.ATTRIBUTE_CLAIM: {
            const key = policy.claims[c.key] ?? '';
            const literals = this.claimF.get(key) ?? new Fragments();
            this.claimF.set(key, literals);
            literals.add([...c.values, ...c.notValues]);
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
  private sourceTerm(s: CompiledSource): Term {
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

  private operationTerm(policy: CompiledPolicy, o: CompiledOperation): Term {
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

  /** Classes for every dimension, from everything added so far. */
  build(): void {
    this.principal.build(peerCandidates(this.principalF), CANDIDATE_LIMIT);
    this.method.build(methodCandidates(this.methodF), CANDIDATE_LIMIT);
    this.path.build(pathCandidates(this.pathF, this.pathParameters ?? 'reject'), CANDIDATE_LIMIT);
    this.authority.build(authorityCandidates(this.hostF, this.authorityF), CANDIDATE_LIMIT);
    this.port.build(portCandidates(this.ports, this.portF), CANDIDATE_LIMIT);
    this.token.build(tokenCandidates(this.requestPrincipalF, this.claimF), CANDIDATE_LIMIT);
    this.headerOrder = [...this.headers.keys()].sort();
    const headers = this.headerOrder.map((name) => {
      const matchers = this.headerMatchers.get(name) ?? [];
      const literals = new Fragments();
      for (const ms of matchers) literals.add(ms);
      const d = this.headers.get(name) as Dimension<Lines, View>;
      d.build(lineCandidates(literals, matchers), CANDIDATE_LIMIT);
      return d;
    });
    this.built = [this.principal, this.method, this.path, this.authority, this.port, this.token, ...headers];
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
    const values: unknown[] = [req.principal, req.method, req.path, req.host ?? '', req.port ?? 0, req.claims];
    for (const name of this.headerOrder) {
      const lines = req.headers?.[name];
      values.push(lines === undefined ? undefined : typeof lines === 'string' ? [lines] : [...lines]);
    }
    const out: number[] = [];
    for (const [i, d] of this.dimensions.entries()) {
      const value = values[i];
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
}

function on<V, W>(d: Dimension<V, W>, p: Part<W>): readonly [AnyDimension, number] {
  return [d, d.part(p)];
}
