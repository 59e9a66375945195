/**
 * Byte strings a module passes again and again (property paths, filter-state keys, the details
 * and body of its local replies), each kept once as bytes and as text: a hit compares the
 * module's bytes with the kept ones (four at a time where aligned) and makes nothing; the same
 * bytes give the same string object, so callers' own lookups by it compare pointers. Bounded:
 * a module cycling through more strings than it keeps pays only misses. A module passes a
 * string from the same address nearly always, so the slot last found at an address is tried
 * first.
 */

/** The longest string kept. */
export const INTERNED_MAX_BYTES = 256;
const HINTS = 64;

/**
 * Strings a host function compares what it read with: text read from the module is this very
 * string, so the comparison is of pointers, not characters.
 */
const KNOWN = new Map<string, string>();

export function knownName(name: string): string {
  KNOWN.set(name, name);
  return name;
}

export class Interned {
  private readonly bytes: Uint8Array[] = [];
  private readonly words: Int32Array[] = [];
  private readonly texts: string[] = [];
  private readonly hints = new Int32Array(HINTS).fill(-1);
  private next = 0;

  constructor(private readonly slots: number) {}

  /**
   * The slot holding the `l` bytes at `p` of `u8` (`i32` the same memory as words), kept now if
   * they were not; -1 when they are too long to keep. The range is in bounds.
   */
  slot(u8: Uint8Array, i32: Int32Array, p: number, l: number): number {
    const h = (p ^ l) & (HINTS - 1);
    const hinted = this.hints[h] as number;
    if (hinted >= 0 && this.holds(hinted, u8, i32, p, l)) return hinted;
    for (let i = 0; i < this.bytes.length; i++)
      if (this.holds(i, u8, i32, p, l)) {
        this.hints[h] = i;
        return i;
      }
    if (l > INTERNED_MAX_BYTES) return -1;
    const slot = this.next;
    this.next = (slot + 1) % this.slots;
    this.hints[h] = slot;
    const bytes = u8.slice(p, p + l);
    this.bytes[slot] = bytes;
    // The whole words, in the machine's order, as holds() reads memory.
    this.words[slot] = new Int32Array(bytes.buffer, 0, l >>> 2);
    const text = l === 0 ? '' : Buffer.from(bytes.buffer, 0, l).toString('utf8');
    this.texts[slot] = KNOWN.get(text) ?? text;
    return slot;
  }

  /** The kept bytes of a slot: shared by every caller, never to be changed. */
  bytesOf(slot: number): Uint8Array {
    return this.bytes[slot] as Uint8Array;
  }

  /** The text of a slot (UTF-8). */
  textOf(slot: number): string {
    return this.texts[slot] as string;
  }

  private holds(slot: number, u8: Uint8Array, i32: Int32Array, p: number, l: number): boolean {
    const bytes = this.bytes[slot] as Uint8Array;
    if (bytes.length !== l) return false;
    let j = 0;
    if ((p & 3) === 0) {
      // A module's strings are word-aligned nearly always: compared four bytes at a time.
      const words = this.words[slot] as Int32Array;
      const at = p >>> 2;
      for (let w = 0; w < words.length; w++) if (i32[at + w] !== words[w]) return false;
      j = words.length * 4;
    }
    for (; j < l; j++) if (bytes[j] !== u8[p + j]) return false;
    return true;
  }
}
