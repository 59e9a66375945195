/**
 * Attack (or accident): what lands in the watched policy directory. A FIFO named like a policy
 * once wedged the control server forever; a valid change of 20,000 rules blocked /healthz for
 * 6 s. Only regular files are read (opened without blocking, checked on the descriptor), and
 * loading and compiling run on a worker thread, so health and xDS keep answering meanwhile.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPaths } from '../../control/policy/load.js';
import { testControl } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

function shopCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-policy-dir-'));
  cpSync('examples/shop/policy', dir, { recursive: true });
  return dir;
}

test('a FIFO named like a policy is refused with a clear error, without blocking; other FIFOs are ignored', () => {
  const dir = shopCopy();
  execFileSync('mkfifo', [join(dir, 'evil.yaml')]);
  execFileSync('mkfifo', [join(dir, 'notes.txt')]);
  const started = Date.now();
  const r = loadPaths([dir]);
  assert.ok(Date.now() - started < 2_000, 'the loader did not wait on the FIFO');
  assert.equal(r.ok, false);
  const problem = r.diagnostics.find((d) => d.file.endsWith('evil.yaml'));
  assert.match(problem?.message ?? '', /not a regular file/);
  assert.ok(!r.diagnostics.some((d) => d.file.endsWith('notes.txt')));
  rmSync(join(dir, 'evil.yaml'));
  assert.equal(loadPaths([dir]).ok, true);
});

test('the server keeps serving the last good version when a FIFO appears, and /healthz answers', async () => {
  const dir = shopCopy();
  const state = mkdtempSync(join(tmpdir(), 'perimeter-policy-dir-state-'));
  const control = await testControl(state, { policy: [dir], watch: true, debounceMs: 30, admin: '127.0.0.1:0' });
  try {
    const before = control.source.current?.version;
    execFileSync('mkfifo', [join(dir, 'evil.yaml')]);
    await eventually(() => control.source.lastRejected !== undefined, 5_000, 'the change was rejected');
    assert.match(control.source.lastRejected?.messages.join('\n') ?? '', /evil\.yaml.*not a regular file/);
    assert.equal(control.source.current?.version, before, 'the last good version keeps serving');
    const h = await fetch(`http://127.0.0.1:${control.adminPort}/healthz`);
    assert.equal(h.status, 200);
  } finally {
    await control.stop();
  }
});

/** A valid policy of `n` rules over 100 workloads. */
function bigPolicy(n: number): string {
  const docs = ['apiVersion: perimeter.dev/v1\nkind: Mesh\nmetadata: {name: big}\nspec: {trustDomain: big.example}'];
  for (let w = 0; w < 100; w++)
    docs.push(
      `apiVersion: perimeter.dev/v1\nkind: Workload\nmetadata: {name: w${w}}\nspec: {identity: spiffe://big.example/ns/n/sa/w${w}}`,
    );
  const perPerimeter = n / 100;
  for (let p = 0; p < 100; p++) {
    const rules = Array.from(
      { length: perPerimeter },
      (_, i) =>
        `    - {name: r${i}, action: allow, from: {identities: [spiffe://big.example/ns/n/sa/w${(p + i + 1) % 100}]}, to: {methods: [GET], paths: [/p${i}/*]}}`,
    );
    docs.push(
      `apiVersion: perimeter.dev/v1\nkind: Perimeter\nmetadata: {name: p${p}}\nspec:\n  owner: t\n  mode: enforce\n  selector: {workloads: [w${p}]}\n  rules:\n${rules.join('\n')}`,
    );
  }
  return `${docs.join('\n---\n')}\n`;
}

test('a change of 20,000 rules compiles off the event loop: /healthz keeps answering fast, then it is published', async () => {
  const dir = shopCopy();
  const state = mkdtempSync(join(tmpdir(), 'perimeter-policy-dir-state-'));
  const control = await testControl(state, { policy: [dir], watch: true, debounceMs: 30, admin: '127.0.0.1:0' });
  try {
    const before = control.source.current?.version;
    rmSync(dir, { recursive: true });
    const big = mkdtempSync(join(tmpdir(), 'perimeter-big-'));
    writeFileSync(join(big, 'big.yaml'), bigPolicy(20_000));
    // The server watches `dir`: put the big policy there in one rename.
    cpSync(big, dir, { recursive: true });
    let worst = 0;
    let polls = 0;
    while (control.source.current?.version === before) {
      const t0 = performance.now();
      const r = await fetch(`http://127.0.0.1:${control.adminPort}/healthz`);
      await r.text();
      worst = Math.max(worst, performance.now() - t0);
      polls++;
      if (polls > 2_000) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.notEqual(control.source.current?.version, before, 'the big policy was published');
    assert.equal(control.source.current?.workloads.length, 100);
    process.stderr.write(`20,000-rule change: ${polls} health checks while it compiled, slowest ${worst.toFixed(0)} ms\n`);
    assert.ok(polls >= 5, `health was checked ${polls} times during the change`);
    assert.ok(worst < 500, `the slowest health check took ${worst.toFixed(0)} ms`);
  } finally {
    await control.stop();
  }
});
