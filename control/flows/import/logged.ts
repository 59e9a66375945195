/**
 * One request as another system logged it, on its way to a flow event: the caller's identity
 * (undefined: no verified certificate), the destination workload's identity, and what HTTP said.
 * Everything in it came from a log file: it is checked as an access-log entry from a sidecar
 * is (../recorded.ts), and a line that fails is reported with its reason, never repaired.
 */
import { METHOD_TOKEN } from '../../../contracts/methods.js';
import { fail, ok, type Result } from '../../../contracts/problem.js';
import { parseSpiffeId } from '../../../contracts/spiffe.js';
import type { FlowEvent } from '../event.js';
import { MAX_RECORDED_AUTHORITY, MAX_RECORDED_PATH, recordedProblem } from '../recorded.js';

/** Who a log names: an identity it carries, an address only (a pod list maps it), or nobody (no certificate). */
export type Party = { identity: string } | { address: string } | { none: true };

export interface LoggedRequest {
  timeMs: number;
  caller: Party;
  /** The sidecar's or pod's identity; `none` when the line does not say (the importer's --workload then). */
  destination: Party;
  method: string;
  path: string;
  host: string;
  port: number | undefined;
  status: number;
  /** Refused by the mesh's own policy (RBAC, a Cilium policy) rather than served. */
  denied: boolean;
}

/** What a parser makes of a line: a request, a line that is not one (counted by reason), or unreadable. */
export type LineResult =
  | { kind: 'request'; request: LoggedRequest }
  | { kind: 'skip'; reason: string }
  | { kind: 'unreadable'; reason: string };

export const unreadable = (reason: string): LineResult => ({ kind: 'unreadable', reason });

/** The flow event of a logged request to a registered workload, or why it cannot be one. */
export function flowEventOf(r: LoggedRequest, source: string | undefined, destination: string): Result<FlowEvent> {
  if (!METHOD_TOKEN.test(r.method)) return fail('', 'the method is not an HTTP method token');
  if (!r.path.startsWith('/') && r.path !== '*') return fail('', 'the path is not an origin-form path');
  const problem =
    recordedProblem('the path', r.path, MAX_RECORDED_PATH) ?? recordedProblem('the authority', r.host, MAX_RECORDED_AUTHORITY);
  if (problem) return fail('', problem);
  if (source !== undefined && !parseSpiffeId(source).ok) return fail('', 'the caller is not a SPIFFE ID');
  if (!Number.isInteger(r.status) || r.status < 0 || r.status > 599) return fail('', 'the status is not an HTTP status');
  if (!Number.isFinite(r.timeMs)) return fail('', 'the time is not a time');
  return ok({
    timeMs: r.timeMs,
    source,
    destination,
    method: r.method,
    host: r.host,
    path: r.path,
    port: r.port,
    status: r.status,
    // Not decided by Perimeter: served (observed, as in observe mode), or refused by the mesh's own policy.
    ...(r.denied
      ? { decision: 'deny' as const, enforced: true, mode: 'enforce', rule: '', version: '' }
      : { decision: 'allow' as const, enforced: false, mode: 'observe', rule: '', version: '' }),
  });
}

/** A field of a JSON log line as a string, or undefined ("-" is Envoy's empty value). */
export function field(o: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = o[n];
    if (typeof v === 'number') return String(v);
    if (typeof v === 'string' && v !== '-' && v !== '') return v;
  }
  return undefined;
}
