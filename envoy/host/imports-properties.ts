/** Proxy-Wasm host functions: properties (the attributes Envoy exposes, and filter state). */

import { WasmResult } from './enums.js';
import { EMPTY, type HostFunctions, type HostVm } from './host-vm.js';
import { lookupProperty } from './properties.js';

export function propertiesImports(vm: HostVm): HostFunctions {
  return {
    proxy_get_property(pathPtr: number, pathSize: number, outPtr: number, outSize: number) {
      const path = vm.readString(pathPtr, pathSize);
      if (path === undefined) return WasmResult.InvalidMemoryAccess;
      const root = vm.root();
      if (!root) return WasmResult.NotFound;
      const s = vm.stream();
      const r = lookupProperty(
        {
          plugin: root.plugin,
          stream: s && {
            info: s.info,
            requestHeaders: s.phase === 'request_headers' || s.requestHeadersPaused || s.phase === 'log' ? s.requestHeaders : undefined,
            responseHeaders: s.responseHeaders,
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
      const path = vm.readString(pathPtr, pathSize);
      const value = vm.read(valuePtr, valueSize);
      if (path === undefined || value === undefined) return WasmResult.InvalidMemoryAccess;
      const s = vm.stream();
      if (!s) return WasmResult.NotFound;
      s.filterState.set(`wasm.${path}`, value);
      return WasmResult.Ok;
    },
  };
}
