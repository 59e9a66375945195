#!/usr/bin/env node
// Runs every *.test.ts under test/ with Node's test runner (Node 20's --test has no globs).
// Extra arguments are passed through, e.g. `npm test -- --test-name-pattern=istio`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return find(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const files = find('test').sort();
// A test that hangs fails after five minutes instead of holding the run (and CI) forever.
const timeout = '--test-timeout=300000';
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', timeout, ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
