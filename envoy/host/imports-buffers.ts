/** Proxy-Wasm host functions: buffers (bodies and configurations). */
import { BufferType, WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';

export function buffersImports(vm: HostVm): HostFunctions {
  return {
    proxy_get_buffer_bytes(type: number, start: number, maxSize: number, outPtr: number, outSize: number) {
      const buf = vm.buffer(type);
      if (!buf) return WasmResult.NotFound;
      // Envoy adds start and max_size as 64-bit words, so two 32-bit values never overflow: an
      // over-long max_size is clamped to what is there, and returns Ok.
      const s = start >>> 0;
      const m = maxSize >>> 0;
      return vm.copyOut(buf.subarray(Math.min(s, buf.length), Math.min(buf.length, s + m)), outPtr, outSize);
    },
    proxy_get_buffer_status(type: number, lenPtr: number, flagsPtr: number) {
      const buf = vm.buffer(type);
      if (!buf) return WasmResult.NotFound;
      if (!vm.writeU32(lenPtr, buf.length) || !vm.writeU32(flagsPtr, 0)) return WasmResult.InvalidMemoryAccess;
      return WasmResult.Ok;
    },
    proxy_set_buffer_bytes(type: number, start: number, size: number, dataPtr: number, dataSize: number) {
      const s = vm.stream();
      const data = vm.read(dataPtr, dataSize);
      if (data === undefined) return WasmResult.InvalidMemoryAccess;
      const key = type === BufferType.HttpRequestBody ? 'requestBody' : type === BufferType.HttpResponseBody ? 'responseBody' : undefined;
      if (!s || !key) return WasmResult.NotFound;
      const cur = s[key];
      if (start === 0) s[key] = Buffer.concat([data, cur.subarray(Math.min(size >>> 0, cur.length))]);
      else if (start >>> 0 >= cur.length) s[key] = Buffer.concat([cur, data]);
      else return WasmResult.BadArgument;
      return WasmResult.Ok;
    },
  };
}
