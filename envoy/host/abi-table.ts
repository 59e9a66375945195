/**
 * What Envoy registers for a Proxy-Wasm ABI 0.2.1 module and what it checks in the module's
 * exports (proxy-wasm-cpp-host exports.h FOR_ALL_HOST_FUNCTIONS, wasm.h
 * FOR_ALL_MODULE_FUNCTIONS; docs/host.md says how this host follows them).
 */
import type { FuncType } from './wasm-binary.js';

const fn = (params: number | ('i32' | 'i64')[], results: 'i32'[] | [] = ['i32']): FuncType => ({
  params: typeof params === 'number' ? Array(params).fill('i32') : params,
  results,
});

/** Host functions of module "env" (ABI 0.2.x). */
export const ENV_FUNCTIONS: Record<string, FuncType> = {
  proxy_log: fn(3),
  proxy_get_log_level: fn(1),
  proxy_get_status: fn(3),
  proxy_get_property: fn(4),
  proxy_set_property: fn(4),
  proxy_get_header_map_pairs: fn(3),
  proxy_set_header_map_pairs: fn(3),
  proxy_get_header_map_value: fn(5),
  proxy_add_header_map_value: fn(5),
  proxy_replace_header_map_value: fn(5),
  proxy_remove_header_map_value: fn(3),
  proxy_get_header_map_size: fn(2),
  proxy_get_buffer_bytes: fn(5),
  proxy_get_buffer_status: fn(3),
  proxy_set_buffer_bytes: fn(5),
  proxy_send_local_response: fn(8),
  proxy_continue_stream: fn(1),
  proxy_close_stream: fn(1),
  proxy_http_call: fn(10),
  proxy_grpc_call: fn(12),
  proxy_grpc_stream: fn(9),
  proxy_grpc_send: fn(4),
  proxy_grpc_cancel: fn(1),
  proxy_grpc_close: fn(1),
  proxy_set_tick_period_milliseconds: fn(1),
  proxy_get_current_time_nanoseconds: fn(1),
  proxy_define_metric: fn(4),
  proxy_increment_metric: fn(['i32', 'i64']),
  proxy_record_metric: fn(['i32', 'i64']),
  proxy_get_metric: fn(2),
  proxy_get_shared_data: fn(5),
  proxy_set_shared_data: fn(5),
  proxy_register_shared_queue: fn(3),
  proxy_resolve_shared_queue: fn(5),
  proxy_enqueue_shared_queue: fn(3),
  proxy_dequeue_shared_queue: fn(3),
  proxy_set_effective_context: fn(1),
  proxy_done: fn(0),
  proxy_call_foreign_function: fn(6),
  pthread_equal: fn(2),
  emscripten_notify_memory_growth: fn(1, []),
  // Envoy's own (Wasm::registerCallbacks), beside the Proxy-Wasm ones.
  envoy_resolve_dns: fn(3),
};

/** Registered for ABI 0.2.1 only: a 0.2.0 module importing it fails to link (cpp-host registerCallbacks). */
export const ABI_0_2_1_ONLY = ['proxy_get_log_level'];

/** Registered only for ABI 0.1.0: importing them from a 0.2.1 module fails to link. */
export const ABI_0_1_ONLY = ['proxy_get_configuration', 'proxy_continue_request', 'proxy_continue_response', 'proxy_clear_route_cache'];

/** WASI functions every recent Envoy registers, under wasi_snapshot_preview1 and wasi_unstable. */
export const WASI_FUNCTIONS: Record<string, FuncType> = {
  fd_write: fn(4),
  fd_read: fn(4),
  fd_seek: fn(['i32', 'i64', 'i32', 'i32']),
  fd_close: fn(1),
  fd_fdstat_get: fn(2),
  fd_fdstat_set_flags: fn(2),
  environ_get: fn(2),
  environ_sizes_get: fn(2),
  args_get: fn(2),
  args_sizes_get: fn(2),
  clock_time_get: fn(['i32', 'i64', 'i32']),
  random_get: fn(2),
  sched_yield: fn(0),
  poll_oneoff: fn(4),
  proc_exit: fn(1, []),
  fd_prestat_get: fn(2),
  fd_prestat_dir_name: fn(3),
  path_open: fn(['i32', 'i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32', 'i32']),
};

export const WASI_MODULES = ['wasi_snapshot_preview1', 'wasi_unstable'];

/** Exports whose wasm type Envoy checks ("Bad function signature for: <name>"). */
export const CALLBACK_TYPES: Record<string, FuncType> = {
  proxy_abi_version_0_2_1: fn(0, []),
  proxy_abi_version_0_2_0: fn(0, []),
  _initialize: fn(0, []),
  _start: fn(0, []),
  main: fn(2),
  __main_void: fn(0),
  malloc: fn(1),
  proxy_on_memory_allocate: fn(1),
  proxy_on_context_create: fn(2, []),
  proxy_on_vm_start: fn(2),
  proxy_validate_configuration: fn(2),
  proxy_on_configure: fn(2),
  proxy_on_tick: fn(1, []),
  proxy_on_request_headers: fn(3),
  proxy_on_request_body: fn(3),
  proxy_on_request_trailers: fn(2),
  proxy_on_request_metadata: fn(2),
  proxy_on_response_headers: fn(3),
  proxy_on_response_body: fn(3),
  proxy_on_response_trailers: fn(2),
  proxy_on_response_metadata: fn(2),
  proxy_on_new_connection: fn(1),
  proxy_on_downstream_data: fn(3),
  proxy_on_upstream_data: fn(3),
  proxy_on_downstream_connection_close: fn(2, []),
  proxy_on_upstream_connection_close: fn(2, []),
  proxy_on_http_call_response: fn(5, []),
  proxy_on_grpc_receive_initial_metadata: fn(3, []),
  proxy_on_grpc_receive: fn(3, []),
  proxy_on_grpc_receive_trailing_metadata: fn(3, []),
  proxy_on_grpc_close: fn(3, []),
  proxy_on_queue_ready: fn(2, []),
  proxy_on_foreign_function: fn(3, []),
  proxy_on_done: fn(1),
  proxy_on_log: fn(1, []),
  proxy_on_delete: fn(1, []),
  envoy_on_resolve_dns: fn(3, []),
  envoy_on_stats_update: fn(2, []),
};

export const ABI_MARKERS = ['proxy_abi_version_0_2_1', 'proxy_abi_version_0_2_0'];

/** Envoy caps a module's memory at 1 GiB (PROXY_WASM_HOST_MAX_WASM_MEMORY_SIZE_BYTES). */
export const MAX_MEMORY_PAGES = 16384;
