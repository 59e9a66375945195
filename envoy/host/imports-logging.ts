/** Proxy-Wasm host functions: logging (proxy_log and the log level). */
import { LOG_LEVEL_NAMES, LogLevel, type LogLevelName, WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';

export function loggingImports(vm: HostVm): HostFunctions {
  return {
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
  };
}
