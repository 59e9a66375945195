/**
 * A module's linear memory as the host functions touch it: bounds-checked reads and writes, and
 * results copied in through the module's own allocator (WasmBase::copyToPointerSize), never
 * for empty values. WasmVm (vm.ts) is the module; this is its memory half.
 */
import type { Header } from './context.js';
import { WasmResult } from './enums.js';
import { pairsSize, utf8Length, writePairs, writeUtf8 } from './pairs.js';

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
    const p = this.place(data.length, ptrPtr, sizePtr);
    if (p < 0) return WasmResult.InvalidMemoryAccess;
    if (p > 0) this.u8.set(data, p);
    return WasmResult.Ok;
  }

  /** copyOut for a header map, serialized straight into module memory. */
  copyOutPairs(pairs: readonly Header[], ptrPtr: number, sizePtr: number): number {
    const size = pairsSize(pairs);
    const p = this.place(size, ptrPtr, sizePtr);
    if (p < 0) return WasmResult.InvalidMemoryAccess;
    if (p > 0) writePairs(this.buf, p, pairs, size);
    return WasmResult.Ok;
  }

  /**
   * copyOut for a string. The last few strings are kept encoded: the peer identity is the same
   * string for every request on a connection (and string equality is V8's, not a loop here).
   */
  copyOutString(s: string, ptrPtr: number, sizePtr: number): number {
    const i = this.encodedTexts.indexOf(s);
    if (i >= 0) return this.copyOut(this.encodedBytes[i] as Uint8Array, ptrPtr, sizePtr);
    const n = utf8Length(s);
    const p = this.place(n, ptrPtr, sizePtr);
    if (p < 0) return WasmResult.InvalidMemoryAccess;
    if (p > 0) writeUtf8(this.buf, s, n, p);
    if (n <= KEY_MAX_BYTES) {
      const slot = this.nextEncoded;
      this.nextEncoded = (slot + 1) % ENCODED_SLOTS;
      this.encodedTexts[slot] = s;
      this.encodedBytes[slot] = this.u8.slice(p, p + n);
    }
    return WasmResult.Ok;
  }

  private readonly encodedTexts: string[] = [];
  private readonly encodedBytes: Uint8Array[] = [];
  private nextEncoded = 0;

  /**
   * Allocates `n` bytes in the module for a result and hands back pointer and size: the pointer
   * to fill (0 for an empty result, given as 0/0), or -1 when memory or the allocator failed.
   * The views are fresh afterwards (malloc may grow memory).
   */
  private place(n: number, ptrPtr: number, sizePtr: number): number {
    if (!this.inBounds(ptrPtr >>> 0, 4) || !this.inBounds(sizePtr >>> 0, 4)) return -1;
    if (n === 0) {
      this.writeU32(ptrPtr, 0);
      this.writeU32(sizePtr, 0);
      return 0;
    }
    const p = this.malloc(n);
    if (p === 0 || !this.inBounds(p, n)) return -1;
    this.writeU32(ptrPtr, p);
    this.writeU32(sizePtr, n);
    return p;
  }

  // Names the module passes on every request (property paths, filter-state keys), decoded once:
  // a hit compares bytes (four at a time) and makes no string. Bounded, so a module cycling
  // through names costs only misses.
  private readonly keyBytes: Uint8Array[] = [];
  private readonly keyWords: Int32Array[] = [];
  private readonly keyTexts: string[] = [];
  private nextKey = 0;

  readKey(ptr: number, len: number): string | undefined {
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (!this.inBounds(p, l)) return undefined;
    for (let i = 0; i < this.keyBytes.length; i++) if (this.keyIs(i, p, l)) return this.keyTexts[i] as string;
    const text = l === 0 ? '' : this.buf.toString('utf8', p, p + l);
    if (l <= KEY_MAX_BYTES) {
      const slot = this.nextKey;
      this.nextKey = (slot + 1) % KEY_SLOTS;
      const bytes = this.u8.slice(p, p + l);
      this.keyBytes[slot] = bytes;
      // Read little-endian, as keyIs reads memory, whatever the machine's byte order.
      const words = new Int32Array(l >>> 2);
      for (let w = 0; w < words.length; w++) words[w] = this.dv.getInt32(p + w * 4, true);
      this.keyWords[slot] = words;
      this.keyTexts[slot] = text;
    }
    return text;
  }

  private keyIs(slot: number, p: number, l: number): boolean {
    const bytes = this.keyBytes[slot] as Uint8Array;
    if (bytes.length !== l) return false;
    const words = this.keyWords[slot] as Int32Array;
    const dv = this.dv;
    for (let w = 0; w < words.length; w++) if (dv.getInt32(p + w * 4, true) !== words[w]) return false;
    const u8 = this.u8;
    for (let j = words.length * 4; j < l; j++) if (bytes[j] !== u8[p + j]) return false;
    return true;
  }
}

const KEY_SLOTS = 32;
const ENCODED_SLOTS = 4;
const KEY_MAX_BYTES = 256;
