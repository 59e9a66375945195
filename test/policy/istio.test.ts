/**
 * Istio AuthorizationPolicy import, by the shapes of Istio's builder test data
 * (pilot/pkg/security/authz/builder/testdata): nil rules, empty rule, full rule, DENY beside
 * ALLOW, dry run, AUDIT, principal/namespace/path/host/port forms, conditions, scope, and the
 * fields we cannot honour. Decisions are checked with Istio's semantics.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyRequest } from '../../contracts/request.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { formatDiagnostic } from '../../control/policy/diagnostics.js';
import { compiled, load, policyFor } from '../helpers/policy.js';

const REG = `
apiVersion: perimeter.dev/v1
kind: Mesh
metadata: {name: mesh}
spec: {trustDomain: cluster.local}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: httpbin}
spec: {identity: spiffe://cluster.local/ns/foo/sa/httpbin, labels: {app: httpbin, version: v1}}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: sleep}
spec: {identity: spiffe://cluster.local/ns/foo/sa/sleep, labels: {app: sleep}}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: ratings}
spec: {identity: spiffe://cluster.local/ns/bar/sa/ratings, labels: {app: httpbin, version: v1}}
`;

const SLEEP = 'spiffe://cluster.local/ns/foo/sa/sleep';
const RATINGS = 'spiffe://cluster.local/ns/bar/sa/ratings';

function ap(spec: string, name = 'p', ns = 'foo', annotations = ''): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: ${ns}
${annotations ? `  annotations: {${annotations}}\n` : ''}spec:
${spec
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
}

const SELECT = 'selector: {matchLabels: {app: httpbin, version: v1}}';

function decide(yaml: string, req: Partial<PolicyRequest>, workload = 'httpbin') {
  const policy = policyFor(compiled(yaml, REG), workload);
  return evaluate(policy, { method: 'GET', path: '/', ...req } as PolicyRequest);
}

test('ALLOW with no rules (spec without rules) allows nothing', () => {
  const d = decide(ap(SELECT), { principal: SLEEP });
  assert.equal(d.decision, 'deny');
  assert.equal(d.rule, 'default');
  assert.equal(d.perimeter, 'foo.p');
});

test('ALLOW with one empty rule allows everything, plaintext included', () => {
  const y = ap(`${SELECT}\nrules: [{}]`);
  assert.equal(decide(y, { principal: SLEEP }).decision, 'allow');
  assert.equal(decide(y, {}).decision, 'allow');
});

test('a full ALLOW rule: sources OR, fields AND, operations OR', () => {
  const y = ap(`${SELECT}
action: ALLOW
rules:
  - from:
      - source: {principals: [cluster.local/ns/foo/sa/sleep]}
      - source: {namespaces: [bar]}
    to:
      - operation: {methods: [GET], paths: [/info*]}
      - operation: {methods: [POST], paths: [/data]}
    when:
      - {key: "request.headers[x-env]", values: [prod, stage*]}`);
  const h = { 'x-env': 'stage-eu' };
  assert.equal(decide(y, { principal: SLEEP, path: '/information', headers: h }).decision, 'allow');
  assert.equal(decide(y, { principal: RATINGS, method: 'POST', path: '/data', headers: h }).decision, 'allow');
  assert.equal(decide(y, { principal: RATINGS, method: 'POST', path: '/info', headers: h }).decision, 'deny');
  assert.equal(decide(y, { principal: SLEEP, path: '/information', headers: { 'x-env': 'dev' } }).decision, 'deny');
  assert.equal(decide(y, { principal: 'spiffe://cluster.local/ns/baz/sa/x', path: '/info', headers: h }).decision, 'deny');
});

test('DENY before ALLOW', () => {
  const y = `${ap(`${SELECT}\nrules: [{}]`, 'allow-all')}---\n${ap(`${SELECT}\naction: DENY\nrules:\n  - to: [{operation: {methods: [DELETE]}}]`, 'no-delete')}`;
  assert.equal(decide(y, { principal: SLEEP, method: 'DELETE' }).rule, 'rule-0');
  assert.equal(decide(y, { principal: SLEEP, method: 'DELETE' }).perimeter, 'foo.no-delete');
  assert.equal(decide(y, { principal: SLEEP, method: 'DELETE' }).decision, 'deny');
  assert.equal(decide(y, { principal: SLEEP }).decision, 'allow');
});

test('a workload with only DENY policies allows what they do not deny (no ALLOW policy)', () => {
  const y = ap(`${SELECT}\naction: DENY\nrules:\n  - from: [{source: {notNamespaces: [foo]}}]`);
  const ok = decide(y, { principal: SLEEP });
  assert.equal(ok.decision, 'allow');
  assert.equal(ok.rule, 'allow-without-allow-policy');
  assert.equal(decide(y, { principal: RATINGS }).decision, 'deny');
  // notNamespaces: a plaintext request has no namespace to exclude, so Istio's DENY matches it.
  assert.equal(decide(y, {}).decision, 'deny');
});

test('DENY with notPrincipals denies everyone else, plaintext too', () => {
  const y = ap(`${SELECT}\naction: DENY\nrules:\n  - from: [{source: {notPrincipals: [cluster.local/ns/foo/sa/sleep]}}]`);
  assert.equal(decide(y, { principal: SLEEP }).decision, 'allow');
  assert.equal(decide(y, { principal: RATINGS }).decision, 'deny');
  assert.equal(decide(y, {}).decision, 'deny');
});

test('principal forms: exact, prefix*, *suffix and * (any authenticated)', () => {
  const forms: [string, string | undefined, boolean][] = [
    ['cluster.local/ns/foo/sa/sleep', SLEEP, true],
    ['cluster.local/ns/foo/*', SLEEP, true],
    ['cluster.local/ns/foo/*', RATINGS, false],
    ['*/sa/ratings', RATINGS, true],
    ['*/sa/ratings', SLEEP, false],
    ['*', SLEEP, true],
    ['*', undefined, false],
  ];
  for (const [p, who, allowed] of forms) {
    const y = ap(`${SELECT}\nrules:\n  - from: [{source: {principals: ["${p}"]}}]`);
    assert.equal(decide(y, who ? { principal: who } : {}).decision, allowed ? 'allow' : 'deny', `${p} for ${who}`);
  }
});

test('path, host and port forms', () => {
  const y = ap(`${SELECT}
rules:
  - to:
      - operation: {paths: ["*.json"], hosts: ["*.EXAMPLE.com"], ports: ["8080"]}
      - operation: {notPaths: ["/private*"], methods: [HEAD]}`);
  const r = { principal: SLEEP };
  assert.equal(decide(y, { ...r, path: '/a.json', host: 'api.example.COM', port: 8080 }).decision, 'allow');
  assert.equal(decide(y, { ...r, path: '/a.json', host: 'api.example.com', port: 9090 }).decision, 'deny');
  assert.equal(decide(y, { ...r, path: '/a.xml', host: 'api.example.com', port: 8080 }).decision, 'deny');
  assert.equal(decide(y, { ...r, method: 'HEAD', path: '/public' }).decision, 'allow');
  assert.equal(decide(y, { ...r, method: 'HEAD', path: '/private/x' }).decision, 'deny');
});

test('conditions: claims, source.principal, source.namespace, destination.port, notValues', () => {
  const y = ap(`${SELECT}
rules:
  - when:
      - {key: "request.auth.claims[groups]", values: [admins]}
      - {key: source.namespace, values: [foo]}
      - {key: source.principal, notValues: ["cluster.local/ns/foo/sa/blocked"]}
      - {key: destination.port, values: ["8000"]}`);
  const base = { principal: SLEEP, port: 8000, claims: { groups: ['dev', 'admins'] } };
  assert.equal(decide(y, base).decision, 'allow');
  assert.equal(decide(y, { ...base, claims: { groups: ['dev'] } }).decision, 'deny');
  assert.equal(decide(y, { ...base, port: 9000 }).decision, 'deny');
  assert.equal(decide(y, { ...base, principal: 'spiffe://cluster.local/ns/foo/sa/blocked' }).decision, 'deny');
  assert.equal(decide(y, { ...base, principal: RATINGS }).decision, 'deny');
});

test('requestPrincipals match "<iss>/<sub>" of the verified token', () => {
  const y = ap(`${SELECT}\nrules:\n  - from: [{source: {requestPrincipals: ["https://issuer.example/*"]}}]`);
  assert.equal(decide(y, { claims: { iss: 'https://issuer.example', sub: 'alice' } }).decision, 'allow');
  assert.equal(decide(y, { claims: { iss: 'https://other.example', sub: 'alice' } }).decision, 'deny');
  assert.equal(decide(y, {}).decision, 'deny');
});

test('dry-run becomes simulate: recorded, not enforced', () => {
  const y = ap(`${SELECT}\naction: DENY\nrules:\n  - to: [{operation: {methods: [GET]}}]`, 'p', 'foo', '"istio.io/dry-run": "true"');
  const d = decide(y, { principal: SLEEP });
  assert.equal(d.decision, 'deny');
  assert.equal(d.enforced, false);
  assert.equal(d.mode, 'simulate');
});

test('AUDIT marks and never decides', () => {
  const y = `${ap(`${SELECT}\nrules: [{}]`, 'allow-all')}---\n${ap(`${SELECT}\naction: AUDIT\nrules:\n  - to: [{operation: {paths: [/admin*]}}]`, 'audit')}`;
  const d = decide(y, { principal: SLEEP, path: '/admin/x' });
  assert.equal(d.decision, 'allow');
  assert.equal(d.audit, 'rule-0');
});

test('scope: namespace-wide without a selector, mesh-wide from the root namespace, never across namespaces', () => {
  const nsWide = ap('rules: []', 'deny-all', 'foo');
  assert.equal(decide(nsWide, { principal: SLEEP }, 'sleep').decision, 'deny');
  // ratings (namespace bar) is not in scope of a foo policy: the mesh default applies.
  assert.equal(decide(nsWide, { principal: SLEEP }, 'ratings').perimeter, 'mesh');
  const meshWide = ap('rules: [{}]', 'allow-all', 'istio-system');
  assert.equal(decide(meshWide, { principal: SLEEP }, 'ratings').decision, 'allow');
  // The selector matches labels only inside the policy's namespace.
  const selected = ap(`${SELECT}\nrules: [{}]`);
  assert.equal(decide(selected, { principal: SLEEP }, 'ratings').perimeter, 'mesh');
});

test('v1beta1 reads the same as v1', () => {
  const y = ap(`${SELECT}\nrules: [{}]`).replace('security.istio.io/v1', 'security.istio.io/v1beta1');
  assert.equal(decide(y, { principal: SLEEP }).decision, 'allow');
});

const unsupported: [string, string, RegExp][] = [
  ['CUSTOM action', `${SELECT}\naction: CUSTOM\nprovider: {name: opa}\nrules: [{}]`, /cannot honour action CUSTOM/],
  ['ipBlocks', `${SELECT}\nrules:\n  - from: [{source: {ipBlocks: [10.0.0.0/8]}}]`, /cannot honour ipBlocks/],
  ['remoteIpBlocks', `${SELECT}\nrules:\n  - from: [{source: {remoteIpBlocks: [1.2.3.4]}}]`, /cannot honour remoteIpBlocks/],
  ['{**} before {*}', `${SELECT}\nrules:\n  - to: [{operation: {paths: ["/a/{**}/{*}"]}}]`, /must be the last operator/],
  ['a brace beyond the templates', `${SELECT}\nrules:\n  - to: [{operation: {paths: ["/a/{id}"]}}]`, /beyond the templates/],
  ['unknown when keys', `${SELECT}\nrules:\n  - when: [{key: connection.sni, values: [x]}]`, /cannot honour when connection.sni/],
  ['targetRef', `targetRef: {kind: Gateway, name: gw}\nrules: [{}]`, /cannot honour targetRef/],
  ['DENY without rules', `${SELECT}\naction: DENY`, /meaningless/],
  ['unknown fields', `${SELECT}\nrules:\n  - to: [{operation: {pathz: [/a]}}]`, /unknown field "pathz"/],
];

for (const [name, spec, message] of unsupported) {
  test(`a field we cannot honour is an error that names it: ${name}`, () => {
    const r = load(ap(spec), REG);
    assert.equal(r.ok, false);
    assert.ok(
      r.diagnostics.some((d) => message.test(d.message) && d.path.startsWith('AuthorizationPolicy/foo.p')),
      r.diagnostics.map(formatDiagnostic).join('\n'),
    );
  });
}
