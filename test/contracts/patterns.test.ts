/**
 * The matchers that replace regular expressions decide exactly as the expressions they stand
 * for: Envoy's uri_template (its regex over RFC 3986 pchar), istiod's service-account and
 * trust-domain regexes. Each is checked against the regex itself over generated subjects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchTemplate, templateFromIstio } from '../../contracts/path-template.js';
import { matchNamespacePattern, matchServiceAccount, matchTrustDomain } from '../../contracts/spiffe-patterns.js';
import { rng } from '../differential/generate.js';

const quote = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
const PCHAR = "A-Za-z0-9\\-._~%!$&'()+,;:@";

/** Envoy's conversion (uri_template_internal.cc): "/" + segments, "*" = [pchar]+, "**" = [pchar/]*. */
function envoyRegex(template: string): RegExp {
  const segs = template
    .slice(1)
    .split('/')
    .map((s) => (s === '*' ? `[${PCHAR}]+` : s === '**' ? `[${PCHAR}/]*` : quote(s)));
  return new RegExp(`^/${segs.join('/')}$`);
}

const pickFrom = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

test('uri templates decide as Envoy’s regular expression, over 20,000 generated paths', () => {
  const templates = ['/a/{*}', '/{*}/b', '/a/{**}', '/{**}/b', '/{**}', '/a/{*}/', '/a/{*}/c/{**}', '/{*}/{*}', '/a/{**}/b/c'].map((t) => {
    const r = templateFromIstio(t);
    assert.ok(r.ok, t);
    return r.value;
  });
  const pieces = ['a', 'b', 'c', 'x=y', 'x*y', '~!', '%41', '', 'a.b', '"q"', 'é'];
  const r = rng(7);
  let matched = 0;
  for (let i = 0; i < 20000; i++) {
    const n = 1 + Math.floor(r() * 4);
    const path = `/${Array.from({ length: n }, () => pickFrom(r, pieces)).join('/')}`;
    const t = pickFrom(r, templates);
    const want = envoyRegex(t).test(path);
    assert.equal(matchTemplate(t, path), want, `${t} on ${path}`);
    if (want) matched++;
  }
  assert.ok(matched > 1000, `only ${matched} matches: the generator does not exercise matching`);
});

test('Istio path templates are refused where Istio or Envoy refuses them', () => {
  for (const [p, why] of [
    ['/a/{**}/{*}', /last operator/],
    ['/a/{**}/{**}', /last operator/],
    ['/a/{id}', /beyond \{\*\} and \{\*\*\}/],
    ['/a/b*/{*}', /not a literal/],
    ['/a//{*}', /not a literal/],
    ['/a/x=y/{*}', /not a literal/],
    ['a/{*}', /starts with/],
  ] as const) {
    const r = templateFromIstio(p);
    assert.equal(r.ok, false, p);
    if (!r.ok) assert.match(r.problems[0]?.message ?? '', why, p);
  }
  const ok = templateFromIstio('/api/{*}/items/{**}');
  assert.deepEqual(ok, { ok: true, value: '/api/*/items/**' });
});

test('service accounts decide as istiod’s regex spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?', () => {
  const values = ['foo/sleep', 'foo/a', 'a.b/c+d', 'ns/sa'];
  const segs = ['ns/foo', 'sa/sleep', 'ns/a.b', 'sa/c+d', 'ns/ns', 'sa/sa', 'sa/a', 'ns', 'foo', 'sa', 'sleep', 'x', 'td'];
  const r = rng(11);
  let matched = 0;
  for (let i = 0; i < 20000; i++) {
    const v = pickFrom(r, values);
    const [ns, sa] = v.split('/') as [string, string];
    const n = 1 + Math.floor(r() * 5);
    const id = `spiffe://${Array.from({ length: n }, () => pickFrom(r, segs)).join('/')}`;
    const want = new RegExp(`^spiffe://.+/ns/${quote(ns)}/(.+/|)sa/${quote(sa)}(/.+)?$`).test(id);
    assert.equal(matchServiceAccount(v, id), want, `${v} on ${id}`);
    if (want) matched++;
  }
  assert.ok(matched > 200, `only ${matched} matches`);
  assert.equal(matchServiceAccount('foo/sleep', 'spiffe://td/ns/foo/sa/sleep'), true);
  assert.equal(matchServiceAccount('foo/sleep', 'spiffe://other.td/ns/foo/sa/sleep'), true);
  assert.equal(matchServiceAccount('foo/sleep', 'spiffe://td/ns/foo/sa/sleepy'), false);
  assert.equal(matchServiceAccount('foo/sleep', 'spiffe://td/ns/foo/sa/sleep\n'), false);
});

test('trust-domain patterns decide as istiod’s regexes', () => {
  const r = rng(13);
  const tds = ['td', 'td.example', 'bad.td', 'example', 'tdx', 'x-td'];
  for (let i = 0; i < 5000; i++) {
    const v = pickFrom(r, ['td*', '*td', 'bad*', '*example', '*']);
    const td = pickFrom(r, tds);
    const id = r() < 0.1 ? `spiffe://${td}` : `spiffe://${td}/ns/${pickFrom(r, ['a', 'b/c'])}`;
    const re = v.endsWith('*')
      ? new RegExp(`^spiffe://${quote(v.slice(0, -1))}[^/]*/.*$`)
      : new RegExp(`^spiffe://[^/]*${quote(v.slice(1))}/.*$`);
    assert.equal(matchTrustDomain(v, id), re.test(id), `${v} on ${id}`);
  }
});

test('namespace patterns decide as istiod’s regex .*/ns/<a>.*<b>/.*', () => {
  const r = rng(17);
  const segs = ['ns', 'ns-prefix-a', 'a-ns-suffix', 'team-x', 'x', 'sa', 'prod', 'ns/team', 'b-prod'];
  let matched = 0;
  for (let i = 0; i < 20000; i++) {
    const pattern = pickFrom(r, ['ns-prefix-*', '*-ns-suffix', 'team-*', '*prod', 't*m-*', '*-*']);
    const n = 1 + Math.floor(r() * 5);
    const id = `spiffe://td/${Array.from({ length: n }, () => pickFrom(r, segs)).join('/')}`;
    const want = new RegExp(`^.*/ns/${pattern.split('*').map(quote).join('.*')}/.*$`).test(id);
    assert.equal(matchNamespacePattern(pattern, id), want, `${pattern} on ${id}`);
    if (want) matched++;
  }
  assert.ok(matched > 500, `only ${matched} matches`);
});
