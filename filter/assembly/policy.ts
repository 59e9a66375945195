// The compiled policy as the filter holds it: decoded once in on_configure from the
// CompiledPolicy bytes (proto/perimeter/v1/compiled.proto) into flat tables, then only read.
// Nothing here changes after decoding: what a request reads lives in request.ts, what it
// decided in verdict.ts, and what is counted against the rules in contexts.ts (Installed).
// Strings point into the policy's own copy of the configuration bytes.
import { hashBytes, ptrOf, sameBytes, utf8 } from './bytes';
import { KIND_EXACT, KIND_FOLDED, KIND_MAX, KIND_PREFIX, KIND_SEGMENT_PREFIX, Match } from './match';
import { nested, Reader, WIRE_LEN, WIRE_VARINT } from './reader';

export const FORMAT_VERSION: u32 = 2;

export const MODE_OBSERVE: u8 = 1;
export const MODE_SIMULATE: u8 = 2;
export const MODE_ENFORCE: u8 = 3;

export const ACTION_ALLOW: u8 = 1;
export const ACTION_DENY: u8 = 2;
export const ACTION_AUDIT: u8 = 3;

export const PEER_ANY: u8 = 0;
export const PEER_AUTHENTICATED: u8 = 1;
export const PEER_UNAUTHENTICATED: u8 = 2;

export const ATTR_HEADER: u8 = 1;
export const ATTR_CLAIM: u8 = 2;
export const ATTR_PRINCIPAL: u8 = 3;
export const ATTR_PORT: u8 = 4;

export const NEED_PORT: u32 = 1;
export const NEED_TIME: u32 = 2;
export const NEED_CLAIMS: u32 = 4;

// Shared empty tables: most lists of most rules are empty, and an allocation each would
// multiply a large policy's footprint.
const NO_MATCHES = new StaticArray<Match>(0);
const NO_U32 = new StaticArray<u32>(0);
const NO_BYTES = new ArrayBuffer(0);

export class Source {
  peer: u8 = PEER_ANY;
  principals: StaticArray<Match> = NO_MATCHES;
  notPrincipals: StaticArray<Match> = NO_MATCHES;
  requestPrincipals: StaticArray<Match> = NO_MATCHES;
  notRequestPrincipals: StaticArray<Match> = NO_MATCHES;
  namespaces: StaticArray<Match> = NO_MATCHES;
  notNamespaces: StaticArray<Match> = NO_MATCHES;
}

export class Operation {
  methods: u32 = 0;
  notMethods: u32 = 0;
  paths: StaticArray<Match> = NO_MATCHES;
  notPaths: StaticArray<Match> = NO_MATCHES;
  hosts: StaticArray<Match> = NO_MATCHES;
  notHosts: StaticArray<Match> = NO_MATCHES;
  ports: StaticArray<u32> = NO_U32;
  notPorts: StaticArray<u32> = NO_U32;
}

export class Condition {
  attribute: u8 = 0;
  key: u32 = 0;
  values: StaticArray<Match> = NO_MATCHES;
  notValues: StaticArray<Match> = NO_MATCHES;
}

const NO_SOURCES = new StaticArray<Source>(0);
const NO_OPERATIONS = new StaticArray<Operation>(0);
const NO_CONDITIONS = new StaticArray<Condition>(0);

export class Rule {
  namePtr: usize = 0;
  nameLen: usize = 0;
  perimeter: u32 = 0;
  action: u8 = 0;
  mode: u8 = 0;
  expiresMs: i64 = 0;
  sources: StaticArray<Source> = NO_SOURCES;
  operations: StaticArray<Operation> = NO_OPERATIONS;
  conditions: StaticArray<Condition> = NO_CONDITIONS;
  /** "perimeter/rule", for the decision record. */
  label: ArrayBuffer = NO_BYTES;
  /** Response details of a deny by this rule: perimeter_denied[perimeter/rule@version]. */
  details: ArrayBuffer = NO_BYTES;
}

export class Perimeter {
  namePtr: usize = 0;
  nameLen: usize = 0;
  mode: u8 = 0;
}

/** Open-addressing hash table from identity bytes to the rules whose sources name them. */
export class IdentityTable {
  mask: u32 = 0;
  hashes: StaticArray<u32> = NO_U32;
  keyPtrs: StaticArray<usize> = [];
  keyLens: StaticArray<u32> = NO_U32;
  refStart: StaticArray<u32> = NO_U32;
  refCount: StaticArray<u32> = NO_U32;
  refs: StaticArray<u32> = NO_U32;
  /** Distinct key lengths, for prefix tables (probed once per length). */
  lengths: StaticArray<u32> = NO_U32;
  /** Per length: 1 when some key of that length is a raw prefix (probed whatever follows it). */
  rawAt: StaticArray<u32> = NO_U32;

  /** Slot of the key, or -1. */
  @inline find(p: usize, len: usize): i32 {
    if (this.refs.length == 0) return -1;
    const h = hashBytes(p, len);
    let i = h & this.mask;
    while (true) {
      const kl = unchecked(this.keyLens[i]);
      if (kl == 0xffffffff) return -1;
      if (unchecked(this.hashes[i]) == h && kl == <u32>len && sameBytes(unchecked(this.keyPtrs[i]), p, len)) return <i32>i;
      i = (i + 1) & this.mask;
    }
  }
}

export class Policy {
  pool: ArrayBuffer;
  versionPtr: usize = 0;
  versionLen: usize = 0;
  defaultMode: u8 = MODE_ENFORCE;
  defaultPerimeterPtr: usize = 0;
  defaultPerimeterLen: usize = 0;
  perimeters: StaticArray<Perimeter> = [];
  rules: StaticArray<Rule> = [];
  headers: StaticArray<Match> = NO_MATCHES;
  claims: StaticArray<Match> = NO_MATCHES;
  needs: u32 = 0;
  /** compiled.proto PathParameters: 0/1 reject, 2 strip, 3 keep. */
  pathParameters: u8 = 0;
  usesRequestPrincipal: bool = false;
  exact: IdentityTable = new IdentityTable();
  prefix: IdentityTable = new IdentityTable();
  authenticated: StaticArray<u32> = NO_U32;
  unauthenticated: StaticArray<u32> = NO_U32;
  /** "default" and unsafe-request labels and details of this policy. */
  defaultLabel: ArrayBuffer = NO_BYTES;
  defaultDetails: ArrayBuffer = NO_BYTES;
  unsafeLabel: ArrayBuffer = NO_BYTES;
  unsafeDetails: ArrayBuffer = NO_BYTES;
  /** The staged candidate, decided in shadow; it reads the same headers and claims, in the same order. */
  candidate: Policy | null = null;

  constructor(pool: ArrayBuffer) {
    this.pool = pool;
  }
}

function matches(r: Reader, into: Array<Match>): void {
  if (!r.lengthDelimited()) return;
  const m = nested(r, 4);
  let kind: u32 = 0;
  let ptr: usize = 0;
  let len: usize = 0;
  let ignoreCase = false;
  while (!m.done) {
    const t = m.tag();
    if (t == ((1 << 3) | WIRE_VARINT)) kind = m.u32();
    else if (t == ((2 << 3) | WIRE_LEN)) {
      if (m.lengthDelimited()) {
        ptr = m.fieldStart;
        len = m.fieldLen;
      }
    } else if (t == ((3 << 3) | WIRE_VARINT)) ignoreCase = m.u32() != 0;
    else m.skip(t & 7);
  }
  if (m.failed || kind == 0 || kind > <u32>KIND_MAX) {
    r.fail();
    return;
  }
  into.push(new Match(<u8>(ignoreCase ? kind + KIND_FOLDED : kind), ptr, len));
}

/** A fixed copy of a scratch list (the list is reused, so it is cleared here). */
function fixed<T>(a: Array<T>): StaticArray<T> {
  const out = a.length == 0 ? emptyOf<T>() : StaticArray.fromArray<T>(a);
  a.length = 0;
  return out;
}

function emptyOf<T>(): StaticArray<T> {
  if (isReference<T>()) {
    if (idof<T>() == idof<Match>()) return changetype<StaticArray<T>>(NO_MATCHES);
    if (idof<T>() == idof<Source>()) return changetype<StaticArray<T>>(NO_SOURCES);
    if (idof<T>() == idof<Operation>()) return changetype<StaticArray<T>>(NO_OPERATIONS);
    if (idof<T>() == idof<Condition>()) return changetype<StaticArray<T>>(NO_CONDITIONS);
  } else if (sizeof<T>() == 4) {
    return changetype<StaticArray<T>>(NO_U32);
  }
  return new StaticArray<T>(0);
}

function resetScratch(): void {
  S_P.length = 0;
  S_NP.length = 0;
  S_RP.length = 0;
  S_NRP.length = 0;
  S_NS.length = 0;
  S_NNS.length = 0;
  O_PATHS.length = 0;
  O_NOT_PATHS.length = 0;
  O_HOSTS.length = 0;
  O_NOT_HOSTS.length = 0;
  O_PORTS.length = 0;
  O_NOT_PORTS.length = 0;
  C_VALUES.length = 0;
  C_NOT_VALUES.length = 0;
  R_SOURCES.length = 0;
  R_OPS.length = 0;
  R_CONDS.length = 0;
}

// Scratch lists for decoding, reused from message to message (decoding never nests a message
// inside another of the same kind, so one set per kind suffices).
const S_P = new Array<Match>(), S_NP = new Array<Match>(), S_RP = new Array<Match>(), S_NRP = new Array<Match>(), S_NS = new Array<Match>(), S_NNS = new Array<Match>();
const O_PATHS = new Array<Match>(), O_NOT_PATHS = new Array<Match>(), O_HOSTS = new Array<Match>(), O_NOT_HOSTS = new Array<Match>();
const O_PORTS = new Array<u32>(), O_NOT_PORTS = new Array<u32>();
const C_VALUES = new Array<Match>(), C_NOT_VALUES = new Array<Match>();
const R_SOURCES = new Array<Source>(), R_OPS = new Array<Operation>(), R_CONDS = new Array<Condition>();

function decodeSource(r: Reader): Source | null {
  if (!r.lengthDelimited()) return null;
  const m = nested(r, 3);
  const s = new Source();
  const p = S_P,
    np = S_NP,
    rp = S_RP,
    nrp = S_NRP,
    ns = S_NS,
    nns = S_NNS;
  let peer: u32 = 0;
  while (!m.done) {
    const t = m.tag();
    const f = t >> 3;
    if (f == 1 && (t & 7) == WIRE_VARINT) peer = m.u32();
    else if ((t & 7) == WIRE_LEN && f == 2) matches(m, p);
    else if ((t & 7) == WIRE_LEN && f == 3) matches(m, np);
    else if ((t & 7) == WIRE_LEN && f == 4) matches(m, rp);
    else if ((t & 7) == WIRE_LEN && f == 5) matches(m, nrp);
    else if ((t & 7) == WIRE_LEN && f == 6) matches(m, ns);
    else if ((t & 7) == WIRE_LEN && f == 7) matches(m, nns);
    else m.skip(t & 7);
  }
  if (m.failed || peer > <u32>PEER_UNAUTHENTICATED) {
    r.fail();
    return null;
  }
  s.peer = <u8>peer;
  s.principals = fixed(p);
  s.notPrincipals = fixed(np);
  s.requestPrincipals = fixed(rp);
  s.notRequestPrincipals = fixed(nrp);
  s.namespaces = fixed(ns);
  s.notNamespaces = fixed(nns);
  return s;
}

function decodeOperation(r: Reader): Operation | null {
  if (!r.lengthDelimited()) return null;
  const m = nested(r, 3);
  const o = new Operation();
  const paths = O_PATHS,
    notPaths = O_NOT_PATHS,
    hosts = O_HOSTS,
    notHosts = O_NOT_HOSTS;
  const ports = O_PORTS,
    notPorts = O_NOT_PORTS;
  while (!m.done) {
    const t = m.tag();
    const f = t >> 3;
    const w = t & 7;
    if (f == 1 && w == WIRE_VARINT) o.methods = m.u32();
    else if (f == 2 && w == WIRE_VARINT) o.notMethods = m.u32();
    else if (f == 3 && w == WIRE_LEN) matches(m, paths);
    else if (f == 4 && w == WIRE_LEN) matches(m, notPaths);
    else if (f == 5 && w == WIRE_LEN) matches(m, hosts);
    else if (f == 6 && w == WIRE_LEN) matches(m, notHosts);
    else if (f == 7) m.readPackedU32(w, ports);
    else if (f == 8) m.readPackedU32(w, notPorts);
    else m.skip(w);
  }
  if (m.failed) {
    r.fail();
    return null;
  }
  o.paths = fixed(paths);
  o.notPaths = fixed(notPaths);
  o.hosts = fixed(hosts);
  o.notHosts = fixed(notHosts);
  o.ports = fixed(ports);
  o.notPorts = fixed(notPorts);
  return o;
}

function decodeCondition(r: Reader): Condition | null {
  if (!r.lengthDelimited()) return null;
  const m = nested(r, 3);
  const c = new Condition();
  const values = C_VALUES,
    notValues = C_NOT_VALUES;
  let attribute: u32 = 0;
  while (!m.done) {
    const t = m.tag();
    const f = t >> 3;
    const w = t & 7;
    if (f == 1 && w == WIRE_VARINT) attribute = m.u32();
    else if (f == 2 && w == WIRE_VARINT) c.key = m.u32();
    else if (f == 3 && w == WIRE_LEN) matches(m, values);
    else if (f == 4 && w == WIRE_LEN) matches(m, notValues);
    else m.skip(w);
  }
  if (m.failed || attribute == 0 || attribute > <u32>ATTR_PORT) {
    r.fail();
    return null;
  }
  c.attribute = <u8>attribute;
  c.values = fixed(values);
  c.notValues = fixed(notValues);
  return c;
}

function decodeRule(r: Reader): Rule | null {
  if (!r.lengthDelimited()) return null;
  const m = nested(r, 2);
  const rule = new Rule();
  const sources = R_SOURCES,
    ops = R_OPS,
    conds = R_CONDS;
  let action: u32 = 0;
  let mode: u32 = 0;
  while (!m.done) {
    const t = m.tag();
    const f = t >> 3;
    const w = t & 7;
    if (f == 1 && w == WIRE_LEN) {
      if (m.lengthDelimited()) {
        rule.namePtr = m.fieldStart;
        rule.nameLen = m.fieldLen;
      }
    } else if (f == 2 && w == WIRE_VARINT) rule.perimeter = m.u32();
    else if (f == 3 && w == WIRE_VARINT) action = m.u32();
    else if (f == 4 && w == WIRE_VARINT) mode = m.u32();
    else if (f == 5 && w == WIRE_VARINT) rule.expiresMs = m.i64();
    else if (f == 6 && w == WIRE_LEN) {
      const s = decodeSource(m);
      if (s) sources.push(s);
    } else if (f == 7 && w == WIRE_LEN) {
      const o = decodeOperation(m);
      if (o) ops.push(o);
    } else if (f == 8 && w == WIRE_LEN) {
      const c = decodeCondition(m);
      if (c) conds.push(c);
    } else m.skip(w);
  }
  if (m.failed || action == 0 || action > <u32>ACTION_AUDIT || mode == 0 || mode > <u32>MODE_ENFORCE || rule.expiresMs < 0) {
    r.fail();
    return null;
  }
  rule.action = <u8>action;
  rule.mode = <u8>mode;
  rule.sources = fixed(sources);
  rule.operations = fixed(ops);
  rule.conditions = fixed(conds);
  return rule;
}

function decodePerimeter(r: Reader): Perimeter | null {
  if (!r.lengthDelimited()) return null;
  const m = nested(r, 2);
  const p = new Perimeter();
  let mode: u32 = 0;
  while (!m.done) {
    const t = m.tag();
    const f = t >> 3;
    const w = t & 7;
    if (f == 1 && w == WIRE_LEN) {
      if (m.lengthDelimited()) {
        p.namePtr = m.fieldStart;
        p.nameLen = m.fieldLen;
      }
    } else if (f == 2 && w == WIRE_VARINT) mode = m.u32();
    else m.skip(w);
  }
  if (m.failed || mode == 0 || mode > <u32>MODE_ENFORCE) {
    r.fail();
    return null;
  }
  p.mode = <u8>mode;
  return p;
}

/** Decodes CompiledPolicy bytes held in `pool`; null when malformed or of another format. */
export function decodePolicy(pool: ArrayBuffer): Policy | null {
  const base = ptrOf(pool);
  return decodeRange(pool, base, base + <usize>pool.byteLength, true);
}

/** Whether two header (or claim) tables name the same keys in the same order. */
function sameKeys(a: StaticArray<Match>, b: StaticArray<Match>): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = unchecked(a[i]);
    const y = unchecked(b[i]);
    if (x.len != y.len || !sameBytes(x.ptr, y.ptr, x.len)) return false;
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
    claims: Match[] = [];
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
    } else if (f == 12 && w == WIRE_VARINT) policy.needs = r.u32();
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
  }
  policy.defaultMode = <u8>defaultMode;
  policy.perimeters = fixed(perimeters);
  policy.rules = fixed(rules);
  policy.headers = fixed(headers);
  policy.claims = fixed(claims);
  buildIndex(policy);
  buildLabels(policy);
  if (candidateEnd > candidateStart) {
    const c = decodeRange(pool, candidateStart, candidateEnd, false);
    if (c === null || !sameKeys(c.headers, policy.headers) || !sameKeys(c.claims, policy.claims)) return null;
    if ((c.needs & ~policy.needs) != 0) return null;
    policy.candidate = c;
  }
  return policy;
}

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
function buildIndex(policy: Policy): void {
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

function concat3(a: string, p: usize, plen: usize, b: string): ArrayBuffer {
  const head = utf8(a);
  const tail = utf8(b);
  const out = new ArrayBuffer(head.byteLength + <i32>plen + tail.byteLength);
  const o = ptrOf(out);
  memory.copy(o, ptrOf(head), head.byteLength);
  memory.copy(o + head.byteLength, p, plen);
  memory.copy(o + head.byteLength + plen, ptrOf(tail), tail.byteLength);
  return out;
}

function label(policy: Policy, perimPtr: usize, perimLen: usize, name: string, ruleNamePtr: usize, ruleNameLen: usize): ArrayBuffer {
  const n = name.length > 0 ? utf8(name) : NO_BYTES;
  const np = name.length > 0 ? ptrOf(n) : ruleNamePtr;
  const nl = name.length > 0 ? <usize>n.byteLength : ruleNameLen;
  const out = new ArrayBuffer(<i32>(perimLen + 1 + nl));
  const o = ptrOf(out);
  memory.copy(o, perimPtr, perimLen);
  store<u8>(o + perimLen, 0x2f);
  memory.copy(o + perimLen + 1, np, nl);
  return out;
}

/** Record labels and deny details, made once per policy so a request only copies bytes. */
function buildLabels(policy: Policy): void {
  const mesh = utf8('mesh');
  const dp = policy.defaultPerimeterLen > 0 ? policy.defaultPerimeterPtr : ptrOf(mesh);
  const dl = policy.defaultPerimeterLen > 0 ? policy.defaultPerimeterLen : <usize>mesh.byteLength;
  policy.defaultLabel = label(policy, dp, dl, 'default', 0, 0);
  policy.unsafeLabel = label(policy, dp, dl, 'unsafe-request', 0, 0);
  policy.defaultDetails = details(policy, policy.defaultLabel);
  policy.unsafeDetails = details(policy, policy.unsafeLabel);
  for (let i = 0; i < policy.rules.length; i++) {
    const rule = policy.rules[i];
    const p = policy.perimeters[rule.perimeter];
    rule.label = label(policy, p.namePtr, p.nameLen, '', rule.namePtr, rule.nameLen);
    // Only a deny rule's name goes into a 403's details.
    if (rule.action == ACTION_DENY) rule.details = details(policy, rule.label);
  }
}

function details(policy: Policy, lab: ArrayBuffer): ArrayBuffer {
  const a = concat3('perimeter_denied[', ptrOf(lab), lab.byteLength, '@');
  const b = concat3('', policy.versionPtr, policy.versionLen, ']');
  const out = new ArrayBuffer(a.byteLength + b.byteLength);
  memory.copy(ptrOf(out), ptrOf(a), a.byteLength);
  memory.copy(ptrOf(out) + a.byteLength, ptrOf(b), b.byteLength);
  return out;
}
