/**
 * Cedar (@cedar-policy/cedar-wasm, the Cedar team's Rust engine in Wasm): each rule becomes a
 * `permit` or `forbid` over `Spiffe::"<id>"` / `Anonymous::"-"` principals, `Action::"<METHOD>"`
 * and the normalised path in the context. Cedar's own semantics (forbid overrides permit,
 * default deny) are ours for enforced rules. The policy set is parsed once
 * (`preparsePolicySet`); a decision is `statefulIsAuthorized`.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { PolicyRequest } from '../../contracts/request.js';
import { normalizePath } from '../../contracts/request-path.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import type { Engine, Verdict } from './engine.js';
import { type Match, type SimpleRule, simpleRules } from './translate.js';

const str = (s: string) => JSON.stringify(s);
/** A `like` pattern: `*` is the wildcard, a literal star is `\*`. */
const like = (s: string) => JSON.stringify(s.replace(/\*/g, '\\*')).slice(1, -1);

function matchExpr(attr: string, m: Match): string {
  switch (m.kind) {
    case 'exact':
      return `${attr} == ${str(m.value)}`;
    case 'prefix':
      return `${attr} like "${like(m.value)}*"`;
    case 'segment-prefix':
      return `(${attr} == ${str(m.value)} || ${attr} like "${like(m.value)}/*")`;
  }
}

const any = (xs: string[]) => (xs.length === 0 ? 'true' : xs.length === 1 ? (xs[0] as string) : `(${xs.join(' || ')})`);
const all = (xs: string[]) => (xs.length === 0 ? 'true' : xs.join(' && '));

function callerExpr(f: SimpleRule['from'][number]): string {
  const parts: string[] = [];
  const named = f.principals.every((m) => m.kind === 'exact') && f.principals.length > 0;
  if ((f.peer === 'authenticated' || f.principals.length) && !named) parts.push('principal is Spiffe');
  if (f.peer === 'unauthenticated') parts.push('principal is Anonymous');
  // Exact identities as entity equality, the way Cedar policies name principals.
  const ps = f.principals.map((m) => (m.kind === 'exact' ? `principal == Spiffe::${str(m.value)}` : matchExpr('context.peer', m)));
  if (ps.length) parts.push(any(ps));
  return all(parts);
}

/** One Cedar policy per rule, keyed by id (a set parsed as one text grows worse than linearly). */
export function toCedar(policy: CompiledPolicy): Record<string, string> {
  const out: Record<string, string> = {};
  simpleRules(policy).forEach((r, i) => {
    const from = any(r.from.map(callerExpr));
    const to = any(
      r.to.map((o) =>
        all([
          ...(o.methods.length ? [`action in [${o.methods.map((m) => `Action::${str(m)}`).join(', ')}]`] : []),
          ...(o.paths.length ? [any(o.paths.map((m) => matchExpr('context.path', m)))] : []),
        ]),
      ),
    );
    out[`${i}:${r.name}`] = `${r.effect === 'deny' ? 'forbid' : 'permit'} (principal, action, resource)\nwhen { ${from} && ${to} };`;
  });
  return out;
}

type Call = Omit<cedar.StatefulAuthorizationCall, 'preparsedPolicySetId'>;
let sets = 0;

export class CedarEngine implements Engine<Call | undefined> {
  private readonly id = `perimeter-${++sets}`;

  constructor(policy: CompiledPolicy) {
    const r = cedar.preparsePolicySet(this.id, { staticPolicies: toCedar(policy) });
    if (r.type !== 'success') throw new Error(`Cedar refused the translation: ${r.errors.map((e) => e.message).join('; ')}`);
  }

  prepare(req: PolicyRequest): Call | undefined {
    const norm = normalizePath(req.path);
    if (!norm.ok) return undefined;
    return {
      principal: req.principal === undefined ? { type: 'Anonymous', id: '-' } : { type: 'Spiffe', id: req.principal },
      action: { type: 'Action', id: req.method },
      resource: { type: 'Workload', id: 'target' },
      context: { peer: req.principal ?? '', path: norm.path },
      entities: [],
    };
  }

  decide(call: Call | undefined): Verdict {
    if (!call) return 'deny';
    const a = cedar.statefulIsAuthorized({ ...call, preparsedPolicySetId: this.id });
    if (a.type !== 'success') throw new Error(`Cedar failed: ${a.errors.map((e) => e.message).join('; ')}`);
    return a.response.decision;
  }
}
