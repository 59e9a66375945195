/**
 * `perimeter serve` end to end on loopback: the shop policy compiled and streamed over mTLS to
 * sidecar clients (our xDS client, validating each policy in the real filter as Envoy would),
 * policy edits, rejected edits, history, rollback, status and metrics.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RESOURCE_NAME, readFilterConfig } from '../../contracts/ecds.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { reasonOf } from '../../contracts/problem.js';
import { TYPE } from '../../contracts/type-urls.js';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { tokenPath } from '../../control/serve/admin-guard.js';
import { ControlServer } from '../../control/serve/control-server.js';
import type { StatusReport } from '../../control/serve/status.js';
import { FilterRunner } from '../../envoy/filter-runner.js';
import { PluginConfigError } from '../../envoy/host/host.js';
import { type HeldResource, XdsClient } from '../../envoy/sidecar/xds-client.js';
import { CompiledPolicy } from '../../proto/gen/perimeter/v1/compiled.js';
import { eventually } from '../helpers/xds.js';

const ECDS = TYPE.extensionConfig;
const WEB = 'spiffe://shop.example/ns/shop/sa/web';
const DB = 'spiffe://shop.example/ns/data/sa/db';
const policyDir = mkdtempSync(join(tmpdir(), 'perimeter-policy-'));
const state = mkdtempSync(join(tmpdir(), 'perimeter-state-'));
cpSync('examples/shop/policy', policyDir, { recursive: true });
const logs: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
const log = {
  info: (obj: object, msg: string) => logs.push({ level: 'info', msg, obj: obj as Record<string, unknown> }),
  warn: (obj: object, msg: string) => logs.push({ level: 'warn', msg, obj: obj as Record<string, unknown> }),
  error: (obj: object, msg: string) => logs.push({ level: 'error', msg, obj: obj as Record<string, unknown> }),
};
const clients: XdsClient[] = [];
let server: ControlServer;

const start = (port = 0) =>
  ControlServer.start({
    policy: [policyDir],
    state,
    listen: `127.0.0.1:${port}`,
    admin: '127.0.0.1:0',
    insecure: false,
    debounceMs: 50,
    moduleFile: BUILT_MODULE,
    log,
  });

/** A sidecar's view: what the filter would be configured with, checked by the real module. */
function validator(reject?: (p: CompiledPolicy) => string | undefined) {
  const runner = new FilterRunner();
  return (_type: string, resources: readonly HeldResource[]) => {
    for (const r of resources) {
      const read = readFilterConfig(r.resource);
      if (!read.ok) return reasonOf(read);
      const cfg = read.value;
      const refusal = reject?.(CompiledPolicy.decode(cfg.policy));
      if (refusal) return refusal;
      try {
        runner.plugin(cfg.policy);
      } catch (e) {
        if (e instanceof PluginConfigError) return e.message;
        throw e;
      }
    }
    return undefined;
  };
}

async function sidecar(
  identity: string,
  o: { transport?: 'sotw' | 'delta'; service?: 'ads' | 'ecds'; reject?: (p: CompiledPolicy) => string | undefined } = {},
) {
  const ca = loadCa(state);
  const svid = await issueSvid(ca, identity, { ttlMs: 3_600_000 });
  const c = new XdsClient({
    address: `127.0.0.1:${server.xdsPort}`,
    nodeId: identity,
    tls: {
      caPem: ca.certPem,
      certPem: svid.chainPem,
      keyPem: svid.keyPem,
      serverId: 'spiffe://shop.example/ns/perimeter-system/sa/perimeter-control',
    },
    transport: o.transport ?? 'sotw',
    service: o.service ?? 'ads',
    validate: validator(o.reject),
    backoffBaseMs: 50,
    backoffMaxMs: 200,
  });
  clients.push(c);
  c.subscribe(ECDS, [RESOURCE_NAME]);
  return c;
}

const policyOf = (c: XdsClient): CompiledPolicy | undefined => {
  const r = c.held(ECDS).get(RESOURCE_NAME);
  if (!r) return undefined;
  const read = readFilterConfig(r.resource);
  return read.ok ? CompiledPolicy.decode(read.value.policy) : undefined;
};

const admin = async (path: string, init?: RequestInit) => {
  const res = await fetch(`http://127.0.0.1:${server.adminPort}${path}`, init);
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text() };
};
const status = async () => (await admin('/status')).body as StatusReport;
// Written whole and renamed into place, as git and Kubernetes volume updates land files: a
// truncate-then-write could be compiled half-way on a loaded machine.
const edit = (file: string, from: string, to: string) => {
  const p = join(policyDir, file);
  const text = readFileSync(p, 'utf8');
  assert.ok(text.includes(from), `${file} has ${from}`);
  writeFileSync(`${p}.tmp`, text.replace(from, to));
  renameSync(`${p}.tmp`, p);
};

before(async () => {
  server = await start();
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

let first: CompiledPolicy;

test('each sidecar receives its own workload policy as the ECDS Wasm filter config, over ADS SotW, Delta and ECDS', async () => {
  const web = await sidecar(WEB);
  const db = await sidecar(DB, { transport: 'delta' });
  const db2 = await sidecar(DB, { service: 'ecds', transport: 'delta' });
  await eventually(() => [web, db, db2].every((c) => policyOf(c) !== undefined), 5_000, 'policies delivered');
  assert.equal(policyOf(web)?.workload, 'web');
  assert.equal(policyOf(db)?.workload, 'db');
  assert.equal(policyOf(db2)?.identity, DB);
  first = policyOf(db) as CompiledPolicy;
  const read = readFilterConfig(web.held(ECDS).get(RESOURCE_NAME)?.resource as HeldResource['resource']);
  assert.ok(read.ok);
  const cfg = read.value;
  assert.equal(cfg.name, 'perimeter.authz');
  assert.equal(cfg.rootId, 'perimeter');
  assert.equal(cfg.filename, '/etc/perimeter/perimeter.wasm');
  assert.match(cfg.vmId, /^perimeter-[0-9a-f]{12}$/);
  await eventually(async () => (await status()).sidecars.filter((s) => s.inSync).length === 3, 3_000, 'all ACKed');
});

test('a policy edit reaches the affected sidecar only, with a stable vm_config', async () => {
  const [web, db] = clients as [XdsClient, XdsClient];
  const webVersion = policyOf(web)?.version;
  const vmBefore = readFilterConfig(db.held(ECDS).get(RESOURCE_NAME)?.resource as HeldResource['resource']);
  let webUpdates = 0;
  web.on('update', () => webUpdates++);
  edit('db.yaml', 'mode: simulate', 'mode: enforce');
  await eventually(() => policyOf(db)?.version !== first.version, 3_000, 'db updated');
  assert.equal(policyOf(db)?.perimeters[0]?.mode, 1 + 2, 'enforce');
  const vmAfter = readFilterConfig(db.held(ECDS).get(RESOURCE_NAME)?.resource as HeldResource['resource']);
  assert.ok(vmBefore.ok && vmAfter.ok);
  assert.equal(vmAfter.value.vmId, vmBefore.value.vmId);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(webUpdates, 0);
  assert.equal(policyOf(web)?.version, webVersion);
  const s = await status();
  assert.equal(s.snapshot?.seq, 2);
  assert.deepEqual(s.snapshot?.summary, ['db: perimeter db: simulate → enforce']);
});

test('an edit with errors is rejected with validate’s messages, counted, and changes nothing', async () => {
  const db = clients[1] as XdsClient;
  const before = policyOf(db)?.version;
  let updates = 0;
  db.on('update', () => updates++);
  edit('db.yaml', 'methods: [DELETE]', 'methods: [DELETE, FR OB]');
  await eventually(async () => (await status()).lastRejected !== undefined, 3_000, 'rejection');
  const s = await status();
  assert.equal(s.snapshot?.seq, 2);
  assert.ok(
    s.lastRejected?.messages.some((m) => /db\.yaml:\d+:\d+: error: .*FR OB/.test(m)),
    s.lastRejected?.messages.join('\n'),
  );
  const metrics = (await admin('/metrics')).body as string;
  assert.match(metrics, /^perimeter_policy_changes_rejected_total 1$/m);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(updates, 0);
  assert.equal(policyOf(db)?.version, before);
  assert.ok(logs.some((l) => l.msg.startsWith('policy change rejected')));
  edit('db.yaml', 'methods: [DELETE, FR OB]', 'methods: [DELETE]');
});

test('history: versions, diff and rollback (republished until the next change)', async () => {
  const db = clients[1] as XdsClient;
  const versions = (await admin('/versions')).body as { seq: number; reason: string }[];
  assert.deepEqual(
    versions.map((v) => v.seq),
    [1, 2],
  );
  const change = (to: string): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${readFileSync(tokenPath(state), 'utf8').trim()}` },
    body: JSON.stringify({ to }),
  });
  const rb = await admin('/rollback', change('1'));
  assert.equal(rb.status, 200);
  assert.equal((rb.body as { seq: number }).seq, 3);
  await eventually(() => policyOf(db)?.version === first.version, 3_000, 'db rolled back');
  const v3 = ((await admin('/versions')).body as { reason: string; rollbackOf: number }[])[2];
  assert.equal(v3?.reason, 'rollback');
  assert.equal(v3?.rollbackOf, 1);
  const bad = await admin('/rollback', change('99'));
  assert.equal(bad.status, 404);
  assert.match((bad.body as { error: string }).error, /no version #99/);
  // The next change of the policy directory is published again.
  edit('db.yaml', 'no-deletes', 'no-deletes-ever');
  await eventually(async () => (await status()).snapshot?.seq === 4, 3_000, 'next change published');
  assert.deepEqual((await status()).snapshot?.summary, ['db: perimeter db: simulate → enforce; +db/no-deletes-ever; -db/no-deletes']);
});

test('status shows each sidecar, the policy it ACKed, and its last NACK; metrics show the streams', async () => {
  const picky = await sidecar(WEB, { reject: (p) => (p.rules.some((r) => r.name === 'no-deletes-ever') ? 'unused' : undefined) });
  await eventually(() => policyOf(picky) !== undefined, 3_000);
  const nacker = await sidecar(DB, { reject: () => 'filter refused the policy: format too new' });
  await eventually(async () => (await status()).sidecars.some((s) => s.lastNack), 3_000, 'a NACK');
  const s = await status();
  const row = s.sidecars.find((x) => x.lastNack);
  assert.equal(row?.identity, DB);
  assert.equal(row?.workload, 'db');
  assert.equal(row?.inSync, false);
  assert.equal(row?.lastNack?.message, 'filter refused the policy: format too new');
  assert.equal(row?.lastNack?.policy, row?.currentPolicy);
  assert.ok(s.sidecars.filter((x) => x.inSync).length >= 4);
  assert.ok(logs.some((l) => l.msg === 'sidecar NACKed' && l.obj.node === DB));
  nacker.close();
  const metrics = (await admin('/metrics')).body as string;
  for (const name of [
    'perimeter_xds_connected_streams{transport="sotw",service="ads"}',
    'perimeter_xds_pushes_total{type="TypedExtensionConfig"}',
    'perimeter_xds_convergence_seconds_count{type="TypedExtensionConfig"}',
    'perimeter_xds_push_ack_seconds_bucket',
    'perimeter_xds_nacks_total{type="TypedExtensionConfig"} 1',
    'perimeter_snapshot_info{version=',
    'perimeter_compile_seconds_count',
    'process_resident_memory_bytes',
  ])
    assert.ok(metrics.includes(name), `metrics lack ${name}`);
});

test('a restart keeps the history, serves the same version, and sidecars reconnect to it', async () => {
  const web = clients[0] as XdsClient;
  const version = policyOf(web)?.version;
  const before = web.stats.connects;
  const port = server.xdsPort;
  await server.stop();
  server = await start(port);
  const s = await status();
  assert.equal(s.snapshot?.seq, 4, 'no new history entry for an unchanged policy');
  await eventually(() => web.stats.connects > before, 5_000, 'reconnect');
  await eventually(async () => (await status()).sidecars.some((x) => x.identity === WEB && x.inSync), 5_000, 'web in sync');
  assert.equal(policyOf(web)?.version, version);
});

test('starting with a broken policy serves the last good version from the history', async () => {
  await server.stop();
  edit('db.yaml', 'methods: [DELETE]', 'methods: [DELETE, FR OB]');
  server = await start();
  const s = await status();
  assert.equal(s.snapshot?.seq, 4);
  assert.equal(s.snapshot?.origin, 'history');
  assert.ok(s.lastRejected);
  assert.equal((await admin('/healthz')).status, 200);
  edit('db.yaml', 'methods: [DELETE, FR OB]', 'methods: [DELETE]');
});

test('a deleted perimeter leaves its workload on the mesh default; a deleted workload loses its resource (Delta: removed)', async () => {
  const payments = await sidecar('spiffe://shop.example/ns/payments/sa/payments', { transport: 'delta' });
  const intruder = await sidecar('spiffe://shop.example/ns/shop/sa/intruder', { transport: 'delta' });
  await eventually(() => policyOf(payments) !== undefined && policyOf(intruder) !== undefined, 3_000, 'both served');
  assert.ok((policyOf(payments)?.perimeters.length ?? 0) > 0);
  const paymentsFile = join(policyDir, 'payments.yaml');
  const saved = readFileSync(paymentsFile, 'utf8');
  writeFileSync(paymentsFile, '# removed\n');
  await eventually(() => policyOf(payments)?.perimeters.length === 0, 3_000, 'payments on the mesh default');
  assert.equal(policyOf(payments)?.defaultPerimeter, '', 'the mesh default decides');
  writeFileSync(paymentsFile, saved);
  await eventually(() => (policyOf(payments)?.perimeters.length ?? 0) > 0, 3_000, 'payments perimeter back');

  const intruderDoc = /---\n# A compromised workload[\s\S]*$/;
  assert.match(readFileSync(join(policyDir, 'workloads.yaml'), 'utf8'), intruderDoc);
  edit('workloads.yaml', (readFileSync(join(policyDir, 'workloads.yaml'), 'utf8').match(intruderDoc) as RegExpMatchArray)[0], '');
  await eventually(() => intruder.held(ECDS).size === 0, 3_000, 'intruder resource removed');
  assert.equal(policyOf(intruder), undefined);
});
