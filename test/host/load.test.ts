/** Load-time validation: the errors Envoy gives for modules it would not load (cpp-host wasm.cc, v8.cc). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyWasmHost, WasmLoadError } from '../../envoy/host/host.js';
import { validateModule } from '../../envoy/host/validate.js';
import { buildModule, minimalSpec } from '../helpers/wasm-builder.js';

const i32 = (n: number) => Array(n).fill('i32') as 'i32'[];

test('a minimal module (ABI marker, malloc, memory) loads', () => {
  assert.deepEqual(validateModule(buildModule(minimalSpec())).errors, []);
  assert.ok(ProxyWasmHost.load(buildModule(minimalSpec())));
});

const cases: { name: string; spec: () => Parameters<typeof buildModule>[0] | Uint8Array; error: RegExp }[] = [
  { name: 'not WebAssembly', spec: () => Buffer.from('not wasm at all'), error: /^Failed to load Wasm module: not a WebAssembly module/ },
  {
    name: 'no ABI marker',
    spec: () => ({ ...minimalSpec(), exports: minimalSpec().exports.filter((e) => e.name !== 'proxy_abi_version_0_2_1') }),
    error: /^Missing or unknown Proxy-Wasm ABI version$/,
  },
  {
    name: 'an import Envoy does not register',
    spec: () => ({ ...minimalSpec(), imports: [{ module: 'env', name: 'abort', params: i32(4), results: [] }] }),
    error: /^Failed to load Wasm module due to a missing import: env\.abort$/,
  },
  {
    name: 'an ABI 0.1.0-only import',
    spec: () => ({ ...minimalSpec(), imports: [{ module: 'env', name: 'proxy_get_configuration', params: i32(2), results: ['i32'] }] }),
    error: /missing import: env\.proxy_get_configuration \(registered for ABI 0\.1\.0 only\)/,
  },
  {
    name: 'proxy_get_log_level in an ABI 0.2.0 module (Envoy registers it for 0.2.1 only)',
    spec: () => ({
      ...minimalSpec(),
      imports: [{ module: 'env', name: 'proxy_get_log_level', params: i32(1), results: ['i32'] }],
      exports: [{ name: 'proxy_abi_version_0_2_0', params: [], results: [] }, ...minimalSpec().exports.slice(1)],
    }),
    error: /^Failed to load Wasm module due to a missing import: env\.proxy_get_log_level \(registered for ABI 0\.2\.1 only\)$/,
  },
  {
    name: 'envoy_on_resolve_dns with the wrong signature',
    spec: () => ({ ...minimalSpec(), exports: [...minimalSpec().exports, { name: 'envoy_on_resolve_dns', params: i32(2), results: [] }] }),
    error: /^Bad function signature for: envoy_on_resolve_dns$/,
  },
  {
    name: 'an import with the wrong type',
    spec: () => ({ ...minimalSpec(), imports: [{ module: 'env', name: 'proxy_log', params: i32(2), results: ['i32'] }] }),
    error:
      /^Failed to load Wasm module due to an import type mismatch: env\.proxy_log, want: \(i32, i32\) -> \(i32\), but host exports: \(i32, i32, i32\) -> \(i32\)$/,
  },
  {
    name: 'the old 10-parameter proxy_grpc_call',
    spec: () => ({ ...minimalSpec(), imports: [{ module: 'env', name: 'proxy_grpc_call', params: i32(10), results: ['i32'] }] }),
    error: /import type mismatch: env\.proxy_grpc_call/,
  },
  {
    name: 'an imported global',
    spec: () => ({ ...minimalSpec(), globalImport: { module: 'env', name: 'seed' } }),
    error: /missing import: env\.seed/,
  },
  {
    name: 'a known callback with the wrong signature',
    spec: () => ({
      ...minimalSpec(),
      exports: [...minimalSpec().exports, { name: 'proxy_on_configure', params: i32(1), results: ['i32'] }],
    }),
    error: /^Bad function signature for: proxy_on_configure$/,
  },
  {
    name: 'no allocator',
    spec: () => ({ ...minimalSpec(), exports: minimalSpec().exports.filter((e) => e.name !== 'malloc') }),
    error: /^Wasm module is missing malloc function\.$/,
  },
  {
    name: 'more memory than Envoy allows',
    spec: () => ({ ...minimalSpec(), memoryPages: 16385 }),
    error: /exceeds the limit of 16384/,
  },
];

for (const c of cases) {
  test(`refuses ${c.name}`, () => {
    const spec = c.spec();
    const bytes = spec instanceof Uint8Array ? spec : buildModule(spec);
    const v = validateModule(bytes);
    assert.equal(v.ok, false);
    assert.ok(
      v.errors.some((e) => c.error.test(e)),
      v.errors.join('\n'),
    );
    assert.throws(() => ProxyWasmHost.load(bytes), WasmLoadError);
  });
}

test('ABI 0.2.0 and 0.2.1 each get what Envoy registers for them; envoy_resolve_dns is there for both', () => {
  const logLevel = { module: 'env', name: 'proxy_get_log_level', params: i32(1), results: ['i32' as const] };
  const dns = { module: 'env', name: 'envoy_resolve_dns', params: i32(3), results: ['i32' as const] };
  const cont = { module: 'env', name: 'proxy_continue_stream', params: i32(1), results: ['i32' as const] };
  const v020 = [{ name: 'proxy_abi_version_0_2_0', params: [], results: [] as [] }, ...minimalSpec().exports.slice(1)];
  assert.deepEqual(validateModule(buildModule({ ...minimalSpec(), imports: [logLevel, dns, cont] })).errors, []);
  assert.deepEqual(validateModule(buildModule({ ...minimalSpec(), imports: [dns, cont], exports: v020 })).errors, []);
});

test('proxy_on_memory_allocate is accepted when malloc is absent', () => {
  const spec = minimalSpec();
  spec.exports = [
    { name: 'proxy_abi_version_0_2_1', params: [], results: [] },
    { name: 'proxy_on_memory_allocate', params: i32(1), results: ['i32'] },
  ];
  assert.deepEqual(validateModule(buildModule(spec)).errors, []);
});

test('WASI imports load under both module names; unknown WASI functions do not', () => {
  for (const module of ['wasi_snapshot_preview1', 'wasi_unstable']) {
    const ok = { ...minimalSpec(), imports: [{ module, name: 'fd_write', params: i32(4), results: ['i32' as const] }] };
    assert.deepEqual(validateModule(buildModule(ok)).errors, [], module);
  }
  const bad = {
    ...minimalSpec(),
    imports: [{ module: 'wasi_snapshot_preview1', name: 'sock_open', params: i32(3), results: ['i32' as const] }],
  };
  assert.match(validateModule(buildModule(bad)).errors.join(), /missing import: wasi_snapshot_preview1\.sock_open/);
});

test('a start section may make no host call: Envoy runs it before any context exists, so the load fails with its message', () => {
  assert.ok(ProxyWasmHost.load(buildModule({ ...minimalSpec(), startCalls: undefined })));
  for (const name of ['proxy_log', 'proxy_get_property']) {
    const spec = {
      ...minimalSpec(),
      imports: [{ module: 'env', name, params: i32(name === 'proxy_log' ? 3 : 4), results: ['i32' as const] }],
      startCalls: 0,
    };
    assert.throws(
      () => ProxyWasmHost.load(buildModule(spec)),
      (e: Error) =>
        e instanceof WasmLoadError &&
        e.errors[0] === 'Failed to create new Wasm instance' &&
        (e.errors[1] ?? '').includes(`the start function called ${name}:`),
      name,
    );
  }
});

test('_initialize may make the start-up allow-list calls only; any other traps as restricted_callback, with Envoy’s message', () => {
  const logs: string[] = [];
  const log = { module: 'env', name: 'proxy_log', params: i32(3), results: ['i32' as const] };
  assert.ok(ProxyWasmHost.load(buildModule({ ...minimalSpec(), imports: [log], initializeCalls: 0 }), { log: (_l, m) => logs.push(m) }));
  // WASI start-up calls a runtime makes (preopened directories), under either module name.
  for (const module of ['wasi_snapshot_preview1', 'wasi_unstable']) {
    const prestat = { module, name: 'fd_prestat_get', params: i32(2), results: ['i32' as const] };
    assert.ok(ProxyWasmHost.load(buildModule({ ...minimalSpec(), imports: [prestat], initializeCalls: 0 })), module);
  }
  const prop = { module: 'env', name: 'proxy_get_property', params: i32(4), results: ['i32' as const] };
  assert.throws(
    () => ProxyWasmHost.load(buildModule({ ...minimalSpec(), imports: [prop], initializeCalls: 0 })),
    (e: Error) =>
      e instanceof WasmLoadError &&
      e.errors[0] === 'Function: _initialize failed: Uncaught Error: restricted_callback' &&
      /^proxy_get_property is not allowed during start-up$/.test(e.errors[1] ?? ''),
  );
});
