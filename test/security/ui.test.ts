/**
 * Attack: markup in what the web page shows (a perimeter's owner, a workload's labels, a
 * quarantine reason) meant to run script in the operator's browser. In headless Chromium: the
 * page shows the text as text, no element is injected, nothing runs, and the page's
 * Content-Security-Policy would refuse an inline handler anyway.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { tokenPath } from '../../control/serve/admin-guard.js';
import { findChromium } from '../ensure-chromium.mjs';
import { testControl } from '../helpers/mesh.js';

const IMG = '<img src=x onerror="window.pwned=1">';
const SCRIPT = '"><script>window.pwned=2</script>';
const SVG = '<svg onload="window.pwned=3"></svg>';

test('markup in owners, labels and quarantine reasons is shown as text and never runs', async () => {
  const executablePath = findChromium();
  assert.ok(executablePath, 'no chromium (npm test installs it as root on Debian; or set CHROMIUM_PATH)');
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-ui-xss-'));
  cpSync('examples/shop/policy', dir, { recursive: true });
  const web = join(dir, 'web.yaml');
  writeFileSync(web, readFileSync(web, 'utf8').replace('owner: team-storefront', `owner: ${JSON.stringify(IMG)}`));
  const wl = join(dir, 'workloads.yaml');
  writeFileSync(
    wl,
    readFileSync(wl, 'utf8').replace('labels: {app: web, tier: frontend}', `labels: {app: web, tier: ${JSON.stringify(SCRIPT)}}`),
  );
  const state = mkdtempSync(join(tmpdir(), 'perimeter-ui-xss-state-'));
  const control = await testControl(state, { policy: [dir], admin: '127.0.0.1:0' });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const res = await fetch(`http://127.0.0.1:${control.adminPort}/quarantine`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${readFileSync(tokenPath(state), 'utf8').trim()}` },
      body: JSON.stringify({ identity: 'spiffe://shop.example/ns/shop/sa/intruder', reason: SVG }),
    });
    assert.equal(res.status, 200);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${control.adminPort}/ui`);
    await page.waitForSelector('#workloads tbody tr');
    await page.waitForFunction(() => document.body.textContent?.includes('window.pwned=3'), undefined, { timeout: 5_000 });
    const text = (await page.textContent('body')) ?? '';
    for (const payload of [IMG, SCRIPT, SVG]) assert.ok(text.includes(payload), `shown as text: ${payload}`);
    assert.equal(
      await page.$$eval('img[src="x"], svg[onload], script:not([nonce])', (els) => els.filter((e) => e.closest('main')).length),
      0,
    );
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'nothing ran');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await control.stop();
  }
});
