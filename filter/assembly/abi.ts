// Proxy-Wasm ABI 0.2.1 constants (proxy-wasm-cpp-sdk proxy_wasm_common.h / proxy_wasm_enums.h).

export namespace Status {
  export const Ok: u32 = 0;
  export const NotFound: u32 = 1;
}

export namespace MapType {
  export const RequestHeaders: u32 = 0;
}

export namespace BufferType {
  export const PluginConfiguration: u32 = 7;
}

export namespace MetricType {
  export const Counter: u32 = 0;
}

export namespace LogLevel {
  export const Info: u32 = 2;
  export const Warn: u32 = 3;
  export const Error: u32 = 4;
  export const Critical: u32 = 5;
}

export namespace HeadersAction {
  export const Continue: u32 = 0;
  export const StopIteration: u32 = 1;
}
