/**
 * Request paths, from the wire to what a rule is matched against, in two stages:
 *
 * 1. `connectionManagerPath`: what Envoy's HTTP connection manager does before any filter, with
 *    the settings `perimeter envoy bootstrap` writes (and the local sidecar and `perimeter check`
 *    do the same): a fragment is refused (400, Envoy's default), so are escaped slashes and a path
 *    that does not start with "/"; dot segments (also `%2e`) are resolved and slashes merged. The
 *    result is what the application receives.
 * 2. `normalizePath`: the one definition both the reference evaluator and the Wasm filter
 *    implement (the differential test holds them to it), on what the filter sees. It follows RFC
 *    3986 §6.2.2, and refuses what cannot be made safe: an escaped slash or backslash, a raw
 *    backslash, control or non-ASCII bytes, bad escapes, `..` above the root, and, as the
 *    workload's `pathParameters` says, `;` (reject) or each segment's `;…` part (strip). Refused
 *    paths are denied (`unsafe-request`).
 */
/** What `;` in a request path means to the application (compiled.proto PathParameters). */
export const PATH_PARAMETERS = ['reject', 'strip', 'keep'] as const;
export type PathParameters = (typeof PATH_PARAMETERS)[number];

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string };

/** What the connection manager forwards, or the local reply it sends instead. */
export type ConnectionManagerPath = { ok: true; path: string } | { ok: false; status: 400; details: string };

export function connectionManagerPath(raw: string): ConnectionManagerPath {
  if (raw.includes('#')) return { ok: false, status: 400, details: 'http.path_with_fragment' };
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const rest = q < 0 ? '' : raw.slice(q);
  if (!path.startsWith('/')) return { ok: false, status: 400, details: 'http1.invalid_url' };
  if (/%(2f|5c)/i.test(path)) return { ok: false, status: 400, details: 'path_normalization_failed' };
  const out: string[] = [];
  const segments = path.split('/').slice(1);
  for (const seg of segments) {
    if (/^(\.|%2e)$/i.test(seg)) continue;
    if (/^(\.|%2e)(\.|%2e)$/i.test(seg)) out.pop();
    else out.push(seg);
  }
  const last = segments[segments.length - 1] ?? '';
  let normalised = `/${out.join('/')}`;
  if (/^(\.|%2e){1,2}$/i.test(last) && normalised !== '/') normalised += '/';
  return { ok: true, path: normalised.replace(/\/{2,}/g, '/') + rest };
}

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

export function normalizePath(raw: string, params: PathParameters = 'keep'): NormalizedPath {
  let end = raw.length;
  const q = raw.indexOf('?');
  if (q >= 0) end = q;
  // Envoy refuses a fragment before any filter runs; one that got this far is not decided on.
  if (raw.indexOf('#') >= 0) return { ok: false, reason: 'a fragment ("#") in the path' };
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
      if (v === 0x3b && params === 'reject') return { ok: false, reason: 'a path parameter (";")' };
      decoded += isUnreserved(v) ? String.fromCharCode(v) : `%${HEX[hi]}${HEX[lo]}`;
      i += 2;
    } else if (c === 0x5c) {
      return { ok: false, reason: 'backslash in path' };
    } else if (c <= 0x20 || c >= 0x7f) {
      return { ok: false, reason: 'control, space or non-ASCII byte in path' };
    } else if (c === 0x3b && params === 'reject') {
      return { ok: false, reason: 'a path parameter (";")' };
    } else {
      decoded += raw[i];
    }
  }

  // Pass 2: merge slashes and resolve dot segments (of each segment without its ";…" part, when stripped).
  const out: string[] = [];
  const segments = decoded.split('/').map((seg) => (params === 'strip' && seg.includes(';') ? seg.slice(0, seg.indexOf(';')) : seg));
  const trailing = decoded.length > 1 && segments.length > 1 && segments[segments.length - 1] === '';
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
