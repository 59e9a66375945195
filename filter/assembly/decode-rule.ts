// Decoding one rule of a CompiledPolicy (and a perimeter): its sources, operations and
// conditions into the policy's tables. Lists are gathered in scratch arrays reused across rules
// and copied out fixed; empty lists share one empty table.
import { KIND_FOLDED, KIND_MAX, Match } from "./match";
import { ACTION_AUDIT, ATTR_PORT, Condition, MODE_ENFORCE, NO_CONDITIONS, NO_MATCHES, NO_OPERATIONS, NO_SOURCES, NO_U32, Operation, PEER_UNAUTHENTICATED, Perimeter, Rule, Source } from "./policy";
import { nested, Reader, WIRE_LEN, WIRE_VARINT } from "./reader";

export function matches(r: Reader, into: Array<Match>): void {
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
export function fixed<T>(a: Array<T>): StaticArray<T> {
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

export function resetScratch(): void {
  S_P.length = 0;
  S_NP.length = 0;
  S_RP.length = 0;
  S_NRP.length = 0;
  S_NS.length = 0;
  S_NNS.length = 0;
  S_TD.length = 0;
  S_NTD.length = 0;
  O_PATHS.length = 0;
  O_NOT_PATHS.length = 0;
  O_HOSTS.length = 0;
  O_NOT_HOSTS.length = 0;
  O_AUTHORITIES.length = 0;
  O_NOT_AUTHORITIES.length = 0;
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
const S_TD = new Array<Match>(), S_NTD = new Array<Match>();
const O_PATHS = new Array<Match>(), O_NOT_PATHS = new Array<Match>(), O_HOSTS = new Array<Match>(), O_NOT_HOSTS = new Array<Match>();
const O_AUTHORITIES = new Array<Match>(), O_NOT_AUTHORITIES = new Array<Match>();
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
    nns = S_NNS,
    td = S_TD,
    ntd = S_NTD;
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
    else if ((t & 7) == WIRE_LEN && f == 8) matches(m, td);
    else if ((t & 7) == WIRE_LEN && f == 9) matches(m, ntd);
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
  s.trustDomains = fixed(td);
  s.notTrustDomains = fixed(ntd);
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
    else if (f == 9 && w == WIRE_LEN) matches(m, O_AUTHORITIES);
    else if (f == 10 && w == WIRE_LEN) matches(m, O_NOT_AUTHORITIES);
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
  o.authorities = fixed(O_AUTHORITIES);
  o.notAuthorities = fixed(O_NOT_AUTHORITIES);
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

export function decodeRule(r: Reader): Rule | null {
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

export function decodePerimeter(r: Reader): Perimeter | null {
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
