/**
 * Attack: one xDS stream growing the server's memory without bound: each request with a new
 * type_url the server does not serve and megabytes of resource names (once 138 → 563 MiB
 * after 50 requests). Unserved types hold nothing, names per type are bounded, the state a
 * stream keeps is bounded; the control server runs in a process of its own and its resident
 * memory is read before and after.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TYPE } from '../../contracts/type-urls.js';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import type { StatusReport } from '../../control/serve/status.js';
import { LIMITS } from '../../control/xds/session.js';
import { delta, eventually, sotw } from '../helpers/xds.js';

const WEB = 'spiffe://shop.example/ns/shop/sa/web';
let server: ChildProcess;
let state: string;
let xds: string;
let admin: string;
let tls: { caPem: string; certPem: string; keyPem: string };

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) / 1024;
}

async function status(): Promise<StatusReport> {
  const res = await fetch(`http://${admin}/status`);
  return (await res.json()) as StatusReport;
}

/** About `mib` MiB of distinct resource names. */
const manyNames = (mib: number, tag: string) => Array.from({ length: mib * 10_486 }, (_, i) => `${tag}-${i}-${'n'.repeat(80)}`);

before(async () => {
  state = mkdtempSync(join(tmpdir(), 'perimeter-xds-abuse-'));
  server = spawn(
    process.execPath,
    [
      'bin/perimeter.js',
      'serve',
      '--policy',
      'examples/shop/policy',
      '--state',
      state,
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--max-streams-per-identity',
      '16',
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await eventually(() => existsSync(join(state, 'server.json')), 20_000, 'the control server started');
  const f = JSON.parse(readFileSync(join(state, 'server.json'), 'utf8'));
  xds = f.xds;
  admin = f.admin;
  const ca = loadCa(state);
  const svid = await issueSvid(ca, WEB);
  tls = { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem };
});
after(() => {
  server.kill('SIGTERM');
});

test('fifty requests for unserved types with 2 MiB of names each: nothing is kept, memory stays flat', async () => {
  const pid = server.pid as number;
  // The stream the attacker keeps: a real subscription first, then the flood on the same stream.
  const s = sotw(xds, tls);
  s.req({ node: { id: WEB }, typeUrl: TYPE.extensionConfig, resourceNames: ['perimeter.authz'] });
  await s.next(5_000);
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = rssMiB(pid);
  for (let i = 0; i < 50; i++)
    s.req({ node: { id: WEB }, typeUrl: `type.googleapis.com/evil.Type${i}`, resourceNames: manyNames(2, `t${i}`) });
  const mine = async () => (await status()).sidecars.find((c) => c.identity === WEB);
  await eventually(async () => (await mine())?.unservedRequests === 50, 30_000, 'every flood request read');
  await s.nothing(500);
  const rssAfter = rssMiB(pid);
  assert.ok(await mine(), 'the stream is still connected: unserved types are answered with nothing, not an error');
  s.close();
  const grew = rssAfter - rssBefore;
  process.stderr.write(`xds flood: resident memory ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB\n`);
  assert.ok(grew < 64, `resident memory grew ${grew.toFixed(0)} MiB (from ${rssBefore.toFixed(0)} MiB)`);
});

test('too many names for a served type ends the stream with RESOURCE_EXHAUSTED (SotW and Delta, at once and bit by bit)', async () => {
  const s = sotw(xds, tls);
  s.req({ node: { id: WEB }, typeUrl: TYPE.extensionConfig, resourceNames: manyNames(1, 'a') });
  assert.equal((await s.status).code, grpc.status.RESOURCE_EXHAUSTED);
  s.close();

  const d = delta(xds, tls);
  for (let i = 0; i <= LIMITS.namesPerType / 64; i++)
    d.req({
      node: { id: WEB },
      typeUrl: TYPE.extensionConfig,
      resourceNamesSubscribe: Array.from({ length: 64 }, (_, k) => `n${i}-${k}`),
    });
  assert.equal((await d.status).code, grpc.status.RESOURCE_EXHAUSTED);
  d.close();

  const init = delta(xds, tls);
  init.req({
    node: { id: WEB },
    typeUrl: TYPE.extensionConfig,
    initialResourceVersions: Object.fromEntries(manyNames(1, 'i').map((n) => [n, 'v'])),
  });
  assert.equal((await init.status).code, grpc.status.RESOURCE_EXHAUSTED);
  init.close();
});

test('overlong names, versions and nonces are refused; a NACK message is kept truncated', async () => {
  for (const bad of [
    { resourceNames: ['x'.repeat(LIMITS.nameLength + 1)] },
    { versionInfo: 'v'.repeat(LIMITS.versionLength + 1) },
    { responseNonce: 'n'.repeat(LIMITS.versionLength + 1) },
  ]) {
    const s = sotw(xds, tls);
    s.req({ node: { id: WEB }, typeUrl: TYPE.extensionConfig, ...bad });
    assert.equal((await s.status).code, grpc.status.INVALID_ARGUMENT, JSON.stringify(Object.keys(bad)));
    s.close();
  }
  const s = sotw(xds, tls);
  s.req({ node: { id: WEB }, typeUrl: TYPE.extensionConfig, resourceNames: ['perimeter.authz'] });
  const r = await s.next(5_000);
  s.req({
    node: { id: WEB },
    typeUrl: TYPE.extensionConfig,
    resourceNames: ['perimeter.authz'],
    responseNonce: r.nonce,
    versionInfo: '',
    errorDetail: { code: 3, message: `\x1b[2J${'m'.repeat(100_000)}` },
  });
  await eventually(async () => (await status()).sidecars.some((c) => c.identity === WEB && c.lastNack), 5_000, 'the NACK recorded');
  const nack = (await status()).sidecars.find((c) => c.identity === WEB && c.lastNack)?.lastNack;
  assert.ok((nack?.message.length ?? 0) <= LIMITS.nackMessage + 1, `kept ${nack?.message.length} characters`);
  s.close();
});

test('one identity cannot hold more streams open than --max-streams-per-identity (16 here), and the refusal is counted', async () => {
  const streams = Array.from({ length: 17 }, () => sotw(xds, tls));
  for (const s of streams) s.req({ node: { id: WEB }, typeUrl: TYPE.extensionConfig, resourceNames: ['perimeter.authz'] });
  const codes = await Promise.all(
    streams.map((s) =>
      Promise.race([s.status.then((x) => x.code), s.next(3_000).then(() => 'open' as const)]).catch(() => 'no answer' as const),
    ),
  );
  assert.equal(codes.filter((c) => c === grpc.status.RESOURCE_EXHAUSTED).length, 1, JSON.stringify(codes));
  const refused = await (await fetch(`http://${admin}/metrics`)).text();
  assert.match(refused, /perimeter_xds_refused_streams_total\{reason="too_many_streams"\} 1/);
  for (const s of streams) s.close();
});
