/** Proxy-Wasm host functions: timers, time, the effective context and the rest of the lifecycle. */
import { WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';

export function lifecycleImports(vm: HostVm): HostFunctions {
  return {
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
    proxy_set_effective_context(id: number) {
      const ctx = vm.contextById(id >>> 0);
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
}
