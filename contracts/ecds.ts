/**
 * The Envoy configuration of the Perimeter filter as ECDS delivers it:
 * a TypedExtensionConfig named like the sidecar's HttpFilter, holding the Wasm filter with the
 * workload's CompiledPolicy as BytesValue plugin configuration. The vm_config depends only on the
 * module, never on the policy, so Envoy keeps its VM and only calls on_configure on a change.
 * Shared by the control server (which builds it), the local sidecar (which reads it) and the
 * bootstrap generator (which must name the same resource).
 */
import { create } from '@bufbuild/protobuf';
import { type Any, anyPack, anyUnpack, BytesValueSchema } from '@bufbuild/protobuf/wkt';
import { type TypedExtensionConfig, TypedExtensionConfigSchema } from '../proto/gen/envoy/config/core/v3/extension_pb.js';
import { WasmSchema } from '../proto/gen/envoy/extensions/filters/http/wasm/v3/wasm_pb.js';
import { fail, ok, type Result } from './problem.js';
import { TYPE } from './type-urls.js';

/** The ECDS resource name and HttpFilter name, unless an operator chooses another. */
export const RESOURCE_NAME = 'perimeter.authz';
export const ROOT_ID = 'perimeter';

export interface ModuleRef {
  /** Path of the .wasm on the sidecar's filesystem. */
  filename: string;
  /** sha256 (hex) of the module: part of the VM id, so a new module gets a new VM. */
  sha256: string;
}

export function vmId(module: ModuleRef): string {
  return `perimeter-${module.sha256.slice(0, 12)}`;
}

export function filterConfig(policy: Uint8Array, module: ModuleRef, name = RESOURCE_NAME): TypedExtensionConfig {
  const wasm = create(WasmSchema, {
    config: {
      name,
      rootId: ROOT_ID,
      vm: {
        case: 'vmConfig',
        value: {
          vmId: vmId(module),
          runtime: 'envoy.wasm.runtime.v8',
          code: { specifier: { case: 'local', value: { specifier: { case: 'filename', value: module.filename } } } },
        },
      },
      configuration: anyPack(BytesValueSchema, create(BytesValueSchema, { value: policy })),
      // Fail closed: a VM failure answers 503 rather than letting requests through.
      failOpen: false,
    },
  });
  return create(TypedExtensionConfigSchema, { name, typedConfig: anyPack(WasmSchema, wasm) });
}

export function filterConfigAny(policy: Uint8Array, module: ModuleRef, name = RESOURCE_NAME): Any {
  return anyPack(TypedExtensionConfigSchema, filterConfig(policy, module, name));
}

export interface ReadFilterConfig {
  name: string;
  vmId: string;
  rootId: string;
  filename: string | undefined;
  policy: Uint8Array;
}

/** The inverse, for the sidecar: an ECDS resource → the policy bytes, or what is wrong with it. */
export function readFilterConfig(resource: Any): Result<ReadFilterConfig> {
  const ext = anyUnpack(resource, TypedExtensionConfigSchema);
  if (!ext) return fail('', `resource is ${resource.typeUrl}, not a TypedExtensionConfig`);
  if (!ext.typedConfig) return fail(ext.name, 'typed_config is missing');
  const wasm = anyUnpack(ext.typedConfig, WasmSchema);
  if (!wasm?.config) return fail(ext.name, `typed_config is ${ext.typedConfig.typeUrl}, not ${TYPE.wasm} with a config`);
  const c = wasm.config;
  if (!c.configuration) return fail(ext.name, 'plugin configuration is missing');
  const bytes = anyUnpack(c.configuration, BytesValueSchema);
  if (!bytes) return fail(ext.name, `plugin configuration is ${c.configuration.typeUrl}, not google.protobuf.BytesValue`);
  const vm = c.vm.case === 'vmConfig' ? c.vm.value : undefined;
  const code = vm?.code?.specifier;
  return ok({
    name: ext.name,
    vmId: vm?.vmId ?? '',
    rootId: c.rootId,
    filename: code?.case === 'local' && code.value.specifier.case === 'filename' ? code.value.specifier.value : undefined,
    policy: bytes.value,
  });
}
