/**
 * What the bench-only translations (Cedar, casbin) take from a compiled policy: enforced
 * allow and deny rules over the peer identity, the method and the path, nothing else. Anything
 * more is refused, so a translation can never silently decide a different policy.
 */
import { methodsOf } from '../../contracts/methods.js';
import type { CompiledPolicy, CompiledRule } from '../../proto/gen/perimeter/v1/compiled.js';
import { Action, Mode, Source_Peer, type StringMatch, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';

export type Kind = 'exact' | 'prefix' | 'segment-prefix';
export interface Match {
  kind: Kind;
  value: string;
}
export interface SimpleRule {
  name: string;
  effect: 'allow' | 'deny';
  /** OR; empty = any caller. `principals` empty = any peer of that kind. */
  from: { peer: 'any' | 'authenticated' | 'unauthenticated'; principals: Match[] }[];
  /** OR; empty = any operation. Empty methods / paths = any. */
  to: { methods: string[]; paths: Match[] }[];
}

const KINDS: Partial<Record<StringMatch_Kind, Kind>> = {
  [StringMatch_Kind.KIND_EXACT]: 'exact',
  [StringMatch_Kind.KIND_PREFIX]: 'prefix',
  [StringMatch_Kind.KIND_SEGMENT_PREFIX]: 'segment-prefix',
};

function match(m: StringMatch, where: string): Match {
  const kind = KINDS[m.kind];
  if (!kind) throw new Error(`${where}: matcher kind ${m.kind} is not translated`);
  return { kind, value: m.value };
}

export function simpleRules(policy: CompiledPolicy): SimpleRule[] {
  if (policy.defaultMode !== Mode.MODE_ENFORCE) throw new Error('only an enforced default deny is translated');
  return policy.rules.map((r: CompiledRule) => {
    const where = `rule ${r.name}`;
    if (r.mode !== Mode.MODE_ENFORCE || r.expiresUnixMs !== 0 || r.conditions.length > 0)
      throw new Error(`${where}: staged, expiring or conditional rules are not translated`);
    if (r.action !== Action.ACTION_ALLOW && r.action !== Action.ACTION_DENY)
      throw new Error(`${where}: only allow and deny are translated`);
    const from = r.sources.map((s) => {
      if (
        s.notPrincipals.length +
        s.namespaces.length +
        s.notNamespaces.length +
        s.requestPrincipals.length +
        s.notRequestPrincipals.length
      )
        throw new Error(`${where}: only peer and principals are translated`);
      const peer =
        s.peer === Source_Peer.PEER_AUTHENTICATED
          ? 'authenticated'
          : s.peer === Source_Peer.PEER_UNAUTHENTICATED
            ? 'unauthenticated'
            : 'any';
      return { peer, principals: s.principals.map((m) => match(m, where)) } as SimpleRule['from'][number];
    });
    const to = r.operations.map((o) => {
      if (o.notMethods || o.notPaths.length || o.hosts.length || o.notHosts.length || o.ports.length || o.notPorts.length)
        throw new Error(`${where}: only methods and paths are translated`);
      return { methods: methodsOf(o.methods), paths: o.paths.map((m) => match(m, where)) };
    });
    // "Any caller" from the compiler is one source with peer any and no principals.
    const anyCaller = from.length === 1 && from[0]?.peer === 'any' && from[0].principals.length === 0;
    return { name: r.name, effect: r.action === Action.ACTION_DENY ? 'deny' : 'allow', from: anyCaller ? [] : from, to };
  });
}
