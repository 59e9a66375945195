/**
 * The Proxy-Wasm pairs serialization (header maps, metadata, property maps):
 * u32 LE count; count × (u32 LE key length, u32 LE value length); then each key and value,
 * each followed by one NUL. Limits as proxy-wasm-cpp-host pairs_util.cc.
 */
export const PAIRS_MAX_BYTES = 1 << 20;
export const PAIRS_MAX_COUNT = 1024;

export function serializePairs(pairs: readonly (readonly [string | Uint8Array, string | Uint8Array])[]): Uint8Array {
  if (pairs.every(([k, v]) => typeof k === 'string' && typeof v === 'string'))
    return encodePairs(pairs as readonly (readonly [string, string])[], 'utf8');
  const enc = pairs.map(
    ([k, v]) => [typeof k === 'string' ? Buffer.from(k) : Buffer.from(k), typeof v === 'string' ? Buffer.from(v) : Buffer.from(v)] as const,
  );
  const size = 4 + enc.reduce((n, [k, v]) => n + 8 + k.length + v.length + 2, 0);
  const out = Buffer.alloc(size);
  out.writeUInt32LE(enc.length, 0);
  let off = 4;
  for (const [k, v] of enc) {
    out.writeUInt32LE(k.length, off);
    out.writeUInt32LE(v.length, off + 4);
    off += 8;
  }
  for (const [k, v] of enc) {
    k.copy(out, off);
    off += k.length + 1;
    v.copy(out, off);
    off += v.length + 1;
  }
  return out;
}

/** How a pair's strings stand for bytes: text (UTF-8), or one character per byte (off the wire). */
export type PairsEncoding = 'utf8' | 'latin1';

/** Module-supplied pairs; any violation gives an empty list, as cpp-host toPairs does. */
export function deserializePairs(bytes: Uint8Array, encoding: PairsEncoding = 'utf8'): [string, string][] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 4 || b.length > PAIRS_MAX_BYTES) return [];
  const n = b.readUInt32LE(0);
  if (n > PAIRS_MAX_COUNT || 4 + n * 8 > b.length) return [];
  const out: [string, string][] = [];
  let off = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const kl = b.readUInt32LE(4 + i * 8);
    const vl = b.readUInt32LE(8 + i * 8);
    if (off + kl + vl + 2 > b.length || b[off + kl] !== 0 || b[off + kl + 1 + vl] !== 0) return [];
    out.push([b.toString(encoding, off, off + kl), b.toString(encoding, off + kl + 1, off + kl + 1 + vl)]);
    off += kl + vl + 2;
  }
  return off === b.length ? out : [];
}

/** Serialized size of string pairs, as UTF-8. */
function pairsSize(pairs: readonly (readonly [string, string])[]): number {
  let size = 4;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as readonly [string, string];
    size += 10 + utf8Length(pair[0]) + utf8Length(pair[1]);
  }
  return size;
}

/** The size string pairs have when every character is one byte (ASCII, or any latin1 text). */
function charPairsSize(pairs: readonly (readonly [string, string])[]): number {
  let size = 4;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as readonly [string, string];
    size += 10 + pair[0].length + pair[1].length;
  }
  return size;
}

/** The serialized size of string pairs in `encoding`. */
export function encodedSize(pairs: readonly (readonly [string, string])[], encoding: PairsEncoding): number {
  return encoding === 'latin1' ? charPairsSize(pairs) : pairsSize(pairs);
}

/** Serializes string pairs into a new buffer. */
export function encodePairs(pairs: readonly (readonly [string, string])[], encoding: PairsEncoding): Uint8Array {
  const size = encodedSize(pairs, encoding);
  const out = Buffer.allocUnsafe(size);
  encodePairsInto(out, 0, pairs, size);
  return out;
}

/**
 * Serializes string pairs into `out` at `at` (module memory, say); `size` is their
 * encodedSize. Header maps are ASCII nearly always: then (and for latin1 always) each string's
 * length is its byte count, and it is written one character per byte.
 */
export function encodePairsInto(out: Buffer, at: number, pairs: readonly (readonly [string, string])[], size: number): void {
  const bytewise = size === charPairsSize(pairs);
  writeU32(out, at, pairs.length);
  let off = at + 4 + pairs.length * 8;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as readonly [string, string];
    const k = pair[0];
    const v = pair[1];
    const kl = bytewise ? k.length : utf8Length(k);
    const vl = bytewise ? v.length : utf8Length(v);
    writeU32(out, at + 4 + i * 8, kl);
    writeU32(out, at + 8 + i * 8, vl);
    off = writeText(out, k, kl, off);
    off = writeText(out, v, vl, off);
  }
}

/** The pairs with ASCII-lower-cased keys (the same array when they are so already). */
export function asciiLowerKeys(pairs: readonly (readonly [string, string])[]): readonly [string, string][] {
  for (let i = 0; i < pairs.length; i++) {
    const k = (pairs[i] as readonly [string, string])[0];
    for (let j = 0; j < k.length; j++) {
      const c = k.charCodeAt(j);
      if (c >= 65 && c <= 90) return pairs.map(([key, v]) => [lowerAscii(key), v]);
    }
  }
  return pairs as unknown as readonly [string, string][];
}

/** `s` with ASCII letters lower-cased, as Envoy lower-cases header names (other characters as they are). */
export function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** A u32, little-endian, by bytes: Buffer's writeUInt32LE checks its arguments on every call. */
function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = v >>> 24;
}

/** UTF-8 length; header text is nearly always ASCII, counted without leaving JS. */
export function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s);
  return s.length;
}

/** Writes text and its NUL terminator at `off`; returns the offset after them. */
function writeText(out: Buffer, s: string, len: number, off: number): number {
  writeUtf8(out, s, len, off);
  out[off + len] = 0;
  return off + len + 1;
}

/**
 * Writes `s` (`len` bytes) at `off`: one byte a character when `len` is its length (ASCII, or
 * text standing for bytes one character each), else as UTF-8.
 */
export function writeUtf8(out: Buffer, s: string, len: number, off: number): void {
  if (len === s.length) {
    for (let i = 0; i < len; i++) out[off + i] = s.charCodeAt(i);
  } else out.write(s, off, len, 'utf8');
}
