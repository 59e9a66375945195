/**
 * The Proxy-Wasm pairs serialization (header maps, metadata, property maps):
 * u32 LE count; count × (u32 LE key length, u32 LE value length); then each key and value,
 * each followed by one NUL. Limits as proxy-wasm-cpp-host pairs_util.cc.
 */
export const PAIRS_MAX_BYTES = 1 << 20;
export const PAIRS_MAX_COUNT = 1024;

export function serializePairs(pairs: readonly (readonly [string | Uint8Array, string | Uint8Array])[]): Uint8Array {
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

/** Module-supplied pairs; any violation gives an empty list, as cpp-host toPairs does. */
export function deserializePairs(bytes: Uint8Array): [string, string][] {
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
    out.push([b.toString('utf8', off, off + kl), b.toString('utf8', off + kl + 1, off + kl + 1 + vl)]);
    off += kl + vl + 2;
  }
  return off === b.length ? out : [];
}
