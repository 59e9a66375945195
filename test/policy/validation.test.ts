/**
 * Validation messages a service owner can act on: every error at once, each with
 * file:line:col, the field path and a hint. The full text is pinned by a golden file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDiagnostic } from '../../control/policy/diagnostics.js';
import { loadPaths } from '../../control/policy/load.js';
import { expectGolden } from '../helpers/golden.js';
import { load, perimeter } from '../helpers/policy.js';

test('an invalid policy directory reports every problem with position, path and hint', () => {
  const r = loadPaths(['test/fixtures/invalid']);
  assert.equal(r.ok, false);
  expectGolden('invalid-validate.txt', `${r.diagnostics.map(formatDiagnostic).join('\n')}\n`);
});

const cases: { name: string; yaml: string; message: RegExp; severity?: 'error' | 'warning' }[] = [
  {
    name: 'unknown field with did-you-mean',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  form: {workloads: [web]}'),
    message: /unknown field "form"/,
  },
  {
    name: 'wrong type',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {workloads: web}'),
    message: /expected a list, got a string/,
  },
  { name: 'empty allow rule', yaml: perimeter('enforce', '- name: a\n  action: allow'), message: /allow rule must say who it allows/ },
  {
    name: 'duplicate rule names',
    yaml: perimeter('enforce', '- name: a\n  action: deny\n  to: {methods: [GET]}\n- name: a\n  action: deny\n  to: {methods: [PUT]}'),
    message: /duplicate rule name "a"/,
  },
  {
    name: 'malformed SPIFFE ID',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {identities: ["spiffe://td/a//b"]}'),
    message: /malformed identity/,
  },
  {
    name: 'bad method',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {workloads: [web]}\n  to: {methods: ["GE T"]}'),
    message: /"GE T" is not an HTTP method token/,
  },
  {
    name: 'unsafe path pattern',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {workloads: [web]}\n  to: {paths: ["/a/%2F/b"]}'),
    message: /unsafe path pattern/,
  },
  {
    name: 'a wildcard in the middle of a path',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {workloads: [web]}\n  to: {paths: ["/a/*/b"]}'),
    message: /only as a final/,
  },
  {
    name: 'a host with a port',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {workloads: [web]}\n  to: {hosts: ["a.example:80"]}'),
    message: /ports are not part of a host/,
  },
  {
    name: 'unknown workload in from',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {workloads: [ghost]}'),
    message: /no Workload named "ghost"/,
  },
  {
    name: 'label selector matching nobody',
    yaml: perimeter('enforce', '- name: a\n  action: allow\n  from: {labels: {app: ghost}}'),
    message: /matches no workload/,
    severity: 'warning',
  },
  {
    name: 'an enforce perimeter with no rules',
    yaml: perimeter('enforce', '').replace('rules:', 'rules: []'),
    message: /denies every request/,
    severity: 'warning',
  },
];

for (const c of cases) {
  test(`reports: ${c.name}`, () => {
    const r = load(c.yaml);
    const hit = r.diagnostics.find((d) => c.message.test(d.message));
    assert.ok(hit, `no diagnostic matching ${c.message}; got:\n${r.diagnostics.map(formatDiagnostic).join('\n')}`);
    assert.equal(hit.severity, c.severity ?? 'error');
    assert.equal(hit.file, 'policy.yaml');
    assert.ok(hit.line > 0 && hit.column > 0);
    assert.match(hit.path, /^Perimeter\/api: spec\.rules/);
    if ((c.severity ?? 'error') === 'error') assert.equal(r.ok, false);
  });
}

test('a batch with any error yields ok = false even when other files are fine', () => {
  const r = load(
    `${perimeter('enforce', '- name: a\n  action: allow\n  from: {workloads: [web]}')}---\n${perimeter('enforce', '- name: b\n  action: allow', 'other')}`,
  );
  assert.equal(r.ok, false);
  assert.equal(r.diagnostics.filter((d) => d.severity === 'error').length, 1);
});

test('a valid policy has no diagnostics', () => {
  const r = loadPaths(['examples/shop/policy']);
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.ok, true);
});
