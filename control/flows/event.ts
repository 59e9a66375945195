/**
 * One observed request as flow collection sees it: an ALS access-log entry (from Envoy's
 * http_grpc logger or our sidecar) with the filter's decision record in its filter state.
 * Entries that cannot be read give a reason, never a guess; entries whose values are not what
 * HTTP and the filter can produce (recorded.ts) are refused whole, so nothing a caller or a
 * sidecar made up reaches the flow store, the recommendations or an operator's terminal.
 */
import { anyUnpack, BytesValueSchema } from '@bufbuild/protobuf/wkt';
import { DECISION_KEY, type DecisionRecord, decisionRecordOf, RECORD_FIELDS, recordFields } from '../../contracts/decision-record.js';
import { fail, ok, type Result } from '../../contracts/problem.js';
import { parseSpiffeId } from '../../contracts/spiffe.js';
import { RequestMethod } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { HTTPAccessLogEntry } from '../../proto/gen/envoy/data/accesslog/v3/accesslog_pb.js';
import { MAX_RECORD, MAX_RECORDED_AUTHORITY, MAX_RECORDED_PATH, recordedProblem, recordFieldProblem } from './recorded.js';

/** A request's attributes as logged, and the filter's record of its decision (`rule` is `perimeter/rule`). */
export interface FlowEvent extends DecisionRecord {
  timeMs: number;
  /** The caller's SPIFFE ID; undefined when it had no verified certificate. */
  source: string | undefined;
  /** Workload name of the sidecar that logged it. */
  destination: string;
  method: string;
  host: string;
  path: string;
  port: number | undefined;
  status: number;
}

export function eventOf(entry: HTTPAccessLogEntry, destination: string): Result<FlowEvent> {
  const common = entry.commonProperties;
  const packed = common?.filterStateObjects[DECISION_KEY];
  if (!packed) return fail('', `no ${DECISION_KEY} in filter_state_objects (is the filter in the chain?)`);
  const bytes = anyUnpack(packed, BytesValueSchema);
  if (!bytes) return fail('', `${DECISION_KEY} is ${packed.typeUrl}, not a BytesValue`);
  if (bytes.value.length > MAX_RECORD) return fail('', `the decision record is longer than ${MAX_RECORD} bytes`);
  const r = recordFields(Buffer.from(bytes.value).toString('utf8'));
  if (r.decision !== 'allow' && r.decision !== 'deny') return fail('', 'the decision record has no decision');
  for (const k of RECORD_FIELDS) {
    const problem = r[k] === undefined ? undefined : recordFieldProblem(k, r[k] as string);
    if (problem) return fail('', problem);
  }
  const san = common?.tlsProperties?.peerCertificateProperties?.subjectAltName.find((s) => s.san.case === 'uri');
  const source = san?.san.case === 'uri' ? san.san.value : undefined;
  if (source !== undefined && !parseSpiffeId(source).ok) return fail('', 'the peer URI SAN is not a SPIFFE ID');
  const host = entry.request?.authority ?? '';
  const path = entry.request?.path ?? '';
  const problem = recordedProblem('the path', path, MAX_RECORDED_PATH) ?? recordedProblem('the authority', host, MAX_RECORDED_AUTHORITY);
  if (problem) return fail('', problem);
  const start = common?.startTime;
  const method = entry.request?.requestMethod ?? RequestMethod.METHOD_UNSPECIFIED;
  const port = common?.downstreamLocalAddress?.address.case === 'socketAddress' ? common.downstreamLocalAddress.address.value : undefined;
  return ok({
    timeMs: start ? Number(start.seconds) * 1000 + Math.floor(start.nanos / 1e6) : Date.now(),
    source,
    destination,
    method: method === RequestMethod.METHOD_UNSPECIFIED ? 'UNKNOWN' : (RequestMethod[method] ?? 'UNKNOWN'),
    host,
    path,
    port: port && port.portSpecifier.case === 'portValue' ? port.portSpecifier.value : undefined,
    status: entry.response?.responseCode ?? 0,
    ...decisionRecordOf(r),
  });
}
