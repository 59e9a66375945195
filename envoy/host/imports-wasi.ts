/**
 * WASI preview 1, as far as Envoy provides it to a Proxy-Wasm module: stdout and stderr go to the
 * log, the environment is the configured one, clocks and randomness work, the filesystem does not.
 */
import { randomFillSync } from 'node:crypto';
import type { HostFunctions, HostVm } from './host-vm.js';

export function wasiImports(vm: HostVm, env: Record<string, string>): HostFunctions {
  const envPairs = Object.entries(env).map(([k, v]) => Buffer.from(`${k}=${v}\0`));
  return {
    fd_write(fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) {
      if (fd !== 1 && fd !== 2) return 8; // BADF
      const view = new DataView(vm.memory.buffer);
      let text = '';
      let n = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const at = (iovs >>> 0) + i * 8;
        if (!vm.inBounds(at, 8)) return 21; // FAULT
        const p = view.getUint32(at, true);
        const l = view.getUint32(at + 4, true);
        const s = vm.readString(p, l);
        if (s === undefined) return 21;
        text += s;
        n += l;
      }
      vm.hooks.log(fd === 1 ? 'info' : 'error', text.replace(/\n$/, ''));
      return vm.writeU32(nwrittenPtr, n) ? 0 : 21;
    },
    fd_read() {
      return 52; // NOSYS
    },
    fd_seek() {
      return 8;
    },
    fd_close() {
      return 8;
    },
    fd_fdstat_get() {
      return 8;
    },
    fd_fdstat_set_flags() {
      return 8;
    },
    environ_sizes_get(countPtr: number, sizePtr: number) {
      vm.writeU32(countPtr, envPairs.length);
      vm.writeU32(
        sizePtr,
        envPairs.reduce((n, b) => n + b.length, 0),
      );
      return 0;
    },
    environ_get(ptrs: number, buf: number) {
      let off = buf;
      envPairs.forEach((b, i) => {
        vm.writeU32(ptrs + i * 4, off);
        vm.bytes().set(b, off);
        off += b.length;
      });
      return 0;
    },
    args_sizes_get(countPtr: number, sizePtr: number) {
      vm.writeU32(countPtr, 0);
      vm.writeU32(sizePtr, 0);
      return 0;
    },
    args_get() {
      return 0;
    },
    clock_time_get(id: number, _precision: bigint, outPtr: number) {
      if (id !== 0 && id !== 1) return 58; // NOTSUP
      const ns = id === 0 ? BigInt(Math.round(vm.hooks.now() * 1e6)) : process.hrtime.bigint();
      return vm.writeU64(outPtr, ns) ? 0 : 21;
    },
    random_get(buf: number, len: number) {
      if (len > 65536) return 28; // INVAL
      if (!vm.inBounds(buf, len)) return 21;
      randomFillSync(vm.bytes(), buf >>> 0, len >>> 0);
      return 0;
    },
    sched_yield() {
      return 0;
    },
    poll_oneoff(_in: number, _out: number, _n: number, neventsPtr: number) {
      vm.writeU32(neventsPtr, 0);
      return 0;
    },
    proc_exit() {
      vm.hooks.log('info', 'wasi_unstable proc_exit');
      return undefined; // returns, no trap (the module traps on its own afterwards)
    },
    fd_prestat_get() {
      return 8;
    },
    fd_prestat_dir_name() {
      return 8;
    },
    path_open() {
      return 76; // NOTCAPABLE
    },
  };
}
