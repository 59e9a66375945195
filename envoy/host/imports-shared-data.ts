/** Proxy-Wasm host functions: shared data and shared queues, VM-wide as in Envoy. */
import { WasmResult } from './enums.js';
import type { HostFunctions, HostVm } from './host-vm.js';

/** Per VM id, as in Envoy: every plugin in VMs of the same id sees the same data and queues. */
const sharedData = new Map<string, Map<string, { value: Uint8Array; cas: number }>>();
let nextQueueId = 1;
export const sharedQueues = new Map<number, { vmId: string; name: string; items: Uint8Array[]; root: number }>();

export function sharedDataImports(vm: HostVm): HostFunctions {
  return {
    proxy_get_shared_data(kp: number, ks: number, outPtr: number, outSize: number, casPtr: number) {
      const key = vm.readString(kp, ks);
      if (key === undefined) return WasmResult.InvalidMemoryAccess;
      const entry = sharedData.get(vm.vmId)?.get(key);
      if (!entry) return WasmResult.NotFound;
      if (!vm.writeU32(casPtr, entry.cas)) return WasmResult.InvalidMemoryAccess;
      return vm.copyOut(entry.value, outPtr, outSize);
    },
    proxy_set_shared_data(kp: number, ks: number, vp: number, vs: number, cas: number) {
      const key = vm.readString(kp, ks);
      const value = vm.read(vp, vs);
      if (key === undefined || value === undefined) return WasmResult.InvalidMemoryAccess;
      const table = sharedData.get(vm.vmId) ?? new Map<string, { value: Uint8Array; cas: number }>();
      sharedData.set(vm.vmId, table);
      const cur = table.get(key);
      if (cas !== 0 && cur && cur.cas !== cas >>> 0) return WasmResult.CasMismatch;
      table.set(key, { value, cas: (cur?.cas ?? 0) + 1 });
      return WasmResult.Ok;
    },
    proxy_register_shared_queue(np: number, ns: number, outPtr: number) {
      const name = vm.readString(np, ns);
      const root = vm.root();
      if (name === undefined) return WasmResult.InvalidMemoryAccess;
      if (!root) return WasmResult.NotFound;
      let id = [...sharedQueues].find(([, q]) => q.vmId === vm.vmId && q.name === name)?.[0];
      if (id === undefined) {
        id = nextQueueId++;
        sharedQueues.set(id, { vmId: vm.vmId, name, items: [], root: root.id });
      }
      return vm.writeU32(outPtr, id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
    proxy_resolve_shared_queue(vp: number, vs: number, np: number, ns: number, outPtr: number) {
      const vmId = vm.readString(vp, vs);
      const name = vm.readString(np, ns);
      if (vmId === undefined || name === undefined) return WasmResult.InvalidMemoryAccess;
      const id = [...sharedQueues].find(([, q]) => q.vmId === vmId && q.name === name)?.[0];
      if (id === undefined) return WasmResult.NotFound;
      return vm.writeU32(outPtr, id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
    proxy_enqueue_shared_queue(id: number, vp: number, vs: number) {
      const value = vm.read(vp, vs);
      if (value === undefined) return WasmResult.InvalidMemoryAccess;
      const q = sharedQueues.get(id >>> 0);
      if (!q) return WasmResult.NotFound;
      q.items.push(value);
      vm.pendingQueueReady.add(id >>> 0);
      return WasmResult.Ok;
    },
    proxy_dequeue_shared_queue(id: number, outPtr: number, outSize: number) {
      const q = sharedQueues.get(id >>> 0);
      if (!q) return WasmResult.NotFound;
      const item = q.items.shift();
      if (!item) return WasmResult.Empty;
      return vm.copyOut(item, outPtr, outSize);
    },
  };
}
