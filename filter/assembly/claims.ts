// The verified JWT claims of the current request, read from the whole `metadata` property:
// Envoy serialises it as an envoy.config.core.v3.Metadata message, where jwt_authn's payload is a
// google.protobuf.Struct whose Values carry their type. (Per-claim property paths would not:
// there a string, a list and an object all arrive as bytes, and a string can look like a list.)
// Request path: no allocation; values stay in the host's buffer, which the caller keeps until
// the decision is made.
import { equalBytes, utf8 } from "./bytes";
import { Match } from "./match";
import { Request } from "./request";

export const CLAIM_ABSENT: u8 = 0;
export const CLAIM_STRING: u8 = 1;
/** The bytes of a google.protobuf.ListValue; only its string elements are ever matched. */
export const CLAIM_LIST: u8 = 2;
/** A number, boolean, null or object: present, but matched by no string test. */
export const CLAIM_OTHER: u8 = 3;
/** Only while decoding: a Value holding a Struct (the payload itself). */
const VALUE_STRUCT: u8 = 4;

const JWT_NAMESPACE = utf8("envoy.filters.http.jwt_authn");
const PAYLOAD_KEY = utf8("jwt_payload");
const ISS = utf8("iss");
const SUB = utf8("sub");

// The reader's state: one cursor, one failure flag, the last length-delimited field.
let pos: usize = 0;
let bad = false;
let fieldPtr: usize = 0;
let fieldLen: usize = 0;

function varint(end: usize): u64 {
  let v: u64 = 0;
  for (let shift: u64 = 0; shift < 64; shift += 7) {
    if (pos >= end) break;
    const b = load<u8>(pos);
    pos++;
    v |= (<u64>(b & 0x7f)) << shift;
    if ((b & 0x80) == 0) return v;
  }
  bad = true;
  pos = end;
  return 0;
}

/** The next tag in [pos, end), 0 at the end; a length-delimited field lands in fieldPtr/fieldLen. */
function next(end: usize): u32 {
  if (bad || pos >= end) return 0;
  const tag = <u32>varint(end);
  const wire = tag & 7;
  if (tag >> 3 == 0) bad = true;
  else if (wire == 0) varint(end);
  else if (wire == 1 || wire == 5) {
    const n: usize = wire == 1 ? 8 : 4;
    if (end - pos < n) bad = true;
    else pos += n;
  } else if (wire == 2) {
    const len = varint(end);
    if (len > <u64>(end - pos)) bad = true;
    else {
      fieldPtr = pos;
      fieldLen = <usize>len;
      pos += <usize>len;
    }
  } else bad = true;
  if (bad) {
    pos = end;
    return 0;
  }
  return tag;
}

// A map<string, X> entry (key = 1, value = 2) just read: its key and value.
let keyPtr: usize = 0;
let keyLen: usize = 0;
let valPtr: usize = 0;
let valLen: usize = 0;

function entry(): void {
  const end = fieldPtr + fieldLen;
  const save = pos;
  pos = fieldPtr;
  keyLen = 0;
  valLen = 0;
  valPtr = 0;
  for (let t = next(end); t != 0; t = next(end)) {
    if (t == 0x0a) {
      keyPtr = fieldPtr;
      keyLen = fieldLen;
    } else if (t == 0x12) {
      valPtr = fieldPtr;
      valLen = fieldLen;
    }
  }
  pos = save;
}

/** The value of `key` in the map field 1 of the message at [p, p+len), last entry wins; false if absent. */
function mapValue(p: usize, len: usize, key: ArrayBuffer): bool {
  return mapValueAt(p, len, changetype<usize>(key), <usize>key.byteLength);
}

function mapValueAt(p: usize, len: usize, kPtr: usize, kLen: usize): bool {
  pos = p;
  const end = p + len;
  let found = false;
  let fp: usize = 0;
  let fl: usize = 0;
  for (let t = next(end); t != 0; t = next(end)) {
    if (t != 0x0a) continue;
    entry();
    if (equalBytes(keyPtr, keyLen, kPtr, kLen)) {
      found = true;
      fp = valPtr;
      fl = valLen;
    }
  }
  fieldPtr = fp;
  fieldLen = fl;
  return found && !bad;
}

// A google.protobuf.Value just decoded: its kind and, for strings and lists, its bytes.
let kind: u8 = CLAIM_ABSENT;
let kindPtr: usize = 0;
let kindLen: usize = 0;

/** Decodes the Value at [p, p+len); the last member of its oneof wins, as protobuf merges. */
function value(p: usize, len: usize): void {
  const save = pos;
  pos = p;
  const end = p + len;
  kind = CLAIM_OTHER; // an empty Value is a null
  for (let t = next(end); t != 0; t = next(end)) {
    const field = t >> 3;
    if (field == 3 && (t & 7) == 2) {
      kind = CLAIM_STRING;
      kindPtr = fieldPtr;
      kindLen = fieldLen;
    } else if (field == 6 && (t & 7) == 2) {
      kind = CLAIM_LIST;
      kindPtr = fieldPtr;
      kindLen = fieldLen;
    } else if (field == 5 && (t & 7) == 2) {
      kind = VALUE_STRUCT;
      kindPtr = fieldPtr;
      kindLen = fieldLen;
    } else if (field >= 1 && field <= 5) kind = CLAIM_OTHER;
  }
  pos = save;
}

/** The request principal "iss/sub" lands here when both are strings (-1 otherwise). */
export let issPtr: usize = 0;
export let issLen: isize = -1;
export let subPtr: usize = 0;
export let subLen: isize = -1;

/**
 * Fills the request's claim slots, one per name the policy reads, from the serialised Metadata at [p, p+len). Claims the token
 * does not carry, or a request without a verified token, are absent. False when the bytes are not
 * a well-formed message (a host fault).
 */
export function readClaims(names: StaticArray<Match>, heads: StaticArray<u32>, req: Request, p: usize, len: usize): bool {
  for (let i = 0; i < names.length; i++) unchecked((req.claimKinds[i] = CLAIM_ABSENT));
  issLen = -1;
  subLen = -1;
  bad = false;
  if (!mapValue(p, len, JWT_NAMESPACE)) return !bad;
  const ns = fieldPtr;
  if (!mapValue(ns, fieldLen, PAYLOAD_KEY)) return !bad;
  value(fieldPtr, fieldLen);
  if (bad || kind != VALUE_STRUCT) return !bad; // a payload that is not an object carries no claims
  pos = kindPtr;
  const end = kindPtr + kindLen;
  for (let t = next(end); t != 0; t = next(end)) {
    if (t != 0x0a) continue;
    entry();
    const kp = keyPtr;
    const kl = keyLen;
    value(valPtr, valLen);
    if (bad || (kind == CLAIM_LIST && !wellFormedList())) return false;
    const k0 = kind;
    const p0 = kindPtr;
    const l0 = kindLen;
    for (let i = 0; i < names.length; i++) {
      const n = unchecked(names[i]);
      // A nested claim's name is its segments joined by NUL (contracts/claim-path.ts).
      const first = <usize>unchecked(heads[i]);
      if (!equalBytes(n.ptr, first, kp, kl)) continue;
      if (first == n.len) {
        kind = k0 == VALUE_STRUCT ? CLAIM_OTHER : k0;
      } else if (k0 == VALUE_STRUCT) {
        if (!descend(n.ptr + first + 1, n.ptr + n.len, p0, l0)) return false;
      } else kind = CLAIM_ABSENT; // no object on the way: the nested claim is not there
      unchecked((req.claimKinds[i] = kind));
      unchecked((req.claimPtrs[i] = kindPtr));
      unchecked((req.claimLens[i] = <isize>kindLen));
      kind = k0;
      kindPtr = p0;
      kindLen = l0;
    }
    if (kind == VALUE_STRUCT) kind = CLAIM_OTHER;
    const str = kind == CLAIM_STRING;
    if (equalBytes(kp, kl, changetype<usize>(ISS), 3)) {
      issPtr = kindPtr;
      issLen = str ? <isize>kindLen : -1;
    } else if (equalBytes(kp, kl, changetype<usize>(SUB), 3)) {
      subPtr = kindPtr;
      subLen = str ? <isize>kindLen : -1;
    }
  }
  return !bad;
}

/**
 * The Value under the NUL-separated names [s, end) inside the Struct at [sp, sp+sl), into kind,
 * kindPtr and kindLen (CLAIM_ABSENT where an object is missing on the way). The decoder's cursor
 * is kept. False when the bytes are malformed.
 */
function descend(s: usize, end: usize, sp: usize, sl: usize): bool {
  const save = pos;
  while (true) {
    let e = s;
    while (e < end && load<u8>(e) != 0) e++;
    if (!mapValueAt(sp, sl, s, e - s)) {
      pos = save;
      kind = CLAIM_ABSENT;
      return !bad;
    }
    value(fieldPtr, fieldLen);
    if (bad || (kind == CLAIM_LIST && !wellFormedList())) {
      pos = save;
      return false;
    }
    if (e >= end || kind != VALUE_STRUCT) {
      if (e < end) kind = CLAIM_ABSENT;
      else if (kind == VALUE_STRUCT) kind = CLAIM_OTHER;
      pos = save;
      return true;
    }
    sp = kindPtr;
    sl = kindLen;
    s = e + 1;
  }
}

/** The string elements of a ListValue at [p, p+len), one at a time: call until it returns false. */
let listPos: usize = 0;
let listEnd: usize = 0;
export let elementPtr: usize = 0;
export let elementLen: usize = 0;

export function startList(p: usize, len: usize): void {
  listPos = p;
  listEnd = p + len;
}

/** Walks the list just decoded to its end (so matching can trust it), keeping the decoder's state. */
function wellFormedList(): bool {
  const save = pos;
  const k = kindPtr;
  const l = kindLen;
  startList(k, l);
  while (nextString()) {}
  pos = save;
  kind = CLAIM_LIST;
  kindPtr = k;
  kindLen = l;
  return !bad;
}

export function nextString(): bool {
  while (true) {
    pos = listPos;
    const t = next(listEnd);
    listPos = pos;
    if (t == 0) return false;
    if (t != 0x0a) continue;
    value(fieldPtr, fieldLen);
    if (kind == CLAIM_STRING) {
      elementPtr = kindPtr;
      elementLen = kindLen;
      return true;
    }
  }
}
