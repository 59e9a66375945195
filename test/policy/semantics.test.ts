/**
 * The semantics truth table (docs/semantics.md), pinned row by row against the reference
 * evaluator. Each row: a policy, a request, and the decision, enforcement and deciding rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyRequest } from '../../contracts/request.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { compiled, perimeter, policyFor, REGISTRY, TD } from '../helpers/policy.js';

const WEB = `${TD}/ns/shop/sa/web`;
const BATCH = `${TD}/ns/batch/sa/job`;
const NOW = Date.parse('2026-06-01T00:00:00Z');

interface Row {
  name: string;
  policy: string;
  registry?: string;
  to?: string;
  request: Partial<PolicyRequest>;
  want: { decision: 'allow' | 'deny'; enforced: boolean; rule: string; perimeter?: string; mode?: string; staged?: string; audit?: string };
}

const allowWeb = `- name: web-reads
  action: allow
  from: {workloads: [web]}
  to: {methods: [GET], paths: [/orders/*]}`;

const rows: Row[] = [
  {
    name: 'enforce: a matching allow allows',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'GET', path: '/orders/1' },
    want: { decision: 'allow', enforced: true, rule: 'web-reads', mode: 'enforce' },
  },
  {
    name: 'enforce: nothing matches, default deny blocks',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'POST', path: '/orders/1' },
    want: { decision: 'deny', enforced: true, rule: 'default', perimeter: 'api' },
  },
  {
    name: 'enforce: deny wins over a matching allow, whatever the order',
    policy: perimeter('enforce', `${allowWeb}\n- name: no-order-7\n  action: deny\n  to: {paths: [/orders/7]}`),
    request: { principal: WEB, method: 'GET', path: '/orders/7' },
    want: { decision: 'deny', enforced: true, rule: 'no-order-7' },
  },
  {
    name: 'simulate: a default deny is recorded, not enforced',
    policy: perimeter('simulate', allowWeb),
    request: { principal: BATCH, method: 'GET', path: '/orders/1' },
    want: { decision: 'deny', enforced: false, rule: 'default', mode: 'simulate' },
  },
  {
    name: 'simulate: an allow is reported as not enforced',
    policy: perimeter('simulate', allowWeb),
    request: { principal: WEB, method: 'GET', path: '/orders/1' },
    want: { decision: 'allow', enforced: false, rule: 'web-reads', mode: 'simulate' },
  },
  {
    name: 'observe: a deny rule match is recorded, not enforced',
    policy: perimeter('observe', `- name: no-deletes\n  action: deny\n  to: {methods: [DELETE]}`),
    request: { principal: WEB, method: 'DELETE', path: '/x' },
    want: { decision: 'deny', enforced: false, rule: 'no-deletes', mode: 'observe' },
  },
  {
    name: 'unprotected workload under the mesh default (enforce) is denied',
    policy: '',
    to: 'lonely',
    request: { principal: WEB, method: 'GET', path: '/' },
    want: { decision: 'deny', enforced: true, rule: 'default', perimeter: 'mesh', mode: 'enforce' },
  },
  {
    name: 'unprotected workload under a mesh default of observe passes, recorded as would-deny',
    policy: '',
    registry: REGISTRY.replace('defaultMode: enforce', 'defaultMode: observe'),
    to: 'lonely',
    request: { principal: WEB, method: 'GET', path: '/' },
    want: { decision: 'deny', enforced: false, rule: 'default', perimeter: 'mesh', mode: 'observe' },
  },
  {
    name: 'unauthenticated does not match "*" (any authenticated peer)',
    policy: perimeter('enforce', `- name: anyone-authenticated\n  action: allow\n  from: {identities: ["*"]}`),
    request: { method: 'GET', path: '/' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: '"*" matches every authenticated peer',
    policy: perimeter('enforce', `- name: anyone-authenticated\n  action: allow\n  from: {identities: ["*"]}`),
    request: { principal: 'spiffe://other.example/x', method: 'GET', path: '/' },
    want: { decision: 'allow', enforced: true, rule: 'anyone-authenticated' },
  },
  {
    name: 'unauthenticated matches a rule that names it',
    policy: perimeter('enforce', `- name: public-health\n  action: allow\n  from: {unauthenticated: true}\n  to: {paths: [/healthz]}`),
    request: { method: 'GET', path: '/healthz' },
    want: { decision: 'allow', enforced: true, rule: 'public-health' },
  },
  {
    name: 'an authenticated peer does not match an unauthenticated-only rule',
    policy: perimeter('enforce', `- name: public-health\n  action: allow\n  from: {unauthenticated: true}\n  to: {paths: [/healthz]}`),
    request: { principal: WEB, method: 'GET', path: '/healthz' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'a deny rule without from matches unauthenticated callers too',
    policy: perimeter(
      'enforce',
      `- name: public\n  action: allow\n  from: {unauthenticated: true}\n- name: no-admin\n  action: deny\n  to: {paths: [/admin/*]}`,
    ),
    request: { method: 'GET', path: '/admin/x' },
    want: { decision: 'deny', enforced: true, rule: 'no-admin' },
  },
  {
    name: 'a staged deny (simulate) beside an enforced allow: would deny, passes',
    policy: perimeter('enforce', `${allowWeb}\n- name: staged-no-1\n  action: deny\n  mode: simulate\n  to: {paths: [/orders/1]}`),
    request: { principal: WEB, method: 'GET', path: '/orders/1' },
    want: { decision: 'deny', enforced: false, rule: 'staged-no-1', mode: 'simulate' },
  },
  {
    name: 'a staged deny with no allow: the enforced default deny blocks',
    policy: perimeter('enforce', `${allowWeb}\n- name: staged-no-posts\n  action: deny\n  mode: simulate\n  to: {methods: [POST]}`),
    request: { principal: WEB, method: 'POST', path: '/orders/1' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'a staged allow does not allow yet: default deny blocks, the staged allow is recorded',
    policy: perimeter('enforce', `${allowWeb}\n- name: staged-batch\n  action: allow\n  mode: simulate\n  from: {workloads: [batch]}`),
    request: { principal: BATCH, method: 'GET', path: '/orders/1' },
    want: { decision: 'deny', enforced: true, rule: 'default', staged: 'staged-batch' },
  },
  {
    name: 'an expired allow no longer matches',
    policy: perimeter('enforce', `${allowWeb}\n  expires: 2026-01-01T00:00:00Z`),
    request: { principal: WEB, method: 'GET', path: '/orders/1' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'an allow before its expiry matches',
    policy: perimeter('enforce', `${allowWeb}\n  expires: 2027-01-01T00:00:00Z`),
    request: { principal: WEB, method: 'GET', path: '/orders/1' },
    want: { decision: 'allow', enforced: true, rule: 'web-reads' },
  },
  {
    name: 'an identity prefix matches below its segment',
    policy: perimeter('enforce', `- name: batch-ns\n  action: allow\n  from: {identities: ["${TD}/ns/batch/*"]}`),
    request: { principal: BATCH, method: 'GET', path: '/' },
    want: { decision: 'allow', enforced: true, rule: 'batch-ns' },
  },
  {
    name: 'an identity prefix does not match a longer segment',
    policy: perimeter('enforce', `- name: batch-ns\n  action: allow\n  from: {identities: ["${TD}/ns/batch/*"]}`),
    request: { principal: `${TD}/ns/batchx/sa/job`, method: 'GET', path: '/' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'a path prefix matches its own segment',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'GET', path: '/orders' },
    want: { decision: 'allow', enforced: true, rule: 'web-reads' },
  },
  {
    name: 'a path prefix does not match a longer segment',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'GET', path: '/ordersx/1' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'paths are normalised before matching (dot segments, slashes, encoding, query)',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'GET', path: '/x/..//%6Frders/./1?q=a/b' },
    want: { decision: 'allow', enforced: true, rule: 'web-reads' },
  },
  {
    name: 'dot segments cannot escape a prefix',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'GET', path: '/orders/../admin' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'a path that cannot be normalised safely is denied',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'GET', path: '/orders/1%2F..%2F..%2Fadmin' },
    want: { decision: 'deny', enforced: true, rule: 'unsafe-request' },
  },
  {
    name: 'hosts are case-insensitive and the port is ignored',
    policy: perimeter('enforce', `- name: by-host\n  action: allow\n  from: {workloads: [web]}\n  to: {hosts: ["*.shop.example"]}`),
    request: { principal: WEB, method: 'GET', path: '/', host: 'API.Shop.Example:8443' },
    want: { decision: 'allow', enforced: true, rule: 'by-host' },
  },
  {
    name: 'a host suffix does not match the bare domain',
    policy: perimeter('enforce', `- name: by-host\n  action: allow\n  from: {workloads: [web]}\n  to: {hosts: ["*.shop.example"]}`),
    request: { principal: WEB, method: 'GET', path: '/', host: 'shop.example' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'ports must match when given',
    policy: perimeter('enforce', `- name: admin-port\n  action: allow\n  from: {workloads: [web]}\n  to: {ports: [9090]}`),
    request: { principal: WEB, method: 'GET', path: '/', port: 8080 },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'header equals',
    policy: perimeter(
      'enforce',
      `- name: posture\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: X-Device-Posture, equals: compliant}]`,
    ),
    request: { principal: WEB, method: 'GET', path: '/', headers: { 'x-device-posture': 'compliant' } },
    want: { decision: 'allow', enforced: true, rule: 'posture' },
  },
  {
    name: 'a missing header fails its condition',
    policy: perimeter(
      'enforce',
      `- name: posture\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: x-device-posture, equals: compliant}]`,
    ),
    request: { principal: WEB, method: 'GET', path: '/' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'an empty header value is not "present"',
    policy: perimeter('enforce', `- name: traced\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: x-trace, present: true}]`),
    request: { principal: WEB, method: 'GET', path: '/', headers: { 'x-trace': '' } },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'a list claim contains the value',
    policy: perimeter('enforce', `- name: mfa\n  action: allow\n  from: {workloads: [web]}\n  when: [{claim: amr, contains: mfa}]`),
    request: { principal: WEB, method: 'GET', path: '/', claims: { amr: ['pwd', 'mfa'] } },
    want: { decision: 'allow', enforced: true, rule: 'mfa' },
  },
  {
    name: 'no token: a claim condition fails',
    policy: perimeter('enforce', `- name: mfa\n  action: allow\n  from: {workloads: [web]}\n  when: [{claim: amr, contains: mfa}]`),
    request: { principal: WEB, method: 'GET', path: '/' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
  {
    name: 'a label selector in from allows every workload with those labels',
    policy: perimeter('enforce', `- name: frontends\n  action: allow\n  from: {labels: {tier: frontend}}`),
    request: { principal: `${TD}/ns/shop/sa/web2`, method: 'GET', path: '/' },
    want: { decision: 'allow', enforced: true, rule: 'frontends' },
  },
  {
    name: 'two perimeters on one workload: a deny in one beats an allow in the other',
    policy:
      perimeter('enforce', allowWeb, 'a-allow') +
      '---\n' +
      perimeter('enforce', `- name: freeze\n  action: deny\n  to: {methods: [GET]}`, 'b-freeze'),
    request: { principal: WEB, method: 'GET', path: '/orders/1' },
    want: { decision: 'deny', enforced: true, rule: 'freeze', perimeter: 'b-freeze' },
  },
  {
    name: 'two perimeters on one workload: the strongest mode governs the default deny',
    policy:
      perimeter('simulate', allowWeb, 'a-sim') +
      '---\n' +
      perimeter('enforce', `- name: batch\n  action: allow\n  from: {workloads: [batch]}`, 'b-enf'),
    request: { principal: WEB, method: 'POST', path: '/orders/1' },
    want: { decision: 'deny', enforced: true, rule: 'default', perimeter: 'b-enf' },
  },
  {
    name: 'an audit rule marks the request and changes nothing',
    policy: perimeter('enforce', `${allowWeb}\n- name: watch-orders\n  action: audit\n  to: {paths: [/orders/*]}`),
    request: { principal: WEB, method: 'GET', path: '/orders/1' },
    want: { decision: 'allow', enforced: true, rule: 'web-reads', audit: 'watch-orders' },
  },
  {
    name: 'a method outside the known set matches no method list',
    policy: perimeter('enforce', allowWeb),
    request: { principal: WEB, method: 'get', path: '/orders/1' },
    want: { decision: 'deny', enforced: true, rule: 'default' },
  },
];

for (const row of rows) {
  test(row.name, () => {
    const policy = policyFor(compiled(row.policy, row.registry), row.to ?? 'api');
    const d = evaluate(policy, { method: 'GET', path: '/', nowMs: NOW, ...row.request } as PolicyRequest);
    assert.equal(d.decision, row.want.decision, 'decision');
    assert.equal(d.enforced, row.want.enforced, 'enforced');
    assert.equal(d.rule, row.want.rule, 'rule');
    if (row.want.perimeter) assert.equal(d.perimeter, row.want.perimeter, 'perimeter');
    if (row.want.mode) assert.equal(d.mode, row.want.mode, 'mode');
    assert.equal(d.staged?.rule, row.want.staged, 'staged');
    assert.equal(d.audit, row.want.audit, 'audit');
    assert.equal(d.version, policy.version);
  });
}
