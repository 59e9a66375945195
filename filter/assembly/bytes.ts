// Byte strings as (pointer, length) into memory that outlives them: a policy's string pool,
// a static scratch buffer, or constant UTF-8 made once at start-up. Comparisons work in
// place and allocate nothing.

/** UTF-8 bytes of a constant, made once (at start-up or configure time, never per request). */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

@inline export function ptrOf(b: ArrayBuffer): usize {
  return changetype<usize>(b);
}

/** Equality of two byte ranges of one length, eight bytes at a time. */
@inline export function sameBytes(a: usize, b: usize, len: usize): bool {
  let i: usize = 0;
  while (i + 8 <= len) {
    if (load<u64>(a + i) != load<u64>(b + i)) return false;
    i += 8;
  }
  while (i < len) {
    if (load<u8>(a + i) != load<u8>(b + i)) return false;
    i++;
  }
  return true;
}

@inline export function equalBytes(a: usize, alen: usize, b: usize, blen: usize): bool {
  return alen == blen && sameBytes(a, b, alen);
}

/** Whether bytes equal a constant made with utf8() (header names, methods). */
@inline export function isName(p: usize, len: usize, name: ArrayBuffer): bool {
  return equalBytes(p, len, changetype<usize>(name), <usize>name.byteLength);
}

@inline export function startsWith(s: usize, slen: usize, p: usize, plen: usize): bool {
  return slen >= plen && sameBytes(s, p, plen);
}

@inline export function endsWith(s: usize, slen: usize, p: usize, plen: usize): bool {
  return slen >= plen && sameBytes(s + slen - plen, p, plen);
}

/** Whether `len` bytes of s, ASCII letters folded to lower case, equal the pattern p. */
export function foldedEquals(s: usize, p: usize, len: usize): bool {
  for (let i: usize = 0; i < len; i++) {
    let c = load<u8>(s + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c != load<u8>(p + i)) return false;
  }
  return true;
}

export function contains(s: usize, slen: usize, p: usize, plen: usize): bool {
  if (plen == 0) return true;
  if (plen > slen) return false;
  const first = load<u8>(p);
  for (let i: usize = 0; i <= slen - plen; i++) {
    if (load<u8>(s + i) == first && memory.compare(s + i, p, plen) == 0) return true;
  }
  return false;
}

/**
 * A 32-bit hash for short keys (SPIFFE IDs and their prefixes), four bytes per step with
 * MurmurHash3's mixing; the table builder and the lookup use this one function.
 */
@inline export function hashBytes(p: usize, len: usize): u32 {
  let h: u32 = 0x9747b28c ^ <u32>len;
  let i: usize = 0;
  while (i + 4 <= len) {
    let k = load<u32>(p + i) * 0xcc9e2d51;
    k = rotl<u32>(k, 15) * 0x1b873593;
    h = rotl<u32>(h ^ k, 13) * 5 + 0xe6546b64;
    i += 4;
  }
  let k: u32 = 0;
  let shift: u32 = 0;
  while (i < len) {
    k |= (<u32>load<u8>(p + i)) << shift;
    shift += 8;
    i++;
  }
  h ^= rotl<u32>(k * 0xcc9e2d51, 15) * 0x1b873593;
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  return h;
}

/** Appends bytes to a buffer at `at`; returns the new end. The caller sized the buffer. */
@inline export function put(dst: usize, at: usize, src: usize, len: usize): usize {
  memory.copy(dst + at, src, len);
  return at + len;
}
