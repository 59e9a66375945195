/**
 * What the host functions (imports-*.ts, one file per ABI area) may do to the VM they are bound
 * to: read and write its memory, find the context a call acts on and the maps and buffers that
 * context may see, call back into the module. WasmVm (vm.ts) is the one implementation.
 */
import type { Context, Header, RootContext, StreamContext } from './context.js';
import type { LogLevelName } from './enums.js';
import type { HeaderMap } from './header-map.js';
import type { VmMetrics } from './metrics.js';

/** A trap in the module, or a host call made where Envoy would not allow it. */
export class WasmTrap extends Error {}

export const EMPTY = new Uint8Array(0);

/** Host functions by import name; each returns a WasmResult (undefined: the call returns nothing). */
export type HostFunctions = Record<string, (...a: never[]) => number | undefined>;

export interface HttpResponse {
  headers: Header[];
  body: Uint8Array;
  trailers: Header[];
}

export interface DnsAnswer {
  /** As Envoy prints an address: `1.2.3.4:0`, `[::1]:0`. */
  address: string;
  ttlSeconds: number;
}

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
  /** A name lookup for envoy_resolve_dns; rejects when the name does not resolve. */
  resolveDns(name: string): Promise<DnsAnswer[]>;
}

export interface HostVm {
  readonly vmId: string;
  readonly metrics: VmMetrics;
  readonly logLevel: LogLevelName;
  readonly hooks: VmHooks;
  readonly memory: WebAssembly.Memory;
  /** Root contexts by id (streams are found by contextById). */
  readonly contexts: Map<number, Context>;
  contextById(id: number): Context | undefined;
  readonly httpCallouts: Map<number, { root: RootContext; response?: HttpResponse }>;
  /** Queues that got items during a call; the host delivers proxy_on_queue_ready afterwards. */
  readonly pendingQueueReady: Set<number>;
  current: Context | undefined;
  /** The last HTTP call token handed out. */
  tokens: number;
  nextDnsToken(): number;
  /** Calls envoy_on_resolve_dns on `root` (undefined answers: the lookup failed, size 0). */
  deliverDns(root: RootContext, token: number, answers: DnsAnswer[] | undefined): void;
  call(ctx: Context | undefined, name: string, a?: number, b?: number, c?: number, d?: number, e?: number): number | undefined;
  bytes(): Uint8Array;
  /** The same bytes as bytes(), as 32-bit words in the machine's byte order; current after bytes() or inBounds(). */
  words(): Int32Array;
  inBounds(ptr: number, len: number): boolean;
  read(ptr: number, len: number): Uint8Array | undefined;
  readString(ptr: number, len: number): string | undefined;
  /** readString for names the module passes again and again (property paths, keys): interned. */
  readKey(ptr: number, len: number): string | undefined;
  /** A local reply's details or body, interned: its slot, -1 when too long to keep, undefined when out of bounds. */
  replySlot(ptr: number, len: number): number | undefined;
  replyText(slot: number): string;
  /** Shared by every reply that sends them: never to be changed. */
  replyBytes(slot: number): Uint8Array;
  writeU32(ptr: number, v: number): boolean;
  writeU64(ptr: number, v: bigint): boolean;
  copyOut(data: Uint8Array, ptrPtr: number, sizePtr: number): number;
  copyOutString(s: string, ptrPtr: number, sizePtr: number): number;
  copyOutMap(map: HeaderMap, ptrPtr: number, sizePtr: number): number;
  stream(): StreamContext | undefined;
  root(): RootContext | undefined;
  /** The header map the current stream may read now. */
  headerMap(type: number): HeaderMap | undefined;
  /** The header map the current stream may change now (its own copy); undefined when read-only or unreadable. */
  writableHeaderMap(type: number): HeaderMap | undefined;
  callout(type: number): HeaderMap | undefined;
  buffer(type: number): Uint8Array | undefined;
  deliverHttpResponse(token: number, response: HttpResponse | undefined): void;
}
