#!/usr/bin/env node
// Regenerates proto/gen/: TypeScript from our .proto files (buf + ts-proto), and from Envoy's.
// Runs as part of every build; the output is committed and never edited by hand.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const buf = join(here, '..', 'node_modules', '.bin', 'buf');
// Clean only our own output: the rest of gen/ belongs to generate-envoy.mjs.
rmSync(join(here, 'gen', 'perimeter'), { recursive: true, force: true });
execFileSync(buf, ['generate'], { cwd: here, stdio: 'inherit' });
// Envoy's API (only when its inputs changed; see generate-envoy.mjs).
execFileSync(process.execPath, [join(here, 'generate-envoy.mjs')], { stdio: 'inherit' });
