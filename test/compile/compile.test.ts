/** The compiler: deterministic bytes, content-digest versions, golden output, and the identity index. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compile } from '../../control/compile/compile.js';
import { policySetToProto } from '../../control/compile/proto-adapter.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { loadPaths, loadSources, yamlFilesUnder } from '../../control/policy/load.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { PolicySet, Source_Peer, StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { expectGolden } from '../helpers/golden.js';
import { compiled, perimeter, policyFor, TD } from '../helpers/policy.js';

const SHOP = 'examples/shop/policy';

test('the shop compiles to the golden bytes and summary', () => {
  const r = loadPaths([SHOP]);
  assert.ok(r.ok);
  const c = compile(r.policy);
  for (const w of c.workloads) expectGolden(`shop/${w.workload.name}.pb`, w.bytes);
  const summary = c.workloads.map((w) => ({ workload: w.workload.name, version: w.version, policy: CompiledPolicy.toJSON(w.policy) }));
  expectGolden('shop/compiled.json', `${JSON.stringify({ version: c.version, workloads: summary }, null, 2)}\n`);
});

test('compiling is deterministic whatever the file and document order', () => {
  const files = yamlFilesUnder(SHOP).map((f) => ({ name: f, text: readFileSync(f, 'utf8') }));
  const forward = compile(loadSources(files).policy);
  const reversedDocs = files.reverse().map((f) => ({ name: f.name, text: f.text.split(/^---$/m).reverse().join('\n---\n') }));
  const backward = compile(loadSources(reversedDocs).policy);
  assert.equal(backward.version, forward.version);
  for (const [i, w] of forward.workloads.entries()) assert.deepEqual(backward.workloads[i]?.bytes, w.bytes, w.workload.name);
});

test('the version is the digest of the content, and only changed workloads get a new one', () => {
  const a = compiled(perimeter('enforce', '- name: r\n  action: allow\n  from: {workloads: [web]}'));
  const b = compiled(perimeter('enforce', '- name: r\n  action: allow\n  from: {workloads: [web, batch]}'));
  const v = (c: typeof a, n: string) => c.workloads.find((w) => w.workload.name === n)?.version;
  assert.notEqual(v(a, 'api'), v(b, 'api'));
  assert.equal(v(a, 'web'), v(b, 'web'));
  assert.notEqual(a.version, b.version);
  assert.match(v(a, 'api') ?? '', /^[0-9a-f]{16}$/);
});

test('the bytes decode back to the same message', () => {
  const c = compile(loadPaths([SHOP]).policy);
  for (const w of c.workloads) assert.deepEqual(CompiledPolicy.decode(w.bytes), w.policy);
});

test('the policy set round-trips through our protobuf API', () => {
  const p = policySetToProto(loadPaths([SHOP]).policy);
  const bytes = PolicySet.encode(p).finish();
  assert.deepEqual(PolicySet.decode(bytes), p);
  assert.equal(p.perimeters.find((x) => x.name === 'payments')?.crownJewel, true);
});

test('label selectors and workload names resolve to exact identities through the registry', () => {
  const p = policyFor(
    compiled(perimeter('enforce', '- name: r\n  action: allow\n  from: {labels: {tier: frontend}, workloads: [batch]}')),
    'api',
  );
  const principals = p.rules[0]?.sources[0]?.principals.map((m) => m.value);
  assert.deepEqual(principals, [`${TD}/ns/batch/sa/job`, `${TD}/ns/shop/sa/web`, `${TD}/ns/shop/sa/web2`]);
});

test('a selector that resolves to nobody matches nobody (it does not widen to any peer)', () => {
  const p = policyFor(compiled(perimeter('enforce', '- name: r\n  action: allow\n  from: {labels: {app: ghost}}')), 'api');
  assert.equal(p.rules[0]?.sources.length, 0);
  assert.equal(evaluate(p, { principal: `${TD}/ns/shop/sa/web`, method: 'GET', path: '/' }).decision, 'deny');
});

test('sources say which peers can reach them: exact, prefix, any authenticated, unauthenticated, anyone', () => {
  const p = policyFor(
    compiled(
      perimeter(
        'enforce',
        [
          `- name: exact\n  action: allow\n  from: {identities: ["${TD}/ns/shop/sa/web"]}`,
          `- name: prefix\n  action: allow\n  from: {identities: ["${TD}/ns/batch/*"]}`,
          `- name: any\n  action: allow\n  from: {identities: ["*"]}\n  to: {paths: [/public/*]}`,
          `- name: plain\n  action: allow\n  from: {unauthenticated: true}\n  to: {paths: [/healthz]}`,
          `- name: everyone\n  action: deny\n  to: {paths: [/admin/*]}`,
        ].join('\n'),
      ),
    ),
    'api',
  );
  const shape = p.rules.map((r) => r.sources.map((s) => [s.peer, s.principals.map((m) => [m.kind, m.value])]));
  assert.deepEqual(shape, [
    [[Source_Peer.PEER_AUTHENTICATED, [[StringMatch_Kind.KIND_EXACT, `${TD}/ns/shop/sa/web`]]]],
    [[Source_Peer.PEER_AUTHENTICATED, [[StringMatch_Kind.KIND_SEGMENT_PREFIX, `${TD}/ns/batch`]]]],
    [[Source_Peer.PEER_AUTHENTICATED, [[StringMatch_Kind.KIND_PRESENT, '']]]],
    [[Source_Peer.PEER_UNAUTHENTICATED, []]],
    [[Source_Peer.PEER_UNSPECIFIED, []]],
  ]);
});

test('only the headers and claims the policy reads are listed, sorted, and conditions index them', () => {
  const p = policyFor(
    compiled(
      perimeter(
        'enforce',
        `- name: r\n  action: allow\n  from: {workloads: [web]}\n  when: [{header: x-z, present: true}, {claim: amr, contains: mfa}, {header: x-a, equals: "1"}]`,
      ),
    ),
    'api',
  );
  assert.deepEqual(p.headers, ['x-a', 'x-z']);
  assert.deepEqual(p.claims, ['amr']);
  assert.deepEqual(
    p.rules[0]?.conditions.map((c) => c.key),
    [1, 0, 0],
  );
});
