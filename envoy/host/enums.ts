/** Proxy-Wasm ABI 0.2.1 enums (proxy-wasm-cpp-sdk proxy_wasm_common.h, proxy_wasm_enums.h). */
export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

export const MapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;

export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  NetworkDownstreamData: 2,
  NetworkUpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;

export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;

export const LogLevel = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5, off: 6 } as const;
export type LogLevelName = keyof typeof LogLevel;
export const LOG_LEVEL_NAMES: LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'critical', 'off'];

/** Envoy's FilterHeadersStatus after conversion (what the filter chain does next). */
export type HeadersAction = 'Continue' | 'StopIteration' | 'StopAllIterationAndBuffer' | 'StopAllIterationAndWatermark';
export type DataAction = 'Continue' | 'StopIterationAndBuffer' | 'StopIterationAndWatermark' | 'StopIterationNoBuffer';
export type TrailersAction = 'Continue' | 'StopIteration';

/**
 * proxy-wasm-cpp-host convertVmCallResultToFilterHeadersStatus + Envoy convertFilterHeadersStatus:
 * 1 becomes StopAllIterationAndWatermark unless allow_on_headers_stop_iteration; 2 has no case
 * and continues; above 4 clamps to 4.
 */
export function headersAction(v: number, allowStopIteration: boolean): HeadersAction {
  const n = v >>> 0;
  if (n === 0 || n === 2) return 'Continue';
  if (n === 1) return allowStopIteration ? 'StopIteration' : 'StopAllIterationAndWatermark';
  if (n === 3) return 'StopAllIterationAndBuffer';
  return 'StopAllIterationAndWatermark';
}

export function dataAction(v: number): DataAction {
  const n = v >>> 0;
  return n === 0 ? 'Continue' : n === 1 ? 'StopIterationAndBuffer' : n === 2 ? 'StopIterationAndWatermark' : 'StopIterationNoBuffer';
}

export function trailersAction(v: number): TrailersAction {
  return v >>> 0 === 0 ? 'Continue' : 'StopIteration';
}
