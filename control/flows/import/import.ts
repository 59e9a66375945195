/**
 * `perimeter flows import`: logs a mesh already writes, read into the flow store, so that `map`,
 * `recommend` and `replay` work before the filter is deployed. A line becomes a flow event when
 * its caller and its destination are known: the caller by the identity the line carries or, for
 * a line that names it by address only, through the operator's pod list (unknown addresses are
 * counted, never guessed); the destination must be a registered workload. Lines that cannot be
 * read are counted and reported with their numbers; the first few are kept for the report.
 */
import type { FlowEvent } from '../event.js';
import { envoyJsonLine } from './envoy-json.js';
import { hubbleLine } from './hubble.js';
import { istioTextLine } from './istio-text.js';
import { flowEventOf, type LineResult, type Party } from './logged.js';

export const IMPORT_FORMATS = ['envoy-json', 'istio', 'hubble'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Longest line read: an access-log line is a few hundred bytes; a longer one is refused, not split. */
export const MAX_LINE = 64 * 1024;
/** How many unreadable lines the report names (all are counted). */
const KEPT_PROBLEMS = 100;

export interface ImportOptions {
  format: ImportFormat;
  trustDomain: string;
  /** Registered workloads by identity. */
  workloads: ReadonlyMap<string, string>;
  /** Pod address → identity (istio needs it). */
  pods?: ReadonlyMap<string, string>;
  /** The destination of lines that do not say (an Envoy log of one workload without its own SAN). */
  workload?: string;
}

export interface ImportReport {
  lines: number;
  imported: number;
  /** Lines that are not requests to a workload, by reason. */
  skipped: Record<string, number>;
  /** Requests whose caller's address the pod list does not know. */
  unknownCallers: number;
  /** Requests to a destination that is no registered workload. */
  unknownDestinations: number;
  unreadable: number;
  /** The first unreadable lines: where, and why. */
  problems: { file: string; line: number; reason: string }[];
}

export function emptyReport(): ImportReport {
  return { lines: 0, imported: 0, skipped: {}, unknownCallers: 0, unknownDestinations: 0, unreadable: 0, problems: [] };
}

/** One file's text into events (appended to `events`), its lines counted into `report`. */
export function importText(file: string, text: string, o: ImportOptions, report: ImportReport, events: FlowEvent[]): void {
  const parse = (line: string): LineResult =>
    o.format === 'envoy-json' ? envoyJsonLine(line) : o.format === 'istio' ? istioTextLine(line) : hubbleLine(line, o.trustDomain);
  const problem = (line: number, reason: string) => {
    report.unreadable++;
    if (report.problems.length < KEPT_PROBLEMS) report.problems.push({ file, line, reason });
  };
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    report.lines++;
    if (line.length > MAX_LINE) {
      problem(i + 1, `longer than ${MAX_LINE} bytes`);
      continue;
    }
    const r = parse(line);
    if (r.kind === 'skip') {
      report.skipped[r.reason] = (report.skipped[r.reason] ?? 0) + 1;
      continue;
    }
    if (r.kind === 'unreadable') {
      problem(i + 1, r.reason);
      continue;
    }
    const req = r.request;
    const caller = resolve(req.caller, o);
    if (caller === null) {
      report.unknownCallers++;
      continue;
    }
    const destinationId = resolve(req.destination, o);
    const destination = destinationId ? o.workloads.get(destinationId) : 'none' in req.destination ? o.workload : undefined;
    if (!destination) {
      report.unknownDestinations++;
      continue;
    }
    const e = flowEventOf(req, caller, destination);
    if (!e.ok) {
      problem(i + 1, e.problems[0]?.message ?? 'unreadable');
      continue;
    }
    events.push(e.value);
    report.imported++;
  }
}

/** An identity, undefined for no identity, or null for an address nobody in the pod list has. */
function resolve(p: Party, o: ImportOptions): string | undefined | null {
  if ('identity' in p) return p.identity;
  if ('none' in p) return undefined;
  return o.pods?.get(p.address) ?? null;
}
