/**
 * The meaning of every matcher, written once for the reference evaluator; the Wasm filter
 * implements the same table and the differential test holds the two to it.
 */

import { type StringMatch, StringMatch_Kind } from '../proto/gen/perimeter/v1/policy.js';
import { matchTemplate } from './path-template.js';
import { matchNamespacePattern, matchServiceAccount, matchTrustDomain } from './spiffe-patterns.js';

/** ASCII letters to lower case, nothing else (as Envoy's ignore_case and the filter fold). */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

/**
 * The enum read once: under the TypeScript loader the CLI runs with, every read of an imported
 * binding is a getter call, and the analysis matches millions of strings.
 */
const K = StringMatch_Kind;

export function matchString(m: StringMatch, subject: string): boolean {
  // An ignore-case matcher's value is lower case already.
  const s = m.ignoreCase ? asciiLower(subject) : subject;
  switch (m.kind) {
    case K.KIND_EXACT:
      return s === m.value;
    case K.KIND_PREFIX:
      return s.startsWith(m.value);
    case K.KIND_SUFFIX:
      return s.endsWith(m.value);
    case K.KIND_PRESENT:
      return s.length > 0;
    case K.KIND_CONTAINS:
      return s.includes(m.value);
    case K.KIND_SEGMENT_PREFIX:
      return s === m.value || s.startsWith(`${m.value}/`);
    case K.KIND_TEMPLATE:
      return matchTemplate(m.value, s);
    case K.KIND_SERVICE_ACCOUNT:
      return matchServiceAccount(m.value, s);
    case K.KIND_TRUST_DOMAIN:
      return matchTrustDomain(m.value, s);
    case K.KIND_NAMESPACE_PATTERN:
      return matchNamespacePattern(m.value, s);
    default:
      // An unknown kind never matches: a newer compiler's matcher must not widen an allow.
      return false;
  }
}

export function matchAny(ms: readonly StringMatch[], s: string): boolean {
  return ms.some((m) => matchString(m, s));
}

/** A matcher as people read it, in explanations and on the page. */
export function describeMatch(m: StringMatch): string {
  return m.ignoreCase ? `${describeKind(m)} (any case)` : describeKind(m);
}

function describeKind(m: StringMatch): string {
  switch (m.kind) {
    case StringMatch_Kind.KIND_EXACT:
      return m.value;
    case StringMatch_Kind.KIND_PREFIX:
      return `${m.value}*`;
    case StringMatch_Kind.KIND_SUFFIX:
      return `*${m.value}`;
    case StringMatch_Kind.KIND_PRESENT:
      return 'any non-empty value';
    case StringMatch_Kind.KIND_CONTAINS:
      return `*${m.value}*`;
    case StringMatch_Kind.KIND_SEGMENT_PREFIX:
      return `${m.value}/*`;
    case StringMatch_Kind.KIND_TEMPLATE:
      return `template ${m.value}`;
    case StringMatch_Kind.KIND_SERVICE_ACCOUNT:
      return `service account ${m.value}`;
    case StringMatch_Kind.KIND_TRUST_DOMAIN:
      return `trust domain ${m.value}`;
    case StringMatch_Kind.KIND_NAMESPACE_PATTERN:
      return `namespace ${m.value}`;
    default:
      return '(unknown matcher)';
  }
}
