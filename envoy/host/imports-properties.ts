/** Proxy-Wasm host functions: properties (the attributes Envoy exposes, and filter state). */

import { WasmResult } from './enums.js';
import { EMPTY, type HostFunctions, type HostVm } from './host-vm.js';
import { lookupProperty, URI_SAN_PEER } from './properties.js';

// proxy_set_property's keys as filter state names them (wasm.<path>), made once per path.
const wasmKeys = new Map<string, string>();

function wasmKey(path: string): string {
  let key = wasmKeys.get(path);
  if (key === undefined) {
    key = `wasm.${path}`;
    if (wasmKeys.size < 256) wasmKeys.set(path, key);
  }
  return key;
}

export function propertiesImports(vm: HostVm): HostFunctions {
  return {
    proxy_get_property(pathPtr: number, pathSize: number, outPtr: number, outSize: number) {
      const path = vm.readKey(pathPtr, pathSize);
      if (path === undefined) return WasmResult.InvalidMemoryAccess;
      const root = vm.root();
      if (!root) return WasmResult.NotFound;
      const s = vm.stream();
      // The identity every authorization filter reads first, on every request: answered here,
      // before a lookup scope is made.
      if (s && path === URI_SAN_PEER) {
        const id = s.info.connection?.uriSanPeerCertificate;
        return id === undefined ? WasmResult.NotFound : vm.copyOutString(id, outPtr, outSize);
      }
      const r = lookupProperty(
        {
          plugin: root.plugin,
          stream: s && {
            info: s.info,
            requestHeaders:
              s.phase === 'request_headers' || s.requestHeadersPaused || s.phase === 'log' ? s.requestHeaders.entries() : undefined,
            responseHeaders: s.responseHeaders.entries(),
            filterState: s.filterState,
            responseCode: s.localReply?.status,
            responseCodeDetails: s.responseCodeDetails,
          },
        },
        path,
      );
      if (r.status !== WasmResult.Ok) return r.status;
      if (r.text !== undefined) return vm.copyOutString(r.text, outPtr, outSize);
      return vm.copyOut(r.value ?? EMPTY, outPtr, outSize);
    },
    proxy_set_property(pathPtr: number, pathSize: number, valuePtr: number, valueSize: number) {
      const path = vm.readKey(pathPtr, pathSize);
      if (path === undefined || !vm.inBounds(valuePtr >>> 0, valueSize >>> 0)) return WasmResult.InvalidMemoryAccess;
      const s = vm.stream();
      if (!s) return WasmResult.NotFound;
      // Past the state's bounds: refused as Envoy refuses what its filter state cannot hold.
      return s.filterState.copyIn(wasmKey(path), vm.bytes(), vm.words(), valuePtr >>> 0, valueSize >>> 0)
        ? WasmResult.Ok
        : WasmResult.BadArgument;
    },
  };
}
