/**
 * One instance of a Proxy-Wasm module, with the host functions Envoy registers bound to it.
 * Hand-written on purpose: no Proxy-Wasm host exists for Node.
 * It follows proxy-wasm-cpp-host and Envoy's Wasm context: restricted calls during start-up
 * and inside the allocator, results copied in through the module's allocator (never for empty
 * values), every pointer bounds-checked, and effective context reset on each call into the VM.
 */
import { randomFillSync } from 'node:crypto';
import { ENV_FUNCTIONS, WASI_FUNCTIONS, WASI_MODULES } from './abi-table.js';
import type { Context, Header, RootContext, StreamContext } from './context.js';
import { BufferType, LOG_LEVEL_NAMES, LogLevel, type LogLevelName, MapType, WasmResult } from './enums.js';
import type { Metrics } from './metrics.js';
import { deserializePairs, pairsSize, writePairs } from './pairs.js';
import { lookupProperty } from './properties.js';
import { HOISTED_START, type ModuleInfo } from './wasm-binary.js';

export class WasmTrap extends Error {}

const EMPTY = new Uint8Array(0);

/** Process-wide shared data and queues, per vm_id (as Envoy's are). */
const sharedData = new Map<string, Map<string, { value: Uint8Array; cas: number }>>();
const sharedQueues = new Map<number, { vmId: string; name: string; items: Uint8Array[]; root: number }>();
let nextQueueId = 1;

export interface VmHooks {
  log(level: LogLevelName, message: string): void;
  now(): number;
  /** Host functions that fail with the given status (HostOptions.faults). */
  faults?: Record<string, number>;
  /** An outgoing HTTP call; undefined = no such cluster. */
  httpCall?(
    cluster: string,
    headers: Header[],
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<{ headers: Header[]; body: Uint8Array; trailers: Header[] }> | undefined;
}

const RESTRICTED_START = new Set([
  'proxy_log',
  'emscripten_notify_memory_growth',
  'fd_write',
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_time_get',
  'clock_res_get',
  'random_get',
  'poll_oneoff',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
]);
const RESTRICTED_ALLOC = new Set(['proxy_log', 'fd_write', 'clock_time_get', 'poll_oneoff']);

export class WasmVm {
  readonly instance: WebAssembly.Instance;
  readonly contexts = new Map<number, Context>();
  private nextContextId = 1;
  /** The context host calls act on (the callee of the current VM call, or set_effective_context). */
  current: Context | undefined;
  restricted: 'start' | 'alloc' | undefined = 'start';
  failed = false;
  /** Host calls made by the module (for benchmarks: calls per request). */
  hostCalls = 0;
  private readonly exportsByName: Record<string, WebAssembly.ExportValue>;
  private tokens = 0;
  readonly httpCallouts = new Map<number, { root: RootContext; response?: { headers: Header[]; body: Uint8Array; trailers: Header[] } }>();

  constructor(
    module: WebAssembly.Module,
    readonly info: ModuleInfo,
    readonly vmId: string,
    readonly metrics: Metrics,
    readonly logLevel: LogLevelName,
    private readonly hooks: VmHooks,
    private readonly env: Record<string, string> = {},
  ) {
    let memoryImport: WebAssembly.Memory | undefined;
    const imports: WebAssembly.Imports = { env: this.envImports() as WebAssembly.ModuleImports };
    for (const m of WASI_MODULES) imports[m] = this.wasiImports() as WebAssembly.ModuleImports;
    for (const imp of info.imports) {
      if (imp.kind === 'memory') {
        memoryImport ??= new WebAssembly.Memory({ initial: 1, maximum: 16384 });
        (imports[imp.module] as Record<string, unknown>)[imp.name] = memoryImport;
      }
    }
    this.instance = new WebAssembly.Instance(module, imports); // the start function was hoisted: startVm runs it
    this.exportsByName = this.instance.exports;
    this.memoryImport = memoryImport;
  }

  private memoryImport: WebAssembly.Memory | undefined;

  get memory(): WebAssembly.Memory {
    const m = (this.exportsByName.memory as WebAssembly.Memory | undefined) ?? this.memoryImport;
    if (!m) throw new WasmTrap('module has no memory');
    return m;
  }

  has(name: string): boolean {
    return typeof this.exportsByName[name] === 'function';
  }

  /** Runs the start function, then _initialize (+ main / __main_void) or _start, restricted, as cpp-host does. */
  startVm(): void {
    this.restricted = 'start';
    try {
      if (this.has(HOISTED_START)) this.call(undefined, HOISTED_START);
      if (this.has('_initialize')) {
        this.call(undefined, '_initialize');
        if (this.has('main')) this.call(undefined, 'main', 0, 0);
        else if (this.has('__main_void')) this.call(undefined, '__main_void');
      } else if (this.has('_start')) this.call(undefined, '_start');
    } finally {
      this.restricted = undefined;
    }
  }

  allocContextId(): number {
    return this.nextContextId++;
  }

  /**
   * Calls an export as the given context. A trap marks the VM failed and is rethrown as
   * WasmTrap; an absent export returns undefined.
   */
  call(ctx: Context | undefined, name: string, ...args: (number | bigint)[]): number | undefined {
    const f = this.exportsByName[name];
    if (typeof f !== 'function') return undefined;
    if (this.failed) throw new WasmTrap('VM has failed');
    const saved = this.current;
    this.current = ctx;
    try {
      const g = f as (...a: unknown[]) => unknown;
      // Fixed arities first: the five callbacks of every request take one to three arguments.
      const r =
        args.length === 1
          ? g(args[0])
          : args.length === 2
            ? g(args[0], args[1])
            : args.length === 3
              ? g(args[0], args[1], args[2])
              : g(...args);
      return typeof r === 'number' ? r : r === undefined ? 0 : Number(r);
    } catch (e) {
      this.failed = true;
      throw new WasmTrap(`${name}: ${(e as Error).message}`);
    } finally {
      this.current = saved;
    }
  }

  // === memory ===
  // Views are cached per ArrayBuffer: memory.grow() detaches the old buffer, so a changed
  // buffer means new views.
  private viewBuffer: ArrayBuffer | undefined;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  private buf = Buffer.alloc(0);

  private views(): void {
    // memory.grow() detaches the old buffer (its length drops to 0): only then are the views
    // rebuilt, without asking the Memory object for its buffer on every host call.
    if (this.u8.byteLength !== 0) return;
    const b = this.memory.buffer;
    if (b !== this.viewBuffer) {
      this.viewBuffer = b;
      this.u8 = new Uint8Array(b);
      this.dv = new DataView(b);
      this.buf = Buffer.from(b);
    }
  }

  bytes(): Uint8Array {
    this.views();
    return this.u8;
  }

  inBounds(ptr: number, len: number): boolean {
    this.views();
    return ptr >= 0 && len >= 0 && ptr + len <= this.u8.length;
  }

  read(ptr: number, len: number): Uint8Array | undefined {
    if (!this.inBounds(ptr >>> 0, len >>> 0)) return undefined;
    return this.u8.slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  }

  readString(ptr: number, len: number): string | undefined {
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (!this.inBounds(p, l)) return undefined;
    return l === 0 ? '' : this.buf.toString('utf8', p, p + l);
  }

  writeU32(ptr: number, v: number): boolean {
    if (!this.inBounds(ptr >>> 0, 4)) return false;
    this.dv.setUint32(ptr >>> 0, v >>> 0, true);
    return true;
  }

  writeU64(ptr: number, v: bigint): boolean {
    if (!this.inBounds(ptr >>> 0, 8)) return false;
    this.dv.setBigUint64(ptr >>> 0, BigInt.asUintN(64, v), true);
    return true;
  }

  /** Allocates in the module (malloc first, then proxy_on_memory_allocate), restricted meanwhile. */
  malloc(size: number): number {
    const saved = this.restricted;
    this.restricted = 'alloc';
    try {
      const name = this.has('malloc') ? 'malloc' : 'proxy_on_memory_allocate';
      return (this.call(this.current, name, size) ?? 0) >>> 0;
    } finally {
      this.restricted = saved;
    }
  }

  /** WasmBase::copyToPointerSize: empty → 0/0 without calling the allocator. */
  copyOut(data: Uint8Array, ptrPtr: number, sizePtr: number): number {
    return this.copyOutWith(data.length, ptrPtr, sizePtr, (p) => this.u8.set(data, p));
  }

  /** copyOut for a header map, serialized straight into module memory. */
  copyOutPairs(pairs: readonly Header[], ptrPtr: number, sizePtr: number): number {
    return this.copyOutWith(pairsSize(pairs), ptrPtr, sizePtr, (p) => writePairs(this.buf, p, pairs));
  }

  /** copyOut for a string, encoded straight into module memory. */
  copyOutString(s: string, ptrPtr: number, sizePtr: number): number {
    const n = Buffer.byteLength(s);
    return this.copyOutWith(n, ptrPtr, sizePtr, (p) => this.buf.write(s, p, n, 'utf8'));
  }

  /** Allocates `n` bytes in the module, lets `write` fill them, and hands back pointer and size. */
  private copyOutWith(n: number, ptrPtr: number, sizePtr: number, write: (p: number) => void): number {
    if (!this.inBounds(ptrPtr >>> 0, 4) || !this.inBounds(sizePtr >>> 0, 4)) return WasmResult.InvalidMemoryAccess;
    if (n === 0) {
      this.writeU32(ptrPtr, 0);
      this.writeU32(sizePtr, 0);
      return WasmResult.Ok;
    }
    const p = this.malloc(n);
    // malloc may grow memory: inBounds refreshes the views `write` uses.
    if (p === 0 || !this.inBounds(p, n)) return WasmResult.InvalidMemoryAccess;
    write(p);
    this.writeU32(ptrPtr, p);
    this.writeU32(sizePtr, n);
    return WasmResult.Ok;
  }

  // === host functions ===

  /** What every host call does first: count, refuse in restricted phases, injected faults. */
  private admit(name: string): number | undefined {
    this.hostCalls++;
    if (this.restricted) {
      const allowed = this.restricted === 'start' ? RESTRICTED_START : RESTRICTED_ALLOC;
      if (!allowed.has(name))
        throw new WasmTrap(
          `restricted_callback: ${name} is not allowed ${this.restricted === 'start' ? 'during start-up' : 'inside the allocator'}`,
        );
    }
    return this.hooks.faults?.[name];
  }

  private guard(name: string, impl: (...a: never[]) => number | undefined): (...a: unknown[]) => number | undefined {
    const f = impl as (...a: unknown[]) => number | undefined;
    // One wrapper per arity: the request path makes its host calls without rest arrays or spreads.
    switch (f.length) {
      case 1:
        return (a) => this.admit(name) ?? f(a);
      case 2:
        return (a, b) => this.admit(name) ?? f(a, b);
      case 3:
        return (a, b, c) => this.admit(name) ?? f(a, b, c);
      case 4:
        return (a, b, c, d) => this.admit(name) ?? f(a, b, c, d);
      case 5:
        return (a, b, c, d, e) => this.admit(name) ?? f(a, b, c, d, e);
      default:
        return (...args: unknown[]) => this.admit(name) ?? f(...args);
    }
  }

  private stream(): StreamContext | undefined {
    return this.current?.kind === 'stream' ? this.current : undefined;
  }

  private root(): RootContext | undefined {
    const c = this.current;
    return c?.kind === 'root' ? c : c?.root;
  }

  private headerMap(type: number): { map: Header[]; readOnly: boolean } | undefined {
    const s = this.stream();
    if (!s) return undefined;
    const inLog = s.phase === 'log';
    switch (type) {
      case MapType.RequestHeaders:
        return s.phase === 'request_headers' || s.requestHeadersPaused || inLog ? { map: s.requestHeaders, readOnly: inLog } : undefined;
      case MapType.RequestTrailers:
        return s.phase === 'request_trailers' || inLog ? { map: s.requestTrailers, readOnly: inLog } : undefined;
      case MapType.ResponseHeaders:
        return s.phase === 'response_headers' || s.phase === 'response_body' || s.phase === 'response_trailers' || inLog
          ? { map: s.responseHeaders, readOnly: inLog }
          : undefined;
      case MapType.ResponseTrailers:
        return s.phase === 'response_trailers' || inLog ? { map: s.responseTrailers, readOnly: inLog } : undefined;
      default:
        return undefined;
    }
  }

  private callout(type: number): Header[] | undefined {
    const r = [...this.httpCallouts.values()].find((c) => c.response && c.root === this.root());
    if (!r?.response) return undefined;
    return type === MapType.HttpCallResponseHeaders
      ? r.response.headers
      : type === MapType.HttpCallResponseTrailers
        ? r.response.trailers
        : undefined;
  }

  private envImports(): Record<string, unknown> {
    const vm = this;
    const impl: Record<string, (...a: never[]) => number | undefined> = {
      proxy_log(level: number, ptr: number, size: number) {
        if (level > LogLevel.critical) return WasmResult.BadArgument;
        const msg = vm.readString(ptr, size);
        if (msg === undefined) return WasmResult.InvalidMemoryAccess;
        if (level >= LogLevel[vm.logLevel]) vm.hooks.log(LOG_LEVEL_NAMES[level] as LogLevelName, msg);
        return WasmResult.Ok;
      },
      proxy_get_log_level(outPtr: number) {
        return vm.writeU32(outPtr, LogLevel[vm.logLevel]) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_get_status(codePtr: number, msgPtr: number, msgSizePtr: number) {
        if (!vm.writeU32(codePtr, 0)) return WasmResult.InvalidMemoryAccess;
        return vm.copyOut(new Uint8Array(), msgPtr, msgSizePtr);
      },
      proxy_get_property(pathPtr: number, pathSize: number, outPtr: number, outSize: number) {
        const path = vm.readString(pathPtr, pathSize);
        if (path === undefined) return WasmResult.InvalidMemoryAccess;
        const root = vm.root();
        if (!root) return WasmResult.NotFound;
        const s = vm.stream();
        const r = lookupProperty(
          {
            plugin: root.plugin,
            stream: s && {
              info: s.info,
              requestHeaders: s.phase === 'request_headers' || s.requestHeadersPaused || s.phase === 'log' ? s.requestHeaders : undefined,
              responseHeaders: s.responseHeaders,
              filterState: s.filterState,
              responseCode: s.localReply?.status,
              responseCodeDetails: s.responseCodeDetails,
            },
          },
          path,
        );
        if (r.status !== WasmResult.Ok) return r.status;
        if (r.text !== undefined) return vm.copyOutString(r.text, outPtr, outSize);
        return vm.copyOut(r.value ?? EMPTY, outPtr, outSize);
      },
      proxy_set_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number) {
        const path = vm.readString(pathPtr, pathSize);
        const value = vm.read(valuePtr, valueSize);
        if (path === undefined || value === undefined) return WasmResult.InvalidMemoryAccess;
        const s = vm.stream();
        if (!s) return WasmResult.NotFound;
        s.filterState.set(`wasm.${path}`, value);
        return WasmResult.Ok;
      },
      proxy_get_header_map_pairs(type: number, outPtr: number, outSize: number) {
        if (type > MapType.HttpCallResponseTrailers) return WasmResult.BadArgument;
        const m = type >= MapType.HttpCallResponseHeaders ? vm.callout(type) : vm.headerMap(type)?.map;
        return m && m.length ? vm.copyOutPairs(m, outPtr, outSize) : vm.copyOut(EMPTY, outPtr, outSize);
      },
      proxy_set_header_map_pairs(type: number, ptr: number, size: number) {
        const h = vm.headerMap(type);
        const data = vm.read(ptr, size);
        if (data === undefined) return WasmResult.InvalidMemoryAccess;
        if (!h || h.readOnly) return WasmResult.BadArgument;
        h.map.splice(0, h.map.length, ...deserializePairs(data).map(([k, v]) => [k.toLowerCase(), v] as Header));
        return WasmResult.Ok;
      },
      proxy_get_header_map_value(type: number, keyPtr: number, keySize: number, outPtr: number, outSize: number) {
        if (type > MapType.HttpCallResponseTrailers) return WasmResult.BadArgument;
        const key = vm.readString(keyPtr, keySize);
        if (key === undefined) return WasmResult.InvalidMemoryAccess;
        const m = type >= MapType.HttpCallResponseHeaders ? vm.callout(type) : vm.headerMap(type)?.map;
        if (!m) return vm.stream()?.phase === 'log' ? WasmResult.NotFound : WasmResult.BadArgument;
        const hit = m.find(([k]) => k === key.toLowerCase());
        if (!hit) return WasmResult.NotFound;
        return vm.copyOut(Buffer.from(hit[1]), outPtr, outSize);
      },
      proxy_add_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number) {
        const k = vm.readString(kp, ks);
        const v = vm.readString(vp, vs);
        if (k === undefined || v === undefined) return WasmResult.InvalidMemoryAccess;
        const h = vm.headerMap(type);
        if (!h || h.readOnly) return WasmResult.BadArgument;
        h.map.push([k.toLowerCase(), v]);
        return WasmResult.Ok;
      },
      proxy_replace_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number) {
        const k = vm.readString(kp, ks);
        const v = vm.readString(vp, vs);
        if (k === undefined || v === undefined) return WasmResult.InvalidMemoryAccess;
        const h = vm.headerMap(type);
        if (!h || h.readOnly) return WasmResult.BadArgument;
        const key = k.toLowerCase();
        const i = h.map.findIndex(([x]) => x === key);
        const rest = h.map.filter(([x], j) => x !== key || j === i);
        h.map.splice(0, h.map.length, ...rest);
        if (i >= 0) (h.map.find(([x]) => x === key) as Header)[1] = v;
        else h.map.push([key, v]);
        return WasmResult.Ok;
      },
      proxy_remove_header_map_value(type: number, kp: number, ks: number) {
        const k = vm.readString(kp, ks);
        if (k === undefined) return WasmResult.InvalidMemoryAccess;
        const h = vm.headerMap(type);
        if (!h || h.readOnly) return WasmResult.BadArgument;
        const key = k.toLowerCase();
        const rest = h.map.filter(([x]) => x !== key);
        h.map.splice(0, h.map.length, ...rest);
        return WasmResult.Ok;
      },
      proxy_get_header_map_size(type: number, outPtr: number) {
        const h = vm.headerMap(type);
        if (!h) return WasmResult.BadArgument;
        const size = h.map.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
        return vm.writeU32(outPtr, size) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_get_buffer_bytes(type: number, start: number, maxSize: number, outPtr: number, outSize: number) {
        const buf = vm.buffer(type);
        if (!buf) return WasmResult.NotFound;
        const s = start >>> 0;
        const m = maxSize >>> 0;
        if (s + m > 0xffffffff) return WasmResult.BadArgument;
        return vm.copyOut(buf.subarray(Math.min(s, buf.length), Math.min(buf.length, s + m)), outPtr, outSize);
      },
      proxy_get_buffer_status(type: number, lenPtr: number, flagsPtr: number) {
        const buf = vm.buffer(type);
        if (!buf) return WasmResult.NotFound;
        if (!vm.writeU32(lenPtr, buf.length) || !vm.writeU32(flagsPtr, 0)) return WasmResult.InvalidMemoryAccess;
        return WasmResult.Ok;
      },
      proxy_set_buffer_bytes(type: number, start: number, size: number, dataPtr: number, dataSize: number) {
        const s = vm.stream();
        const data = vm.read(dataPtr, dataSize);
        if (data === undefined) return WasmResult.InvalidMemoryAccess;
        const key = type === BufferType.HttpRequestBody ? 'requestBody' : type === BufferType.HttpResponseBody ? 'responseBody' : undefined;
        if (!s || !key) return WasmResult.NotFound;
        const cur = s[key];
        if (start === 0) s[key] = Buffer.concat([data, cur.subarray(Math.min(size >>> 0, cur.length))]);
        else if (start >>> 0 >= cur.length) s[key] = Buffer.concat([cur, data]);
        else return WasmResult.BadArgument;
        return WasmResult.Ok;
      },
      proxy_send_local_response(status: number, dp: number, ds: number, bp: number, bs: number, hp: number, hs: number, grpc: number) {
        const details = vm.readString(dp, ds);
        const body = vm.read(bp, bs);
        const headers = vm.read(hp, hs);
        if (details === undefined || body === undefined || headers === undefined) return WasmResult.InvalidMemoryAccess;
        const s = vm.stream();
        if (!s) return WasmResult.Ok; // root context: accepted, nothing is sent (as Envoy)
        s.pendingReply = {
          status,
          details: details.replace(/\s/g, '_'),
          body,
          headers: deserializePairs(headers).map(([k, v]) => [k.toLowerCase(), v] as Header),
          ...(grpc >= 0 && grpc <= 16 ? { grpcStatus: grpc } : {}),
        };
        return WasmResult.Ok;
      },
      proxy_continue_stream(type: number) {
        if (type > 3) return WasmResult.BadArgument;
        if (type === 3) return WasmResult.Unimplemented;
        const s = vm.stream();
        if (!s) return WasmResult.NotFound;
        if (type === 0) s.continued.request = true;
        if (type === 1) s.continued.response = true;
        return WasmResult.Ok;
      },
      proxy_close_stream(type: number) {
        if (type > 3) return WasmResult.BadArgument;
        const s = vm.stream();
        if (!s) return WasmResult.NotFound;
        s.closed = true;
        s.responseCodeDetails = 'wasm_close_stream';
        return WasmResult.Ok;
      },
      proxy_http_call(
        up: number,
        us: number,
        hp: number,
        hs: number,
        bp: number,
        bs: number,
        tp: number,
        ts: number,
        timeout: number,
        tokenPtr: number,
      ) {
        const cluster = vm.readString(up, us);
        const hdr = vm.read(hp, hs);
        const body = vm.read(bp, bs);
        if (cluster === undefined || hdr === undefined || body === undefined || vm.read(tp, ts) === undefined)
          return WasmResult.InvalidMemoryAccess;
        const root = vm.root();
        const headers = deserializePairs(hdr);
        const has = (k: string) => headers.some(([x]) => x === k);
        if (!root || !has(':path') || !has(':method') || !has(':authority')) return WasmResult.BadArgument;
        const pending = vm.hooks.httpCall?.(cluster, headers, body, timeout >>> 0);
        if (!pending) return WasmResult.BadArgument; // unknown cluster
        const token = vm.tokens++ * 4; // callout type HttpCall = 0 in the low bits
        vm.httpCallouts.set(token, { root });
        pending.then(
          (response) => vm.deliverHttpResponse(token, response),
          () => vm.deliverHttpResponse(token, undefined),
        );
        return vm.writeU32(tokenPtr, token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_grpc_call() {
        return WasmResult.ParseFailure; // no gRPC services are configured in this host
      },
      proxy_grpc_stream() {
        return WasmResult.ParseFailure;
      },
      proxy_grpc_send() {
        return WasmResult.NotFound;
      },
      proxy_grpc_cancel() {
        return WasmResult.NotFound;
      },
      proxy_grpc_close() {
        return WasmResult.NotFound;
      },
      proxy_set_tick_period_milliseconds(period: number) {
        const root = vm.root();
        if (!root) return WasmResult.NotFound;
        root.tickPeriodMs = period >>> 0;
        root.nextTickAt = vm.hooks.now() + root.tickPeriodMs;
        return WasmResult.Ok;
      },
      proxy_get_current_time_nanoseconds(outPtr: number) {
        return vm.writeU64(outPtr, BigInt(Math.round(vm.hooks.now() * 1e6))) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_define_metric(type: number, np: number, ns: number, outPtr: number) {
        const name = vm.readString(np, ns);
        if (name === undefined) return WasmResult.InvalidMemoryAccess;
        const m = vm.metrics.define(type, name);
        if (!m) return WasmResult.BadArgument;
        return vm.writeU32(outPtr, m.id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_increment_metric(id: number, delta: bigint) {
        return vm.metrics.increment(id >>> 0, BigInt(delta));
      },
      proxy_record_metric(id: number, value: bigint) {
        return vm.metrics.record(id >>> 0, BigInt(value));
      },
      proxy_get_metric(id: number, outPtr: number) {
        const r = vm.metrics.get(id >>> 0);
        if (r.status !== WasmResult.Ok) return r.status;
        return vm.writeU64(outPtr, r.value ?? 0n) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_get_shared_data(kp: number, ks: number, outPtr: number, outSize: number, casPtr: number) {
        const key = vm.readString(kp, ks);
        if (key === undefined) return WasmResult.InvalidMemoryAccess;
        const entry = sharedData.get(vm.vmId)?.get(key);
        if (!entry) return WasmResult.NotFound;
        if (!vm.writeU32(casPtr, entry.cas)) return WasmResult.InvalidMemoryAccess;
        return vm.copyOut(entry.value, outPtr, outSize);
      },
      proxy_set_shared_data(kp: number, ks: number, vp: number, vs: number, cas: number) {
        const key = vm.readString(kp, ks);
        const value = vm.read(vp, vs);
        if (key === undefined || value === undefined) return WasmResult.InvalidMemoryAccess;
        const table = sharedData.get(vm.vmId) ?? new Map<string, { value: Uint8Array; cas: number }>();
        sharedData.set(vm.vmId, table);
        const cur = table.get(key);
        if (cas !== 0 && cur && cur.cas !== cas >>> 0) return WasmResult.CasMismatch;
        table.set(key, { value, cas: (cur?.cas ?? 0) + 1 });
        return WasmResult.Ok;
      },
      proxy_register_shared_queue(np: number, ns: number, outPtr: number) {
        const name = vm.readString(np, ns);
        const root = vm.root();
        if (name === undefined) return WasmResult.InvalidMemoryAccess;
        if (!root) return WasmResult.NotFound;
        let id = [...sharedQueues].find(([, q]) => q.vmId === vm.vmId && q.name === name)?.[0];
        if (id === undefined) {
          id = nextQueueId++;
          sharedQueues.set(id, { vmId: vm.vmId, name, items: [], root: root.id });
        }
        return vm.writeU32(outPtr, id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_resolve_shared_queue(vp: number, vs: number, np: number, ns: number, outPtr: number) {
        const vmId = vm.readString(vp, vs);
        const name = vm.readString(np, ns);
        if (vmId === undefined || name === undefined) return WasmResult.InvalidMemoryAccess;
        const id = [...sharedQueues].find(([, q]) => q.vmId === vmId && q.name === name)?.[0];
        if (id === undefined) return WasmResult.NotFound;
        return vm.writeU32(outPtr, id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      proxy_enqueue_shared_queue(id: number, vp: number, vs: number) {
        const value = vm.read(vp, vs);
        if (value === undefined) return WasmResult.InvalidMemoryAccess;
        const q = sharedQueues.get(id >>> 0);
        if (!q) return WasmResult.NotFound;
        q.items.push(value);
        vm.pendingQueueReady.add(id >>> 0);
        return WasmResult.Ok;
      },
      proxy_dequeue_shared_queue(id: number, outPtr: number, outSize: number) {
        const q = sharedQueues.get(id >>> 0);
        if (!q) return WasmResult.NotFound;
        const item = q.items.shift();
        if (!item) return WasmResult.Empty;
        return vm.copyOut(item, outPtr, outSize);
      },
      proxy_set_effective_context(id: number) {
        const ctx = vm.contexts.get(id >>> 0);
        if (!ctx) return WasmResult.BadArgument;
        vm.current = ctx;
        return WasmResult.Ok;
      },
      proxy_done() {
        const root = vm.root();
        if (!root?.doneDeferred) return WasmResult.NotFound;
        root.doneDeferred = false;
        vm.call(root, 'proxy_on_delete', root.id);
        vm.contexts.delete(root.id);
        return WasmResult.Ok;
      },
      proxy_call_foreign_function(np: number, ns: number, ap: number, as: number, outPtr: number, outSize: number) {
        const name = vm.readString(np, ns);
        if (name === undefined || vm.read(ap, as) === undefined) return WasmResult.InvalidMemoryAccess;
        if (name === 'clear_route_cache') return vm.copyOut(new Uint8Array(), outPtr, outSize);
        return WasmResult.NotFound;
      },
      pthread_equal(a: number, b: number) {
        return a === b ? 1 : 0;
      },
      emscripten_notify_memory_growth() {
        return undefined;
      },
    };
    return Object.fromEntries(Object.keys(ENV_FUNCTIONS).map((name) => [name, this.guard(name, impl[name] as (...a: never[]) => number)]));
  }

  /** Queues that got items during a call; the host delivers proxy_on_queue_ready afterwards. */
  readonly pendingQueueReady = new Set<number>();

  flushQueues(): void {
    if (this.pendingQueueReady.size === 0) return;
    for (const id of [...this.pendingQueueReady]) {
      this.pendingQueueReady.delete(id);
      const q = sharedQueues.get(id);
      const root = q ? this.contexts.get(q.root) : undefined;
      if (root?.kind === 'root' && q?.vmId === this.vmId) this.call(root, 'proxy_on_queue_ready', root.id, id);
    }
  }

  private buffer(type: number): Uint8Array | undefined {
    const c = this.current;
    if (type === BufferType.PluginConfiguration) return c?.kind === 'root' ? c.configuration : undefined;
    if (type === BufferType.VmConfiguration) return this.root()?.vmConfiguration;
    const s = this.stream();
    if (type === BufferType.HttpRequestBody && s && (s.phase === 'request_body' || s.phase === 'request_trailers')) return s.requestBody;
    if (type === BufferType.HttpResponseBody && s && (s.phase === 'response_body' || s.phase === 'response_trailers'))
      return s.responseBody;
    if (type === BufferType.HttpCallResponseBody)
      return [...this.httpCallouts.values()].find((x) => x.response && x.root === this.root())?.response?.body;
    return undefined;
  }

  private deliverHttpResponse(token: number, response: { headers: Header[]; body: Uint8Array; trailers: Header[] } | undefined): void {
    const callout = this.httpCallouts.get(token);
    if (!callout || this.failed) return;
    if (response) callout.response = response;
    try {
      this.call(
        callout.root,
        'proxy_on_http_call_response',
        callout.root.id,
        token,
        response ? response.headers.length : 0,
        response ? response.body.length : 0,
        response ? response.trailers.length : 0,
      );
    } catch {
      // A trap here fails the VM; the next stream applies the failure policy.
    } finally {
      this.httpCallouts.delete(token);
    }
  }

  private wasiImports(): Record<string, unknown> {
    const vm = this;
    const envPairs = Object.entries(this.env).map(([k, v]) => Buffer.from(`${k}=${v}\0`));
    const impl: Record<string, (...a: never[]) => number | undefined> = {
      fd_write(fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) {
        if (fd !== 1 && fd !== 2) return 8; // BADF
        const view = new DataView(vm.memory.buffer);
        let text = '';
        let n = 0;
        for (let i = 0; i < iovsLen; i++) {
          if (!vm.inBounds(iovs + i * 8, 8)) return 21; // FAULT
          const p = view.getUint32(iovs + i * 8, true);
          const l = view.getUint32(iovs + i * 8 + 4, true);
          const s = vm.readString(p, l);
          if (s === undefined) return 21;
          text += s;
          n += l;
        }
        vm.hooks.log(fd === 1 ? 'info' : 'error', text.replace(/\n$/, ''));
        return vm.writeU32(nwrittenPtr, n) ? 0 : 21;
      },
      fd_read() {
        return 52; // NOSYS
      },
      fd_seek() {
        return 8;
      },
      fd_close() {
        return 8;
      },
      fd_fdstat_get() {
        return 8;
      },
      fd_fdstat_set_flags() {
        return 8;
      },
      environ_sizes_get(countPtr: number, sizePtr: number) {
        vm.writeU32(countPtr, envPairs.length);
        vm.writeU32(
          sizePtr,
          envPairs.reduce((n, b) => n + b.length, 0),
        );
        return 0;
      },
      environ_get(ptrs: number, buf: number) {
        let off = buf;
        envPairs.forEach((b, i) => {
          vm.writeU32(ptrs + i * 4, off);
          vm.bytes().set(b, off);
          off += b.length;
        });
        return 0;
      },
      args_sizes_get(countPtr: number, sizePtr: number) {
        vm.writeU32(countPtr, 0);
        vm.writeU32(sizePtr, 0);
        return 0;
      },
      args_get() {
        return 0;
      },
      clock_time_get(id: number, _precision: bigint, outPtr: number) {
        if (id !== 0 && id !== 1) return 58; // NOTSUP
        const ns = id === 0 ? BigInt(Math.round(vm.hooks.now() * 1e6)) : process.hrtime.bigint();
        return vm.writeU64(outPtr, ns) ? 0 : 21;
      },
      random_get(buf: number, len: number) {
        if (len > 65536) return 28; // INVAL
        if (!vm.inBounds(buf, len)) return 21;
        randomFillSync(vm.bytes(), buf, len);
        return 0;
      },
      sched_yield() {
        return 0;
      },
      poll_oneoff(_in: number, _out: number, _n: number, neventsPtr: number) {
        vm.writeU32(neventsPtr, 0);
        return 0;
      },
      proc_exit() {
        vm.hooks.log('info', 'wasi_unstable proc_exit');
        return undefined; // returns, no trap (the module traps on its own afterwards)
      },
      fd_prestat_get() {
        return 8;
      },
      fd_prestat_dir_name() {
        return 8;
      },
      path_open() {
        return 76; // NOTCAPABLE
      },
    };
    return Object.fromEntries(Object.keys(WASI_FUNCTIONS).map((name) => [name, this.guard(name, impl[name] as (...a: never[]) => number)]));
  }
}
