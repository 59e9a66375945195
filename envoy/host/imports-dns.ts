/**
 * Envoy's own host function `envoy_resolve_dns(name_ptr, name_size, token_ptr)`: a token now,
 * the answer later through the module's `envoy_on_resolve_dns(root_id, token, size)` with the
 * addresses in the call-data buffer (source/extensions/common/wasm/wasm.cc, context.cc).
 */
import { WasmResult } from './enums.js';
import type { DnsAnswer, HostFunctions, HostVm } from './host-vm.js';

/** Envoy's layout: u32 count, a u32 TTL per answer, then each address NUL-terminated. */
export function encodeDnsAnswers(answers: readonly DnsAnswer[]): Uint8Array {
  const names = answers.map((a) => Buffer.from(`${a.address}\0`, 'utf8'));
  const out = Buffer.alloc(4 + 4 * answers.length + names.reduce((n, b) => n + b.length, 0));
  out.writeUInt32LE(answers.length, 0);
  answers.forEach((a, i) => {
    out.writeUInt32LE(Math.max(0, Math.min(0xffffffff, Math.floor(a.ttlSeconds))), 4 + 4 * i);
  });
  let at = 4 + 4 * answers.length;
  for (const b of names) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

export function dnsImports(vm: HostVm): HostFunctions {
  return {
    envoy_resolve_dns(namePtr: number, nameSize: number, tokenPtr: number) {
      const name = vm.readString(namePtr, nameSize);
      if (name === undefined) return WasmResult.InvalidMemoryAccess;
      const root = vm.root();
      // The token is written before the lookup starts, as Envoy does (a bad pointer starts nothing).
      const token = vm.nextDnsToken();
      if (!vm.writeU32(tokenPtr, token)) return WasmResult.InvalidMemoryAccess;
      if (!root) return WasmResult.Ok;
      vm.hooks.resolveDns(name).then(
        (answers) => vm.deliverDns(root, token, answers),
        () => vm.deliverDns(root, token, undefined),
      );
      return WasmResult.Ok;
    },
  };
}
