/** Proxy-Wasm host functions: header maps (request and response headers and trailers, HTTP call responses). */
import type { Header } from './context.js';
import { MapType, WasmResult } from './enums.js';
import { EMPTY, type HostFunctions, type HostVm } from './host-vm.js';
import { deserializePairs } from './pairs.js';

export function headersImports(vm: HostVm): HostFunctions {
  return {
    proxy_get_header_map_pairs(type: number, outPtr: number, outSize: number) {
      if (type > MapType.HttpCallResponseTrailers) return WasmResult.BadArgument;
      const m = type >= MapType.HttpCallResponseHeaders ? vm.callout(type) : vm.headerMap(type);
      return m?.length ? vm.copyOutPairs(m, outPtr, outSize) : vm.copyOut(EMPTY, outPtr, outSize);
    },
    proxy_set_header_map_pairs(type: number, ptr: number, size: number) {
      const data = vm.read(ptr, size);
      if (data === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      h.splice(0, h.length, ...deserializePairs(data).map(([k, v]) => [k.toLowerCase(), v] as Header));
      return WasmResult.Ok;
    },
    proxy_get_header_map_value(type: number, keyPtr: number, keySize: number, outPtr: number, outSize: number) {
      if (type > MapType.HttpCallResponseTrailers) return WasmResult.BadArgument;
      const key = vm.readString(keyPtr, keySize);
      if (key === undefined) return WasmResult.InvalidMemoryAccess;
      const m = type >= MapType.HttpCallResponseHeaders ? vm.callout(type) : vm.headerMap(type);
      if (!m) return vm.stream()?.phase === 'log' ? WasmResult.NotFound : WasmResult.BadArgument;
      const hit = m.find(([k]) => k === key.toLowerCase());
      if (!hit) return WasmResult.NotFound;
      return vm.copyOut(Buffer.from(hit[1]), outPtr, outSize);
    },
    proxy_add_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number) {
      const k = vm.readString(kp, ks);
      const v = vm.readString(vp, vs);
      if (k === undefined || v === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      h.push([k.toLowerCase(), v]);
      return WasmResult.Ok;
    },
    proxy_replace_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number) {
      const k = vm.readString(kp, ks);
      const v = vm.readString(vp, vs);
      if (k === undefined || v === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      const key = k.toLowerCase();
      const i = h.findIndex(([x]) => x === key);
      const rest = h.filter(([x], j) => x !== key || j === i);
      h.splice(0, h.length, ...rest);
      if (i >= 0) (h.find(([x]) => x === key) as Header)[1] = v;
      else h.push([key, v]);
      return WasmResult.Ok;
    },
    proxy_remove_header_map_value(type: number, kp: number, ks: number) {
      const k = vm.readString(kp, ks);
      if (k === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      const key = k.toLowerCase();
      const rest = h.filter(([x]) => x !== key);
      h.splice(0, h.length, ...rest);
      return WasmResult.Ok;
    },
    proxy_get_header_map_size(type: number, outPtr: number) {
      const h = vm.headerMap(type);
      if (!h) return WasmResult.BadArgument;
      const size = h.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
      return vm.writeU32(outPtr, size) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
  };
}
