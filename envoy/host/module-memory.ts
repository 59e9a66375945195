/**
 * A module's linear memory as the host functions touch it: bounds-checked reads and writes, and
 * results copied in through the module's own allocator (WasmBase::copyToPointerSize), never
 * for empty values. WasmVm (vm.ts) is the module; this is its memory half.
 */
import { WasmResult } from './enums.js';
import type { HeaderMap } from './header-map.js';
import { INTERNED_MAX_BYTES, Interned } from './interned.js';
import { utf8Length, writeUtf8 } from './pairs.js';

export abstract class ModuleMemory {
  abstract get memory(): WebAssembly.Memory;
  /** Allocates in the module; 0 when it could not. */
  abstract malloc(size: number): number;

  // Views of the module's memory. memory.grow() detaches the old buffer, and a detached view's
  // length is 0: so a bounds check against the view's own length also finds out that the
  // memory grew, and only then are the views made again (asking the Memory object for its
  // buffer on every host call would cost more than the call's own work).
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  private i32 = new Int32Array(0);
  private buf = Buffer.alloc(0);

  private remap(): void {
    const b = this.memory.buffer;
    this.u8 = new Uint8Array(b);
    this.dv = new DataView(b);
    this.i32 = new Int32Array(b);
    this.buf = Buffer.from(b);
  }

  bytes(): Uint8Array {
    if (this.u8.byteLength === 0) this.remap();
    return this.u8;
  }

  /** The same bytes as bytes(), as 32-bit words in the machine's byte order; current after bytes() or inBounds(). */
  words(): Int32Array {
    return this.i32;
  }

  /**
   * Whether `len` bytes at `ptr` are in memory; the views are current after it. Each is a u32,
   * or an i32 as the module passed it (a negative i32 is its u32 with the top bit set).
   */
  inBounds(ptr: number, len: number): boolean {
    const end = (ptr < 0 ? ptr >>> 0 : ptr) + (len < 0 ? len >>> 0 : len);
    if (end <= this.u8.length) return true;
    this.remap();
    return end <= this.u8.length;
  }

  read(ptr: number, len: number): Uint8Array | undefined {
    if (!this.inBounds(ptr, len)) return undefined;
    return this.u8.slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  }

  readString(ptr: number, len: number): string | undefined {
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (!this.inBounds(p, l)) return undefined;
    return l === 0 ? '' : this.buf.toString('utf8', p, p + l);
  }

  writeU32(ptr: number, v: number): boolean {
    if (!this.inBounds(ptr, 4)) return false;
    this.dv.setUint32(ptr >>> 0, v >>> 0, true);
    return true;
  }

  writeU64(ptr: number, v: bigint): boolean {
    if (!this.inBounds(ptr, 8)) return false;
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

  /**
   * copyOut for a header map: its bytes when it has them (a map handed over again), else
   * serialized straight into module memory (a map read once makes no buffer of its own).
   */
  copyOutMap(map: HeaderMap, ptrPtr: number, sizePtr: number): number {
    const e = map.encoded;
    if (e) return this.copyOut(e, ptrPtr, sizePtr);
    const n = map.encodedSize();
    const p = this.place(n, ptrPtr, sizePtr);
    if (p < 0) return WasmResult.InvalidMemoryAccess;
    if (p > 0) map.writeInto(this.buf, p, n);
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
    if (n <= INTERNED_MAX_BYTES) {
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
    const pp = ptrPtr >>> 0;
    const sp = sizePtr >>> 0;
    if (!this.inBounds(pp, 4) || !this.inBounds(sp, 4)) return -1;
    if (n === 0) {
      this.dv.setUint32(pp, 0, true);
      this.dv.setUint32(sp, 0, true);
      return 0;
    }
    const p = this.malloc(n);
    // The allocator may have grown memory: this check also makes the views current.
    if (p === 0 || !this.inBounds(p, n)) return -1;
    this.dv.setUint32(pp, p, true);
    this.dv.setUint32(sp, n, true);
    return p;
  }

  private readonly names = new Interned(NAME_SLOTS);
  private readonly replies = new Interned(REPLY_SLOTS);

  /** readString for names the module passes again and again (property paths, keys): interned. */
  readKey(ptr: number, len: number): string | undefined {
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (!this.inBounds(p, l)) return undefined;
    const slot = this.names.slot(this.u8, this.i32, p, l);
    return slot >= 0 ? this.names.textOf(slot) : this.buf.toString('utf8', p, p + l);
  }

  /**
   * The slot of a local reply's string (its details, or its body) in the replies' interned
   * strings, -1 when too long to keep (readString and read serve those), or undefined when
   * out of bounds. A filter's replies repeat: a hit makes nothing.
   */
  replySlot(ptr: number, len: number): number | undefined {
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (!this.inBounds(p, l)) return undefined;
    return this.replies.slot(this.u8, this.i32, p, l);
  }

  replyText(slot: number): string {
    return this.replies.textOf(slot);
  }

  /** A reply string's bytes: shared by every reply that sends them, never to be changed. */
  replyBytes(slot: number): Uint8Array {
    return this.replies.bytesOf(slot);
  }
}

const NAME_SLOTS = 32;
const REPLY_SLOTS = 64;
const ENCODED_SLOTS = 4;
