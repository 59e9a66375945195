/**
 * Load-time validation with the errors Envoy gives (proxy-wasm-cpp-host wasm.cc, v8.cc):
 * an ABI marker, only registered imports with their exact types, no imported globals, known
 * exports with their exact types, an allocator, and memory within Envoy's cap.
 */
import {
  ABI_0_1_ONLY,
  ABI_0_2_1_ONLY,
  ABI_MARKERS,
  CALLBACK_TYPES,
  ENV_FUNCTIONS,
  MAX_MEMORY_PAGES,
  WASI_FUNCTIONS,
  WASI_MODULES,
} from './abi-table.js';
import { formatType, type ModuleInfo, parseModule, sameType, WasmFormatError } from './wasm-binary.js';

export interface Verdict {
  ok: boolean;
  errors: string[];
  info?: ModuleInfo;
}

export function validateModule(bytes: Uint8Array): Verdict {
  let info: ModuleInfo;
  try {
    info = parseModule(bytes);
  } catch (e) {
    return { ok: false, errors: [`Failed to load Wasm module: ${e instanceof WasmFormatError ? e.message : String(e)}`] };
  }
  const errors: string[] = [];
  const exports = new Map(info.exports.map((e) => [e.name, e]));
  if (!ABI_MARKERS.some((m) => exports.get(m)?.kind === 'func')) errors.push('Missing or unknown Proxy-Wasm ABI version');
  // cpp-host's getAbiVersion takes the first marker among the exports; 0.2.0 registers less.
  const abi020 = info.exports.find((e) => e.kind === 'func' && ABI_MARKERS.includes(e.name))?.name === 'proxy_abi_version_0_2_0';

  for (const imp of info.imports) {
    const id = `${imp.module}.${imp.name}`;
    if (imp.kind === 'global') {
      errors.push(`Failed to load Wasm module due to a missing import: ${id} (imported globals are not supported)`);
      continue;
    }
    if (imp.kind !== 'func') continue; // an imported memory or table is created by the host
    const hidden = abi020 && imp.module === 'env' && ABI_0_2_1_ONLY.includes(imp.name);
    const table = imp.module === 'env' ? ENV_FUNCTIONS : WASI_MODULES.includes(imp.module) ? WASI_FUNCTIONS : {};
    const want = hidden ? undefined : table[imp.name];
    if (!want) {
      const why =
        imp.module === 'env' && ABI_0_1_ONLY.includes(imp.name)
          ? ' (registered for ABI 0.1.0 only)'
          : hidden
            ? ' (registered for ABI 0.2.1 only)'
            : '';
      errors.push(`Failed to load Wasm module due to a missing import: ${id}${why}`);
      continue;
    }
    if (imp.type && !sameType(imp.type, want)) {
      errors.push(
        `Failed to load Wasm module due to an import type mismatch: ${id}, want: ${formatType(imp.type)}, but host exports: ${formatType(want)}`,
      );
    }
  }

  for (const e of info.exports) {
    const want = CALLBACK_TYPES[e.name];
    if (e.kind === 'func' && want && e.type && !sameType(e.type, want)) errors.push(`Bad function signature for: ${e.name}`);
  }
  if (exports.get('malloc')?.kind !== 'func' && exports.get('proxy_on_memory_allocate')?.kind !== 'func') {
    errors.push('Wasm module is missing malloc function.');
  }
  if (info.memory?.initial !== undefined && info.memory.initial > MAX_MEMORY_PAGES) {
    errors.push(`Wasm module memory of ${info.memory.initial} pages exceeds the limit of ${MAX_MEMORY_PAGES}`);
  }
  return { ok: errors.length === 0, errors, info };
}
