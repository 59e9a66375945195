/**
 * Just enough of the WebAssembly binary format to check a module the way Envoy does at load
 * time: the JS API tells import and export names but not their function types.
 */

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | '?';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface ModuleImport {
  module: string;
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}

export interface ModuleExport {
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}

export interface ModuleInfo {
  imports: ModuleImport[];
  exports: ModuleExport[];
  hasStart: boolean;
  /** Initial and maximum pages of the module's own memory, if it defines one. */
  memory?: { initial: number; maximum?: number };
}

const VAL: Record<number, ValType> = { 127: 'i32', 126: 'i64', 125: 'f32', 124: 'f64', 123: 'v128', 112: 'funcref', 111: 'externref' };
const KINDS = ['func', 'table', 'memory', 'global', 'tag'] as const;

export class WasmFormatError extends Error {}

/** Unsigned LEB128 at `at`: the value and the offset after it. */
export function readLeb(buf: Uint8Array, at: number): [number, number] {
  let r = 0;
  let shift = 0;
  let p = at;
  for (;;) {
    if (p >= buf.length) throw new WasmFormatError('truncated module');
    const b = buf[p++] as number;
    r |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [r >>> 0, p];
    shift += 7;
    if (shift > 35) throw new WasmFormatError('bad LEB128');
  }
}

export function encodeLeb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

export function formatType(t: FuncType): string {
  return `(${t.params.join(', ')}) -> (${t.results.join(', ')})`;
}

export function sameType(a: FuncType, b: FuncType): boolean {
  return (
    a.params.length === b.params.length &&
    a.results.length === b.results.length &&
    a.params.every((p, i) => p === b.params[i]) &&
    a.results.every((r, i) => r === b.results[i])
  );
}

export function parseModule(bytes: Uint8Array): ModuleInfo {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8 || buf.readUInt32LE(0) !== 0x6d736100) throw new WasmFormatError('not a WebAssembly module (bad magic)');
  if (buf.readUInt32LE(4) !== 1) throw new WasmFormatError(`unsupported WebAssembly version ${buf.readUInt32LE(4)}`);
  let p = 8;
  const need = (n: number) => {
    if (p + n > buf.length) throw new WasmFormatError('truncated module');
  };
  const u32 = () => {
    const [v, next] = readLeb(buf, p);
    p = next;
    return v;
  };
  const name = () => {
    const l = u32();
    need(l);
    const s = buf.toString('utf8', p, p + l);
    p += l;
    return s;
  };
  const limits = () => {
    const flags = u32();
    const initial = u32();
    const maximum = flags & 1 ? u32() : undefined;
    return { initial, ...(maximum !== undefined ? { maximum } : {}) };
  };
  const types: FuncType[] = [];
  const funcTypes: number[] = [];
  const imports: ModuleImport[] = [];
  const rawExports: { name: string; kind: ModuleExport['kind']; index: number }[] = [];
  let hasStart = false;
  let memory: ModuleInfo['memory'];

  while (p < buf.length) {
    const id = buf[p++] as number;
    const size = u32();
    const end = p + size;
    if (end > buf.length) throw new WasmFormatError('section runs past the end');
    if (id === 1) {
      for (let i = 0, n = u32(); i < n; i++) {
        if (buf[p++] !== 0x60) throw new WasmFormatError('unsupported type form');
        const params: ValType[] = [];
        for (let k = 0, c = u32(); k < c; k++) params.push(VAL[buf[p++] as number] ?? '?');
        const results: ValType[] = [];
        for (let k = 0, c = u32(); k < c; k++) results.push(VAL[buf[p++] as number] ?? '?');
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let i = 0, n = u32(); i < n; i++) {
        const module = name();
        const field = name();
        const kind = KINDS[buf[p++] as number] ?? 'tag';
        const imp: ModuleImport = { module, name: field, kind };
        if (kind === 'func') {
          const t = types[u32()];
          if (!t) throw new WasmFormatError('import refers to an unknown type');
          imp.type = t;
          funcTypes.push(types.indexOf(t));
        } else if (kind === 'table') {
          p++;
          limits();
        } else if (kind === 'memory') {
          limits();
        } else if (kind === 'global') {
          p += 2;
        } else {
          p++;
          u32();
        }
        imports.push(imp);
      }
    } else if (id === 3) {
      for (let i = 0, n = u32(); i < n; i++) funcTypes.push(u32());
    } else if (id === 5) {
      if (u32() > 0) memory = limits();
    } else if (id === 7) {
      for (let i = 0, n = u32(); i < n; i++) {
        const n2 = name();
        const kind = KINDS[buf[p++] as number] ?? 'tag';
        rawExports.push({ name: n2, kind, index: u32() });
      }
    } else if (id === 8) {
      hasStart = true;
    }
    p = end;
  }
  const exports: ModuleExport[] = rawExports.map((e) => {
    const t = e.kind === 'func' ? types[funcTypes[e.index] ?? -1] : undefined;
    return { name: e.name, kind: e.kind, ...(t ? { type: t } : {}) };
  });
  return { imports, exports, hasStart, ...(memory ? { memory } : {}) };
}

export const HOISTED_START = '__proxy_wasm_host_start';

/**
 * Moves a module's start function into an export, so the host can run it itself: in JS a start
 * section runs inside `new WebAssembly.Instance`, before the instance (and so its memory) is
 * reachable, while Envoy's host calls made from it must read module memory. The module's
 * behaviour is otherwise unchanged: the host calls the export first, under the same
 * start-up restrictions.
 */
export function hoistStart(bytes: Uint8Array): Uint8Array {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const leb = encodeLeb;
  let p = 8;
  const sections: { id: number; body: Buffer }[] = [];
  while (p < buf.length) {
    const id = buf[p++] as number;
    const [size, next] = readLeb(buf, p);
    p = next;
    sections.push({ id, body: buf.subarray(p, p + size) });
    p += size;
  }
  const start = sections.find((s) => s.id === 8);
  if (!start) return bytes;
  const [startIndex] = readLeb(start.body, 0);
  const name = Buffer.from(HOISTED_START);
  const entry = Buffer.from([...leb(name.length), ...name, 0x00, ...leb(startIndex)]);
  const out: number[] = [...buf.subarray(0, 8)];
  let exported = false;
  for (const s of sections) {
    if (s.id === 8) {
      if (!exported) {
        const body = Buffer.concat([Buffer.from(leb(1)), entry]);
        out.push(7, ...leb(body.length), ...body);
      }
      continue;
    }
    if (s.id === 7) {
      const b = Buffer.from(s.body);
      const [count, i] = readLeb(b, 0);
      const body = Buffer.concat([Buffer.from(leb(count + 1)), b.subarray(i), entry]);
      out.push(7, ...leb(body.length), ...body);
      exported = true;
      continue;
    }
    out.push(s.id, ...leb(s.body.length), ...s.body);
  }
  return Uint8Array.from(out);
}
