/**
 * Envoy's Access Log Service (StreamAccessLogs), the control server's side: one stream is bound
 * to its certificate's identity by its first message, as an xDS stream is, and each batch of HTTP
 * entries goes to the sink with that identity and the log name.
 */

import type { CallPeer, ReadableCall, Reply } from '../../grpc/server.js';
import type { HTTPAccessLogEntry } from '../../proto/gen/envoy/data/accesslog/v3/accesslog_pb.js';
import type { StreamAccessLogsMessage } from '../../proto/gen/envoy/service/accesslog/v3/als_pb.js';
import { StreamError } from './session.js';

export interface AccessLogBatch {
  identity: string;
  logName: string;
  entries: HTTPAccessLogEntry[];
}

/** How a stream is bound to an identity, and what a refusal does: the xDS server's rules. */
export interface StreamBinding {
  identify(call: CallPeer, nodeId: string): string | StreamError;
  refuse(call: CallPeer, err: StreamError): void;
}

export function serveAccessLogs(
  call: ReadableCall<StreamAccessLogsMessage>,
  cb: Reply<object>,
  sink: (batch: AccessLogBatch) => void,
  binding: StreamBinding,
): void {
  let bound: { identity: string; logName: string } | undefined;
  let done = false;
  const finish = (err: StreamError | undefined) => {
    if (done) return;
    done = true;
    if (err) {
      binding.refuse(call, err);
      cb({ code: err.code, details: err.message });
    } else cb(null, {});
  };
  call.on('data', (m: StreamAccessLogsMessage) => {
    if (done) return;
    if (!bound) {
      const who = binding.identify(call, m.identifier?.node?.id ?? '');
      if (who instanceof StreamError) return finish(who);
      bound = { identity: who, logName: m.identifier?.logName ?? '' };
    }
    if (m.logEntries.case === 'httpLogs' && m.logEntries.value.logEntry.length) sink({ ...bound, entries: m.logEntries.value.logEntry });
  });
  call.on('end', () => finish(undefined));
  call.on('error', () => {
    done = true;
  });
}
