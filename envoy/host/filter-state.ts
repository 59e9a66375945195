/**
 * A stream's filter state (what proxy_set_property writes, read back as wasm.<path> and by the
 * access log). Values are copied out of module memory into buffers the state keeps: a stream
 * the host reuses writes its next request's values into the same bytes, so a request that sets
 * the same keys as the last allocates nothing.
 */

/** Bounds what one stream may keep (Envoy's filter state has no fixed limit; a module is hostile data). */
export const FILTER_STATE_MAX_KEYS = 64;
export const FILTER_STATE_MAX_VALUE_BYTES = 1 << 20;

const COPY_LOOP_MAX = 1024;

export class FilterState {
  private readonly keys: string[] = [];
  /** Per key: the kept buffer (its capacity), a word view of it, the value's length, and a view of the value (made when read). */
  private readonly stores: Uint8Array[] = [];
  private readonly words: Int32Array[] = [];
  private readonly lengths: number[] = [];
  private readonly views: (Uint8Array | undefined)[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): Uint8Array | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.view(i);
  }

  has(key: string): boolean {
    return this.indexOf(key) >= 0;
  }

  /** The value of slot `i`: a view made when read, so that writing a value of another length makes none. */
  private view(i: number): Uint8Array {
    const len = this.lengths[i] as number;
    let v = this.views[i];
    if (v === undefined || v.length !== len) {
      v = (this.stores[i] as Uint8Array).subarray(0, len);
      this.views[i] = v;
    }
    return v;
  }

  /**
   * Sets `key` to a copy of `src[from, from + length)` (`srcWords` the same bytes as words,
   * from the same offset); false when past the bounds (nothing changes).
   */
  copyIn(key: string, src: Uint8Array, srcWords: Int32Array, from: number, length: number): boolean {
    if (length > FILTER_STATE_MAX_VALUE_BYTES) return false;
    let i = this.indexOf(key);
    if (i < 0) {
      if (this.count >= FILTER_STATE_MAX_KEYS) return false;
      i = this.count++;
      // The slot's buffer, from an earlier stream, is reused whatever key it held.
      this.keys[i] = key;
    }
    let store = this.stores[i];
    if (!store || store.length < length) {
      store = new Uint8Array((Math.max(length, 64) + 3) & ~3);
      this.stores[i] = store;
      this.words[i] = new Int32Array(store.buffer);
    }
    this.lengths[i] = length;
    // Records are a few hundred bytes: copied here, four bytes at a time, rather than through a
    // subarray, which would be an object per request.
    if (length <= COPY_LOOP_MAX) copyWords(src, srcWords, from, this.words[i] as Int32Array, store, length);
    else store.set(src.subarray(from, from + length));
    return true;
  }

  /** Sets `key` to a copy of `value`. */
  set(key: string, value: Uint8Array): this {
    this.copyIn(key, value, NO_WORDS, 0, value.length);
    return this;
  }

  *entries(): IterableIterator<[string, Uint8Array]> {
    for (let i = 0; i < this.count; i++) yield [this.keys[i] as string, this.view(i)];
  }

  [Symbol.iterator](): IterableIterator<[string, Uint8Array]> {
    return this.entries();
  }

  /**
   * Empties the state for the next stream, keeping the buffers. A value handed out before is
   * overwritten by the next stream's: only a released stream is cleared.
   */
  clear(): void {
    this.count = 0;
  }

  private indexOf(key: string): number {
    for (let i = 0; i < this.count; i++) if (this.keys[i] === key) return i;
    return -1;
  }
}

/** No words of a source: copyIn then copies byte by byte. */
const NO_WORDS = new Int32Array(0);

/**
 * Copies `length` bytes of `src` from `from` to the start of `dst`: four at a time when `from`
 * is word-aligned (as a module's own buffers are) and `srcWords` has them, else one at a time.
 */
function copyWords(src: Uint8Array, srcWords: Int32Array, from: number, dstWords: Int32Array, dst: Uint8Array, length: number): void {
  let j = 0;
  if ((from & 3) === 0 && from + length <= srcWords.length * 4) {
    const f = from >> 2;
    const n = length >> 2;
    for (let k = 0; k < n; k++) dstWords[k] = srcWords[f + k] as number;
    j = n << 2;
  }
  for (; j < length; j++) dst[j] = src[from + j] as number;
}
