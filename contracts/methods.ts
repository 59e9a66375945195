/**
 * Request methods as the compiled policy names them (compiled.proto MethodBit): the nine of
 * RFC 9110 and PATCH by fixed bits, every other token (WebDAV's PROPFIND, a custom verb,
 * Istio's "PROP*") by its entry in the policy's method table, bit 9 + i. Methods are
 * case-sensitive tokens, compared exactly as sent.
 */
import { MethodBit } from '../proto/gen/perimeter/v1/compiled.js';
import { type StringMatch, StringMatch_Kind } from '../proto/gen/perimeter/v1/policy.js';
import { describeMatch, matchString } from './string-match.js';

/** Entries a method table may hold: the bits of a 32-bit mask above the nine. */
export const MAX_METHOD_TABLE = 23;

const FIRST_TABLE_BIT = 9;

export const METHOD_BITS: Readonly<Record<string, number>> = {
  GET: MethodBit.METHOD_BIT_GET,
  HEAD: MethodBit.METHOD_BIT_HEAD,
  POST: MethodBit.METHOD_BIT_POST,
  PUT: MethodBit.METHOD_BIT_PUT,
  DELETE: MethodBit.METHOD_BIT_DELETE,
  CONNECT: MethodBit.METHOD_BIT_CONNECT,
  OPTIONS: MethodBit.METHOD_BIT_OPTIONS,
  TRACE: MethodBit.METHOD_BIT_TRACE,
  PATCH: MethodBit.METHOD_BIT_PATCH,
};

/**
 * The fixed bit of a standard method, or undefined. Own properties only: a method named
 * `toString` or `constructor` is a custom token like any other, never a property of the table.
 */
export function standardBit(method: string): number | undefined {
  return Object.hasOwn(METHOD_BITS, method) ? METHOD_BITS[method] : undefined;
}

export const isStandardMethod = (method: string): boolean => standardBit(method) !== undefined;

/** RFC 9110 token characters: what a method may be made of. */
export const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

export const tableBit = (i: number): number => (1 << (FIRST_TABLE_BIT + i)) >>> 0;

/**
 * The bits of a request method: a standard method's own bit; any other method the bits of the
 * table entries that match it (none: it matches no method list, and every notMethods list).
 */
export function methodBits(method: string, table: readonly StringMatch[]): number {
  const bit = standardBit(method);
  if (bit !== undefined) return bit;
  let mask = 0;
  for (const [i, m] of table.entries()) if (matchString(m, method)) mask |= tableBit(i);
  return mask >>> 0;
}

/** Whether a matcher needs a table entry: anything but one of the standard methods, exactly. */
export function needsTableEntry(m: StringMatch): boolean {
  return !(m.kind === StringMatch_Kind.KIND_EXACT && isStandardMethod(m.value));
}

/** The mask of one operation's method matchers over a policy's table (which holds every one of them). */
export function methodMask(matchers: readonly StringMatch[], table: readonly StringMatch[]): number {
  let mask = 0;
  for (const m of matchers) {
    for (const [name, bit] of Object.entries(METHOD_BITS)) if (matchString(m, name)) mask |= bit;
    if (!needsTableEntry(m)) continue;
    const i = table.findIndex((t) => t.kind === m.kind && t.value === m.value);
    if (i < 0) throw new Error(`method matcher ${m.value} is not in the policy's method table`);
    mask |= tableBit(i);
  }
  return mask >>> 0;
}

/** What a mask names, for people: standard names, then the table's entries as written. */
export function methodsOf(mask: number, table: readonly StringMatch[] = []): string[] {
  const out = Object.entries(METHOD_BITS)
    .filter(([, bit]) => (mask & bit) !== 0)
    .map(([m]) => m);
  for (const [i, m] of table.entries())
    if ((mask & tableBit(i)) !== 0) out.push(m.kind === StringMatch_Kind.KIND_PRESENT ? '*' : describeMatch(m));
  return out;
}
