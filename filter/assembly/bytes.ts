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

@inline export function equalBytes(a: usize, alen: usize, b: usize, blen: usize): bool {
  return alen == blen && (alen == 0 || memory.compare(a, b, alen) == 0);
}

@inline export function startsWith(s: usize, slen: usize, p: usize, plen: usize): bool {
  return slen >= plen && (plen == 0 || memory.compare(s, p, plen) == 0);
}

@inline export function endsWith(s: usize, slen: usize, p: usize, plen: usize): bool {
  return slen >= plen && (plen == 0 || memory.compare(s + slen - plen, p, plen) == 0);
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

/** FNV-1a, 32-bit: a fast hash for short keys (SPIFFE IDs and their prefixes). */
export function fnv1a(p: usize, len: usize): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i: usize = 0; i < len; i++) {
    h ^= load<u8>(p + i);
    h *= 0x01000193;
  }
  return h;
}

/** Appends bytes to a buffer at `at`; returns the new end. The caller sized the buffer. */
@inline export function put(dst: usize, at: usize, src: usize, len: usize): usize {
  memory.copy(dst + at, src, len);
  return at + len;
}
