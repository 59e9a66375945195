// The identity index: which rules a peer identity can reach, as hash tables of exact identities
// and of prefixes (probed once per distinct prefix length), so a request visits only those.
import { hashBytes, sameBytes } from "./bytes";
import { fixed } from "./decode-rule";
import { KIND_EXACT, KIND_PREFIX, KIND_SEGMENT_PREFIX, Match } from "./match";
import { IdentityTable, PEER_AUTHENTICATED, PEER_UNAUTHENTICATED, Policy, Source } from "./policy";

/** Whether a source can be reached only through its principals (all exact or prefixes). */
function indexable(s: Source): bool {
  if (s.peer != PEER_AUTHENTICATED || s.principals.length == 0) return false;
  for (let i = 0; i < s.principals.length; i++) {
    const k = s.principals[i].kind;
    if (k != KIND_EXACT && k != KIND_PREFIX && k != KIND_SEGMENT_PREFIX) return false;
  }
  return true;
}

/** Index sources by the identities that can reach them (the rule of compiled.proto). */
export function buildIndex(policy: Policy): void {
  const exactKeys: Match[] = [],
    exactRules: u32[] = [];
  const prefixKeys: Match[] = [],
    prefixRules: u32[] = [];
  const authenticated: u32[] = [],
    unauthenticated: u32[] = [];
  const rules = policy.rules;
  for (let r = 0; r < rules.length; r++) {
    const sources = rules[r].sources;
    let addedAuth = false;
    let addedUnauth = false;
    for (let s = 0; s < sources.length; s++) {
      const src = sources[s];
      if (src.peer != PEER_AUTHENTICATED && !addedUnauth) {
        unauthenticated.push(<u32>r);
        addedUnauth = true;
      }
      if (src.peer == PEER_UNAUTHENTICATED) continue;
      if (!indexable(src)) {
        if (!addedAuth) authenticated.push(<u32>r);
        addedAuth = true;
        continue;
      }
      for (let p = 0; p < src.principals.length; p++) {
        const m = src.principals[p];
        if (m.kind == KIND_EXACT) {
          exactKeys.push(m);
          exactRules.push(<u32>r);
        } else {
          prefixKeys.push(m);
          prefixRules.push(<u32>r);
        }
      }
    }
  }
  policy.exact = buildTable(exactKeys, exactRules);
  policy.prefix = buildTable(prefixKeys, prefixRules);
  policy.authenticated = fixed(authenticated);
  policy.unauthenticated = fixed(unauthenticated);
}

function buildTable(keys: Array<Match>, rules: Array<u32>): IdentityTable {
  const t = new IdentityTable();
  const n = keys.length;
  if (n == 0) return t;
  let cap: u32 = 8;
  while (cap < <u32>n * 2) cap <<= 1;
  t.mask = cap - 1;
  t.hashes = new StaticArray<u32>(cap);
  t.keyPtrs = new StaticArray<usize>(cap);
  t.keyLens = new StaticArray<u32>(cap);
  t.refStart = new StaticArray<u32>(cap);
  t.refCount = new StaticArray<u32>(cap);
  for (let i: u32 = 0; i < cap; i++) t.keyLens[i] = 0xffffffff;
  // Pass 1: place keys and count references per slot.
  const slotOf = new StaticArray<u32>(n);
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    const h = hashBytes(k.ptr, k.len);
    let s = h & t.mask;
    while (true) {
      const kl = t.keyLens[s];
      if (kl == 0xffffffff) {
        t.hashes[s] = h;
        t.keyPtrs[s] = k.ptr;
        t.keyLens[s] = <u32>k.len;
        break;
      }
      if (t.hashes[s] == h && kl == <u32>k.len && sameBytes(t.keyPtrs[s], k.ptr, k.len)) break;
      s = (s + 1) & t.mask;
    }
    slotOf[i] = s;
    t.refCount[s] = t.refCount[s] + 1;
  }
  // Pass 2: lay references out contiguously per slot.
  let total: u32 = 0;
  for (let s: u32 = 0; s < cap; s++) {
    t.refStart[s] = total;
    total += t.refCount[s];
    t.refCount[s] = 0;
  }
  t.refs = new StaticArray<u32>(total);
  for (let i = 0; i < n; i++) {
    const s = slotOf[i];
    t.refs[t.refStart[s] + t.refCount[s]] = rules[i];
    t.refCount[s] = t.refCount[s] + 1;
  }
  // Distinct key lengths, for prefix probing; a segment prefix can only match at a "/" boundary,
  // so a length with segment prefixes only is probed just when the identity has one there.
  const lengths: u32[] = [];
  for (let s: u32 = 0; s < cap; s++) {
    const kl = t.keyLens[s];
    if (kl != 0xffffffff && !lengths.includes(kl)) lengths.push(kl);
  }
  lengths.sort();
  const rawAt = new StaticArray<u32>(lengths.length);
  for (let i = 0; i < n; i++) {
    if (keys[i].kind == KIND_PREFIX) rawAt[lengths.indexOf(<u32>keys[i].len)] = 1;
  }
  t.rawAt = rawAt;
  t.lengths = fixed(lengths);
  return t;
}
