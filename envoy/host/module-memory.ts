/**
 * A module's linear memory as the host functions touch it: bounds-checked reads and writes, and
 * results copied in through the module's own allocator (WasmBase::copyToPointerSize), never
 * for empty values. WasmVm (vm.ts) is the module; this is its memory half.
 */
import type { Header } from './context.js';
import { WasmResult } from './enums.js';
import { pairsSize, writePairs } from './pairs.js';

export abstract class ModuleMemory {
  abstract get memory(): WebAssembly.Memory;
  /** Allocates in the module; 0 when it could not. */
  abstract malloc(size: number): number;

  // Views are cached per ArrayBuffer: memory.grow() detaches the old buffer, so a changed
  // buffer means new views.
  private viewBuffer: ArrayBuffer | undefined;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  private buf = Buffer.alloc(0);

  private views(): void {
    // memory.grow() detaches the old buffer (its length drops to 0): only then are the views
    // rebuilt, without asking the Memory object for its buffer on every host call.
    if (this.u8.byteLength !== 0) return;
    const b = this.memory.buffer;
    if (b !== this.viewBuffer) {
      this.viewBuffer = b;
      this.u8 = new Uint8Array(b);
      this.dv = new DataView(b);
      this.buf = Buffer.from(b);
    }
  }

  bytes(): Uint8Array {
    this.views();
    return this.u8;
  }

  inBounds(ptr: number, len: number): boolean {
    this.views();
    return ptr >= 0 && len >= 0 && ptr + len <= this.u8.length;
  }

  read(ptr: number, len: number): Uint8Array | undefined {
    if (!this.inBounds(ptr >>> 0, len >>> 0)) return undefined;
    return this.u8.slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  }

  readString(ptr: number, len: number): string | undefined {
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (!this.inBounds(p, l)) return undefined;
    return l === 0 ? '' : this.buf.toString('utf8', p, p + l);
  }

  writeU32(ptr: number, v: number): boolean {
    if (!this.inBounds(ptr >>> 0, 4)) return false;
    this.dv.setUint32(ptr >>> 0, v >>> 0, true);
    return true;
  }

  writeU64(ptr: number, v: bigint): boolean {
    if (!this.inBounds(ptr >>> 0, 8)) return false;
    this.dv.setBigUint64(ptr >>> 0, BigInt.asUintN(64, v), true);
    return true;
  }

  /** WasmBase::copyToPointerSize: empty → 0/0 without calling the allocator. */
  copyOut(data: Uint8Array, ptrPtr: number, sizePtr: number): number {
    return this.copyOutWith(data.length, ptrPtr, sizePtr, (p) => this.u8.set(data, p));
  }

  /** copyOut for a header map, serialized straight into module memory. */
  copyOutPairs(pairs: readonly Header[], ptrPtr: number, sizePtr: number): number {
    return this.copyOutWith(pairsSize(pairs), ptrPtr, sizePtr, (p) => writePairs(this.buf, p, pairs));
  }

  /** copyOut for a string, encoded straight into module memory. */
  copyOutString(s: string, ptrPtr: number, sizePtr: number): number {
    const n = Buffer.byteLength(s);
    return this.copyOutWith(n, ptrPtr, sizePtr, (p) => this.buf.write(s, p, n, 'utf8'));
  }

  /** Allocates `n` bytes in the module, lets `write` fill them, and hands back pointer and size. */
  private copyOutWith(n: number, ptrPtr: number, sizePtr: number, write: (p: number) => void): number {
    if (!this.inBounds(ptrPtr >>> 0, 4) || !this.inBounds(sizePtr >>> 0, 4)) return WasmResult.InvalidMemoryAccess;
    if (n === 0) {
      this.writeU32(ptrPtr, 0);
      this.writeU32(sizePtr, 0);
      return WasmResult.Ok;
    }
    const p = this.malloc(n);
    // malloc may grow memory: inBounds refreshes the views `write` uses.
    if (p === 0 || !this.inBounds(p, n)) return WasmResult.InvalidMemoryAccess;
    write(p);
    this.writeU32(ptrPtr, p);
    this.writeU32(sizePtr, n);
    return WasmResult.Ok;
  }
}
