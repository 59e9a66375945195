/**
 * The Istio fields a migrating mesh brings, in fixtures of our own after the shapes of istiod's
 * builder test data (pilot/pkg/security/authz/builder/testdata/http: trust-domains,
 * simple-policy-td-aliases, simple-policy-principal-with-wildcard, td-aliases-source-principal,
 * allow-path): serviceAccounts, trustDomains, trust-domain aliases, path templates and any method
 * token, each decided as istiod's RBAC filters decide it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyRequest } from '../../contracts/request.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { formatDiagnostic } from '../../control/policy/diagnostics.js';
import { StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { compiled, load, policyFor } from '../helpers/policy.js';

function registry(trustDomain: string, aliases: string[] = []): string {
  return `
apiVersion: perimeter.dev/v1
kind: Mesh
metadata: {name: mesh}
spec: {trustDomain: ${trustDomain}${aliases.length ? `, trustDomainAliases: [${aliases.join(', ')}]` : ''}}
---
apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: httpbin}
spec: {identity: spiffe://${trustDomain}/ns/foo/sa/httpbin, labels: {app: httpbin, version: v1}}
`;
}

function ap(spec: string, action = 'ALLOW'): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin, version: v1}}
  action: ${action}
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
}

type Req = Partial<PolicyRequest>;

function decider(yaml: string, reg = registry('cluster.local')) {
  const policy = policyFor(compiled(yaml, reg), 'httpbin');
  return (req: Req) => evaluate(policy, { method: 'GET', path: '/', ...req } as PolicyRequest).decision;
}

const id = (td: string, ns: string, sa: string) => `spiffe://${td}/ns/${ns}/sa/${sa}`;

test('serviceAccounts: <ns>/<sa> of any trust domain, a bare name in the policy namespace, nothing beyond the name', () => {
  const allow = decider(ap('rules:\n  - from: [{source: {serviceAccounts: [bar/sleep, ratings]}}]'));
  assert.equal(allow({ principal: id('cluster.local', 'bar', 'sleep') }), 'allow');
  assert.equal(allow({ principal: id('other.td', 'bar', 'sleep') }), 'allow');
  assert.equal(allow({ principal: id('cluster.local', 'foo', 'ratings') }), 'allow');
  assert.equal(allow({ principal: 'spiffe://cluster.local/ns/bar/cluster/c1/sa/sleep/v2' }), 'allow');
  assert.equal(allow({ principal: id('cluster.local', 'bar', 'sleepy') }), 'deny');
  assert.equal(allow({ principal: id('cluster.local', 'baz', 'sleep') }), 'deny');
  assert.equal(allow({ principal: id('cluster.local', 'bar', 'ratings') }), 'deny');
  assert.equal(allow({}), 'deny');
  // notServiceAccounts in a DENY: everyone else, plaintext too.
  const deny = decider(ap('rules:\n  - from: [{source: {notServiceAccounts: [bar/sleep]}}]', 'DENY'));
  assert.equal(deny({ principal: id('cluster.local', 'bar', 'sleep') }), 'allow');
  assert.equal(deny({ principal: id('cluster.local', 'bar', 'other') }), 'deny');
  assert.equal(deny({}), 'deny');
});

test('serviceAccounts are validated as Istio validates them', () => {
  for (const [source, message] of [
    ['{serviceAccounts: [bar/sleep], principals: ["x/ns/y/sa/z"]}', /cannot set serviceAccounts with namespaces or principals/],
    ['{serviceAccounts: ["bar/*"]}', /is not a service account/],
    ['{serviceAccounts: ["a/b/c"]}', /is not a service account/],
    [`{serviceAccounts: [${Array.from({ length: 17 }, (_, i) => `ns/sa${i}`).join(', ')}]}`, /more than 16/],
  ] as const) {
    const r = load(ap(`rules:\n  - from: [{source: ${source}}]`), registry('cluster.local'));
    assert.equal(r.ok, false, source);
    assert.ok(
      r.diagnostics.some((d) => message.test(d.message)),
      r.diagnostics.map(formatDiagnostic).join('\n'),
    );
  }
});

test('trustDomains and notTrustDomains (the shape of trust-domains-in.yaml)', () => {
  const d = decider(
    ap(`rules:
  - from:
      - source: {trustDomains: [cluster.local, another.local]}
      - source: {notTrustDomains: ["bad*", untrusted]}`),
  );
  assert.equal(d({ principal: id('cluster.local', 'a', 'b') }), 'allow');
  assert.equal(d({ principal: id('another.local', 'a', 'b') }), 'allow');
  assert.equal(d({ principal: id('elsewhere', 'a', 'b') }), 'allow', 'the second source admits every trust domain but two');
  assert.equal(d({ principal: id('bad.example', 'a', 'b') }), 'deny');
  assert.equal(d({ principal: id('untrusted', 'a', 'b') }), 'deny');
  // A source with only negative fields matches plaintext requests too, as in Istio.
  assert.equal(d({}), 'allow');
  const suffix = decider(ap('rules:\n  - from: [{source: {trustDomains: ["*.local"]}}]'));
  assert.equal(suffix({ principal: id('prod.local', 'a', 'b') }), 'allow');
  assert.equal(suffix({ principal: id('prod.example', 'a', 'b') }), 'deny');
  assert.equal(suffix({ principal: 'spiffe://prod.local' }), 'deny', 'an ID without a path has no trust domain to match');
  assert.equal(suffix({}), 'deny');
});

test('trust-domain aliases expand principals as istiod does (simple-policy-td-aliases)', () => {
  const y = ap('rules:\n  - from: [{source: {principals: ["cluster.local/ns/bar/sa/sleep"]}}]');
  const aliased = decider(y, registry('td1', ['cluster.local']));
  assert.equal(aliased({ principal: id('td1', 'bar', 'sleep') }), 'allow');
  assert.equal(aliased({ principal: id('cluster.local', 'bar', 'sleep') }), 'allow');
  assert.equal(aliased({ principal: id('other', 'bar', 'sleep') }), 'deny');
  // cluster.local in a policy stands for the mesh's own trust domain, even when not an alias.
  const renamed = decider(y, registry('td1'));
  assert.equal(renamed({ principal: id('td1', 'bar', 'sleep') }), 'allow');
  assert.equal(renamed({ principal: id('cluster.local', 'bar', 'sleep') }), 'deny');
  // A principal of some other trust domain is left as written.
  const other = decider(ap('rules:\n  - from: [{source: {principals: ["some-td/ns/bar/sa/sleep"]}}]'), registry('td1', ['old-td']));
  assert.equal(other({ principal: id('some-td', 'bar', 'sleep') }), 'allow');
  assert.equal(other({ principal: id('td1', 'bar', 'sleep') }), 'deny');
});

test('aliases and wildcard trust domains (simple-policy-principal-with-wildcard)', () => {
  const d = decider(
    ap('rules:\n  - from: [{source: {principals: ["*/ns/foo/sa/any-td", "*bar/ns/foo/sa/bar-td"]}}]'),
    registry('td1', ['foobar']),
  );
  assert.equal(d({ principal: id('whatever', 'foo', 'any-td') }), 'allow');
  // "*bar" matches the alias foobar, so istiod adds the same principal under td1 and keeps the pattern.
  assert.equal(d({ principal: id('td1', 'foo', 'bar-td') }), 'allow');
  assert.equal(d({ principal: id('crowbar', 'foo', 'bar-td') }), 'allow');
  assert.equal(d({ principal: id('td2', 'foo', 'bar-td') }), 'deny');
});

test('aliases expand source.principal conditions and trustDomains (td-aliases-source-principal)', () => {
  const reg = registry('new-td', ['old-td', 'some-trustdomain']);
  const deny = decider(
    `${ap('rules: [{}]')}---\n${ap('rules:\n  - when: [{key: source.principal, values: ["*-td/ns/foo/sa/prefix-td"]}]', 'DENY').replace('name: httpbin', 'name: deny')}`,
    reg,
  );
  assert.equal(deny({ principal: id('old-td', 'foo', 'prefix-td') }), 'deny');
  assert.equal(deny({ principal: id('some-trustdomain', 'foo', 'prefix-td') }), 'deny');
  assert.equal(deny({ principal: id('other', 'foo', 'prefix-td') }), 'allow');
  const tds = decider(ap('rules:\n  - from: [{source: {trustDomains: [new-td]}}]'), reg);
  assert.equal(tds({ principal: id('old-td', 'a', 'b') }), 'allow');
  assert.equal(tds({ principal: id('some-trustdomain', 'a', 'b') }), 'allow');
  assert.equal(tds({ principal: id('third', 'a', 'b') }), 'deny');
});

test('the identity index holds the expanded forms: every alias is an exact identity, never a pattern to scan', () => {
  const policy = policyFor(
    compiled(
      ap('rules:\n  - from: [{source: {principals: ["cluster.local/ns/bar/sa/sleep"]}}]'),
      registry('td1', ['cluster.local', 'td0']),
    ),
    'httpbin',
  );
  const principals = policy.rules.flatMap((r) => r.sources.flatMap((s) => s.principals));
  assert.deepEqual(
    principals.map((p) => [p.kind, p.value]),
    ['td1', 'cluster.local', 'td0'].map((td) => [StringMatch_Kind.KIND_EXACT, id(td, 'bar', 'sleep')]),
  );
});

test('native identities name their callers under every alias too', () => {
  const reg = registry('td1', ['td0']);
  const native = `apiVersion: perimeter.dev/v1
kind: Workload
metadata: {name: sleep}
spec: {identity: spiffe://td1/ns/bar/sa/sleep}
---
apiVersion: perimeter.dev/v1
kind: Perimeter
metadata: {name: httpbin}
spec:
  owner: team
  mode: enforce
  selector: {workloads: [httpbin]}
  rules:
    - {name: sleep, action: allow, from: {workloads: [sleep]}}
    - {name: batch, action: allow, from: {identities: ["spiffe://td1/ns/batch/*"]}}`;
  const d = decider(native, reg);
  assert.equal(d({ principal: id('td0', 'bar', 'sleep') }), 'allow');
  assert.equal(d({ principal: id('td0', 'batch', 'job') }), 'allow');
  assert.equal(d({ principal: id('td2', 'bar', 'sleep') }), 'deny');
});

test('path templates as Envoy’s uri_template (allow-path)', () => {
  const d = decider(
    ap(`rules:
  - to:
      - operation: {paths: ["/path/template/{*}", "/{**}/path/template"], notPaths: ["/path/template/secret"]}`),
  );
  const r = (path: string) => d({ principal: id('cluster.local', 'a', 'b'), path });
  assert.equal(r('/path/template/x'), 'allow');
  assert.equal(r('/path/template/x/y'), 'deny', '{*} is one segment');
  assert.equal(r('/path/template/'), 'deny', '{*} is a non-empty segment');
  assert.equal(r('/path/template/x=y'), 'deny', 'Envoy’s segment class leaves out "=" and "*"');
  assert.equal(r('/a/b/path/template'), 'allow');
  assert.equal(r('/path/template'), 'deny', '"/{**}/" needs its slashes');
  assert.equal(r('/path/template/secret'), 'deny');
});

test('any method token, exactly as sent, with Istio’s * forms', () => {
  const d = decider(ap('rules:\n  - to: [{operation: {methods: [PROPFIND, "PROP*", PURGE]}}, {operation: {notMethods: [GET, "*CH"]}}]'));
  const m = (method: string) => d({ principal: id('cluster.local', 'a', 'b'), method });
  assert.equal(m('PROPFIND'), 'allow');
  assert.equal(m('PROPPATCH'), 'allow');
  assert.equal(m('PURGE'), 'allow');
  assert.equal(m('POST'), 'allow', 'the second operation admits what is neither GET nor *CH');
  assert.equal(m('GET'), 'deny');
  assert.equal(m('PATCH'), 'deny');
  assert.equal(m('MOVE'), 'allow');
  assert.equal(m('SEARCH'), 'deny', 'SEARCH ends in CH');
  const only = decider(ap('rules:\n  - to: [{operation: {methods: [MKCOL]}}]'));
  assert.equal(only({ principal: id('cluster.local', 'a', 'b'), method: 'MKCOL' }), 'allow');
  assert.equal(only({ principal: id('cluster.local', 'a', 'b'), method: 'mkcol' }), 'deny');
  assert.equal(only({ principal: id('cluster.local', 'a', 'b'), method: 'GET' }), 'deny');
  const lower = load(ap('rules:\n  - to: [{operation: {methods: [get]}}]'), registry('cluster.local'));
  assert.ok(lower.diagnostics.some((x) => x.severity === 'warning' && /case-sensitive/.test(x.message)));
});

test('when: source.serviceAccount, source.trustDomain, request.auth.audiences and presenter', () => {
  const d = decider(
    ap(`rules:
  - when:
      - {key: source.serviceAccount, values: [bar/sleep]}
      - {key: source.trustDomain, notValues: ["old*"]}
      - {key: request.auth.audiences, values: [shop]}
      - {key: request.auth.presenter, values: ["web*"]}`),
  );
  const claims = { aud: ['shop', 'x'], azp: 'web-app' };
  assert.equal(d({ principal: id('cluster.local', 'bar', 'sleep'), claims }), 'allow');
  assert.equal(d({ principal: id('old.td', 'bar', 'sleep'), claims }), 'deny');
  assert.equal(d({ principal: id('cluster.local', 'bar', 'sleep'), claims: { aud: 'other', azp: 'web-app' } }), 'deny');
  assert.equal(d({ principal: id('cluster.local', 'bar', 'sleep'), claims: { aud: 'shop', azp: 'cli' } }), 'deny');
});

test('--skip-unsupported drops ALLOW sources and rules that use addresses, and says so', () => {
  const y = ap(`rules:
  - from:
      - source: {principals: ["cluster.local/ns/bar/sa/sleep"]}
      - source: {ipBlocks: [10.0.0.0/8], principals: ["cluster.local/ns/bar/sa/batch"]}
  - from: [{source: {remoteIpBlocks: [1.2.3.4]}}]
  - when: [{key: source.ip, values: [10.0.0.1]}]
  - to: [{operation: {paths: [/health]}}]`);
  assert.equal(load(y, registry('cluster.local')).ok, false, 'refused unless told to skip');
  const r = load(y, registry('cluster.local'), { skipUnsupported: true });
  assert.ok(r.ok, r.diagnostics.map(formatDiagnostic).join('\n'));
  const warnings = r.diagnostics.filter((x) => x.severity === 'warning').map((x) => `${x.path}: ${x.message}`);
  assert.ok(
    warnings.some((w) => /rules\[0\]\.from\[1\]: dropped this source \(ipBlocks\)/.test(w)),
    warnings.join('\n'),
  );
  assert.ok(
    warnings.some((w) => /rules\[1\]: dropped rule 1 \(remoteIpBlocks\)/.test(w)),
    warnings.join('\n'),
  );
  assert.ok(
    warnings.some((w) => /rules\[2\]: dropped rule 2 \(when source\.ip\)/.test(w)),
    warnings.join('\n'),
  );
  const policy = policyFor(compiled(y, registry('cluster.local'), { skipUnsupported: true }), 'httpbin');
  const decide = (req: Req) => evaluate(policy, { method: 'GET', path: '/', ...req } as PolicyRequest).decision;
  assert.equal(decide({ principal: id('cluster.local', 'bar', 'sleep') }), 'allow');
  assert.equal(decide({ principal: id('cluster.local', 'bar', 'batch') }), 'deny', 'the dropped source admits nobody');
  assert.equal(decide({ principal: id('cluster.local', 'x', 'y') }), 'deny', 'the dropped rules admit nobody');
  assert.equal(decide({ principal: id('cluster.local', 'x', 'y'), path: '/health' }), 'allow');
});

test('--skip-unsupported still refuses a DENY that uses addresses: dropping it would deny less', () => {
  const y = ap('rules:\n  - from: [{source: {notIpBlocks: [10.0.0.0/8]}}]', 'DENY');
  const r = load(y, registry('cluster.local'), { skipUnsupported: true });
  assert.equal(r.ok, false);
  assert.ok(r.diagnostics.some((x) => /cannot drop notIpBlocks from a DENY rule/.test(x.message)));
});

test('namespace patterns (allow-full-rule): each "*" any characters, as istiod’s regex', () => {
  const d = decider(ap('rules:\n  - from: [{source: {namespaces: ["ns-prefix-*", "*-ns-suffix"]}}]'));
  assert.equal(d({ principal: id('cluster.local', 'ns-prefix-a', 'x') }), 'allow');
  assert.equal(d({ principal: id('cluster.local', 'a-ns-suffix', 'x') }), 'allow');
  assert.equal(d({ principal: id('cluster.local', 'ns-prefix', 'x') }), 'deny');
  assert.equal(d({ principal: id('cluster.local', 'other', 'x') }), 'deny');
  assert.equal(d({}), 'deny');
});

test('a trailing --- (an empty document) is skipped, as kubectl skips it', () => {
  const r = load(`${ap('rules: [{}]')}---\n`, registry('cluster.local'));
  assert.ok(r.ok, r.diagnostics.map(formatDiagnostic).join('\n'));
});

test('hosts compare the whole :authority, as istiod’s header matcher does: a port the client sent is part of it', () => {
  const d = decider(ap('rules:\n  - to: [{operation: {hosts: [Example.com]}}]'));
  const h = (host: string) => d({ principal: id('cluster.local', 'a', 'b'), host });
  assert.equal(h('example.com'), 'allow');
  assert.equal(h('EXAMPLE.COM'), 'allow', 'case-insensitive');
  assert.equal(h('example.com:8080'), 'deny', 'Istio’s exact match does not skip the port');
  assert.equal(h('example.com.'), 'deny');
  const both = decider(ap('rules:\n  - to: [{operation: {hosts: [example.com, "example.com:*"]}}]'));
  assert.equal(both({ principal: id('cluster.local', 'a', 'b'), host: 'example.com:8080' }), 'allow');
  // A DENY on a host denies it with any port only when it says so, as in Istio.
  const deny = decider(
    `${ap('rules: [{}]')}---\n${ap('rules:\n  - to: [{operation: {hosts: ["admin.example.com*"]}}]', 'DENY').replace('name: httpbin', 'name: deny')}`,
  );
  assert.equal(deny({ principal: id('cluster.local', 'a', 'b'), host: 'admin.example.com:443' }), 'deny');
  assert.equal(deny({ principal: id('cluster.local', 'a', 'b'), host: 'www.example.com' }), 'allow');
});

test('nested claims (allow-full-rule’s request.auth.claims[nested1][nested2]) read objects inside the token', () => {
  const d = decider(ap('rules:\n  - when: [{key: "request.auth.claims[realm_access][roles]", values: [admin]}]'));
  const c = (claims: Record<string, unknown>) => d({ principal: id('cluster.local', 'a', 'b'), claims });
  assert.equal(c({ realm_access: { roles: ['user', 'admin'] } }), 'allow');
  assert.equal(c({ realm_access: { roles: 'admin' } }), 'allow');
  assert.equal(c({ realm_access: { roles: ['user'] } }), 'deny');
  assert.equal(c({ realm_access: 'admin' }), 'deny', 'no object on the way');
  assert.equal(c({ roles: ['admin'] }), 'deny');
  const bad = load(ap('rules:\n  - when: [{key: "request.auth.claims[a][]", values: [x]}]'), registry('cluster.local'));
  assert.ok(bad.diagnostics.some((x) => /cannot honour claim/.test(x.message)));
});
