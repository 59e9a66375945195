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
  /** Per key: the kept buffer (its capacity) and the view of the value's bytes in it. */
  private readonly stores: Uint8Array[] = [];
  private readonly views: Uint8Array[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): Uint8Array | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.views[i];
  }

  has(key: string): boolean {
    return this.indexOf(key) >= 0;
  }

  /** Sets `key` to a copy of `src[from, from + length)`; false when past the bounds (nothing changes). */
  copyIn(key: string, src: Uint8Array, from: number, length: number): boolean {
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
      store = new Uint8Array(Math.max(length, 64));
      this.stores[i] = store;
      this.views[i] = store.subarray(0, length);
    } else if ((this.views[i] as Uint8Array).length !== length) this.views[i] = store.subarray(0, length);
    // Records are a few hundred bytes: copied here rather than through a subarray, which would
    // be an object per request.
    if (length <= COPY_LOOP_MAX) for (let j = 0; j < length; j++) store[j] = src[from + j] as number;
    else store.set(src.subarray(from, from + length));
    return true;
  }

  /** Sets `key` to a copy of `value`. */
  set(key: string, value: Uint8Array): this {
    this.copyIn(key, value, 0, value.length);
    return this;
  }

  *entries(): IterableIterator<[string, Uint8Array]> {
    for (let i = 0; i < this.count; i++) yield [this.keys[i] as string, this.views[i] as Uint8Array];
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
