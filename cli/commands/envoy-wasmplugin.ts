/** `perimeter envoy wasmplugin`: an Istio WasmPlugin carrying one workload's policy. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { BUILT_MODULE } from '../../contracts/module.js';
import { renderWasmPlugin } from '../../control/render/wasmplugin.js';
import { defineCommand, flag, type OptionsOf } from '../support/flags.js';
import { loadAndCompile } from '../support/load-policy.js';
import { UsageError, workloadIn } from '../support/targets.js';

const FLAGS = {
  workload: flag.required('--workload <name>', 'workload name or SPIFFE ID'),
  policy: flag.required('--policy <dir>', 'policy directory'),
  url: flag.withDefault(
    '--url <url>',
    'where Istio fetches the module (oci://, https://, file://)',
    'oci://ghcr.io/perimeter-dev/perimeter-wasm:0.1.0',
  ),
  wasm: flag.string('--wasm <file>', 'the module whose sha256 is pinned (default filter/build/perimeter.wasm)'),
  out: flag.string('--out <file>', 'write to a file instead of stdout'),
};

export const envoyWasmPluginCommand = defineCommand({
  path: ['envoy', 'wasmplugin'],
  description: "an Istio WasmPlugin carrying a workload's policy, for an existing Istio mesh",
  flags: FLAGS,
  run: runWasmPlugin,
});

function runWasmPlugin(o: OptionsOf<typeof FLAGS>): number {
  const compiled = loadAndCompile([o.policy]);
  const me = workloadIn(compiled, o.workload, o.policy);
  const module = o.wasm ?? BUILT_MODULE;
  if (!existsSync(module)) throw new UsageError(`${module} does not exist: run npm run build`);
  const text = renderWasmPlugin({
    workload: me.workload,
    policy: me.bytes,
    policyVersion: me.version,
    url: o.url,
    sha256: createHash('sha256').update(readFileSync(module)).digest('hex'),
  });
  if (o.out) {
    writeFileSync(o.out, text);
    process.stderr.write(`wrote ${o.out}: WasmPlugin for ${me.workload.name}, policy ${me.version}\n`);
  } else process.stdout.write(text);
  return 0;
}
