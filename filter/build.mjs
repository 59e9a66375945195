#!/usr/bin/env node
// Builds the filter: filter/build/perimeter.wasm (release, -O3) and perimeter.debug.wasm,
// then refuses a module Envoy would not load (the same rules envoy/host enforces).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const asc = join(here, '..', 'node_modules', '.bin', 'asc');
for (const target of ['release', 'debug']) {
  execFileSync(asc, ['--config', 'asconfig.json', '--target', target], { cwd: here, stdio: 'inherit' });
}
// The host's second test module (test/fixtures/probe): exercises what the filter does not.
execFileSync(asc, ['--config', 'asconfig.json', '--target', 'release'], {
  cwd: join(here, '..', 'test', 'fixtures', 'probe'),
  stdio: 'inherit',
});
// The benchmark-only module: the same decision code, no host imports, never deployed.
execFileSync(asc, ['--config', 'asconfig.bench.json', '--target', 'release'], { cwd: here, stdio: 'inherit' });
const shared = join(here, '..', '..', 'shared', 'tools', 'wasm-abi-check.mjs');
for (const file of ['perimeter.wasm', 'perimeter.debug.wasm']) {
  const path = join(here, 'build', file);
  const { validateModule } = await import('../envoy/host/validate.ts');
  const verdict = validateModule(readFileSync(path));
  if (!verdict.ok) {
    console.error(`${path} would not load in Envoy:\n  ${verdict.errors.join('\n  ')}`);
    process.exit(1);
  }
  if (existsSync(shared)) execFileSync(process.execPath, [shared, path], { stdio: 'inherit' });
}
