/**
 * The meaning of every matcher, written once for the reference evaluator; the Wasm filter
 * implements the same table and the differential test holds the two to it.
 */
import { MethodBit } from '../proto/gen/perimeter/v1/compiled.js';
import { type StringMatch, StringMatch_Kind } from '../proto/gen/perimeter/v1/policy.js';

/** ASCII letters to lower case, nothing else (as Envoy's ignore_case and the filter fold). */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

export function matchString(m: StringMatch, subject: string): boolean {
  // An ignore-case matcher's value is lower case already.
  const s = m.ignoreCase ? asciiLower(subject) : subject;
  switch (m.kind) {
    case StringMatch_Kind.KIND_EXACT:
      return s === m.value;
    case StringMatch_Kind.KIND_PREFIX:
      return s.startsWith(m.value);
    case StringMatch_Kind.KIND_SUFFIX:
      return s.endsWith(m.value);
    case StringMatch_Kind.KIND_PRESENT:
      return s.length > 0;
    case StringMatch_Kind.KIND_CONTAINS:
      return s.includes(m.value);
    case StringMatch_Kind.KIND_SEGMENT_PREFIX:
      return s === m.value || s.startsWith(`${m.value}/`);
    default:
      // An unknown kind never matches: a newer compiler's matcher must not widen an allow.
      return false;
  }
}

export function matchAny(ms: readonly StringMatch[], s: string): boolean {
  return ms.some((m) => matchString(m, s));
}

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

/** Bit of a request method; 0 for a method outside the known set (matches no method list). */
export function methodBit(method: string): number {
  return METHOD_BITS[method] ?? 0;
}

export function methodMask(methods: readonly string[]): number {
  return methods.reduce((mask, m) => mask | (METHOD_BITS[m] ?? 0), 0);
}

export function methodsOf(mask: number): string[] {
  return Object.entries(METHOD_BITS)
    .filter(([, bit]) => (mask & bit) !== 0)
    .map(([m]) => m);
}
