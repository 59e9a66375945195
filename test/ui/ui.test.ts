/**
 * The control server's web page in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against the demo mesh after its flows were played through real sidecars.
 * The page must show the demo's workloads, their perimeters with modes and rules, the flows,
 * a denied edge on the map, and follow the server live (a quarantine appears without a reload).
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { DemoMesh } from '../../cli/demo/mesh.js';
import { readFlows } from '../../cli/support/flows-file.js';
import { findChromium } from '../ensure-chromium.mjs';
import { eventually } from '../helpers/xds.js';

test('the /ui page shows the demo mesh: workloads, perimeters, flows and a denied edge, live', async () => {
  const executablePath = findChromium();
  assert.ok(executablePath, 'no chromium: apt-get install chromium (npm test does it when run as root on Debian), or set CHROMIUM_PATH');
  const mesh = await DemoMesh.start('examples/shop/policy');
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  try {
    const flows = readFlows('examples/shop/flows.yaml');
    for (const f of flows) await mesh.play(f);
    await eventually(() => mesh.control.status().flows.recorded >= flows.length - 1, 10_000, 'flows recorded');
    // db stages a candidate beside its live rules.
    appendFileSync(
      join(mesh.policyDir, 'db.yaml'),
      '  candidate:\n    mode: enforce\n    rules:\n      - {name: app-only, action: allow, from: {workloads: [app]}}\n',
    );
    await eventually(() => Boolean(mesh.control.source.view?.perimeters.find((p) => p.name === 'db')?.candidate), 5_000, 'staged');

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`http://127.0.0.1:${mesh.control.adminPort}/ui`);
    assert.equal(res?.status(), 200);
    await page.waitForSelector('#workloads tbody tr');

    const workloads = await page.$$eval('#workloads td.name', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(workloads.sort(), [...mesh.members.keys()].sort());
    assert.equal(await page.title(), 'Perimeter');
    assert.match((await page.textContent('#snapshot')) ?? '', /serving [0-9a-f]{16} \(#2, policy\)/);

    // Perimeters, their modes and rules in words.
    const db = page.locator('[data-perimeter="db"]');
    assert.match((await db.locator('.badge').first().textContent()) ?? '', /simulate/);
    assert.match((await db.textContent()) ?? '', /no-deletes/);
    assert.match((await db.locator('[data-candidate="db"]').textContent()) ?? '', /Staged candidate enforce.*app-only/s);

    // The map: every workload drawn, and the intruder's denied edge to payments.
    const nodes = await page.$$eval('#map g.workload', (gs) => gs.map((g) => g.getAttribute('data-id')));
    for (const w of mesh.members.keys()) assert.ok(nodes.includes(w), `${w} on the map`);
    const denied = await page.$$eval('#map g.edge.denied', (gs) =>
      gs.map((g) => `${g.getAttribute('data-from')}→${g.getAttribute('data-to')}`),
    );
    assert.ok(denied.includes('intruder→payments'), `denied edges: ${denied.join(', ')}`);
    assert.ok((await page.$$('#map g.edge.would-deny')).length > 0, 'the simulated db denies are drawn as would-deny');

    // The flows table, with its filter.
    const rows = await page.locator('#flows tbody tr').count();
    assert.ok(rows >= 8, `${rows} flows shown`);
    await page.check('#denied-only');
    const deniedRows = await page.$$eval('#flows tbody tr', (trs) => trs.map((tr) => tr.className));
    assert.ok(deniedRows.length > 0 && deniedRows.length < rows);
    assert.ok(deniedRows.every((c) => c === 'denied' || c === 'would'));

    // Live: a quarantine on the server shows up on the open page by itself.
    await mesh.control.quarantine('spiffe://shop.example/ns/shop/sa/intruder', false, 'ui test');
    await page.waitForSelector('[data-quarantine="spiffe://shop.example/ns/shop/sa/intruder"]', { timeout: 5_000 });
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await browser.close();
    await mesh.stop();
  }
});
