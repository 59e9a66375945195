/**
 * Attack: a path the filter decides one way and the application routes another. Fragments
 * (`/static/#/../admin/users` once decided as `/static/`), `;` path parameters as servlet
 * containers read them (`/static/..;/admin/users`, `/admin;x`), case (`/Admin/x`), and encodings
 * that the connection manager and the filter once handled in different orders
 * (`/static/%00/../admin`, denied by perimeter check and allowed by the sidecar). Every case goes
 * through the local sidecar over mTLS to a real app and through perimeter check, with both
 * engines; they must agree, and the app sees only what was allowed.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { connectionManagerPath, normalizePath } from '../../contracts/request-path.js';
import { perimeterCli } from '../helpers/cli.js';
import { ID, statuses, Target } from '../helpers/target.js';

/** A case: the path as sent, and what comes back (400: the connection manager refuses it). */
interface Case {
  path: string;
  status: 200 | 400 | 403;
  /** What the app receives when it is allowed. */
  forwarded?: string;
}

async function throughSidecar(t: Target, c: Case): Promise<void> {
  const r = await t.raw(ID.web, `GET ${c.path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(statuses(r.text), [c.status], `${c.path}: ${r.text.split('\r\n')[0]}`);
  assert.equal(r.reached, c.status === 200, `${c.path}: the app is reached exactly when allowed`);
  if (c.forwarded) assert.equal(t.seen.at(-1)?.url, c.forwarded, `${c.path}: what the app received`);
}

async function throughCheck(t: Target, cases: Case[]): Promise<void> {
  const file = join(mkdtempSync(join(tmpdir(), 'perimeter-paths-')), 'flows.yaml');
  const flows = cases.map((c) => ({
    name: c.path,
    from: 'web',
    to: 'api',
    method: 'GET',
    path: c.path,
    expect: c.status === 200 ? 'allow' : 'deny',
  }));
  writeFileSync(file, stringify({ flows }));
  for (const engine of ['wasm', 'reference']) {
    const r = await perimeterCli('check', '--policy', t.policyDir, '--flows', file, '--engine', engine, '--json');
    const out = JSON.parse(r.out) as { flows: { flow: { path: string }; verdict: string; ok: boolean }[] };
    const wrong = out.flows.filter((f) => !f.ok).map((f) => `${f.flow.path} → ${f.verdict}`);
    assert.deepEqual(wrong, [], `perimeter check (${engine}) decides otherwise than the sidecar`);
  }
}

// The mesh default for path parameters: reject.
const REJECT: Case[] = [
  { path: '/static/app.js', status: 200, forwarded: '/static/app.js' },
  { path: '/static/#/../admin/users', status: 400 },
  { path: '/static/x#frag', status: 400 },
  { path: '/static/..;/admin/users', status: 403 },
  { path: '/admin;x', status: 403 },
  { path: '/static/a;jsessionid=1', status: 403 },
  { path: '/static/a%3Bjsessionid=1', status: 403 },
  { path: '/Admin/users', status: 403 },
  { path: '/ADMIN/users', status: 403 },
  { path: '/%41dmin/users', status: 403 },
  { path: '/API/orders', status: 403 },
  { path: '/static/%00/../admin', status: 200, forwarded: '/static/admin' },
  { path: '/static/%2e%2e/admin/users', status: 403 },
  { path: '/static/%2e%2e%2fadmin/users', status: 400 },
  { path: '/static/..%5cadmin', status: 400 },
  { path: '/static/x/..\\..\\admin', status: 403 },
  // The empty segment is the one ".." removes (RFC 3986), as Envoy does before merging slashes.
  { path: '/static//../admin/users', status: 200, forwarded: '/static/admin/users' },
  { path: '/static/../admin//users', status: 403 },
  { path: 'http://api/admin/users', status: 400 },
];

describe('pathParameters: reject (the default)', () => {
  let t: Target;
  before(async () => {
    t = await Target.start();
  });
  after(() => t.stop());
  for (const c of REJECT) test(`sidecar: ${JSON.stringify(c.path)} → ${c.status}`, () => throughSidecar(t, c));
  test('perimeter check decides every case as the sidecar does (wasm and reference)', () => throughCheck(t, REJECT));
});

// An application that cuts ";…" off every segment (Tomcat, Jetty, Spring): the filter matches what it routes.
const STRIP: Case[] = [
  { path: '/static/a;jsessionid=1', status: 200, forwarded: '/static/a;jsessionid=1' },
  { path: '/static/..;/admin/users', status: 403 },
  { path: '/static/..;x=1/admin/users', status: 403 },
  { path: '/admin;x/users', status: 403 },
  { path: '/static;/../admin', status: 403 },
  { path: '/api;v=2/orders', status: 200 },
  { path: '/static/a%3Bb', status: 200 },
];

describe('pathParameters: strip', () => {
  let t: Target;
  before(async () => {
    t = await Target.start({
      policy: (dir) => {
        const f = join(dir, 'mesh.yaml');
        writeFileSync(
          f,
          readFileSync(f, 'utf8').replace(
            'spec: {identity: spiffe://target.example/ns/shop/sa/api, labels: {app: api}}',
            'spec: {identity: spiffe://target.example/ns/shop/sa/api, labels: {app: api}, pathParameters: strip}',
          ),
        );
      },
    });
  });
  after(() => t.stop());
  for (const c of STRIP) test(`sidecar: ${JSON.stringify(c.path)} → ${c.status}`, () => throughSidecar(t, c));
  test('perimeter check decides every case as the sidecar does (wasm and reference)', () => throughCheck(t, STRIP));
});

test('pathCase: a deny matches any case by default, an allow only as written; both can be told otherwise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-pathcase-'));
  writeFileSync(join(dir, 'mesh.yaml'), readFileSync('test/security/policy/mesh.yaml'));
  writeFileSync(join(dir, 'api.yaml'), readFileSync('test/security/policy/api.yaml'));
  appendFileSync(
    join(dir, 'api.yaml'),
    [
      '    - {name: exact-deny, action: deny, from: {identities: ["*"]}, to: {paths: [/Secret/*], pathCase: sensitive}}',
      '    - {name: any-case-docs, action: allow, from: {workloads: [web]}, to: {methods: [GET], paths: [/docs/*], pathCase: insensitive}}',
      '',
    ].join('\n'),
  );
  const file = join(mkdtempSync(join(tmpdir(), 'perimeter-pathcase-flows-')), 'flows.yaml');
  const expect = (path: string, verdict: string) => ({ from: 'web', to: 'api', method: 'GET', path, expect: verdict });
  writeFileSync(
    file,
    stringify({
      flows: [
        expect('/Secret/x', 'deny'),
        expect('/secret/x', 'deny'), // no rule allows it
        expect('/DOCS/intro', 'allow'),
        expect('/Docs/intro', 'allow'),
        expect('/Api/x', 'deny'),
        expect('/api/x', 'allow'),
      ],
    }),
  );
  for (const engine of ['wasm', 'reference']) {
    const r = await perimeterCli('check', '--policy', dir, '--flows', file, '--engine', engine);
    assert.equal(r.code, 0, `${engine}: ${r.out}${r.err}`);
  }
  const exact = await perimeterCli('check', '--policy', dir, '--to', 'api', '--from', 'web', '--method', 'GET', '--path', '/Secret/x');
  assert.match(exact.out, /decided by {2}api\/exact-deny/);
  const other = await checkOut(dir, '/secret/x');
  assert.match(other, /decided by {2}api\/default/, 'a sensitive deny does not match another case: the default denies');
});

async function checkOut(dir: string, path: string): Promise<string> {
  return (await perimeterCli('check', '--policy', dir, '--to', 'api', '--from', 'web', '--method', 'GET', '--path', path)).out;
}

test('the connection manager and the filter are one definition: its output is stable under the filter', () => {
  for (const c of [...REJECT, ...STRIP]) {
    const cm = connectionManagerPath(c.path);
    if (!cm.ok) continue;
    for (const mode of ['keep', 'strip'] as const) {
      const once = normalizePath(cm.path, mode);
      if (!once.ok) continue;
      const twice = normalizePath(once.path, mode);
      assert.deepEqual(twice, once, `${c.path} (${mode})`);
    }
  }
});
