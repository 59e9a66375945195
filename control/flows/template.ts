/**
 * Path templates: the shape of a path with its identifiers collapsed, so `/orders/123` and
 * `/orders/987` are one flow (`/orders/*`). A segment is an identifier when it is a number, a
 * UUID, a long hex or base64-ish token, or mixes letters and digits the way generated IDs do;
 * words (`orders`, `v2`, `health`) are kept. The query is never part of a flow.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^[+-]?\d+(\.\d+)?$/;
const HEX = /^[0-9a-f]{12,}$/i;
/** Long tokens with digits in them (ULIDs, Mongo IDs, base64 keys), not short versions like v2. */
const TOKEN = /^(?=.*\d)[A-Za-z0-9_-]{16,}$/;
/** Mixed letters and digits with a separator: `ord-1234`, `a1b2c3d4`, `user_42`. */
const MIXED = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9]+([_-][A-Za-z0-9]+)+$|^(?=(?:.*\d){3})(?=.*[A-Za-z])[A-Za-z0-9]{6,}$/;
/** Kept as they are however they look: API versions. */
const VERSION = /^v\d+(\.\d+)*$/i;

export function isIdentifier(segment: string): boolean {
  if (segment === '' || VERSION.test(segment)) return false;
  return NUMBER.test(segment) || UUID.test(segment) || HEX.test(segment) || TOKEN.test(segment) || MIXED.test(segment);
}

// `/orders/123/items/9?x=1` → `/orders/*/items/*`.
export function pathTemplate(path: string): string {
  const q = path.search(/[?#]/);
  const bare = q >= 0 ? path.slice(0, q) : path;
  if (bare === '' || bare === '/') return '/';
  return bare
    .split('/')
    .map((s, i) => (i > 0 && isIdentifier(s) ? '*' : s))
    .join('/');
}
