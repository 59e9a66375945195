/**
 * A claim of the verified token, top-level (`groups`) or nested (Istio's
 * `request.auth.claims[realm_access][roles]`): its segments, joined by NUL in a claim key of the
 * model and the compiled claims table (NUL is refused in every segment, so it cannot be one).
 * Written once here for the evaluator, the exporter and the tools; the filter splits the same way.
 */
import { hasControl } from './text.js';

export const CLAIM_SEPARATOR = '\0';
/** Levels of nesting a claim may name (Keycloak's realm_access.roles is two). */
export const MAX_CLAIM_DEPTH = 8;

export const claimKey = (segments: readonly string[]): string => segments.join(CLAIM_SEPARATOR);
export const claimSegments = (key: string): string[] => key.split(CLAIM_SEPARATOR);

/** How people read a claim key: `groups`, or `realm_access[roles]` when nested. */
export function claimLabel(key: string): string {
  const [first, ...rest] = claimSegments(key);
  return `${first}${rest.map((s) => `[${s}]`).join('')}`;
}

/** The value at a claim key in a decoded token payload; undefined where an object is missing on the way. */
export function claimValue(claims: Record<string, unknown> | undefined, key: string): unknown {
  let v: unknown = claims;
  for (const seg of claimSegments(key)) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

/** Why segments cannot name a claim, or undefined. */
export function claimPathProblem(segments: readonly string[]): string | undefined {
  if (segments.length === 0 || segments.length > MAX_CLAIM_DEPTH) return `a claim is 1 to ${MAX_CLAIM_DEPTH} names deep`;
  if (segments.some((s) => s === '' || hasControl(s))) return 'a claim name is not empty and has no control characters';
  return undefined;
}
