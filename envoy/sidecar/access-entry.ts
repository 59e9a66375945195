/**
 * One request the local sidecar handled, as Envoy's http_grpc access logger writes it: an ALS
 * HTTPAccessLogEntry with the filter's decision record in its filter state.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack, BytesValueSchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { DECISION_KEY } from '../../contracts/decision-record.js';
import { RequestMethod } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import { type HTTPAccessLogEntry, HTTPAccessLogEntrySchema } from '../../proto/gen/envoy/data/accesslog/v3/accesslog_pb.js';
import type { AccessRecord } from './inbound.js';

export function accessEntry(r: AccessRecord): HTTPAccessLogEntry {
  const method = RequestMethod[r.method as keyof typeof RequestMethod];
  return create(HTTPAccessLogEntrySchema, {
    commonProperties: {
      startTime: timestampFromMs(Date.parse(r.time)),
      ...(r.peer ? { tlsProperties: { peerCertificateProperties: { subjectAltName: [{ san: { case: 'uri', value: r.peer } }] } } } : {}),
      filterStateObjects: r.decision
        ? { [DECISION_KEY]: anyPack(BytesValueSchema, create(BytesValueSchema, { value: Buffer.from(r.decision) })) }
        : {},
    },
    request: {
      requestMethod: typeof method === 'number' ? method : RequestMethod.METHOD_UNSPECIFIED,
      path: r.path,
      authority: r.authority,
    },
    response: { responseCode: r.status, responseCodeDetails: r.details },
  });
}
