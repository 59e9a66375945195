/**
 * What a header condition is tested against, written once for the reference evaluator (the
 * filter implements the same, and `export rbac` expresses it as RE2 over the joined value).
 *
 * A client can send a header several times, and the application may read the first line, the
 * last, all of them joined, or split the list at commas (RFC 9110 §5.3 makes all of these the
 * same field). So a condition does not look at one line: it looks at the field value (every line
 * joined by ",", which is also what Envoy's RBAC matches) and at each of its elements (the value
 * split at "," with spaces and tabs trimmed). A rule that denies (or audits) matches if the test
 * holds for any of them; a rule that allows matches only if it holds for all of them. For a header
 * sent once without a comma there is one element, the value itself, and nothing changes.
 */
import type { StringMatch } from '../proto/gen/perimeter/v1/policy.js';
import { matchAny } from './string-match.js';

/** The field value: every line of the header, in order, joined by ",". */
export function fieldValue(lines: readonly string[]): string {
  return lines.join(',');
}

const OWS = /^[ \t]+|[ \t]+$/g;

/** The value and each of its elements. */
export function headerCandidates(lines: readonly string[]): string[] {
  const value = fieldValue(lines);
  return [value, ...value.split(',').map((e) => e.replace(OWS, ''))];
}

/**
 * Whether `matchAny(ms, x) !== negate` holds for every candidate x (`forall`) or for some.
 * A deny or audit rule asks "some" (it matches whatever the application reads); an allow rule
 * asks "every" (it never admits a request that one reading of the header would not).
 */
export function overHeader(ms: readonly StringMatch[], lines: readonly string[], forall: boolean, negate: boolean): boolean {
  // A loop, not a closure: the analysis calls this for every header value it tries.
  for (const x of headerCandidates(lines)) {
    const holds = matchAny(ms, x) !== negate;
    if (forall && !holds) return false;
    if (!forall && holds) return true;
  }
  return forall;
}

/**
 * Why a value cannot be a header test's operand, or undefined when it can: a comma would be split
 * away from its element, and outer spaces are trimmed from every element (and stripped by every
 * HTTP parser), so neither can ever be matched as written.
 */
export function headerOperandProblem(value: string): string | undefined {
  if (value.includes(',')) return 'a header value is a comma-separated list, so a test cannot contain ","';
  if (/^[ \t]|[ \t]$/.test(value)) return 'spaces and tabs around a header value are never part of it';
  return undefined;
}
