/**
 * One HTTP stream through a plugin, driven in Envoy's callback order: request headers, body and
 * trailers, response headers, body and trailers, then the log and the end. A local reply the
 * module sends is deferred and passes back through its response callbacks, as in Envoy.
 */
import {
  adoptHeaderMap,
  type Header,
  type LocalReply,
  ownNewHeaderMap,
  type RootContext,
  reuseStreamContext,
  type StreamContext,
} from './context.js';
import { type DataAction, dataAction, type HeadersAction, headersAction, MapType, type TrailersAction, trailersAction } from './enums.js';
import type { FilterState } from './filter-state.js';
import { HeaderMap } from './header-map.js';
import { type VmHooks, WasmTrap } from './host-vm.js';
import type { StreamInfo } from './properties.js';
import type { WasmFunction, WasmVm } from './vm.js';

/** What a stream needs of its plugin. */
export interface StreamOwner {
  readonly options: { allowOnHeadersStopIteration?: boolean | undefined };
  readonly host: { readonly hooks: VmHooks };
  /** The stream has finished. */
  streamDone(): void;
  /** The stream was released: its caller will not touch it again. */
  recycle(stream: HttpStream): void;
}

export const FAIL_STREAM_REPLY: LocalReply = {
  status: 503,
  details: 'wasm_fail_stream',
  body: new Uint8Array(),
  headers: [],
  grpcStatus: 14,
};

export interface HeadersOutcome {
  /** What the filter chain does next; 'LocalReply' when the module (or a failure) answered. */
  action: HeadersAction | 'LocalReply';
  localReply?: LocalReply;
  /** The filter was skipped (FAIL_OPEN after a failure). */
  skipped?: boolean;
}

type StreamMode = 'normal' | 'skip' | 'fail';

/** The outcomes that carry no reply, made once: a request that continues allocates none. */
const HEADERS_OUTCOMES: Readonly<Record<HeadersAction, Readonly<HeadersOutcome>>> = {
  Continue: Object.freeze({ action: 'Continue' }),
  StopIteration: Object.freeze({ action: 'StopIteration' }),
  StopAllIterationAndBuffer: Object.freeze({ action: 'StopAllIterationAndBuffer' }),
  StopAllIterationAndWatermark: Object.freeze({ action: 'StopAllIterationAndWatermark' }),
};
const SKIPPED: Readonly<HeadersOutcome> = Object.freeze({ action: 'Continue', skipped: true });

/** The response headers Envoy sends with a local reply; those without the module's own are made once per status and length. */
const replyMaps = new Map<number, HeaderMap>();

function replyHeaders(reply: LocalReply): HeaderMap {
  // (A status past 999 is not an HTTP status a client can get: never kept.)
  const plain = reply.headers.length === 0 && reply.status < 1000;
  const key = reply.status * 0x100000000 + reply.body.length;
  const made = plain ? replyMaps.get(key) : undefined;
  if (made) return made;
  const headers: Header[] = [[':status', String(reply.status)]];
  if (reply.body.length) headers.push(['content-length', String(reply.body.length)], ['content-type', 'text/plain']);
  headers.push(...reply.headers);
  const map = HeaderMap.of(headers);
  if (plain && replyMaps.size < 1024) replyMaps.set(key, map);
  return map;
}

/** One HTTP stream through the filter, driven in Envoy's callback order. */
export class HttpStream {
  private created = false;
  private finished = false;
  private released = false;
  /** Response headers the module produced for its own local reply (after its callbacks). */
  replyHeaders: readonly Header[] | undefined;

  constructor(
    readonly plugin: StreamOwner,
    private vm: WasmVm,
    readonly ctx: StreamContext,
    private mode: StreamMode,
  ) {}

  /** Made a new stream by the plugin, after release(). */
  reopen(vm: WasmVm, root: RootContext, id: number, info: StreamInfo, mode: StreamMode): void {
    this.vm = vm;
    this.mode = mode;
    this.created = false;
    this.finished = false;
    this.released = false;
    this.replyHeaders = undefined;
    reuseStreamContext(this.ctx, root, id, info);
  }

  /**
   * The caller is done with the stream (finishing it first if need be): its objects, and the
   * buffers of its filter state, go to the plugin's next stream. Nothing read from it (filter
   * state, header maps) may be used after this; a call on it throws.
   */
  release(): void {
    if (this.released) return;
    this.finish();
    this.released = true;
    this.plugin.recycle(this);
  }

  private live(): void {
    if (this.released) throw new Error('HttpStream used after release()');
  }

  get filterState(): FilterState {
    return this.ctx.filterState;
  }

  get localReply(): LocalReply | undefined {
    return this.ctx.localReply;
  }

  /** Request headers as the module left them (it may add or replace some). */
  get requestHeaders(): readonly Header[] {
    return this.ctx.requestHeaders.entries();
  }

  /** The request header map as the module left it: the caller's own map when the module did not change it. */
  get requestHeaderMap(): HeaderMap {
    return this.ctx.requestHeaders;
  }

  get responseHeaders(): readonly Header[] {
    return this.ctx.responseHeaders.entries();
  }

  private ensureCreated(): void {
    if (this.created) return;
    this.created = true;
    this.vm.openStream(this.ctx);
    const f = this.vm.callbacks.contextCreate;
    if (f) this.vm.callExport(this.ctx, f, 'proxy_on_context_create', this.ctx.id, this.ctx.root.id);
  }

  private failStream(): LocalReply {
    const reply = { ...FAIL_STREAM_REPLY, body: new Uint8Array() };
    this.ctx.localReply = reply;
    this.ctx.responseCodeDetails = reply.details;
    return reply;
  }

  /** Runs a callback (0 when the module has none); a trap fails the VM and the stream (503 wasm_fail_stream). */
  private invoke(f: WasmFunction | undefined, name: string, a?: number, b?: number): number | LocalReply {
    try {
      this.ensureCreated();
      if (f === undefined) return 0;
      const r = this.vm.callExport(this.ctx, f, name, this.ctx.id, a, b) ?? 0;
      this.vm.flushQueues();
      return r;
    } catch (e) {
      if (!(e instanceof WasmTrap)) throw e;
      this.plugin.host.hooks.log('critical', `wasm trap in ${name}: ${e.message}`);
      return this.failStream();
    }
  }

  /** The module called proxy_send_local_response: send it now, through its response callbacks. */
  private sendPendingReply(): LocalReply | undefined {
    const reply = this.ctx.pendingReply;
    if (!reply) return undefined;
    this.ctx.pendingReply = undefined;
    this.ctx.localReply = reply;
    this.ctx.responseCodeDetails = reply.details;
    const headers = replyHeaders(reply);
    // A map shared by every reply of this status and length is borrowed: a module that changes it changes its own clone.
    if (reply.headers.length === 0) adoptHeaderMap(this.ctx, MapType.ResponseHeaders, headers);
    else ownNewHeaderMap(this.ctx, MapType.ResponseHeaders, headers);
    // Envoy sends a reply made in on_request_headers before decodeHeaders returns, so the request
    // headers it was deciding on are still there (and stay: the headers callback is stopped).
    if (this.ctx.phase === 'request_headers') this.ctx.requestHeadersPaused = true;
    this.ctx.phase = 'response_headers';
    const r = this.invoke(this.vm.callbacks.responseHeaders, 'proxy_on_response_headers', headers.length, reply.body.length ? 0 : 1);
    if (typeof r === 'object') return r;
    if (reply.body.length) {
      this.ctx.responseBody = reply.body;
      this.ctx.phase = 'response_body';
      const b = this.invoke(this.vm.callbacks.responseBody, 'proxy_on_response_body', reply.body.length, 1);
      if (typeof b === 'object') return b;
    }
    this.replyHeaders = this.ctx.responseHeaders.entries();
    return reply;
  }

  /** The request headers (a map, or an array: see adoptHeaderMap). */
  onRequestHeaders(headers: HeaderMap | readonly Header[], endOfStream = false): Readonly<HeadersOutcome> {
    this.live();
    adoptHeaderMap(this.ctx, MapType.RequestHeaders, headers);
    if (this.mode === 'skip') return SKIPPED;
    if (this.mode === 'fail') return { action: 'LocalReply', localReply: this.failStream() };
    this.ctx.phase = 'request_headers';
    const r = this.invoke(
      this.vm.callbacks.requestHeaders,
      'proxy_on_request_headers',
      this.ctx.requestHeaders.length,
      endOfStream ? 1 : 0,
    );
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    const reply = this.sendPendingReply();
    if (reply) return { action: 'LocalReply', localReply: reply };
    const action = headersAction(r, Boolean(this.plugin.options.allowOnHeadersStopIteration));
    this.ctx.requestHeadersPaused = action !== 'Continue' && !this.ctx.continued.request;
    return HEADERS_OUTCOMES[action];
  }

  onRequestBody(chunk: Uint8Array, endOfStream: boolean): { action: DataAction | 'LocalReply'; localReply?: LocalReply } {
    this.live();
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue' };
    this.ctx.requestBody = Buffer.concat([this.ctx.requestBody, chunk]);
    this.ctx.phase = 'request_body';
    const r = this.invoke(this.vm.callbacks.requestBody, 'proxy_on_request_body', this.ctx.requestBody.length, endOfStream ? 1 : 0);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    const reply = this.sendPendingReply();
    if (reply) return { action: 'LocalReply', localReply: reply };
    return { action: dataAction(r) };
  }

  onRequestTrailers(trailers: HeaderMap | readonly Header[]): { action: TrailersAction | 'LocalReply'; localReply?: LocalReply } {
    this.live();
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue' };
    adoptHeaderMap(this.ctx, MapType.RequestTrailers, trailers);
    this.ctx.phase = 'request_trailers';
    const r = this.invoke(this.vm.callbacks.requestTrailers, 'proxy_on_request_trailers', trailers.length);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    return { action: trailersAction(r) };
  }

  onResponseHeaders(headers: HeaderMap | readonly Header[], endOfStream = false): Readonly<HeadersOutcome> {
    this.live();
    adoptHeaderMap(this.ctx, MapType.ResponseHeaders, headers);
    if (this.mode !== 'normal' || this.ctx.localReply) return this.mode === 'skip' ? SKIPPED : HEADERS_OUTCOMES.Continue;
    this.ctx.requestHeadersPaused = false;
    this.ctx.phase = 'response_headers';
    const r = this.invoke(
      this.vm.callbacks.responseHeaders,
      'proxy_on_response_headers',
      this.ctx.responseHeaders.length,
      endOfStream ? 1 : 0,
    );
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    const reply = this.sendPendingReply();
    if (reply) return { action: 'LocalReply', localReply: reply };
    return HEADERS_OUTCOMES[headersAction(r, Boolean(this.plugin.options.allowOnHeadersStopIteration))];
  }

  onResponseBody(chunk: Uint8Array, endOfStream: boolean): { action: DataAction | 'LocalReply'; localReply?: LocalReply } {
    this.live();
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue' };
    this.ctx.responseBody = Buffer.concat([this.ctx.responseBody, chunk]);
    this.ctx.phase = 'response_body';
    const r = this.invoke(this.vm.callbacks.responseBody, 'proxy_on_response_body', this.ctx.responseBody.length, endOfStream ? 1 : 0);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    return { action: dataAction(r) };
  }

  /** Response trailers (gRPC's status comes in them), after the response body. */
  onResponseTrailers(trailers: HeaderMap | readonly Header[]): { action: TrailersAction | 'LocalReply'; localReply?: LocalReply } {
    this.live();
    adoptHeaderMap(this.ctx, MapType.ResponseTrailers, trailers);
    if (this.mode !== 'normal' || this.ctx.localReply) return { action: 'Continue' };
    this.ctx.phase = 'response_trailers';
    const r = this.invoke(this.vm.callbacks.responseTrailers, 'proxy_on_response_trailers', this.ctx.responseTrailers.length);
    if (typeof r === 'object') return { action: 'LocalReply', localReply: r };
    return { action: trailersAction(r) };
  }

  /** Response trailers as the module left them. */
  get responseTrailers(): readonly Header[] {
    return this.ctx.responseTrailers.entries();
  }

  get responseBody(): Buffer {
    const b = this.ctx.responseBody;
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  get requestBody(): Buffer {
    const b = this.ctx.requestBody;
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  /**
   * The end of the stream, in Envoy's order: proxy_on_log (before filters are destroyed;
   * request headers readable again, read-only), proxy_on_done (ignored for streams),
   * proxy_on_delete.
   */
  finish(): void {
    if (this.finished) return;
    this.live();
    this.finished = true;
    try {
      if (this.mode === 'normal' && !this.vm.failed) {
        this.ctx.phase = 'log';
        this.invoke(this.vm.callbacks.log, 'proxy_on_log');
        this.ctx.phase = 'done';
        if (!this.vm.failed) this.invoke(this.vm.callbacks.done, 'proxy_on_done');
        const del = this.vm.callbacks.delete;
        if (!this.vm.failed && this.created && del) this.vm.callExport(this.ctx, del, 'proxy_on_delete', this.ctx.id);
      }
    } catch {
      // a trap in a teardown callback fails the VM; later streams apply the failure policy
    } finally {
      this.vm.closeStream(this.ctx);
      this.plugin.streamDone();
    }
  }
}
