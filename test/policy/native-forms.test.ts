/**
 * The native forms that say what Istio policies say (what `perimeter import istio` writes):
 * `from` lists with peer, notIdentities, namespaces, serviceAccounts, trustDomains and request
 * principals; not-forms of operations; path templates; matcher objects; list conditions;
 * namespace selectors and defaultDeny: false. Each decides as documented, and each misuse is an
 * error with its path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyRequest } from '../../contracts/request.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { formatDiagnostic } from '../../control/policy/diagnostics.js';
import { compiled, load, policyFor, TD } from '../helpers/policy.js';

function perimeter(rules: string, extra = '', selector = '{workloads: [api]}'): string {
  return `apiVersion: perimeter.dev/v1
kind: Perimeter
metadata: {name: api}
spec:
  owner: team
  mode: enforce
  selector: ${selector}
${extra}  rules:
${rules
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
}

function decider(yaml: string) {
  const policy = policyFor(compiled(yaml), 'api');
  return (req: Partial<PolicyRequest>) => evaluate(policy, { method: 'GET', path: '/', ...req } as PolicyRequest).decision;
}

const WEB = `${TD}/ns/shop/sa/web`;
const JOB = `${TD}/ns/batch/sa/job`;

test('peer: any with notIdentities also admits callers without a certificate; without peer it is an error', () => {
  const d = decider(perimeter(`- name: a\n  action: allow\n  from: [{peer: any, notIdentities: ["${JOB}"]}]`));
  assert.equal(d({ principal: WEB }), 'allow');
  assert.equal(d({ principal: JOB }), 'deny');
  assert.equal(d({}), 'allow');
  const r = load(perimeter(`- name: a\n  action: allow\n  from: {notIdentities: ["${JOB}"]}`));
  assert.equal(r.ok, false);
  assert.ok(r.diagnostics.some((x) => /say which peers these fields narrow/.test(x.message)));
});

test('namespaces, serviceAccounts, trustDomains and requestPrincipals narrow a source', () => {
  const d = decider(
    perimeter(`- name: a
  action: allow
  from:
    - {namespaces: [shop], trustDomains: ["td.*"]}
    - {serviceAccounts: [batch/job], requestPrincipals: ["https://iss/*"]}`),
  );
  assert.equal(d({ principal: WEB }), 'allow');
  assert.equal(d({ principal: 'spiffe://other/ns/shop/sa/web' }), 'deny');
  assert.equal(d({ principal: JOB }), 'deny', 'no token');
  assert.equal(d({ principal: JOB, claims: { iss: 'https://iss', sub: 'alice' } }), 'allow');
});

test('not-forms of operations, path templates and matcher objects', () => {
  const d = decider(
    perimeter(`- name: a
  action: allow
  from: {identities: ["*"]}
  to:
    - {methods: [PROPFIND, {prefix: MK}], paths: ["/dav/{**}"]}
    - {notMethods: [DELETE], paths: ["/api/{*}/items", {suffix: .json}], notPaths: [{prefix: /api/secret}], notPorts: [9090]}`),
  );
  assert.equal(d({ principal: WEB, method: 'PROPFIND', path: '/dav/a/b' }), 'allow');
  assert.equal(d({ principal: WEB, method: 'MKCOL', path: '/dav/x' }), 'allow');
  assert.equal(d({ principal: WEB, method: 'PUT', path: '/dav/x' }), 'deny');
  assert.equal(d({ principal: WEB, path: '/api/7/items' }), 'allow');
  assert.equal(d({ principal: WEB, path: '/api/7/8/items' }), 'deny');
  assert.equal(d({ principal: WEB, path: '/x.json' }), 'allow');
  assert.equal(d({ principal: WEB, path: '/api/secret/x.json' }), 'deny');
  assert.equal(d({ principal: WEB, method: 'DELETE', path: '/x.json' }), 'deny');
  assert.equal(d({ principal: WEB, path: '/x.json', port: 9090 }), 'deny');
});

test('list conditions on headers, claims, the identity and the port', () => {
  const d = decider(
    perimeter(`- name: a
  action: deny
  when:
    - {attribute: identity, values: [{serviceAccount: batch/job}]}
    - {claim: groups, notValues: [admins]}
- name: b
  action: allow
  from: {identities: ["*"]}
  when:
    - {attribute: port, values: [8080]}`),
  );
  assert.equal(d({ principal: WEB, port: 8080 }), 'allow');
  assert.equal(d({ principal: WEB, port: 9090 }), 'deny');
  assert.equal(d({ principal: JOB, port: 8080, claims: { groups: ['dev'] } }), 'deny');
  assert.equal(d({ principal: JOB, port: 8080, claims: { groups: ['admins'] } }), 'allow');
});

test('a namespace selector, and defaultDeny: false for a perimeter of deny rules', () => {
  const d = decider(
    perimeter(
      `- name: no-jobs\n  action: deny\n  from: {identities: ["${JOB}"]}`,
      '  defaultDeny: false\n',
      '{namespace: shop, all: true}',
    ),
  );
  assert.equal(d({ principal: WEB }), 'allow');
  assert.equal(d({ principal: JOB }), 'deny');
});

test('misuse is an error with its path', () => {
  for (const [yaml, message] of [
    [
      perimeter(`- name: a\n  action: allow\n  from: {identities: ["*"]}`, '  defaultDeny: false\n'),
      /a perimeter with allow rules denies what they do not allow/,
    ],
    [perimeter(`- name: a\n  action: allow\n  from: [{peer: unauthenticated, identities: ["*"]}]`), /has no identity to match/],
    [perimeter(`- name: a\n  action: allow\n  from: [{identities: [{exact: a, prefix: b}]}]`), /exactly one of/],
    [
      perimeter(`- name: a\n  action: allow\n  from: [{serviceAccounts: [a/b], identities: ["*"]}]`),
      /serviceAccounts name callers by themselves/,
    ],
    [perimeter(`- name: a\n  action: allow\n  from: {identities: ["*"]}\n  to: {paths: ["/a/{**}/{*}"]}`), /last operator/],
    [perimeter(`- name: a\n  action: allow\n  from: {identities: ["*"]}\n  to: {methods: [{template: /a}]}`), /unknown field "template"/],
  ] as const) {
    const r = load(yaml);
    assert.equal(r.ok, false, yaml);
    assert.ok(
      r.diagnostics.some((x) => message.test(x.message) && x.path.startsWith('Perimeter/api: spec.')),
      r.diagnostics.map(formatDiagnostic).join('\n'),
    );
  }
});
