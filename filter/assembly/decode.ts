// The CompiledPolicy bytes (proto/perimeter/v1/compiled.proto) into a Policy: decoded once in
// on_configure, every enum and cross-reference checked, then indexed and labelled. Null when the
// bytes are not a policy this filter can enforce.
import { decodePerimeter, decodeRule, fixed, matches, resetScratch } from "./decode-rule";
import { buildIndex } from "./identity-index";
import { buildLabels } from "./labels";
import { ptrOf, sameBytes } from "./bytes";
import { KIND_EXACT, Match } from "./match";
import { ATTR_CLAIM, ATTR_HEADER, FORMAT_VERSION, MAX_METHOD_TABLE, MODE_ENFORCE, Perimeter, Policy, Rule } from "./policy";
import { nested, Reader, WIRE_LEN, WIRE_VARINT } from "./reader";

/** Where each claim name's first segment ends (contracts/claim-path.ts), found once here, not per request. */
function claimHeads(names: StaticArray<Match>): StaticArray<u32> {
  const heads = new StaticArray<u32>(names.length);
  for (let i = 0; i < names.length; i++) {
    const n = unchecked(names[i]);
    let first: usize = 0;
    while (first < n.len && load<u8>(n.ptr + first) != 0) first++;
    unchecked((heads[i] = <u32>first));
  }
  return heads;
}

export function decodePolicy(pool: ArrayBuffer): Policy | null {
  const base = ptrOf(pool);
  return decodeRange(pool, base, base + <usize>pool.byteLength, true);
}

/** Whether two header, claim or method tables name the same keys (of the same kinds) in the same order. */
function sameKeys(a: StaticArray<Match>, b: StaticArray<Match>): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = unchecked(a[i]);
    const y = unchecked(b[i]);
    if (x.kind != y.kind || x.len != y.len || !sameBytes(x.ptr, y.ptr, x.len)) return false;
  }
  return true;
}

function decodeRange(pool: ArrayBuffer, start: usize, end: usize, outer: bool): Policy | null {
  resetScratch();
  const r = new Reader(start, end);
  let candidateStart: usize = 0;
  let candidateEnd: usize = 0;
  const policy = new Policy(pool);
  const perimeters: Perimeter[] = [],
    rules: Rule[] = [],
    headers: Match[] = [],
    claims: Match[] = [],
    methods: Match[] = [];
  let format: u32 = 0;
  let defaultMode: u32 = 0;
  while (!r.done) {
    const t = r.tag();
    const f = t >> 3;
    const w = t & 7;
    if (f == 1 && w == WIRE_VARINT) format = r.u32();
    else if (f == 2 && w == WIRE_LEN) {
      if (r.lengthDelimited()) {
        policy.versionPtr = r.fieldStart;
        policy.versionLen = r.fieldLen;
      }
    } else if (f == 5 && w == WIRE_VARINT) defaultMode = r.u32();
    else if (f == 6 && w == WIRE_LEN) {
      if (r.lengthDelimited()) {
        policy.defaultPerimeterPtr = r.fieldStart;
        policy.defaultPerimeterLen = r.fieldLen;
      }
    } else if (f == 7 && w == WIRE_LEN) {
      const p = decodePerimeter(r);
      if (p) perimeters.push(p);
    } else if (f == 8 && w == WIRE_LEN) {
      const rule = decodeRule(r);
      if (rule) rules.push(rule);
    } else if ((f == 10 || f == 11) && w == WIRE_LEN) {
      if (r.lengthDelimited()) (f == 10 ? headers : claims).push(new Match(KIND_EXACT, r.fieldStart, r.fieldLen));
    } else if (f == 15 && w == WIRE_LEN) matches(r, methods);
    else if (f == 12 && w == WIRE_VARINT) policy.needs = r.u32();
    else if (f == 14 && w == WIRE_VARINT) {
      const params = r.u32();
      // An unknown value is refused, never read as a laxer one.
      if (params > 3) return null;
      policy.pathParameters = <u8>params;
    }
    else if (f == 13 && w == WIRE_LEN) {
      // A candidate's candidate is malformed; decoded once the outer tables are done (scratch is shared).
      if (!outer || !r.lengthDelimited()) return null;
      candidateStart = r.fieldStart;
      candidateEnd = r.fieldStart + r.fieldLen;
    } else r.skip(w);
  }
  if (r.failed || format != FORMAT_VERSION || defaultMode == 0 || defaultMode > <u32>MODE_ENFORCE) return null;
  if (methods.length > MAX_METHOD_TABLE) return null;
  // Cross-references must point inside the tables.
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule.perimeter >= <u32>perimeters.length) return null;
    for (let c = 0; c < rule.conditions.length; c++) {
      const cond = rule.conditions[c];
      if (cond.attribute == ATTR_HEADER && cond.key >= <u32>headers.length) return null;
      if (cond.attribute == ATTR_CLAIM && cond.key >= <u32>claims.length) return null;
    }
    for (let s = 0; s < rule.sources.length; s++) {
      const src = rule.sources[s];
      if (src.requestPrincipals.length + src.notRequestPrincipals.length > 0) policy.usesRequestPrincipal = true;
    }
    for (let o = 0; o < rule.operations.length; o++) {
      const op = rule.operations[o];
      if (op.hosts.length + op.notHosts.length + op.authorities.length + op.notAuthorities.length > 0) policy.readsHost = true;
    }
  }
  policy.defaultMode = <u8>defaultMode;
  policy.perimeters = fixed(perimeters);
  policy.rules = fixed(rules);
  policy.headers = fixed(headers);
  policy.claims = fixed(claims);
  policy.claimHeads = claimHeads(policy.claims);
  policy.methods = fixed(methods);
  buildIndex(policy);
  buildLabels(policy);
  if (candidateEnd > candidateStart) {
    const c = decodeRange(pool, candidateStart, candidateEnd, false);
    if (c === null || !sameKeys(c.headers, policy.headers) || !sameKeys(c.claims, policy.claims) || !sameKeys(c.methods, policy.methods)) return null;
    if ((c.needs & ~policy.needs) != 0) return null;
    policy.candidate = c;
  }
  return policy;
}
