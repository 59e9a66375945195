/**
 * The floors hold (docs/architecture.md): every import of the tree goes down a floor or stays on
 * its own, peers never import each other, only the gRPC layer imports @grpc/grpc-js, the
 * contracts do no I/O, and no files or folders import each other in a circle.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { checkArchitecture } from './check.js';

const ROOT = join(import.meta.dirname, '..', '..');

test('every import of the tree goes down a floor, and nothing imports in a circle', () => {
  assert.deepEqual(checkArchitecture(ROOT), []);
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'perimeter-arch-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const cases: { name: string; files: Record<string, string>; expected: RegExp }[] = [
  {
    name: 'the control plane importing the data plane',
    files: { 'control/a.ts': "import { b } from '../envoy/b.js';\n", 'envoy/b.ts': 'export const b = 1;\n' },
    expected: /^control\/a\.ts:1 imports envoy\/b\.ts: control plane and data plane are peers on floor 3/,
  },
  {
    name: 'a contract importing the control plane',
    files: { 'contracts/a.ts': "import type { B } from '../control/b.js';\n", 'control/b.ts': 'export type B = 1;\n' },
    expected: /^contracts\/a\.ts:1 imports control\/b\.ts: goes up from contracts \(floor 1\) to control plane \(floor 3\)/,
  },
  {
    name: 'the data plane importing @grpc/grpc-js',
    files: { 'envoy/a.ts': "import * as grpc from '@grpc/grpc-js';\n" },
    expected: /^envoy\/a\.ts:1 imports @grpc\/grpc-js: only the grpc floor imports @grpc\/grpc-js/,
  },
  {
    name: 'a contract doing I/O',
    files: { 'contracts/a.ts': "import { readFileSync } from 'node:fs';\n" },
    expected: /^contracts\/a\.ts:1 imports node:fs: the contracts are pure/,
  },
  {
    name: 'two files importing each other',
    files: { 'control/x/a.ts': "import './b.js';\n", 'control/x/b.ts': "import './a.js';\n" },
    expected: /^file cycle: control\/x\/a\.ts → control\/x\/b\.ts$/,
  },
  {
    name: 'two folders importing each other',
    files: { 'control/x/a.ts': "import '../y/b.js';\n", 'control/y/b.ts': "import '../x/c.js';\n", 'control/x/c.ts': '' },
    expected: /^folder cycle: control\/x → control\/y$/,
  },
  {
    name: 'a multi-line dynamic import going up',
    files: { 'grpc/a.ts': "export async function f() {\n  return await import(\n    '../cli/b.js'\n  );\n}\n", 'cli/b.ts': '' },
    expected: /^grpc\/a\.ts:3 imports cli\/b\.ts: goes up from grpc \(floor 2\) to cli \(floor 4\)/,
  },
  {
    name: 'a folder on no floor',
    files: { 'elsewhere/a.ts': '' },
    expected: /^elsewhere\/a\.ts: on no floor/,
  },
];

for (const c of cases)
  test(`the check names the file and the import: ${c.name}`, () => {
    const root = tree(c.files);
    try {
      const problems = checkArchitecture(root);
      assert.ok(
        problems.some((p) => c.expected.test(p)),
        problems.join('\n') || 'no problem found',
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

test('a tree whose imports all go down has no problem', () => {
  const root = tree({
    'contracts/a.ts': "import '../proto/gen/x.js';\n",
    'proto/gen/x.ts': '',
    'grpc/b.ts': "import '../contracts/a.js';\nimport '@grpc/grpc-js';\n",
    'control/c.ts': "import '../grpc/b.js';\n",
    'envoy/d.ts': "import '../grpc/b.js';\n",
    'cli/e.ts': "import '../control/c.js';\nimport '../envoy/d.js';\n",
    'test/f.test.ts': "import '../cli/e.js';\nimport '@grpc/grpc-js';\n",
  });
  try {
    assert.deepEqual(checkArchitecture(root), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
