/**
 * Builds tiny WebAssembly modules byte by byte, for the host's load-time validation tests:
 * chosen imports (with any types), exported functions with trivial bodies, a memory, and an
 * optional start function or `_initialize` that calls one import.
 */
import { encodeLeb } from '../../envoy/host/wasm-binary.js';

type Val = 'i32' | 'i64';
interface Fn {
  params: Val[];
  results: Val[];
}

export interface ModuleSpec {
  imports?: ({ module: string; name: string } & Fn)[];
  globalImport?: { module: string; name: string };
  exports?: ({ name: string } & Fn)[];
  memoryPages?: number;
  /** Index into `imports` of a function the start section calls with zero arguments. */
  startCalls?: number;
  /** Index into `imports` of a function an exported `_initialize` calls with zero arguments. */
  initializeCalls?: number;
}

const VAL = { i32: 0x7f, i64: 0x7e };
const leb = encodeLeb;

const str = (s: string) => [...leb(Buffer.byteLength(s)), ...Buffer.from(s)];
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];

export function buildModule(spec: ModuleSpec): Uint8Array {
  const types: string[] = [];
  const typeIndex = (f: Fn) => {
    const key = JSON.stringify(f);
    if (!types.includes(key)) types.push(key);
    return types.indexOf(key);
  };
  const imports = spec.imports ?? [];
  const exports = spec.exports ?? [];
  const importEntries = imports.map((i) => [...str(i.module), ...str(i.name), 0x00, ...leb(typeIndex(i))]);
  if (spec.globalImport) importEntries.push([...str(spec.globalImport.module), ...str(spec.globalImport.name), 0x03, VAL.i32, 0x00]);
  const funcs: { fn: Fn; body: number[] }[] = exports.map((e) => ({
    fn: e,
    body: e.results.length ? (e.results[0] === 'i64' ? [0x42, 0x01] : [0x41, 0x01]) : [],
  }));
  const calling = (i: number) => {
    const callee = imports[i] as Fn;
    const args = callee.params.flatMap((p) => (p === 'i64' ? [0x42, 0x00] : [0x41, 0x00]));
    return { fn: { params: [], results: [] }, body: [...args, 0x10, ...leb(i), ...(callee.results.length ? [0x1a] : [])] };
  };
  let startIndex: number | undefined;
  if (spec.startCalls !== undefined) {
    funcs.push(calling(spec.startCalls));
    startIndex = imports.length + funcs.length - 1;
  }
  let initializeIndex: number | undefined;
  if (spec.initializeCalls !== undefined) {
    funcs.push(calling(spec.initializeCalls));
    initializeIndex = imports.length + funcs.length - 1;
  }
  const funcTypes = funcs.map((f) => typeIndex(f.fn));
  const typeSection = vec(
    types.map((t) => JSON.parse(t) as Fn).map((f) => [0x60, ...vec(f.params.map((p) => [VAL[p]])), ...vec(f.results.map((r) => [VAL[r]]))]),
  );
  const exportEntries = exports.map((e, i) => [...str(e.name), 0x00, ...leb(imports.length + i)]);
  if (initializeIndex !== undefined) exportEntries.push([...str('_initialize'), 0x00, ...leb(initializeIndex)]);
  if (spec.memoryPages !== undefined) exportEntries.push([...str('memory'), 0x02, 0x00]);
  const code = funcs.map((f) => {
    const body = [0x00, ...f.body, 0x0b];
    return [...leb(body.length), ...body];
  });
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, typeSection),
    ...section(2, vec(importEntries)),
    ...section(3, vec(funcTypes.map((t) => leb(t)))),
    ...(spec.memoryPages !== undefined ? section(5, vec([[0x00, ...leb(spec.memoryPages)]])) : []),
    ...section(7, vec(exportEntries)),
    ...(startIndex !== undefined ? section(8, leb(startIndex)) : []),
    ...section(10, vec(code)),
  ]);
}

const i32 = (n: number): Val[] => Array(n).fill('i32');

/** The smallest module Envoy loads: ABI marker, malloc, memory. */
export function minimalSpec(): Required<Pick<ModuleSpec, 'imports' | 'exports' | 'memoryPages'>> {
  return {
    imports: [{ module: 'env', name: 'proxy_log', params: i32(3), results: ['i32'] }],
    exports: [
      { name: 'proxy_abi_version_0_2_1', params: [], results: [] },
      { name: 'malloc', params: i32(1), results: ['i32'] },
    ],
    memoryPages: 1,
  };
}
