/**
 * `perimeter export rbac`: Envoy RBAC filters that parse as Envoy's own types and decide as the
 * reference evaluator does, checked by an RBAC engine that is not ours (@grpc/grpc-js-xds).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { EnvoyRbacEngine } from '../../bench/engines/envoy-rbac.js';
import { JWT_METADATA } from '../../contracts/jwt.js';
import { reasonOf } from '../../contracts/problem.js';
import { normalizePath } from '../../contracts/request-path.js';
import { compile } from '../../control/compile/compile.js';
import { evaluate } from '../../control/eval/evaluate.js';
import { emptyOperation, emptySource, type Rule } from '../../control/policy/model.js';
import { exportRbac, RBAC_FILTER_NAMES } from '../../control/render/rbac.js';
import { parseEnvoyConfig } from '../../control/render/registry.js';
import { HttpFilterSchema } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { StringMatch_Kind } from '../../proto/gen/perimeter/v1/policy.js';
import { NOW, randomPolicy, rng } from '../differential/generate.js';
import { randomRequest } from '../differential/generate-request.js';
import { compiled, perimeter, policyFor, TD } from '../helpers/policy.js';

const LOC = { file: 'test', line: 1, column: 1 };

/** Workload `api` protected by one enforce perimeter with these rules (the model, not YAML). */
function compiledSet(rules: Rule[]) {
  const w = compile({
    mesh: { trustDomain: 'td.example', defaultMode: 'enforce' },
    workloads: [{ name: 'api', identity: `${TD}/ns/shop/sa/api`, namespace: 'shop', labels: {}, location: LOC }],
    perimeters: [
      {
        name: 'api',
        owner: 't',
        mode: 'enforce',
        selector: { workloads: ['api'], identities: [], labels: [] },
        rules,
        origin: 'perimeter',
        crownJewel: false,
        location: LOC,
      },
    ],
  }).workloads[0];
  assert.ok(w);
  return w;
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/perimeter.js', 'export', 'rbac', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('every shop workload exports filters that parse strictly as Envoy HttpFilters', () => {
  const r = cli('--policy', 'examples/shop/policy', '--json');
  assert.equal(r.code, 0, r.err);
  const all = JSON.parse(r.out) as Record<string, { http_filters: Record<string, unknown>[] }>;
  assert.ok(Object.keys(all).includes('app') && Object.keys(all).includes('db'));
  for (const [name, w] of Object.entries(all))
    for (const f of w.http_filters) {
      const parsed = parseEnvoyConfig(HttpFilterSchema, JSON.stringify(f));
      assert.ok(parsed.ok, `${name}: ${parsed.ok ? '' : reasonOf(parsed)}`);
    }
  // db is in simulate mode: nothing enforced, the written policy in shadow rules only.
  const db = all.db?.http_filters ?? [];
  assert.deepEqual(
    db.map((f) => f.name),
    [RBAC_FILTER_NAMES.deny, RBAC_FILTER_NAMES.allow],
  );
  for (const f of db) {
    const cfg = f.typed_config as Record<string, unknown>;
    assert.equal(cfg.rules, undefined);
    assert.ok(cfg.shadow_rules);
  }
  assert.match(r.err, /nightly-reports.*expires at 2027-06-30/);
});

test('one workload: a YAML http_filters list, also written to a file', () => {
  const r = cli('--policy', 'examples/shop/policy', '--workload', 'app');
  assert.equal(r.code, 0, r.err);
  const filters = parse(r.out) as { name: string }[];
  // The deny filter refuses path parameters (the mesh's pathParameters: reject).
  assert.deepEqual(
    filters.map((f) => f.name),
    [RBAC_FILTER_NAMES.deny, RBAC_FILTER_NAMES.allow],
  );
  assert.doesNotMatch(r.out, /[&*]a\d/, 'no YAML anchors: every filter stands alone');
  const out = join(mkdtempSync(join(tmpdir(), 'perimeter-rbac-')), 'app.yaml');
  assert.equal(cli('--policy', 'examples/shop/policy', '--workload', 'app', '--out', out).code, 0);
  assert.deepEqual(parse(readFileSync(out, 'utf8')), filters);
  const missing = cli('--policy', 'examples/shop/policy', '--workload', 'nope');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no workload nope.*known: app/);
});

test('an enforced allow that expires cannot be exported: exit 1, nothing written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-rbac-'));
  const text = readFileSync('examples/shop/policy/app.yaml', 'utf8');
  writeFileSync(join(dir, 'app.yaml'), text.replace(/(\n\s+- name: [^\n]+\n)/, '$1      expires: 2099-01-01T00:00:00Z\n'));
  for (const f of ['workloads.yaml', 'mesh.yaml']) writeFileSync(join(dir, f), readFileSync(`examples/shop/policy/${f}`));
  const r = cli('--policy', dir, '--workload', 'app');
  assert.equal(r.code, 1, r.err);
  assert.equal(r.out, '');
  assert.match(r.err, /Perimeter\/app: rule "[^"]+": expires at 2099-01-01.*no clock/);
  assert.match(r.err, /nothing was exported/);
});

test('claims and request principals read jwt_authn metadata; ports are destination ports', () => {
  const src = emptySource('any');
  src.requestPrincipals = [{ kind: 'exact', value: 'https://issuer.example/alice' }];
  const op = emptyOperation();
  op.ports = [8443];
  const set = compiledSet([
    {
      name: 'admins',
      action: 'allow',
      from: [src],
      to: [op],
      when: [
        { attribute: 'claim', key: 'groups', values: [{ kind: 'exact', value: 'admins' }], notValues: [] },
        { attribute: 'header', key: 'x-tenant', values: [], notValues: [{ kind: 'exact', value: 'blocked' }] },
      ],
      location: LOC,
    },
  ]);
  const policy = set.policy;
  const { filters, issues } = exportRbac(policy);
  assert.deepEqual(issues, []);
  const text = JSON.stringify(filters);
  const meta = (claim: string, value: string) =>
    JSON.stringify({
      filter: JWT_METADATA.filter,
      path: [{ key: JWT_METADATA.key }, { key: claim }],
      value: { string_match: { exact: value } },
    });
  assert.ok(text.includes(meta('iss', 'https://issuer.example')), text);
  assert.ok(text.includes(meta('sub', 'alice')));
  assert.ok(text.includes(meta('groups', 'admins')));
  assert.ok(text.includes('"list_match":{"one_of":{"string_match":{"exact":"admins"}}}'), 'a list claim matches by element');
  // In an allow rule, "not blocked" must hold for every reading of the header: not (the value,
  // or any element of it, is "blocked").
  assert.ok(
    text.includes(
      '"not_id":{"or_ids":{"ids":[{"header":{"name":"x-tenant","string_match":{"exact":"blocked"}}},' +
        '{"header":{"name":"x-tenant","string_match":{"safe_regex":{"regex":"(?:[^,]*,)*[ \\\\t]*blocked[ \\\\t]*(?:,[^,]*)*"}}}}]}}',
    ),
    text,
  );
  assert.ok(text.includes('"destination_port":8443'));
});

test('what RBAC cannot say is an error with its path, and the rule is left out', () => {
  const policy = policyFor(compiled(perimeter('enforce', '- name: ok\n  action: allow\n  from: {identities: ["*"]}')), 'api');
  const rule = policy.rules[0];
  assert.ok(rule);
  rule.conditions.push({
    attribute: 4,
    key: 0,
    values: [{ kind: StringMatch_Kind.KIND_PREFIX, value: '84', ignoreCase: false }],
    notValues: [],
  });
  const { issues, filters } = exportRbac(policy);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.severity, 'error');
  assert.match(issues[0]?.path ?? '', /^Perimeter\/api: rule "ok": when\[0\]$/);
  assert.match(issues[0]?.message ?? '', /only exact port numbers/);
  const allow = filters.find((f) => f.name === RBAC_FILTER_NAMES.allow)?.typed_config as { rules: { policies: object } };
  assert.deepEqual(allow.rules.policies, {}, 'the rule is not exported half-way');
});

test('Istio hosts (the whole :authority, port included) are refused: the connection manager strips the port', () => {
  const policy = policyFor(
    compiled(perimeter('enforce', '- name: ok\n  action: allow\n  from: {identities: ["*"]}\n  to: {authorities: ["api.example:8443"]}')),
    'api',
  );
  const { issues } = exportRbac(policy);
  assert.equal(issues[0]?.severity, 'error');
  assert.match(issues[0]?.path ?? '', /^Perimeter\/api: rule "ok": to\[0\]$/);
  assert.match(issues[0]?.message ?? '', /:authority with its port/);
});

test('decides as the reference evaluator on generated policies (grpc-js-xds RBAC engine)', () => {
  // gRPC's engine never matches metadata, so claims and request principals are left out of
  // the generated policies here (their export is checked above), and so are Istio hosts, which
  // the export refuses (test above). Paths the connection manager
  // rejects never reach RBAC.
  const r = rng(20261124);
  let cases = 0;
  let skippedPolicies = 0;
  const disagreements: string[] = [];
  for (let p = 0; p < 300; p++) {
    const set = randomPolicy(r);
    // Stripping path parameters is the filter's alone (the export refuses it).
    if (set.mesh.pathParameters === 'strip') set.mesh.pathParameters = 'reject';
    for (const per of set.perimeters)
      for (const rule of per.rules) {
        rule.when = rule.when.filter((c) => c.attribute !== 'claim');
        // Istio hosts (the authority with its port) are refused by the export on purpose.
        for (const o of rule.to) {
          o.authorities = [];
          o.notAuthorities = [];
        }
        for (const s of rule.from) {
          s.requestPrincipals = [];
          s.notRequestPrincipals = [];
        }
      }
    const w = compile(set).workloads.find((x) => x.workload.name === 'svc');
    assert.ok(w);
    const exported = exportRbac(w.policy, { nowMs: NOW });
    const requests = Array.from({ length: 40 }, () => randomRequest(r));
    if (exported.issues.some((i) => i.severity === 'error')) {
      skippedPolicies++;
      continue;
    }
    const engine = new EnvoyRbacEngine(exported.filters);
    for (const req of requests) {
      if (!normalizePath(req.path).ok) continue;
      const ref = evaluate(w.policy, { ...req, nowMs: NOW });
      if (ref.code === 'deny_unsafe_request') continue;
      const blocked = ref.decision === 'deny' && ref.enforced;
      const got = engine.decide(engine.prepare(req));
      cases++;
      if ((got === 'deny') !== blocked && disagreements.length < 5)
        disagreements.push(`policy ${p}: ${JSON.stringify(req)}: reference ${blocked ? 'blocks' : 'passes'} (${ref.rule}), RBAC ${got}`);
    }
  }
  assert.deepEqual(disagreements, []);
  assert.ok(cases > 5000, `${cases} cases compared`);
  assert.ok(skippedPolicies < 60, `${skippedPolicies} policies had an expiring enforced allow`);
});
