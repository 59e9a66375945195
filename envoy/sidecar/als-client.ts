/**
 * Access Log Service, the sidecar's side: each request's access entry, with the filter's decision
 * record as filter state, streamed to the control server as Envoy's http_grpc access logger does
 * (`StreamAccessLogs`, the identifier on the first message only). Lossy by design, as in Envoy:
 * entries wait in a bounded buffer while the stream is down and the oldest are dropped (and
 * counted) when it is full.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack, BytesValueSchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import type * as grpc from '@grpc/grpc-js';
import { clientConstructor } from '../../control/xds/grpc-service.js';
import { RequestMethod } from '../../proto/gen/envoy/envoy/config/core/v3/base_pb.js';
import { type HTTPAccessLogEntry, HTTPAccessLogEntrySchema } from '../../proto/gen/envoy/envoy/data/accesslog/v3/accesslog_pb.js';
import { AccessLogService, StreamAccessLogsMessageSchema } from '../../proto/gen/envoy/envoy/service/accesslog/v3/als_pb.js';
import { DECISION_KEY } from '../config/bootstrap.js';
import type { AccessRecord } from './inbound.js';

const ALS = clientConstructor(AccessLogService);

export interface AlsOptions {
  address: string;
  nodeId: string;
  logName: string;
  credentials: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Entries sent together (Envoy's buffer_size_bytes analogue, by count). */
  batch?: number;
  flushMs?: number;
  maxBuffered?: number;
}

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

export class AlsClient {
  private readonly client: grpc.Client;
  private call: grpc.ClientWritableStream<object> | undefined;
  private buffer: HTTPAccessLogEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  private identified = false;
  readonly stats = { sent: 0, dropped: 0, streams: 0 };

  constructor(private readonly o: AlsOptions) {
    this.client = new ALS(o.address, o.credentials, { 'grpc.keepalive_time_ms': 30_000, ...o.channelOptions });
  }

  log(r: AccessRecord): void {
    if (this.closed) return;
    this.buffer.push(accessEntry(r));
    const max = this.o.maxBuffered ?? 10_000;
    if (this.buffer.length > max) {
      this.stats.dropped += this.buffer.length - max;
      this.buffer.splice(0, this.buffer.length - max);
    }
    if (this.buffer.length >= (this.o.batch ?? 100)) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.o.flushMs ?? 200);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0 || this.closed) return;
    if (!this.call) this.open();
    const call = this.call;
    if (!call) return;
    const entries = this.buffer;
    this.buffer = [];
    const msg = create(StreamAccessLogsMessageSchema, {
      // Like Envoy, who is logging is said once per stream.
      ...(this.identified ? {} : { identifier: { node: { id: this.o.nodeId }, logName: this.o.logName } }),
      logEntries: { case: 'httpLogs', value: { logEntry: entries } },
    });
    this.identified = true;
    call.write(msg);
    this.stats.sent += entries.length;
  }

  private open(): void {
    if (this.retry) return;
    const call = (
      this.client as unknown as Record<string, (cb: (e: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<object>>
    ).StreamAccessLogs?.call(this.client, () => {});
    if (!call) return;
    this.stats.streams++;
    this.identified = false;
    call.on('error', () => {});
    call.on('status', () => {
      if (this.call === call) this.call = undefined;
      if (this.closed) return;
      // Back off (0.5 s doubling to 30 s) before the next stream; entries wait in the buffer.
      const delay = Math.min(30_000, 500 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, delay);
      this.retry.unref();
    });
    call.on('metadata', () => {
      this.attempt = 0;
    });
    this.call = call;
  }

  close(): void {
    this.flush();
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    this.call?.end();
    this.client.close();
  }
}
