/**
 * SPIFFE IDs and identity patterns, as the SPIFFE ID spec defines them: `spiffe://` + a
 * lower-case trust domain + a path of non-empty segments of [A-Za-z0-9._-], no `.`/`..`
 * segment, no trailing slash. A pattern may end in `/*` to select every ID below a segment.
 */

import { fail, ok, type Result } from './problem.js';

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
export const MAX_SPIFFE_ID_LENGTH = 2048;

export type IdentityPattern =
  | { kind: 'exact'; id: string }
  /** `base/*`: `base` itself or any ID below it (the same segment rule as paths). */
  | { kind: 'prefix'; base: string }
  | { kind: 'any' };

export interface SpiffeId {
  trustDomain: string;
  segments: string[];
}

/** Parses a SPIFFE ID, or says why it is not one. */
export function parseSpiffeId(id: string): Result<SpiffeId> {
  if (!id.startsWith('spiffe://')) return fail('', 'a SPIFFE ID starts with "spiffe://"');
  if (id.length > MAX_SPIFFE_ID_LENGTH) return fail('', `longer than ${MAX_SPIFFE_ID_LENGTH} bytes`);
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  if (!trustDomain) return fail('', 'the trust domain is empty');
  if (!TRUST_DOMAIN.test(trustDomain)) return fail('', `trust domain "${trustDomain}" may hold only a-z, 0-9, ".", "-" and "_"`);
  if (slash < 0) return ok({ trustDomain, segments: [] });
  const segments = rest.slice(slash + 1).split('/');
  for (const s of segments) {
    if (s === '') return fail('', 'empty path segment (a double or trailing "/")');
    if (s === '.' || s === '..') return fail('', `path segment "${s}" is not allowed`);
    if (!SEGMENT.test(s)) return fail('', `path segment "${s}" may hold only A-Z, a-z, 0-9, ".", "-" and "_"`);
  }
  return ok({ trustDomain, segments });
}

/** `*`, an exact SPIFFE ID, or a SPIFFE ID followed by `/*`. */
export function parseIdentityPattern(text: string): Result<IdentityPattern> {
  if (text === '*') return ok({ kind: 'any' });
  if (text.endsWith('/*')) {
    const base = text.slice(0, -2);
    const parsed = parseSpiffeId(base);
    return parsed.ok ? ok({ kind: 'prefix', base }) : parsed;
  }
  if (text.includes('*')) return fail('', '"*" may appear only as a whole final segment ("spiffe://td/ns/x/*") or alone');
  const parsed = parseSpiffeId(text);
  return parsed.ok ? ok({ kind: 'exact', id: text }) : parsed;
}

/** The `ns` segment of `spiffe://td/ns/<ns>/...`, or "" when there is none. */
export function namespaceOf(id: string): string {
  const parsed = parseSpiffeId(id);
  if (!parsed.ok) return '';
  const i = parsed.value.segments.indexOf('ns');
  return i >= 0 ? (parsed.value.segments[i + 1] ?? '') : '';
}

export function trustDomainOf(id: string): string {
  const parsed = parseSpiffeId(id);
  return parsed.ok ? parsed.value.trustDomain : '';
}
