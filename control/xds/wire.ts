/**
 * Hand-encoded DiscoveryResponse and DeltaDiscoveryResponse: the resources are already bytes
 * (each Any encoded once when the snapshot is built), so a response is field headers and copies
 * into one buffer. Reflective encoding of the same message cost about 60 µs per push, most of it
 * re-encoding the same policy for every stream. Field numbers are discovery.proto's.
 */

export interface SotwResponse {
  versionInfo: string;
  /** Encoded `google.protobuf.Any` messages. */
  resources: readonly Uint8Array[];
  typeUrl: string;
  nonce: string;
  controlPlane: string;
}

export interface DeltaResource {
  name: string;
  version: string;
  /** Encoded `google.protobuf.Any`. */
  any: Uint8Array;
}

export interface DeltaResponse {
  systemVersionInfo: string;
  resources: readonly DeltaResource[];
  removed: readonly string[];
  typeUrl: string;
  nonce: string;
  controlPlane: string;
}

const LEN = 2;
const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
const utf8 = (s: string) => Buffer.from(s, 'utf8');

/** A length-delimited field's encoded size. */
const fieldSize = (field: number, len: number) => varintSize((field << 3) | LEN) + varintSize(len) + len;

class Writer {
  private pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }
  bytes(field: number, b: Uint8Array): void {
    this.varint((field << 3) | LEN);
    this.varint(b.length);
    this.raw(b);
  }
  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** A nested message header; the caller writes `len` bytes of body next. */
  open(field: number, len: number): void {
    this.varint((field << 3) | LEN);
    this.varint(len);
  }
  done(): Buffer {
    if (this.pos !== this.buf.length) throw new Error(`xDS encoder wrote ${this.pos} of ${this.buf.length} bytes`);
    return this.buf;
  }
}

/** Strings are written only when non-empty, as proto3 does. */
function strings(fields: [number, string][]): { field: number; b: Buffer }[] {
  return fields.filter(([, s]) => s !== '').map(([field, s]) => ({ field, b: utf8(s) }));
}

/**
 * Fields 1, 2 and 4 of a DiscoveryResponse (version, resources, type), which every stream sent
 * the same snapshot shares: built once per snapshot, then finished per stream by `sotwResponse`.
 */
export function sotwBody(versionInfo: string, resources: readonly Uint8Array[], typeUrl: string): Buffer {
  const fields = strings([[1, versionInfo]]);
  const type = strings([[4, typeUrl]]);
  let size = 0;
  for (const s of [...fields, ...type]) size += fieldSize(s.field, s.b.length);
  for (const a of resources) size += fieldSize(2, a.length);
  const w = new Writer(Buffer.allocUnsafe(size));
  for (const s of fields) w.bytes(s.field, s.b);
  for (const a of resources) w.bytes(2, a);
  for (const s of type) w.bytes(s.field, s.b);
  return w.done();
}

/** A shared body and this stream's nonce (5) and control plane (6): field order is kept. */
export function sotwResponse(body: Uint8Array, nonce: string, controlPlane: string): Buffer {
  const n = utf8(nonce);
  const cp = utf8(controlPlane);
  const cpBody = cp.length ? fieldSize(1, cp.length) : 0;
  const w = new Writer(Buffer.allocUnsafe(body.length + (n.length ? fieldSize(5, n.length) : 0) + fieldSize(6, cpBody)));
  w.raw(body);
  if (n.length) w.bytes(5, n);
  w.open(6, cpBody);
  if (cp.length) w.bytes(1, cp);
  return w.done();
}

export function encodeSotw(r: SotwResponse): Buffer {
  return sotwResponse(sotwBody(r.versionInfo, r.resources, r.typeUrl), r.nonce, r.controlPlane);
}

export function encodeDelta(r: DeltaResponse): Buffer {
  const cp = utf8(r.controlPlane);
  const cpBody = cp.length ? fieldSize(1, cp.length) : 0;
  const head = strings([[1, r.systemVersionInfo]]);
  const mid = strings([
    [4, r.typeUrl],
    [5, r.nonce],
  ]);
  const resources = r.resources.map((x) => {
    const name = utf8(x.name);
    const version = utf8(x.version);
    const body = (version.length ? fieldSize(1, version.length) : 0) + fieldSize(2, x.any.length) + fieldSize(3, name.length);
    return { name, version, any: x.any, body };
  });
  const removed = r.removed.map(utf8);
  let size = fieldSize(7, cpBody);
  for (const s of [...head, ...mid]) size += fieldSize(s.field, s.b.length);
  for (const x of resources) size += fieldSize(2, x.body);
  for (const n of removed) size += fieldSize(6, n.length);
  const w = new Writer(Buffer.allocUnsafe(size));
  for (const s of head) w.bytes(s.field, s.b);
  for (const x of resources) {
    w.open(2, x.body);
    if (x.version.length) w.bytes(1, x.version);
    w.bytes(2, x.any);
    w.bytes(3, x.name);
  }
  for (const s of mid) w.bytes(s.field, s.b);
  for (const n of removed) w.bytes(6, n);
  w.open(7, cpBody);
  if (cp.length) w.bytes(1, cp);
  return w.done();
}
