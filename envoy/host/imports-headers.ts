/** Proxy-Wasm host functions: header maps (request and response headers and trailers, HTTP call responses). */
import { MapType, WasmResult } from './enums.js';
import { EMPTY, type HostFunctions, type HostVm } from './host-vm.js';
import { deserializePairs } from './pairs.js';

export function headersImports(vm: HostVm): HostFunctions {
  return {
    proxy_get_header_map_pairs(type: number, outPtr: number, outSize: number) {
      if (type > MapType.HttpCallResponseTrailers) return WasmResult.BadArgument;
      const m = type >= MapType.HttpCallResponseHeaders ? vm.callout(type) : vm.headerMap(type);
      return m?.length ? vm.copyOutMap(m, outPtr, outSize) : vm.copyOut(EMPTY, outPtr, outSize);
    },
    proxy_set_header_map_pairs(type: number, ptr: number, size: number) {
      const data = vm.read(ptr, size);
      if (data === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      h.setAll(deserializePairs(data, h.encoding));
      return WasmResult.Ok;
    },
    proxy_get_header_map_value(type: number, keyPtr: number, keySize: number, outPtr: number, outSize: number) {
      if (type > MapType.HttpCallResponseTrailers) return WasmResult.BadArgument;
      const key = vm.readString(keyPtr, keySize);
      if (key === undefined) return WasmResult.InvalidMemoryAccess;
      const m = type >= MapType.HttpCallResponseHeaders ? vm.callout(type) : vm.headerMap(type);
      if (!m) return vm.stream()?.phase === 'log' ? WasmResult.NotFound : WasmResult.BadArgument;
      const hit = m.first(key.toLowerCase());
      if (hit === undefined) return WasmResult.NotFound;
      return vm.copyOut(Buffer.from(hit, m.encoding), outPtr, outSize);
    },
    proxy_add_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number) {
      const k = vm.read(kp, ks);
      const v = vm.read(vp, vs);
      if (k === undefined || v === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      h.add(h.text(k), h.text(v));
      return WasmResult.Ok;
    },
    proxy_replace_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number) {
      const k = vm.read(kp, ks);
      const v = vm.read(vp, vs);
      if (k === undefined || v === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      h.replace(h.text(k), h.text(v));
      return WasmResult.Ok;
    },
    proxy_remove_header_map_value(type: number, kp: number, ks: number) {
      const k = vm.read(kp, ks);
      if (k === undefined) return WasmResult.InvalidMemoryAccess;
      const h = vm.writableHeaderMap(type);
      if (!h) return WasmResult.BadArgument;
      h.remove(h.text(k));
      return WasmResult.Ok;
    },
    proxy_get_header_map_size(type: number, outPtr: number) {
      const h = vm.headerMap(type);
      if (!h) return WasmResult.BadArgument;
      return vm.writeU32(outPtr, h.byteSize()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
  };
}
