// The matchers that are not plain string tests, byte for byte as contracts/path-template.ts and
// contracts/spiffe-patterns.ts define them: Envoy's uri_template, and Istio's serviceAccounts and
// trustDomains. Each is linear in the subject (paths come from callers), and none allocates.
import { foldedEquals, sameBytes, utf8 } from "./bytes";

const SPIFFE = utf8("spiffe://");
const NS = utf8("/ns/");
const SA = utf8("sa/");
const SLASH = utf8("/");

/** RFC 3986 pchar as Envoy's uri_template reads it: unreserved, "%", sub-delims but "*" and "=", ":" and "@". */
@inline function isTemplateChar(c: u32): bool {
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)) return true;
  return c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e || c == 0x25 || c == 0x21 || c == 0x24 || c == 0x26 || c == 0x27 || c == 0x28 || c == 0x29 || c == 0x2b || c == 0x2c || c == 0x3b || c == 0x3a || c == 0x40;
}

@inline function same(s: usize, p: usize, len: usize, fold: bool): bool {
  return fold ? foldedEquals(s, p, len) : sameBytes(s, p, len);
}

/**
 * Envoy's uri_template over a normalised path: segments of the template are literals, "*" (a
 * non-empty run of pchar) or "**" (pchar and "/", then the literal segments after it as a suffix).
 */
export function templateMatches(t: usize, tlen: usize, s: usize, slen: usize, fold: bool): bool {
  if (tlen == 0 || load<u8>(t) != 0x2f || slen == 0 || load<u8>(s) != 0x2f) return false;
  let ti: usize = 1;
  let at: usize = 1;
  let first = true;
  while (true) {
    let te = ti;
    while (te < tlen && load<u8>(t + te) != 0x2f) te++;
    if (!first) {
      if (at >= slen || load<u8>(s + at) != 0x2f) return false;
      at++;
    }
    first = false;
    const seglen = te - ti;
    if (seglen == 2 && load<u8>(t + ti) == 0x2a && load<u8>(t + ti + 1) == 0x2a) {
      const tailLen = tlen - te;
      if (slen - at < tailLen) return false;
      const restEnd = slen - tailLen;
      if (!same(s + restEnd, t + te, tailLen, fold)) return false;
      for (let i = at; i < restEnd; i++) {
        const c = <u32>load<u8>(s + i);
        if (c != 0x2f && !isTemplateChar(c)) return false;
      }
      return true;
    }
    if (seglen == 1 && load<u8>(t + ti) == 0x2a) {
      const start = at;
      while (at < slen && isTemplateChar(<u32>load<u8>(s + at))) at++;
      if (at == start) return false;
    } else {
      if (slen - at < seglen || !same(s + at, t + ti, seglen, fold)) return false;
      at += seglen;
    }
    if (te >= tlen) break;
    ti = te + 1;
  }
  return at == slen;
}

@inline function hasLineBreak(s: usize, slen: usize): bool {
  for (let i: usize = 0; i < slen; i++) if (load<u8>(s + i) == 0x0a) return true;
  return false;
}

@inline function at(s: usize, slen: usize, i: usize, p: usize, plen: usize): bool {
  return i + plen <= slen && sameBytes(s + i, p, plen);
}

/** "<ns>/<sa>": istiod's spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)? over the peer identity. */
export function serviceAccountMatches(v: usize, vlen: usize, s: usize, slen: usize): bool {
  let slash: usize = 0;
  while (slash < vlen && load<u8>(v + slash) != 0x2f) slash++;
  if (slash == 0 || slash >= vlen) return false;
  if (!at(s, slen, 0, changetype<usize>(SPIFFE), 9) || hasLineBreak(s, slen)) return false;
  const ns = v;
  const nsLen = slash;
  const sa = v + slash + 1;
  const saLen = vlen - slash - 1;
  // The leftmost "/ns/<ns>/" after at least one character leaves every later choice open.
  let i: usize = 10;
  let j: usize = 0;
  for (; i + 5 + nsLen <= slen; i++) {
    if (at(s, slen, i, changetype<usize>(NS), 4) && at(s, slen, i + 4, ns, nsLen) && load<u8>(s + i + 4 + nsLen) == 0x2f) {
      j = i + 5 + nsLen;
      break;
    }
  }
  if (j == 0) return false;
  for (let k = j; k + 3 + saLen <= slen; k++) {
    if (k > j && (k < j + 2 || load<u8>(s + k - 1) != 0x2f)) continue;
    if (!at(s, slen, k, changetype<usize>(SA), 3) || !at(s, slen, k + 3, sa, saLen)) continue;
    const m = k + 3 + saLen;
    if (m == slen || (load<u8>(s + m) == 0x2f && slen - m >= 2)) return true;
  }
  return false;
}

/** "<prefix>*" / "*<suffix>": the trust domain of a SPIFFE ID with a path (istiod's regexes). */
export function trustDomainMatches(v: usize, vlen: usize, s: usize, slen: usize): bool {
  if (!at(s, slen, 0, changetype<usize>(SPIFFE), 9) || hasLineBreak(s, slen)) return false;
  let end: usize = 9;
  while (end < slen && load<u8>(s + end) != 0x2f) end++;
  if (end >= slen) return false;
  const td = s + 9;
  const tdLen = end - 9;
  if (vlen > 0 && load<u8>(v + vlen - 1) == 0x2a) return tdLen >= vlen - 1 && sameBytes(td, v, vlen - 1);
  if (vlen > 0 && load<u8>(v) == 0x2a) return tdLen >= vlen - 1 && sameBytes(td + tdLen - (vlen - 1), v + 1, vlen - 1);
  return tdLen == vlen && sameBytes(td, v, vlen);
}

/** The leftmost place at or after `from` where pre, part and post occur one after another, or -1. */
function findPiece(s: usize, slen: usize, from: usize, pre: usize, preLen: usize, part: usize, partLen: usize, post: usize, postLen: usize): isize {
  const total = preLen + partLen + postLen;
  for (let i = from; i + total <= slen; i++) {
    if (sameBytes(s + i, pre, preLen) && sameBytes(s + i + preLen, part, partLen) && sameBytes(s + i + preLen + partLen, post, postLen)) return <isize>i;
  }
  return -1;
}

/**
 * An Istio namespace pattern ("ns-*"): istiod's .*\/ns/<a>.*<b>/.* over the identity. The pieces
 * "/ns/<a>", the middle parts and "<b>/" are found in order, each at its leftmost place.
 */
export function namespacePatternMatches(v: usize, vlen: usize, s: usize, slen: usize): bool {
  if (hasLineBreak(s, slen)) return false;
  let at: usize = 0;
  let start: usize = 0;
  for (let i: usize = 0; i <= vlen; i++) {
    if (i < vlen && load<u8>(v + i) != 0x2a) continue;
    const preLen: usize = start == 0 ? 4 : 0;
    const postLen: usize = i == vlen ? 1 : 0;
    const partLen = i - start;
    const k = findPiece(s, slen, at, changetype<usize>(NS), preLen, v + start, partLen, changetype<usize>(SLASH), postLen);
    if (k < 0) return false;
    at = <usize>k + preLen + partLen + postLen;
    start = i + 1;
  }
  return true;
}
