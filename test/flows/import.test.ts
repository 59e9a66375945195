/**
 * `perimeter flows import`: the sample logs under examples/flows (one per format, written from
 * each format's documentation) read into a flow store, with what was skipped and what could not be
 * read pinned; and the point of it: a recommendation from imported logs, enforced and replayed,
 * allows every request the logs saw served, and the one the mesh refused stays refused.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { expectGolden } from '../helpers/golden.js';

const SHOP = 'examples/shop/policy';
const FORMATS = [
  ['envoy-json', 'examples/flows/envoy-access.log', []],
  ['istio', 'examples/flows/istio-access.log', ['--pods', 'examples/flows/pods.json']],
  ['hubble', 'examples/flows/hubble-flows.jsonl', []],
] as const;

function importInto(state: string, format: string, file: string, extra: readonly string[] = [], json = true) {
  return runCli('flows', 'import', '--format', format, '--policy', SHOP, '--state', state, ...extra, ...(json ? ['--json'] : []), file);
}

for (const [format, file, extra] of FORMATS) {
  test(`${format}: the sample log imports as pinned, unreadable lines named by number`, () => {
    const state = mkdtempSync(join(tmpdir(), `import-${format}-`));
    const r = importInto(state, format, file, extra);
    assert.equal(r.code, 0, r.err);
    const report = JSON.parse(r.out);
    delete report.state;
    expectGolden(`flows-import/${format}.json`, `${JSON.stringify(report, null, 2)}\n`);
    assert.ok(report.imported >= 11);
    assert.ok(report.problems.every((p: { line: number }) => p.line > 0));
    const flows = JSON.parse(runCli('flows', '--state', state, '--json', '--limit', '100').out).flows as {
      source?: string;
      destination: string;
      denied: number;
    }[];
    assert.ok(flows.some((f) => f.source === 'spiffe://shop.example/ns/shop/sa/app' && f.destination === 'db'));
    assert.ok(
      flows.some((f) => f.source === 'spiffe://shop.example/ns/shop/sa/intruder' && f.denied === 1),
      'the refused request is recorded as denied',
    );
  });
}

test('the human report says what was imported, skipped, unknown and unreadable', () => {
  const state = mkdtempSync(join(tmpdir(), 'import-text-'));
  const r = importInto(state, 'istio', 'examples/flows/istio-access.log', ['--pods', 'examples/flows/pods.json'], false);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /imported +11/);
  assert.match(r.out, /unknown caller \(no pod has its address: never guessed\) +1/);
  assert.match(r.out, /examples\/flows\/istio-access\.log:15: not Istio's default access log format/);
  assert.equal(importInto(state, 'istio', 'examples/flows/istio-access.log').code, 1, 'istio without --pods is a usage error');
  assert.equal(importInto(state, 'syslog', 'examples/flows/istio-access.log').code, 1);
});

test('recommend from imported logs: enforced and replayed, it allows every request the logs saw served', () => {
  const state = mkdtempSync(join(tmpdir(), 'import-recommend-'));
  assert.equal(importInto(state, 'envoy-json', 'examples/flows/envoy-access.log').code, 0);
  // A mesh before Perimeter: the registry, every workload observed.
  const current = mkdtempSync(join(tmpdir(), 'import-current-'));
  cpSync(join(SHOP, 'workloads.yaml'), join(current, 'workloads.yaml'));
  writeFileSync(
    join(current, 'mesh.yaml'),
    readFileSync(join(SHOP, 'mesh.yaml'), 'utf8').replace('defaultMode: enforce', 'defaultMode: observe'),
  );
  const candidate = mkdtempSync(join(tmpdir(), 'import-candidate-'));
  cpSync(current, candidate, { recursive: true });
  for (const w of ['web', 'app', 'db', 'payments']) {
    const out = join(candidate, `${w}.yaml`);
    const r = runCli('recommend', '--for', w, '--policy', current, '--state', state, '--out', out);
    assert.equal(r.code, 0, r.err);
    // Enforced, so the replay shows what it would block.
    writeFileSync(out, readFileSync(out, 'utf8').replace(/mode: simulate/g, 'mode: enforce'));
  }
  const r = runCli('replay', '--candidate', candidate, '--policy', current, '--state', state, '--json');
  const replay = JSON.parse(r.out) as {
    flows: { flow: { source?: string | null; destination: string; allowed: number }; candidate: string }[];
  };
  // Every authenticated request served (recommend never opens a workload to callers without a certificate).
  const served = replay.flows.filter(
    (f) => f.flow.allowed > 0 && f.flow.source && ['web', 'app', 'db', 'payments'].includes(f.flow.destination),
  );
  assert.ok(served.length >= 9, `${served.length} served flows replayed`);
  assert.deepEqual(
    served.filter((f) => f.candidate !== 'allow').map((f) => `${f.flow.source} → ${f.flow.destination}`),
    [],
  );
  const intruder = replay.flows.find((f) => f.flow.source?.endsWith('/sa/intruder'));
  assert.equal(intruder?.candidate, 'deny', 'a caller only ever refused is not recommended');
});
