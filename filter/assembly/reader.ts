// A small bounds-checked protobuf reader over raw memory, written by hand because no
// maintained AssemblyScript protobuf runtime fits a filter (docs/filter.md).
// It never reads outside [start, end): any malformed input sets `failed` and every later
// read returns zero, so a decoder checks `failed` once at the end.

export const WIRE_VARINT: u32 = 0;
export const WIRE_I64: u32 = 1;
export const WIRE_LEN: u32 = 2;
export const WIRE_I32: u32 = 5;

export class Reader {
  pos: usize;
  failed: bool = false;
  /** Last length-delimited field: where its bytes start and how many. */
  fieldStart: usize = 0;
  fieldLen: usize = 0;

  constructor(start: usize, end: usize) {
    this.pos = start;
    this.end = end;
  }

  end: usize;

  /** Re-aims a reader at new bytes (decoders reuse one reader per nesting depth). */
  reset(start: usize, end: usize): Reader {
    this.pos = start;
    this.end = end;
    this.failed = false;
    this.fieldStart = 0;
    this.fieldLen = 0;
    return this;
  }

  get done(): bool {
    return this.failed || this.pos >= this.end;
  }

  fail(): void {
    this.failed = true;
    this.pos = this.end;
  }

  varint(): u64 {
    let result: u64 = 0;
    let shift: u64 = 0;
    while (true) {
      if (this.pos >= this.end || shift > 63) {
        this.fail();
        return 0;
      }
      const b = load<u8>(this.pos);
      this.pos++;
      result |= (<u64>(b & 0x7f)) << shift;
      if ((b & 0x80) == 0) return result;
      shift += 7;
    }
  }

  u32(): u32 {
    const v = this.varint();
    if (v > 0xffffffff) {
      this.fail();
      return 0;
    }
    return <u32>v;
  }

  i64(): i64 {
    return <i64>this.varint();
  }

  /** Reads a length-delimited field into fieldStart/fieldLen. */
  lengthDelimited(): bool {
    const len = this.varint();
    if (this.failed || len > <u64>(this.end - this.pos)) {
      this.fail();
      return false;
    }
    this.fieldStart = this.pos;
    this.fieldLen = <usize>len;
    this.pos += <usize>len;
    return true;
  }

  /** The next tag as (field << 3 | wire type), or 0 at the end. */
  tag(): u32 {
    if (this.pos >= this.end) return 0;
    const t = this.u32();
    if (t >> 3 == 0) this.fail();
    return t;
  }

  skip(wireType: u32): void {
    if (wireType == WIRE_VARINT) this.varint();
    else if (wireType == WIRE_I64) this.advance(8);
    else if (wireType == WIRE_LEN) this.lengthDelimited();
    else if (wireType == WIRE_I32) this.advance(4);
    else this.fail(); // groups (3, 4) and unknown wire types are never valid here
  }

  advance(n: usize): void {
    if (n > this.end - this.pos) this.fail();
    else this.pos += n;
  }

  /** Packed or unpacked repeated uint32: calls back per value via the given array. */
  readPackedU32(wireType: u32, into: Array<u32>): void {
    if (wireType == WIRE_VARINT) {
      into.push(this.u32());
      return;
    }
    if (wireType != WIRE_LEN || !this.lengthDelimited()) {
      this.fail();
      return;
    }
    const end = this.fieldStart + this.fieldLen;
    const save = this.pos;
    this.pos = this.fieldStart;
    while (!this.failed && this.pos < end) into.push(this.u32());
    if (!this.failed) this.pos = save;
  }
}

const depths = new StaticArray<Reader | null>(8);

/** A reader for the last length-delimited field of `r`, reused per nesting depth. */
export function nested(r: Reader, depth: i32): Reader {
  let inner = depths[depth];
  if (inner === null) {
    inner = new Reader(0, 0);
    depths[depth] = inner;
  }
  return inner.reset(r.fieldStart, r.fieldStart + r.fieldLen);
}
