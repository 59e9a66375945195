/** `perimeter serve` and `perimeter sidecar` as processes, the way an operator starts them. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { mtls } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const state = mkdtempSync(join(tmpdir(), 'perimeter-cli-sc-'));
const procs: ChildProcess[] = [];
const out = new Map<ChildProcess, string>();

function start(...args: string[]): ChildProcess {
  const p = spawn(process.execPath, ['bin/perimeter.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  out.set(p, '');
  p.stdout?.on('data', (d) => out.set(p, (out.get(p) ?? '') + d));
  p.stderr?.on('data', (d) => out.set(p, (out.get(p) ?? '') + d));
  procs.push(p);
  return p;
}

const app = createServer((_req, res) => res.end('hello from app\n'));

// Whatever happened, nothing may outlive the file (an open server would keep it running forever).
after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  app.close();
});

test('a sidecar started from the command line enforces the policy the control server streams it', async () => {
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const serve = start('serve', '--policy', 'examples/shop/policy', '--state', state, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0');
  await eventually(() => existsSync(join(state, 'server.json')), 20_000, 'control server');
  const xds = JSON.parse(readFileSync(join(state, 'server.json'), 'utf8')).xds as string;
  const sidecar = start(
    'sidecar',
    '--workload',
    'app',
    '--policy',
    'examples/shop/policy',
    '--state',
    state,
    '--control',
    xds,
    '--inbound',
    '0',
    '--upstream',
    `127.0.0.1:${(app.address() as AddressInfo).port}`,
  );
  await eventually(() => /"event":"policy applied"/.test(out.get(sidecar) ?? ''), 20_000, 'sidecar policy');
  const port = Number(/"event":"listening","inbound":(\d+)/.exec(out.get(sidecar) ?? '')?.[1]);
  const ca = loadCa(state);
  const call = async (identity: string) => (await mtls(port, ca.certPem, await issueSvid(ca, identity), { path: '/api/orders/1' })).status;
  assert.equal(await call('spiffe://shop.example/ns/shop/sa/web'), 200);
  assert.equal(await call('spiffe://shop.example/ns/shop/sa/intruder'), 403);
  await eventually(
    () => /"event":"access".*"status":403.*perimeter_denied\[app\/default@/.test(out.get(sidecar) ?? ''),
    3_000,
    'the deny in the log',
  );
  const exits = [sidecar, serve].map((p) => new Promise<number | null>((r) => p.on('exit', (c) => r(c))));
  sidecar.kill('SIGTERM');
  serve.kill('SIGTERM');
  assert.deepEqual(await Promise.all(exits), [0, 0]);
});
