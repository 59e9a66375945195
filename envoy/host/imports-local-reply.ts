/** Proxy-Wasm host functions: the local reply and stream control. */
import type { Header } from './context.js';
import { WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';
import { INTERNED_MAX_BYTES } from './interned.js';
import { deserializePairs } from './pairs.js';

const NO_HEADERS: Header[] = [];

/** Response code details as Envoy keeps them (whitespace made "_"), kept per details text a filter repeats. */
const detailsText = new Map<string, string>();

function responseCodeDetails(text: string): string {
  let d = detailsText.get(text);
  if (d === undefined) {
    d = text.replace(/\s/g, '_');
    if (detailsText.size < 1024 && text.length <= INTERNED_MAX_BYTES) detailsText.set(text, d);
  }
  return d;
}

export function localReplyImports(vm: HostVm): HostFunctions {
  return {
    proxy_send_local_response(status: number, dp: number, ds: number, bp: number, bs: number, hp: number, hs: number, grpc: number) {
      // A filter's replies repeat: their details and bodies are interned, so a reply sent
      // before makes no string or buffer.
      const detailsSlot = vm.replySlot(dp, ds);
      const bodySlot = vm.replySlot(bp, bs);
      const headers = hs === 0 ? undefined : vm.read(hp, hs);
      if (detailsSlot === undefined || bodySlot === undefined || (hs !== 0 && headers === undefined)) return WasmResult.InvalidMemoryAccess;
      const s = vm.stream();
      if (!s) return WasmResult.Ok; // root context: accepted, nothing is sent (as Envoy)
      s.pendingReply = {
        status,
        details: responseCodeDetails(detailsSlot >= 0 ? vm.replyText(detailsSlot) : (vm.readString(dp, ds) as string)),
        body: bodySlot >= 0 ? vm.replyBytes(bodySlot) : (vm.read(bp, bs) as Uint8Array),
        headers: headers ? deserializePairs(headers).map(([k, v]) => [k.toLowerCase(), v] as Header) : NO_HEADERS,
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
