/** Proxy-Wasm host functions: metrics (counters, gauges, histograms). */
import { WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';

export function metricsImports(vm: HostVm): HostFunctions {
  return {
    proxy_define_metric(type: number, np: number, ns: number, outPtr: number) {
      const name = vm.readString(np, ns);
      if (name === undefined) return WasmResult.InvalidMemoryAccess;
      const id = vm.metrics.define(type >>> 0, name);
      if (id === undefined) return WasmResult.BadArgument;
      return vm.writeU32(outPtr, id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
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
  };
}
