/**
 * Attack: the control server's admin port taken for orders by anyone who can reach it: a page
 * in the operator's browser posting to it cross-origin (text/plain, no CORS), a DNS-rebinding
 * page reading /status, a client without the operator token. Every change needs the token,
 * JSON and no foreign Origin; every request a Host that names the server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { tokenPath } from '../../control/serve/admin-guard.js';
import type { ControlServer } from '../../control/serve/control-server.js';
import { findChromium } from '../ensure-chromium.mjs';
import { perimeterCli } from '../helpers/cli.js';
import { testControl } from '../helpers/mesh.js';

const WEB = 'spiffe://shop.example/ns/shop/sa/web';
let control: ControlServer;
let state: string;
let port: number;
let token: string;

before(async () => {
  state = mkdtempSync(join(tmpdir(), 'perimeter-admin-'));
  control = await testControl(state, { admin: '127.0.0.1:0', adminHosts: ['perimeter-control.perimeter-system.svc'] });
  port = control.adminPort as number;
  token = readFileSync(tokenPath(state), 'utf8').trim();
});
after(() => control.stop());

/** A raw HTTP request, so that Host, Origin and the rest are exactly what an attacker sends. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, setHost: false, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const HOST = () => `127.0.0.1:${port}`;
const quarantineBody = JSON.stringify({ identity: WEB, reason: 'attack' });
const notQuarantined = () => assert.deepEqual(control.source.quarantine, [], 'nothing was quarantined');

test('the token is made at start, mode 0600, and named in server.json for the CLI', () => {
  assert.equal(statSync(tokenPath(state)).mode & 0o777, 0o600);
  assert.match(token, /^[0-9a-f]{64}$/);
  const f = JSON.parse(readFileSync(join(state, 'server.json'), 'utf8'));
  assert.equal(f.tokenFile, tokenPath(state));
});

test('a change without the token, or with a wrong one, is refused (401) and changes nothing', async () => {
  for (const authorization of [undefined, 'Bearer nope', `Bearer ${token.slice(0, -1)}x`, `Basic ${token}`, token]) {
    const r = await raw(
      'POST',
      '/quarantine',
      { host: HOST(), 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      quarantineBody,
    );
    assert.equal(r.status, 401, `${authorization}: ${r.body}`);
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
  }
  for (const path of ['/release', '/rollback']) {
    const r = await raw('POST', path, { host: HOST(), 'content-type': 'application/json' }, JSON.stringify({ identity: WEB, to: '1' }));
    assert.equal(r.status, 401, path);
  }
  notQuarantined();
});

test('a cross-origin text/plain POST (what a web page can send without asking) is refused, token or not', async () => {
  const evil = { host: HOST(), origin: 'http://evil.example', 'content-type': 'text/plain' };
  assert.equal((await raw('POST', '/quarantine', evil, quarantineBody)).status, 403);
  assert.equal((await raw('POST', '/quarantine', { ...evil, origin: 'null' }, quarantineBody)).status, 403);
  assert.equal((await raw('POST', '/quarantine', { ...evil, authorization: `Bearer ${token}` }, quarantineBody)).status, 403);
  const sameOriginButText = { host: HOST(), 'content-type': 'text/plain', authorization: `Bearer ${token}` };
  assert.equal((await raw('POST', '/quarantine', sameOriginButText, quarantineBody)).status, 415);
  const site = { host: HOST(), 'sec-fetch-site': 'cross-site', 'content-type': 'application/json', authorization: `Bearer ${token}` };
  assert.equal((await raw('POST', '/quarantine', site, quarantineBody)).status, 403);
  // The preflight a browser would send first gets no CORS answer.
  const pre = await raw('OPTIONS', '/quarantine', { host: HOST(), origin: 'http://evil.example', 'access-control-request-method': 'POST' });
  assert.notEqual(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], undefined);
  notQuarantined();
});

test('DNS rebinding: a Host that does not name this server is refused, for reads too (421)', async () => {
  for (const host of ['evil.example', `evil.example:${port}`, 'perimeter-control.evil.example', '', 'a b', '127.0.0.1.evil.example']) {
    for (const path of ['/status', '/ui/state.json', '/ui', '/versions', '/metrics']) {
      const r = await raw('GET', path, { host });
      assert.equal(r.status, 421, `${host} ${path}`);
      assert.doesNotMatch(r.body, /spiffe:\/\//, 'nothing of the mesh in the refusal');
    }
  }
  for (const host of [
    HOST(),
    `localhost:${port}`,
    '127.0.0.1',
    `[::1]:${port}`,
    '10.1.2.3:18001',
    'perimeter-control.perimeter-system.svc:18001',
  ]) {
    const r = await raw('GET', '/status', { host });
    assert.equal(r.status, 200, host);
  }
});

test('the operator, with the token, as JSON from the same origin, is obeyed; the CLI does it by itself', async () => {
  const ok = await raw(
    'POST',
    '/quarantine',
    { host: HOST(), 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}`, origin: `http://${HOST()}` },
    quarantineBody,
  );
  assert.equal(ok.status, 200, ok.body);
  assert.equal(control.source.quarantine.length, 1);
  const r = await perimeterCli('release', WEB, '--state', state);
  assert.equal(r.code, 0, r.err);
  notQuarantined();
  // Without the token file, the CLI says what to do.
  const copy = mkdtempSync(join(tmpdir(), 'perimeter-admin-copy-'));
  const f = JSON.parse(readFileSync(join(state, 'server.json'), 'utf8'));
  writeFileSync(join(copy, 'server.json'), JSON.stringify({ ...f, tokenFile: join(copy, 'missing') }));
  const denied = await perimeterCli('quarantine', WEB, '--state', copy);
  assert.equal(denied.code, 1);
  assert.match(denied.err, /cannot read the admin token .*PERIMETER_ADMIN_TOKEN/);
});

test('the page is served with a policy that runs only its own script and cannot be framed', async () => {
  const r = await raw('GET', '/ui', { host: HOST() });
  assert.equal(r.status, 200);
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
});

test('in Chromium, a page of another origin cannot quarantine through the operator’s browser', async () => {
  const executablePath = findChromium();
  assert.ok(executablePath, 'no chromium (npm test installs it as root on Debian; or set CHROMIUM_PATH)');
  const admin = `http://127.0.0.1:${port}`;
  // The attacker's page: a no-cors fetch with a text/plain body, a JSON fetch, and a form post.
  const page = `<!doctype html><form id=f method=post action="${admin}/quarantine" enctype="text/plain">
    <input name='{"identity":"${WEB}","x":"' value='"}'></form><script>
    const body = JSON.stringify({ identity: "${WEB}" });
    window.results = [];
    fetch("${admin}/quarantine", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body }).then(() => results.push("no-cors sent"), (e) => results.push("no-cors " + e));
    fetch("${admin}/quarantine", { method: "POST", headers: { "content-type": "application/json" }, body }).then(() => results.push("json read"), (e) => results.push("json blocked"));
    fetch("${admin}/status").then((r) => r.text()).then(() => results.push("status read"), () => results.push("status blocked"));
  </script>`;
  const evil: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const tab = await browser.newPage();
    await tab.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (window as unknown as { results: string[] }).results.length >= 3, undefined, { timeout: 10_000 });
    const results = await tab.evaluate(() => (window as unknown as { results: string[] }).results);
    assert.ok(results.includes('json blocked'), results.join(', '));
    assert.ok(results.includes('status blocked'), results.join(', '));
    // The form post last, once the fetches are answered: it navigates the page away.
    await tab.evaluate(() => (document.getElementById('f') as HTMLFormElement).submit());
    await tab.waitForURL(/quarantine/, { timeout: 5_000 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    notQuarantined();
  } finally {
    await browser.close();
    evil.close();
  }
});
