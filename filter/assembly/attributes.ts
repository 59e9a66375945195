// The request's attributes, read through the host into a Request: the peer identity, the
// pseudo-headers and the headers the policy reads (a repeated header joined as Envoy joins it),
// and, when the policy needs them, the destination port, the time and the verified claims.
// Nothing here allocates; host memory is kept until the request is done, then released.
import * as claims from "./claims";
import { Status } from "./abi";
import { isName, ptrOf, put, sameBytes, utf8 } from "./bytes";
import * as host from "./host";
import { matchOne } from "./match";
import { NEED_CLAIMS, NEED_PORT, NEED_TIME, Policy } from "./policy";
import { Request, REQUEST_PRINCIPAL_BUF, REQUEST_PRINCIPAL_MAX } from "./request";

const URI_SAN = utf8("connection\0uri_san_peer_certificate");
const DESTINATION_PORT = utf8("destination\0port");
/** All dynamic metadata, as Envoy serialises it: a Metadata message (jwt_authn's payload inside). */
const METADATA = utf8("metadata");
const H_METHOD = utf8(":method");
const H_PATH = utf8(":path");
const H_AUTHORITY = utf8(":authority");
const METHODS: StaticArray<ArrayBuffer> = [
  utf8("GET"),
  utf8("HEAD"),
  utf8("POST"),
  utf8("PUT"),
  utf8("DELETE"),
  utf8("CONNECT"),
  utf8("OPTIONS"),
  utf8("TRACE"),
  utf8("PATCH"),
];

/** The peer's URI SAN; false on a host fault. */
export function readPeer(req: Request): bool {
  freeCount = 0; // the first read of a request
  const st = host.getProperty(ptrOf(URI_SAN), URI_SAN.byteLength);
  keep(host.hostPtr);
  if (st == Status.Ok) req.setPeer(true, host.hostPtr, host.hostSize);
  else if (st == Status.NotFound) req.setPeer(false, 0, 0);
  else return false;
  return true;
}

/** The request headers; false on a host fault or a malformed map. */
export function readRequestHeaders(policy: Policy, req: Request): bool {
  const hs = host.getRequestHeaderPairs();
  keep(host.hostPtr);
  return hs == Status.Ok && readHeaders(policy, req, host.hostPtr, host.hostSize);
}

const FREES: usize = memory.data(4 * 64);
let freeCount: usize = 0;

/** Host memory to release when the request is done (the first 64 held, any more released at once). */
@inline export function keep(p: usize): void {
  if (p != 0 && freeCount < 64) {
    store<u32>(FREES + freeCount * 4, <u32>p);
    freeCount++;
  } else if (p != 0) {
    host.release(p);
  }
}

export function releaseAll(): void {
  for (let i: usize = 0; i < freeCount; i++) host.release(<usize>load<u32>(FREES + i * 4));
  freeCount = 0;
}


/**
 * The mask bits of a method (compiled.proto MethodBit): a standard method's own bit, else the
 * bits of the method table's entries that match it (none at all for most policies).
 */
function methodBits(policy: Policy, v: usize, vl: usize): u32 {
  for (let m = 0; m < METHODS.length; m++) if (isName(v, vl, unchecked(METHODS[m]))) return 1 << m;
  const table = policy.methods;
  let bits: u32 = 0;
  for (let i = 0; i < table.length; i++) if (matchOne(unchecked(table[i]), v, vl)) bits |= <u32>1 << (9 + <u32>i);
  return bits;
}

/** A repeated header's lines are joined here ("a,b"), as Envoy joins them for its matchers. */
const JOINED_MAX: usize = 65536;
const JOINED: usize = memory.data(<i32>JOINED_MAX);

/**
 * Reads the request headers (pairs format), keeping the ones the decision needs: the first line
 * of each, and when a header came more than once, every line joined by "," (a second pass, only
 * then). False when the map is malformed.
 */
export function readHeaders(policy: Policy, req: Request, p: usize, size: usize): bool {
  req.rawPathLen = -1;
  req.rawHostLen = 0;
  req.joinedOverflow = false;
  req.methodBit = 0;
  const wanted = policy.headers;
  for (let i = 0; i < wanted.length; i++) {
    unchecked((req.headerLens[i] = -1));
    unchecked((req.headerCounts[i] = 0));
  }
  if (size == 0) return true; // no headers at all: nothing to read
  if (size < 4) return false;
  const n = <usize>load<u32>(p);
  if (<u64>n * 8 + 4 > <u64>size) return false;
  let off: usize = 4 + n * 8;
  let repeated = false;
  let methodSeen = false;
  for (let i: usize = 0; i < n; i++) {
    const kl = <usize>load<u32>(p + 4 + i * 8);
    const vl = <usize>load<u32>(p + 8 + i * 8);
    if (<u64>off + <u64>kl + <u64>vl + 2 > <u64>size) return false;
    const k = p + off;
    const v = k + kl + 1;
    off += kl + vl + 2;
    if (kl > 0 && load<u8>(k) == 0x3a) {
      if (isName(k, kl, H_PATH)) {
        if (req.rawPathLen < 0) {
          req.rawPathPtr = v;
          req.rawPathLen = <isize>vl;
        }
      } else if (isName(k, kl, H_AUTHORITY)) {
        if (req.rawHostLen == 0) {
          req.rawHostPtr = v;
          req.rawHostLen = vl;
        }
      } else if (isName(k, kl, H_METHOD) && !methodSeen) {
        methodSeen = true;
        req.methodBit = methodBits(policy, v, vl);
      }
      continue;
    }
    for (let h = 0; h < wanted.length; h++) {
      const w = unchecked(wanted[h]);
      if (w.len != kl || !sameBytes(w.ptr, k, kl)) continue;
      const seen = unchecked(req.headerCounts[h]);
      if (seen == 0) {
        unchecked((req.headerPtrs[h] = v));
        unchecked((req.headerLens[h] = <isize>vl));
      } else {
        // Length of the joined value so far; the lines are copied in the second pass.
        unchecked((req.headerLens[h] += <isize>(vl + 1)));
        repeated = true;
      }
      unchecked((req.headerCounts[h] = seen + 1));
    }
  }
  if (off != size) return false;
  if (repeated) joinRepeated(policy, req, p, n);
  return true;
}

/** Marks a header being joined in the second pass; the low bits count the lines still to copy. */
const JOINING: u32 = 0x80000000;

/** Second pass: each repeated header's lines, in order, joined by "," into JOINED. */
function joinRepeated(policy: Policy, req: Request, p: usize, n: usize): void {
  const wanted = policy.headers;
  let total: usize = 0;
  for (let h = 0; h < wanted.length; h++) {
    const count = unchecked(req.headerCounts[h]);
    if (count < 2) continue;
    const len = <usize>unchecked(req.headerLens[h]);
    if (total + len > JOINED_MAX) {
      req.joinedOverflow = true;
      return;
    }
    unchecked((req.headerPtrs[h] = JOINED + total));
    total += len;
    unchecked((req.headerCounts[h] = JOINING | count));
    unchecked((req.headerLens[h] = 0)); // bytes copied so far
  }
  let off: usize = 4 + n * 8;
  for (let i: usize = 0; i < n; i++) {
    const kl = <usize>load<u32>(p + 4 + i * 8);
    const vl = <usize>load<u32>(p + 8 + i * 8);
    const k = p + off;
    off += kl + vl + 2;
    for (let h = 0; h < wanted.length; h++) {
      const state = unchecked(req.headerCounts[h]);
      if ((state & JOINING) == 0 || state == JOINING) continue;
      const w = unchecked(wanted[h]);
      if (w.len != kl || !sameBytes(w.ptr, k, kl)) continue;
      const dst = unchecked(req.headerPtrs[h]);
      let at = <usize>unchecked(req.headerLens[h]);
      memory.copy(dst + at, k + kl + 1, vl);
      at += vl;
      const left = state - 1;
      if (left != JOINING) {
        store<u8>(dst + at, 0x2c);
        at++;
      }
      unchecked((req.headerLens[h] = <isize>at));
      unchecked((req.headerCounts[h] = left));
    }
  }
}

/** Fetches what the policy needs beyond identity and headers; false on a host fault. */
export function readExtras(policy: Policy, req: Request): bool {
  req.setPort(-1);
  req.requestPrincipalLen = -1;
  if ((policy.needs & NEED_PORT) != 0) {
    const st = host.getProperty(ptrOf(DESTINATION_PORT), DESTINATION_PORT.byteLength);
    keep(host.hostPtr);
    if (st == Status.Ok && host.hostSize == 8) req.setPort(load<i64>(host.hostPtr));
    else if (st != Status.NotFound) return false;
  }
  if ((policy.needs & NEED_TIME) != 0) {
    const ns = host.nowNanoseconds();
    if (ns < 0) return false;
    req.nowMs = ns / 1000000;
  }
  if ((policy.needs & NEED_CLAIMS) != 0) {
    const st = host.getProperty(ptrOf(METADATA), METADATA.byteLength);
    keep(host.hostPtr);
    if (st == Status.NotFound) return claims.readClaims(policy.claims, policy.claimHeads, req, 0, 0);
    if (st != Status.Ok || !claims.readClaims(policy.claims, policy.claimHeads, req, host.hostPtr, host.hostSize)) return false;
    if (policy.usesRequestPrincipal) readRequestPrincipal(req);
  }
  return true;
}

/** "iss/sub" of the verified token, when both are strings and fit. */
function readRequestPrincipal(req: Request): void {
  const il = claims.issLen;
  const sl = claims.subLen;
  if (il < 0 || sl < 0 || <usize>(il + sl + 1) > REQUEST_PRINCIPAL_MAX) return;
  let at = put(REQUEST_PRINCIPAL_BUF, 0, claims.issPtr, <usize>il);
  store<u8>(REQUEST_PRINCIPAL_BUF + at, 0x2f);
  at = put(REQUEST_PRINCIPAL_BUF, at + 1, claims.subPtr, <usize>sl);
  req.requestPrincipalLen = <isize>at;
}
