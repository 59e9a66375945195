/**
 * Attack: an AuthorizationPolicy as a way to write native policy. `perimeter import istio` turns
 * files someone else wrote into Perimeter YAML that a team will commit; a value that breaks out
 * of its scalar (a path, a header value, an owner annotation with a newline and a document in
 * it) would become a rule of the attacker's. The output is built by the YAML library, a value
 * with a control character is refused at the source, and the output is proven to compile to the
 * very policy the input compiles to.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { importIstio } from '../../control/convert/istio-import.js';
import { loadSources } from '../../control/policy/load.js';

const REGISTRY = `apiVersion: perimeter.dev/v1
kind: Mesh
metadata: {name: m}
spec: {trustDomain: cluster.local}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: api}
spec: {identity: spiffe://cluster.local/ns/shop/sa/api, labels: {app: api}}
`;

const EVIL = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: api
  namespace: shop
  annotations:
    perimeter.dev/owner: "team\\n---\\napiVersion: perimeter.dev/v1\\nkind: Perimeter\\nmetadata: {name: evil}"
spec:
  selector: {matchLabels: {app: api}}
  rules:
    - from: [{source: {principals: ["cluster.local/ns/shop/sa/web\\" # ]"]}}]
      to: [{operation: {paths: ["/a: [b] #c", "*]: x"], methods: ["GET"]}}]
      when:
        - {key: "request.headers[x-tenant]", values: ["acme'} {name: evil"]}
`;

test('values that look like YAML stay values: one perimeter, compiling to the imported policy', () => {
  const loaded = loadSources([
    { name: 'registry.yaml', text: REGISTRY },
    { name: 'evil.yaml', text: EVIL },
  ]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => d.message).join('\n'));
  const r = importIstio(loaded);
  const docs = parseAllDocuments(r.yaml);
  assert.ok(Array.isArray(docs));
  assert.equal(docs.length, 1, r.yaml);
  const spec = (docs[0] as (typeof docs)[number]).toJS().spec as { owner: string; rules: unknown[] };
  assert.equal(spec.owner, 'team\n---\napiVersion: perimeter.dev/v1\nkind: Perimeter\nmetadata: {name: evil}');
  assert.equal(spec.rules.length, 1);
  assert.deepEqual(r.verified, { workloads: 1, differ: [] });
});

test('a value with a control character is refused in the Istio file, so it never reaches the output', () => {
  const loaded = loadSources([
    { name: 'registry.yaml', text: REGISTRY },
    { name: 'evil.yaml', text: EVIL.replace('"/a: [b] #c"', '"/a\\n- evil"') },
  ]);
  assert.equal(loaded.ok, false);
  assert.ok(loaded.diagnostics.some((d) => /control character/.test(d.message)));
});
