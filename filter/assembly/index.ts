// The module's exports, each a one-line forward: the Proxy-Wasm ABI 0.2.1 surface Envoy checks
// at load time (the ABI marker, malloc, and the callbacks with Envoy's exact types).
import './abort';
import { collectIfDue } from './collect';
import * as configure from './configure';
import * as filter from './filter';
import * as scratch from './scratch';

export function proxy_abi_version_0_2_1(): void {}

/** Envoy copies host data into the module through this allocator; the filter frees it. */
export function malloc(size: usize): usize {
  return scratch.alloc(size);
}

export function proxy_on_context_create(id: u32, parent: u32): void {
  configure.onContextCreate(id, parent);
}

export function proxy_on_vm_start(rootId: u32, vmConfigurationSize: u32): u32 {
  return 1;
}

export function proxy_on_configure(rootId: u32, size: u32): u32 {
  scratch.reset();
  const ok = configure.onConfigure(rootId, size, filter.REQUEST);
  collectIfDue();
  return ok ? 1 : 0;
}

export function proxy_on_request_headers(id: u32, headers: u32, endOfStream: u32): u32 {
  scratch.reset();
  return filter.onRequestHeaders(id);
}

export function proxy_on_tick(rootId: u32): void {
  configure.onTick(rootId);
  collectIfDue();
}

export function proxy_on_done(id: u32): u32 {
  return configure.onDone(id) ? 1 : 0;
}

export function proxy_on_delete(id: u32): void {
  configure.onDelete(id);
  collectIfDue();
}
