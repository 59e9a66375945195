/**
 * Recorded values came from the network: a caller chose the path and the authority, a sidecar
 * (any workload's certificate) sent the access-log entry. They are data, never text to trust:
 * checked when they arrive (bounded, printable ASCII where HTTP allows nothing else), and
 * neutralised wherever they are shown to a person (a terminal obeys escape sequences; an editor
 * shows bidirectional overrides as something else).
 */

/** Longest recorded path and authority; longer entries are refused, never truncated. */
export const MAX_RECORDED_PATH = 8192;
export const MAX_RECORDED_AUTHORITY = 1024;
/** A decision record is written by our filter in at most 4 KiB. */
export const MAX_RECORD = 4096;

/** A request target or authority: visible ASCII only (RFC 9112 allows nothing else unencoded). */
const VISIBLE_ASCII = /^[\x21-\x7e]*$/;
/** What the filter writes in a decision record's fields: names, `perimeter/rule`, hex versions. */
const RECORD_FIELD = /^[A-Za-z0-9._:/@#-]*$/;

/** Why a recorded string cannot be kept, or undefined. `what` names it in the reason (never the value). */
export function recordedProblem(what: string, value: string, max: number): string | undefined {
  if (value.length > max) return `${what} longer than ${max} bytes`;
  if (!VISIBLE_ASCII.test(value)) return `${what} has a control, space or non-ASCII character`;
  return undefined;
}

export function recordFieldProblem(what: string, value: string): string | undefined {
  if (value.length > 512) return `decision record ${what} longer than 512 bytes`;
  if (!RECORD_FIELD.test(value)) return `decision record ${what} has characters the filter never writes`;
  return undefined;
}

// C0 and C1 controls, DEL, line and paragraph separators, bidirectional marks and overrides, BOM.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** A value for a terminal (or any text a person reads): every control shown as an escape, inert. */
export function printable(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
