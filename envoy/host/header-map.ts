/**
 * A header map as Envoy's filters see one: lower-case keys, in order, a repeated key kept as
 * entries of its own. It is held as the Proxy-Wasm pairs serialization, the bytes
 * `proxy_get_header_map_pairs` hands the module, so a request's headers reach the module as one
 * copy of bytes, as Envoy copies its native map, and never as strings encoded on the request
 * path. The strings are decoded only when something asks for them.
 *
 * Strings stand for bytes by the map's encoding: 'utf8' for text an API caller gives, 'latin1'
 * for a map off the wire (Node's HTTP parser makes one character of each header byte, so a
 * header's bytes reach the module as they came).
 *
 * The list and the bytes are never changed in place once made: a change makes new ones. So a
 * map can share them with its clone, and with the caller's array it was made from.
 */
import { asciiLowerKeys, deserializePairs, encodedSize, encodePairs, encodePairsInto, lowerAscii, type PairsEncoding } from './pairs.js';

/** One header: lower-case key, value. */
export type Header = [string, string];

export class HeaderMap {
  /** The map of a stream that has none (yet): shared, so never changed (a stream changes its own clone). */
  static readonly EMPTY: HeaderMap = new HeaderMap([], 'utf8', new Uint8Array(4));

  private constructor(
    private list: readonly Header[] | undefined,
    readonly encoding: PairsEncoding,
    private bytes?: Uint8Array,
  ) {}

  /**
   * A map of these headers, keys lower-cased (ASCII, as Envoy's maps). The array is kept as the
   * map's list when its keys are lower-case already: the caller must not change it afterwards.
   */
  static of(headers: readonly (readonly [string, string])[], encoding: PairsEncoding = 'utf8'): HeaderMap {
    return new HeaderMap(asciiLowerKeys(headers), encoding);
  }

  /** A map of serialized pairs (already validated, keys lower-case), e.g. a module's own. */
  static fromPairs(bytes: Uint8Array, encoding: PairsEncoding = 'utf8'): HeaderMap {
    return new HeaderMap(undefined, encoding, bytes);
  }

  /** Number of entries. */
  get length(): number {
    const list = this.list;
    if (list) return list.length;
    const b = this.bytes as Uint8Array;
    return b.length < 4 ? 0 : (b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16) | ((b[3] as number) << 24);
  }

  /** The pairs serialization if it was made already (by pairs(), or the map was made of it). */
  get encoded(): Uint8Array | undefined {
    return this.bytes;
  }

  /** The pairs serialization's size; with writeInto, a map read once is written where it goes, never kept. */
  encodedSize(): number {
    return this.bytes?.length ?? encodedSize(this.list as readonly Header[], this.encoding);
  }

  /** Writes the pairs serialization into `out` at `at`; `size` is encodedSize(). */
  writeInto(out: Buffer, at: number, size: number): void {
    const e = this.bytes;
    if (e) out.set(e, at);
    else encodePairsInto(out, at, this.list as readonly Header[], size);
  }

  /** The pairs serialization (encoded once, then kept). */
  pairs(): Uint8Array {
    let b = this.bytes;
    if (b === undefined) {
      b = encodePairs(this.list as readonly Header[], this.encoding);
      this.bytes = b;
    }
    return b;
  }

  /** The entries, decoded once, then kept. */
  entries(): readonly Header[] {
    let l = this.list;
    if (l === undefined) {
      l = deserializePairs(this.bytes as Uint8Array, this.encoding);
      this.list = l;
    }
    return l;
  }

  /** The first value of `key` (lower-case), as Envoy's getHeaderMapValue. */
  first(key: string): string | undefined {
    const l = this.entries();
    for (let i = 0; i < l.length; i++) if ((l[i] as Header)[0] === key) return (l[i] as Header)[1];
    return undefined;
  }

  /** Every value of `key` (lower-case) joined by ",", as Envoy joins them for its attributes. */
  joined(key: string): string | undefined {
    let out: string | undefined;
    for (const [k, v] of this.entries()) if (k === key) out = out === undefined ? v : `${out},${v}`;
    return out;
  }

  /** Envoy's HeaderMap::byteSize: the bytes of every key and value (the serialization less its counts and NULs). */
  byteSize(): number {
    return this.encodedSize() - 4 - this.length * 10;
  }

  /** A map of its own with the same entries (they are shared until either changes). */
  clone(): HeaderMap {
    return new HeaderMap(this.list, this.encoding, this.bytes);
  }

  /** Text as this map's strings stand for bytes. */
  text(bytes: Uint8Array): string {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(this.encoding);
  }

  // The module's changes. Each makes a new list; the bytes are encoded again when next read.

  setAll(entries: readonly Header[]): void {
    this.replaceList(asciiLowerKeys(entries));
  }

  add(key: string, value: string): void {
    this.replaceList([...this.entries(), [lowerAscii(key), value]]);
  }

  /** Sets `key` to one value, where its first entry was (at the end when it had none). */
  replace(key: string, value: string): void {
    const k = lowerAscii(key);
    const out: Header[] = [];
    let placed = false;
    for (const e of this.entries()) {
      if (e[0] !== k) out.push(e);
      else if (!placed) {
        out.push([k, value]);
        placed = true;
      }
    }
    if (!placed) out.push([k, value]);
    this.replaceList(out);
  }

  remove(key: string): void {
    const k = lowerAscii(key);
    this.replaceList(this.entries().filter(([x]) => x !== k));
  }

  private replaceList(list: readonly Header[]): void {
    if (this === HeaderMap.EMPTY) throw new Error('HeaderMap.EMPTY is never changed');
    this.list = list;
    this.bytes = undefined;
  }
}
