/** Golden files: compared byte for byte; `UPDATE_GOLDEN=1 npm test` rewrites them. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const GOLDEN = join(import.meta.dirname, '..', 'golden');

export function expectGolden(name: string, actual: string | Uint8Array): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI) assert.fail(`golden file ${name} is missing; run UPDATE_GOLDEN=1 npm test and commit it`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  const want = readFileSync(file);
  if (typeof actual === 'string') assert.equal(actual, want.toString('utf8'), `differs from golden ${name}`);
  else assert.deepEqual(Buffer.from(actual), want, `differs from golden ${name}`);
}
