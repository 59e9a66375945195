/**
 * Perimeters written back as native YAML decide as the perimeters they were written from: over
 * random policies of every feature (the differential test's generator, Istio-origin ones among
 * them, with trust-domain aliases) and random requests, the native text loads without error
 * and the compiled policies agree on every decision.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Document } from 'yaml';
import { compile } from '../../control/compile/compile.js';
import { trustBundle } from '../../control/compile/trust-domains.js';
import { nativeDocument } from '../../control/convert/native.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { formatDiagnostic } from '../../control/policy/diagnostics.js';
import { loadSources } from '../../control/policy/load.js';
import type { PolicySet } from '../../control/policy/model.js';
import { randomPolicy, rng } from '../differential/generate.js';
import { randomRequest } from '../differential/generate-request.js';

function registryYaml(p: PolicySet): string {
  const docs = [
    { apiVersion: 'perimeter.dev/v1', kind: 'Mesh', metadata: { name: 'mesh' }, spec: { ...p.mesh, location: undefined } },
    ...p.workloads.map((w) => ({
      apiVersion: 'perimeter.dev/v1',
      kind: 'Workload',
      metadata: { name: w.name },
      spec: { identity: w.identity, namespace: w.namespace, labels: w.labels },
    })),
  ];
  return docs.map((d) => new Document(JSON.parse(JSON.stringify(d))).toString()).join('---\n');
}

test('native YAML written from any perimeter decides as it does (500 policies × 40 requests)', () => {
  const r = rng(2026);
  let compared = 0;
  let sameBytes = 0;
  for (let i = 0; i < 500; i++) {
    const policy = randomPolicy(r);
    const bundle = trustBundle(policy.mesh);
    const text = policy.perimeters.map((p) => nativeDocument(p, bundle, `from generated policy ${i}`)).join('---\n');
    const loaded = loadSources([
      { name: 'registry.yaml', text: registryYaml(policy) },
      { name: 'native.yaml', text: text || '{}' },
    ]);
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error' && !(text === '' && d.file === 'native.yaml'));
    assert.equal(errors.length, 0, `${errors.map(formatDiagnostic).join('\n')}\n${text}`);
    const want = compile(policy).workloads.find((w) => w.workload.name === 'svc')?.policy;
    const got = compile({ ...loaded.policy, perimeters: loaded.policy.perimeters }).workloads.find(
      (w) => w.workload.name === 'svc',
    )?.policy;
    assert.ok(want && got);
    if (want.version === got.version) sameBytes++;
    for (let k = 0; k < 40; k++) {
      const req = randomRequest(r);
      const a = evaluate(want, req);
      const b = evaluate(got, req);
      const view = (d: typeof a) => ({ ...d, version: '' });
      assert.deepEqual(view(b), view(a), `policy ${i}, request ${JSON.stringify(req)}\n${text}`);
      compared++;
    }
  }
  assert.equal(compared, 20000);
  console.log(`same bytes: ${sameBytes}/500`);
});
