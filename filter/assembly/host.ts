// Typed wrappers over the host imports. Results come back through two reused out-slots, so a
// call allocates nothing in the filter; data the host copies in (through our malloc) is
// described by HostBytes and must be released with release().

import { MetricType, Status } from "./abi";
import * as imports from "./imports";
import * as scratch from "./scratch";

const OUT_PTR: usize = memory.data(8);
const OUT_SIZE: usize = OUT_PTR + 4;

/** The last buffer the host returned: pointer and size (0/0 for an empty value). */
export let hostPtr: usize = 0;
export let hostSize: usize = 0;

@inline function takeOut(): void {
  hostPtr = load<u32>(OUT_PTR);
  hostSize = load<u32>(OUT_SIZE);
}

/** Frees the last host buffer (Envoy never frees what it copies in; the module must). */
export function release(ptr: usize): void {
  scratch.free(ptr);
}

export function getProperty(path: usize, pathLen: usize): u32 {
  store<u32>(OUT_PTR, 0);
  store<u32>(OUT_SIZE, 0);
  const status = imports.proxy_get_property(path, pathLen, OUT_PTR, OUT_SIZE);
  takeOut();
  return status;
}

export function setProperty(path: usize, pathLen: usize, value: usize, valueLen: usize): u32 {
  return imports.proxy_set_property(path, pathLen, value, valueLen);
}

export function getRequestHeaderPairs(): u32 {
  store<u32>(OUT_PTR, 0);
  store<u32>(OUT_SIZE, 0);
  const status = imports.proxy_get_header_map_pairs(0, OUT_PTR, OUT_SIZE);
  takeOut();
  return status;
}

export function getBufferBytes(bufferType: u32, maxSize: u32): u32 {
  store<u32>(OUT_PTR, 0);
  store<u32>(OUT_SIZE, 0);
  const status = imports.proxy_get_buffer_bytes(bufferType, 0, maxSize, OUT_PTR, OUT_SIZE);
  takeOut();
  return status;
}

export function sendLocalResponse(status: u32, details: usize, detailsLen: usize, body: usize, bodyLen: usize): u32 {
  // -1: no gRPC status of our own; Envoy derives one from the HTTP code for gRPC callers.
  return imports.proxy_send_local_response(status, details, detailsLen, body, bodyLen, 0, 0, -1);
}

/** Defines a counter; returns its id, or 0 when the host refused. */
export function defineCounter(name: usize, nameLen: usize): u32 {
  store<u32>(OUT_PTR, 0);
  if (imports.proxy_define_metric(MetricType.Counter, name, nameLen, OUT_PTR) != Status.Ok) return 0;
  return load<u32>(OUT_PTR);
}

export function incrementCounter(id: u32, delta: i64): u32 {
  return imports.proxy_increment_metric(id, delta);
}

export function nowNanoseconds(): i64 {
  store<u64>(OUT_PTR, 0);
  if (imports.proxy_get_current_time_nanoseconds(OUT_PTR) != Status.Ok) return -1;
  return load<i64>(OUT_PTR);
}

export function setTickPeriod(ms: u32): void {
  imports.proxy_set_tick_period_milliseconds(ms);
}

export function log(level: u32, message: string): void {
  const utf8 = String.UTF8.encode(message);
  imports.proxy_log(level, changetype<usize>(utf8), utf8.byteLength);
}
