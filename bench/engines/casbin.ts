/**
 * casbin (node-casbin): one policy line per (caller, path) pair of a rule,
 * `p, <subject>, <path>, <methods regex>, allow|deny`, with keyMatch for subjects and paths
 * (`x/*` = under x) and the allow-and-no-deny effect. The unauthenticated caller is the empty
 * subject. Enforced with `enforceSync` on an enforcer loaded once.
 */
import { type Enforcer, newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import type { PolicyRequest } from '../../contracts/request.js';
import { normalizePath } from '../../contracts/request-path.js';
import type { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import type { Engine, Verdict } from './engine.js';
import { type Match, simpleRules } from './translate.js';

const MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = keyMatch(r.sub, p.sub) && keyMatch(r.obj, p.obj) && regexMatch(r.act, p.act)
`;

/** keyMatch patterns: `*` matches the rest (and only the rest). */
function patterns(m: Match): string[] {
  if (m.value.includes('*') || m.value.includes(',')) throw new Error(`casbin: "${m.value}" cannot be a keyMatch pattern`);
  if (m.kind === 'exact') return [m.value];
  if (m.kind === 'prefix') return [`${m.value}*`];
  return [m.value, `${m.value}/*`];
}

export function toCasbin(policy: CompiledPolicy): string {
  const lines: string[] = [];
  for (const r of simpleRules(policy)) {
    const subjects = (r.from.length ? r.from : [{ peer: 'any' as const, principals: [] }]).flatMap((f) => {
      if (f.principals.length) return f.principals.flatMap(patterns);
      if (f.peer === 'unauthenticated') return [''];
      if (f.peer === 'authenticated') return ['spiffe://*'];
      return ['*'];
    });
    const ops = r.to.length ? r.to : [{ methods: [], paths: [] }];
    for (const o of ops) {
      const act = o.methods.length ? `^(${o.methods.join('|')})$` : '.*';
      const objects = o.paths.length ? o.paths.flatMap(patterns) : ['*'];
      for (const sub of subjects) for (const obj of objects) lines.push(`p, ${sub}, ${obj}, ${act}, ${r.effect}`);
    }
  }
  return lines.join('\n');
}

interface Prepared {
  sub: string;
  obj: string;
  act: string;
}

export class CasbinEngine implements Engine<Prepared | undefined> {
  private constructor(private readonly e: Enforcer) {}

  static async create(policy: CompiledPolicy): Promise<CasbinEngine> {
    return new CasbinEngine(await newEnforcer(newModelFromString(MODEL), new StringAdapter(toCasbin(policy))));
  }

  prepare(req: PolicyRequest): Prepared | undefined {
    const norm = normalizePath(req.path);
    return norm.ok ? { sub: req.principal ?? '', obj: norm.path, act: req.method } : undefined;
  }

  decide(p: Prepared | undefined): Verdict {
    return p && this.e.enforceSync(p.sub, p.obj, p.act) ? 'allow' : 'deny';
  }
}
