/**
 * Request path normalisation, the one definition both the reference evaluator and the Wasm
 * filter implement (the differential test holds them to it). It follows RFC 3986 §6.2.2 as
 * Envoy's `normalize_path` does, plus `merge_slashes`, and refuses what cannot be made safe:
 * an escaped slash or backslash, a raw backslash, control or non-ASCII bytes, bad escapes,
 * or `..` above the root. Refused paths are denied.
 */

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string };

const HEX = '0123456789ABCDEF';

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e
  );
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Longer paths and authorities are refused (and so denied) rather than truncated. */
export const MAX_PATH = 16384;
export const MAX_AUTHORITY = 1024;

export function normalizePath(raw: string): NormalizedPath {
  let end = raw.length;
  const q = raw.indexOf('?');
  if (q >= 0) end = q;
  const h = raw.indexOf('#');
  if (h >= 0 && h < end) end = h;
  if (end === 0 || raw.charCodeAt(0) !== 0x2f) return { ok: false, reason: 'path does not start with "/"' };
  if (end > MAX_PATH) return { ok: false, reason: `path longer than ${MAX_PATH} bytes` };

  // Pass 1: decode unreserved escapes, upper-case the rest, refuse unsafe bytes.
  let decoded = '';
  for (let i = 0; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hi = i + 2 < end ? hexValue(raw.charCodeAt(i + 1)) : -1;
      const lo = i + 2 < end ? hexValue(raw.charCodeAt(i + 2)) : -1;
      if (hi < 0 || lo < 0) return { ok: false, reason: 'malformed percent-encoding' };
      const v = hi * 16 + lo;
      if (v === 0x2f || v === 0x5c) return { ok: false, reason: 'escaped slash or backslash' };
      if (v < 0x20 || v === 0x7f) return { ok: false, reason: 'escaped control character' };
      decoded += isUnreserved(v) ? String.fromCharCode(v) : `%${HEX[hi]}${HEX[lo]}`;
      i += 2;
    } else if (c === 0x5c) {
      return { ok: false, reason: 'backslash in path' };
    } else if (c <= 0x20 || c >= 0x7f) {
      return { ok: false, reason: 'control, space or non-ASCII byte in path' };
    } else {
      decoded += raw[i];
    }
  }

  // Pass 2: merge slashes and resolve dot segments.
  const out: string[] = [];
  const segments = decoded.split('/');
  const trailing = decoded.length > 1 && decoded.endsWith('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (out.length === 0) return { ok: false, reason: '".." above the root' };
      out.pop();
      continue;
    }
    out.push(s);
  }
  const last = segments[segments.length - 1];
  const endsInDir = trailing || last === '.' || last === '..';
  let path = `/${out.join('/')}`;
  if (endsInDir && out.length > 0) path += '/';
  return { ok: true, path };
}

/** Host from `:authority`: ASCII lower-cased, port and a trailing dot removed. */
export function normalizeHost(authority: string): string {
  let host = authority.replace(/[A-Z]+/g, (c) => c.toLowerCase());
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    host = close > 0 ? host.slice(0, close + 1) : host;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host;
}
