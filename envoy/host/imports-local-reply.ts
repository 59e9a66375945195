/** Proxy-Wasm host functions: the local reply and stream control. */
import type { Header } from './context.js';
import { WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';
import { deserializePairs } from './pairs.js';

export function localReplyImports(vm: HostVm): HostFunctions {
  return {
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
  };
}
