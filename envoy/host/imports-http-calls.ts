/** Proxy-Wasm host functions: outgoing HTTP calls (gRPC calls are not supported, as in Envoy without a gRPC service). */
import { WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';
import { deserializePairs } from './pairs.js';

export function httpCallsImports(vm: HostVm): HostFunctions {
  return {
    proxy_get_status(codePtr: number, msgPtr: number, msgSizePtr: number) {
      if (!vm.writeU32(codePtr, 0)) return WasmResult.InvalidMemoryAccess;
      return vm.copyOut(new Uint8Array(), msgPtr, msgSizePtr);
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
  };
}
