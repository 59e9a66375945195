#!/usr/bin/env node
// Regenerates proto/gen/ (TypeScript from our .proto files, via buf + ts-proto).
// Runs as part of every build; the output is committed and never edited by hand.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const buf = join(here, '..', 'node_modules', '.bin', 'buf');
execFileSync(buf, ['generate'], { cwd: here, stdio: 'inherit' });
