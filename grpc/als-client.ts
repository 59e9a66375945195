/**
 * An access-log service client as Envoy's http_grpc logger behaves: entries are buffered and
 * sent in batches on one StreamAccessLogs stream, the stream says who is logging once, and a
 * broken stream is reopened with backoff while entries wait (the oldest dropped past the bound).
 */
import { create } from '@bufbuild/protobuf';
import type { HTTPAccessLogEntry } from '../proto/gen/envoy/data/accesslog/v3/accesslog_pb.js';
import { AccessLogService, StreamAccessLogsMessageSchema } from '../proto/gen/envoy/service/accesslog/v3/als_pb.js';
import { type ChannelOptions, type Client, ClientRenewal, type ClientWritable, clientStream, dial } from './client.js';
import type { ClientTls } from './credentials.js';

export interface AlsOptions {
  /** host:port of the service, or of each replica: a broken stream moves on to the next. */
  address: string | readonly string[];
  nodeId: string;
  logName: string;
  /** mTLS with the workload's SVID; absent: plaintext (tests of the protocol only). */
  tls?: ClientTls;
  channelOptions?: ChannelOptions;
  /** Entries sent together (Envoy's buffer_size_bytes analogue, by count). */
  batch?: number;
  flushMs?: number;
  maxBuffered?: number;
}

export class AlsClient {
  private readonly clients: Client[];
  private at = 0;
  private call: ClientWritable<object> | undefined;
  private buffer: HTTPAccessLogEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  private identified = false;
  readonly stats = { sent: 0, dropped: 0, streams: 0 };

  private readonly addresses: readonly string[];
  private readonly renewal = new ClientRenewal();

  constructor(private o: AlsOptions) {
    this.addresses = typeof o.address === 'string' ? [o.address] : o.address;
    this.clients = this.addresses.map((a) => dial(AccessLogService, a, o.tls, o.channelOptions));
  }

  /**
   * A renewed SVID. The stream open now keeps its connection (made with the old one); every
   * connection made from now on presents the new one.
   */
  setTls(tls: ClientTls): void {
    this.o = { ...this.o, tls };
    this.renewal.renew(this.clients, this.call ? this.at : -1, (i) =>
      dial(AccessLogService, this.addresses[i] as string, tls, this.o.channelOptions),
    );
  }

  log(entry: HTTPAccessLogEntry): void {
    if (this.closed) return;
    this.buffer.push(entry);
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
    const call = clientStream<object>(this.clients[this.at] as Client, 'StreamAccessLogs');
    if (!call) return;
    this.stats.streams++;
    this.identified = false;
    call.on('error', () => {});
    call.on('status', () => {
      if (this.call === call) this.call = undefined;
      this.renewal.streamEnded();
      if (this.closed) return;
      // The next replica; back off (0.5 s doubling to 30 s, once per round of them) before it; entries wait in the buffer.
      this.at = (this.at + 1) % this.clients.length;
      const delay = Math.min(30_000, 500 * 2 ** Math.floor(this.attempt++ / this.clients.length)) * (0.5 + Math.random() / 2);
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
    for (const c of this.clients) c.close();
    this.renewal.streamEnded();
  }
}
