// The meaning of every matcher and the request normalisations, byte for byte as the reference
// evaluator defines them (contracts/string-match.ts, contracts/request-path.ts); the differential
// test holds the two to it.
import { contains, endsWith, equalBytes, foldedEquals, startsWith } from "./bytes";
import { namespacePatternMatches, serviceAccountMatches, templateMatches, trustDomainMatches } from "./patterns";

export const KIND_EXACT: u8 = 1;
export const KIND_PREFIX: u8 = 2;
export const KIND_SUFFIX: u8 = 3;
export const KIND_PRESENT: u8 = 4;
export const KIND_CONTAINS: u8 = 5;
export const KIND_SEGMENT_PREFIX: u8 = 6;
export const KIND_TEMPLATE: u8 = 7;
export const KIND_SERVICE_ACCOUNT: u8 = 8;
export const KIND_TRUST_DOMAIN: u8 = 9;
export const KIND_NAMESPACE_PATTERN: u8 = 10;
export const KIND_MAX: u8 = 10;
/**
 * Added to a kind when ASCII letters of the subject compare without case (the pattern is lower
 * case): folded matchers take the switch's default arm, so the common path pays nothing for them.
 */
export const KIND_FOLDED: u8 = 16;

export class Match {
  constructor(public kind: u8, public ptr: usize, public len: usize) {}
}

function matchFolded(m: Match, s: usize, slen: usize): bool {
  const p = m.ptr;
  const plen = m.len;
  switch (m.kind - KIND_FOLDED) {
    case KIND_EXACT:
      return slen == plen && foldedEquals(s, p, plen);
    case KIND_PREFIX:
      return slen >= plen && foldedEquals(s, p, plen);
    case KIND_SUFFIX:
      return slen >= plen && foldedEquals(s + slen - plen, p, plen);
    case KIND_PRESENT:
      return slen > 0;
    case KIND_CONTAINS:
      if (plen > slen) return false;
      for (let i: usize = 0; i <= slen - plen; i++) if (foldedEquals(s + i, p, plen)) return true;
      return false;
    case KIND_SEGMENT_PREFIX:
      return slen >= plen && foldedEquals(s, p, plen) && (slen == plen || load<u8>(s + plen) == 0x2f);
    case KIND_TEMPLATE:
      return templateMatches(p, plen, s, slen, true);
    default:
      return false;
  }
}

@inline export function matchOne(m: Match, s: usize, slen: usize): bool {
  switch (m.kind) {
    case KIND_EXACT:
      return equalBytes(s, slen, m.ptr, m.len);
    case KIND_PREFIX:
      return startsWith(s, slen, m.ptr, m.len);
    case KIND_SUFFIX:
      return endsWith(s, slen, m.ptr, m.len);
    case KIND_PRESENT:
      return slen > 0;
    case KIND_CONTAINS:
      return contains(s, slen, m.ptr, m.len);
    case KIND_SEGMENT_PREFIX:
      return equalBytes(s, slen, m.ptr, m.len) || (startsWith(s, slen, m.ptr, m.len) && slen > m.len && load<u8>(s + m.len) == 0x2f);
    case KIND_TEMPLATE:
      return templateMatches(m.ptr, m.len, s, slen, false);
    case KIND_SERVICE_ACCOUNT:
      return serviceAccountMatches(m.ptr, m.len, s, slen);
    case KIND_TRUST_DOMAIN:
      return trustDomainMatches(m.ptr, m.len, s, slen);
    case KIND_NAMESPACE_PATTERN:
      return namespacePatternMatches(m.ptr, m.len, s, slen);
    default:
      return m.kind > KIND_FOLDED && matchFolded(m, s, slen);
  }
}

@inline export function matchAny(ms: StaticArray<Match>, s: usize, slen: usize): bool {
  for (let i = 0; i < ms.length; i++) {
    if (matchOne(unchecked(ms[i]), s, slen)) return true;
  }
  return false;
}

export const MAX_PATH: usize = 16384;
const DECODED: usize = memory.data(<i32>MAX_PATH);
/** The normalised path of the current request lives here. */
export const PATH_BUF: usize = memory.data(<i32>MAX_PATH + 2);

@inline function hexValue(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x41 && c <= 0x46) return <i32>(c - 0x37);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x57);
  return -1;
}

@inline function isUnreserved(c: u32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
}

@inline function hexDigit(v: i32): u8 {
  return <u8>(v < 10 ? 0x30 + v : 0x37 + v);
}

/**
 * Whether a raw path is its own normal form, as most are: it starts with "/", fits, and has only
 * printable ASCII that needs no work (no "%", "\\", ";", "?" or "#"), no empty segment but a
 * last one, and no segment that starts with "." (so no dot segments). One scan, no copy.
 */
function isNormal(raw: usize, rawLen: usize): bool {
  if (rawLen == 0 || rawLen > MAX_PATH || load<u8>(raw) != 0x2f) return false;
  let prev: u32 = 0x2f;
  for (let i: usize = 1; i < rawLen; i++) {
    const c = <u32>load<u8>(raw + i);
    if (c <= 0x20 || c >= 0x7f || c == 0x25 || c == 0x5c || c == 0x3b || c == 0x3f || c == 0x23) return false;
    if (prev == 0x2f && (c == 0x2f || c == 0x2e)) return false;
    prev = c;
  }
  return true;
}

/** The policy's PathParameters (compiled.proto): 0 and 1 reject, 2 strip, 3 keep. */
export const PARAMS_STRIP: u8 = 2;
export const PARAMS_KEEP: u8 = 3;

/**
 * Normalises a raw `:path` into PATH_BUF and returns its length, or -1 when it cannot be made
 * safe (the request is then denied): not starting with "/", too long, a fragment, a bad or
 * escaped slash, backslash or control escape, a raw backslash, control, space or non-ASCII byte,
 * ".." above the root, or (unless `params` strips or keeps them) a path parameter. The query is
 * dropped; unreserved escapes decoded, others upper-cased; duplicate slashes merged; each
 * segment cut at ";" when `params` strips; "." and ".." resolved.
 */
export function normalizePath(raw: usize, rawLen: usize, params: u8): isize {
  if (isNormal(raw, rawLen)) {
    memory.copy(PATH_BUF, raw, rawLen);
    return <isize>rawLen;
  }
  let end = rawLen;
  for (let i: usize = 0; i < rawLen; i++) {
    const c = load<u8>(raw + i);
    if (c == 0x23) return -1;
    if (c == 0x3f) {
      end = i;
      // A fragment after the query is refused too.
      for (let k = i + 1; k < rawLen; k++) if (load<u8>(raw + k) == 0x23) return -1;
      break;
    }
  }
  if (end == 0 || load<u8>(raw) != 0x2f || end > MAX_PATH) return -1;
  const reject = params != PARAMS_STRIP && params != PARAMS_KEEP;

  let dlen: usize = 0;
  for (let i: usize = 0; i < end; i++) {
    const c = <u32>load<u8>(raw + i);
    if (c == 0x25) {
      const hi = i + 2 < end ? hexValue(load<u8>(raw + i + 1)) : -1;
      const lo = i + 2 < end ? hexValue(load<u8>(raw + i + 2)) : -1;
      if (hi < 0 || lo < 0) return -1;
      const v = <u32>(hi * 16 + lo);
      if (v == 0x2f || v == 0x5c || v < 0x20 || v == 0x7f) return -1;
      if (v == 0x3b && reject) return -1;
      if (isUnreserved(v)) {
        store<u8>(DECODED + dlen, <u8>v);
        dlen++;
      } else {
        store<u8>(DECODED + dlen, 0x25);
        store<u8>(DECODED + dlen + 1, hexDigit(hi));
        store<u8>(DECODED + dlen + 2, hexDigit(lo));
        dlen += 3;
      }
      i += 2;
    } else if (c == 0x5c || c <= 0x20 || c >= 0x7f || (c == 0x3b && reject)) {
      return -1;
    } else {
      store<u8>(DECODED + dlen, <u8>c);
      dlen++;
    }
  }

  // Segments of DECODED after its leading "/"; PATH_BUF holds "/seg/seg" without the root.
  let olen: usize = 0;
  let segments: i32 = 0;
  let segStart: usize = 1;
  let lastStart: usize = 1;
  const strip = params == PARAMS_STRIP;
  let lastLen: usize = 0;
  for (let i: usize = 1; i <= dlen; i++) {
    if (i < dlen && load<u8>(DECODED + i) != 0x2f) continue;
    const s = DECODED + segStart;
    let slen = i - segStart;
    if (strip) {
      for (let k: usize = 0; k < slen; k++) {
        if (load<u8>(s + k) == 0x3b) {
          slen = k;
          break;
        }
      }
    }
    lastStart = segStart;
    lastLen = slen;
    segStart = i + 1;
    if (slen == 0 || (slen == 1 && load<u8>(s) == 0x2e)) continue;
    if (slen == 2 && load<u8>(s) == 0x2e && load<u8>(s + 1) == 0x2e) {
      if (segments == 0) return -1;
      while (olen > 0 && load<u8>(PATH_BUF + olen - 1) != 0x2f) olen--;
      olen--; // the "/" before the popped segment
      segments--;
      continue;
    }
    store<u8>(PATH_BUF + olen, 0x2f);
    memory.copy(PATH_BUF + olen + 1, s, slen);
    olen += slen + 1;
    segments++;
  }
  const last = DECODED + lastStart;
  // A last segment that is empty (once stripped) ends the path in "/".
  const trailing = dlen > 1 && lastLen == 0;
  const dotLast = (lastLen == 1 && load<u8>(last) == 0x2e) || (lastLen == 2 && load<u8>(last) == 0x2e && load<u8>(last + 1) == 0x2e);
  if (segments == 0) {
    store<u8>(PATH_BUF, 0x2f);
    olen = 1;
  } else if (trailing || dotLast) {
    store<u8>(PATH_BUF + olen, 0x2f);
    olen++;
  }
  return <isize>olen;
}

export const MAX_HOST: usize = 1024;
/**
 * The whole `:authority`, ASCII lower-cased: its first hostLen bytes are the host (port and a
 * trailing dot removed from the end), all rawHostLen of them the authority Istio's hosts test.
 */
export const HOST_BUF: usize = memory.data(<i32>MAX_HOST);

/**
 * `:authority` ASCII lower-cased into HOST_BUF; returns the length of the host in it (port and a
 * trailing dot removed), or -1 for an authority longer than MAX_HOST: refused, never truncated.
 */
export function normalizeHost(raw: usize, rawLen: usize): isize {
  if (rawLen > MAX_HOST) return -1;
  let len = rawLen;
  if (len > 0 && load<u8>(raw) == 0x5b) {
    for (let i: usize = 0; i < len; i++) {
      if (load<u8>(raw + i) == 0x5d) {
        len = i + 1;
        break;
      }
    }
  } else {
    for (let i = <isize>len - 1; i >= 0; i--) {
      if (load<u8>(raw + <usize>i) == 0x3a) {
        len = <usize>i;
        break;
      }
    }
  }
  for (let i: usize = 0; i < rawLen; i++) {
    let c = load<u8>(raw + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    store<u8>(HOST_BUF + i, c);
  }
  if (len > 0 && load<u8>(HOST_BUF + len - 1) == 0x2e) len--;
  return <isize>len;
}
