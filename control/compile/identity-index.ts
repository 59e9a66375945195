/**
 * Builds the identity index of a compiled policy: which sources a request must check, by its
 * peer identity. A source is keyed under each of its principals when all of them are exact
 * or prefixes; otherwise it goes to the list every authenticated request checks.
 */
import type { CompiledRule, IdentityIndex, IndexEntry, SourceRef } from '../../proto/gen/perimeter/v1/compiled.js';
import { Source_Peer, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';

export function buildIdentityIndex(rules: readonly CompiledRule[]): IdentityIndex {
  const exact = new Map<string, SourceRef[]>();
  const prefix = new Map<string, SourceRef[]>();
  const authenticated: SourceRef[] = [];
  const unauthenticated: SourceRef[] = [];
  const add = (m: Map<string, SourceRef[]>, key: string, ref: SourceRef) => {
    const list = m.get(key);
    if (list) list.push(ref);
    else m.set(key, [ref]);
  };

  rules.forEach((rule, r) => {
    rule.sources.forEach((src, s) => {
      const ref = { rule: r, source: s };
      if (src.peer !== Source_Peer.PEER_AUTHENTICATED) unauthenticated.push(ref);
      if (src.peer === Source_Peer.PEER_UNAUTHENTICATED) return;
      const indexable =
        src.peer === Source_Peer.PEER_AUTHENTICATED &&
        src.principals.length > 0 &&
        src.principals.every(
          (p) =>
            p.kind === StringMatch_Kind.KIND_EXACT ||
            p.kind === StringMatch_Kind.KIND_PREFIX ||
            p.kind === StringMatch_Kind.KIND_SEGMENT_PREFIX,
        );
      if (!indexable) {
        authenticated.push(ref);
        return;
      }
      // A source listing the same key twice is indexed once under it.
      const keys = new Set<string>();
      for (const p of src.principals) {
        const tag = `${p.kind === StringMatch_Kind.KIND_EXACT ? 'e' : 'p'}:${p.value}`;
        if (keys.has(tag)) continue;
        keys.add(tag);
        add(p.kind === StringMatch_Kind.KIND_EXACT ? exact : prefix, p.value, ref);
      }
    });
  });

  const entries = (m: Map<string, SourceRef[]>): IndexEntry[] =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, refs]) => ({ key, refs }));
  return { exact: entries(exact), prefix: entries(prefix), authenticated, unauthenticated };
}
