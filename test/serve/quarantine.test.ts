/**
 * Containment: `perimeter quarantine` denies an identity on every sidecar within a second,
 * survives a restart, is in the history, and `perimeter release` lifts it. Real control
 * server, real sidecar, real mTLS; the CLI runs as a user would run it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { compile } from '../../control/compile/compile.js';
import { FlowStore } from '../../control/flows/store.js';
import { loadPaths } from '../../control/policy/load.js';
import { readQuarantine, withoutQuarantine, withQuarantine } from '../../control/serve/quarantine.js';
import { perimeterCli } from '../helpers/cli.js';
import { mtls, testControl, testSidecar } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const APP = 'spiffe://shop.example/ns/shop/sa/app';
const WEB = 'spiffe://shop.example/ns/shop/sa/web';

const cli = perimeterCli;

test('the overlay adds enforced denies and strips back to the very same compiled policy', () => {
  const loaded = loadPaths(['examples/shop/policy']);
  assert.ok(loaded.ok);
  const app = compile(loaded.policy).workloads.find((w) => w.workload.name === 'app');
  assert.ok(app);
  const q = [
    { identity: WEB, both: false, reason: '', since: '' },
    { identity: APP, both: true, reason: '', since: '' },
  ];
  const served = withQuarantine(app.policy, q);
  assert.notEqual(served.policy.version, app.version);
  const added = served.policy.rules.slice(app.policy.rules.length);
  assert.deepEqual(
    added.map((r) => [served.policy.perimeters[r.perimeter]?.name, r.name, r.action, r.mode]),
    [
      ['quarantine', `from:${WEB}`, 2, 3],
      ['quarantine', `to:${APP}`, 2, 3],
    ],
  );
  assert.equal(served.policy.defaultMode, app.policy.defaultMode, 'the default mode is not the quarantine’s to change');
  assert.equal(withoutQuarantine(served.policy).version, app.version);
  assert.equal(withQuarantine(served.policy, []).policy.version, app.version);
});

test('a perimeter may not take the reserved name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-q-name-'));
  writeFileSync(
    join(dir, 'p.yaml'),
    'apiVersion: perimeter.dev/v1\nkind: Perimeter\nmetadata: {name: quarantine}\nspec: {owner: me, mode: enforce, selector: {all: true}, rules: []}\n',
  );
  const r = loadPaths([dir]);
  assert.ok(!r.ok);
  assert.match(r.diagnostics.map((d) => d.message).join('\n'), /"quarantine" is reserved/);
});

test('quarantine denies an identity on the connected sidecars within a second, survives a restart, and release lifts it', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-quarantine-'));
  let control = await testControl(state, { admin: '127.0.0.1:0' });
  const ca = loadCa(state);
  const upstream = createHttp((_q, r) => r.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  let sidecar = await testSidecar(ca, control, APP, port, { als: `127.0.0.1:${control.xdsPort}` });
  const web = await issueSvid(ca, WEB);
  const call = () => mtls(sidecar.inboundPort, ca.certPem, web, { path: '/api/orders/1' });
  try {
    await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'policy');
    assert.equal((await call()).status, 200);

    const q = await cli('quarantine', WEB, '--reason', 'credential leak', '--state', state, '--json');
    assert.equal(q.code, 0, q.err);
    // From the request to the server until every connected sidecar ACKed the policy that carries it.
    const { seconds, sidecars, behind } = JSON.parse(q.out) as { seconds: number; sidecars: number; behind: string[] };
    assert.deepEqual([sidecars, behind], [1, []]);
    assert.ok(seconds < 1, `in effect after ${seconds} s`);
    assert.equal((await call()).status, 403);

    // The deny names the quarantine.
    await eventually(() => control.status().flows.recorded >= 2, 5_000, 'flows');
    const flows = await FlowStore.read(state, { to: 'app' });
    assert.ok(flows?.some((f) => f.source === WEB && f.denied === 1 && f.lastRule === `quarantine/from:${WEB}`));

    const list = await cli('quarantine', '--state', state, '--json');
    assert.deepEqual(
      (JSON.parse(list.out) as { identity: string; reason: string }[]).map((e) => [e.identity, e.reason]),
      [[WEB, 'credential leak']],
    );

    const st = await cli('status', '--state', state);
    assert.match(st.out, /quarantined spiffe:\/\/shop\.example\/ns\/shop\/sa\/web \(from\) since \S+: credential leak/);

    // A restart keeps it: the list is on disk, and the server lays it over the policy again.
    await sidecar.stop();
    await control.stop();
    assert.equal(readQuarantine(state).length, 1);
    control = await testControl(state, { admin: '127.0.0.1:0' });
    sidecar = await testSidecar(ca, control, APP, port);
    await eventually(() => sidecar.policyVersion !== undefined, 5_000, 'policy after restart');
    assert.equal((await call()).status, 403);

    // --both: requests to the quarantined workload are denied too, whoever calls.
    const both = await cli('quarantine', APP, '--both', '--state', state);
    assert.equal(both.code, 0, both.err);
    assert.match(both.out, /quarantined spiffe:\/\/shop\.example\/ns\/shop\/sa\/app: requests from and to it/);
    assert.match(both.out, /in effect on 1 connected sidecar after \d+\.\d\d s/);
    const db = await issueSvid(ca, 'spiffe://shop.example/ns/shop/sa/payments');
    assert.equal((await mtls(sidecar.inboundPort, ca.certPem, db, { path: '/api/orders/1' })).status, 403);

    const r1 = await cli('release', WEB, '--state', state);
    assert.equal(r1.code, 0, r1.err);
    assert.match(r1.out, /released .*web/);
    const r2 = await cli('release', APP, '--state', state);
    assert.equal(r2.code, 0, r2.err);
    assert.equal((await call()).status, 200);
    const again = await cli('release', APP, '--state', state);
    assert.equal(again.code, 1);
    assert.match(again.err, /is not quarantined/);

    // Every change is in the history, and release restored the policy's own version.
    const versions = await control.source.versions();
    assert.deepEqual(
      versions.slice(-4).map((e) => [e.reason, e.quarantine?.identity]),
      [
        ['quarantine', WEB],
        ['quarantine', APP],
        ['release', WEB],
        ['release', APP],
      ],
    );
    assert.equal(versions.at(-1)?.version, versions[0]?.version);
    const v = await cli('versions', '--state', state);
    assert.match(v.out, /quarantine spiffe:\/\/shop\.example\/ns\/shop\/sa\/app \(from and to\)/);

    const bad = await cli('quarantine', 'web', '--state', state);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not a SPIFFE ID/);
  } finally {
    await sidecar.stop();
    await control.stop();
    upstream.close();
  }
});
