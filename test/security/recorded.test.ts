/**
 * Attack: recorded traffic as a way to write policy or to reach the operator's terminal. Any
 * workload's certificate can stream access-log entries; a path with a newline and a YAML
 * document in it once came out of `perimeter recommend` as a second Perimeter that let the
 * intruder charge payments. Entries are now validated at intake, recommendations are documents
 * made by the YAML library and checked to be exactly one Perimeter for the workload asked for,
 * and recorded values are shown inert.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';
import { parseAllDocuments } from 'yaml';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { reasonOf } from '../../contracts/problem.js';
import { issueSvid, loadCa } from '../../control/ca/ca.js';
import { eventOf } from '../../control/flows/event.js';
import { notExactlyOnePerimeter, recommend } from '../../control/flows/recommend.js';
import { FlowStore } from '../../control/flows/store.js';
import { createLogger } from '../../control/serve/log.js';
import { accessEntry } from '../../envoy/sidecar/access-entry.js';
import type { AccessRecord } from '../../envoy/sidecar/inbound.js';
import { clientConstructor } from '../../grpc/codec.js';
import { svidCredentials } from '../../grpc/credentials.js';
import { AccessLogService, StreamAccessLogsMessageSchema } from '../../proto/gen/envoy/service/accesslog/v3/als_pb.js';
import { perimeterCli } from '../helpers/cli.js';
import { requests } from '../helpers/flows.js';
import { testControl } from '../helpers/mesh.js';
import { eventually } from '../helpers/xds.js';

const TD = 'spiffe://shop.example/ns/';
const APP = `${TD}shop/sa/app`;
const INTRUDER = `${TD}shop/sa/intruder`;
const RECORD = 'decision=allow enforced=1 mode=enforce rule=payments/charge-with-mfa version=abc';
/** The injection that worked: a path that ends a comment line and starts a second document. */
const INJECTED = `/payments/charge\n---\napiVersion: perimeter.dev/v1\nkind: Perimeter\nmetadata: {name: payments-open}\nspec:\n  owner: x\n  mode: enforce\n  selector: {workloads: [payments]}\n  rules:\n    - {name: all, action: allow, from: {workloads: [intruder]}}\n`;
const ESCAPES = '/payments/\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u202eevil\u0085';

const entry = (over: Partial<AccessRecord>): AccessRecord => ({
  time: new Date().toISOString(),
  peer: APP,
  method: 'POST',
  authority: 'payments',
  path: '/payments/charge',
  status: 200,
  details: 'via_upstream',
  decision: RECORD,
  ...over,
});

test('intake refuses what HTTP and the filter cannot produce, each with a reason that does not echo it', () => {
  const refused: [string, Partial<AccessRecord>][] = [
    ['a newline and a YAML document in the path', { path: INJECTED }],
    ['terminal escapes in the path', { path: ESCAPES }],
    ['a space in the path', { path: '/a b' }],
    ['non-ASCII in the path', { path: '/café' }],
    ['an overlong path', { path: `/${'a'.repeat(9000)}` }],
    ['a control character in the authority', { authority: 'payments\r\nx-evil: 1' }],
    ['a peer URI SAN that is not a SPIFFE ID', { peer: 'spiffe://shop.example/ns/../sa/x' }],
    ['a peer URI SAN with a newline', { peer: `${APP}\nkind: Perimeter` }],
    ['a rule the filter never writes', { decision: 'decision=allow enforced=1 mode=enforce rule=a\nb version=v' }],
    ['a record with escape codes', { decision: `${RECORD} audit=\x1b[2J` }],
    ['an overlong record', { decision: `${RECORD} staged=${'x'.repeat(5000)}` }],
  ];
  for (const [what, over] of refused) {
    const r = eventOf(accessEntry(entry(over)), 'payments');
    assert.equal(r.ok, false, what);
    if (!r.ok) assert.match(reasonOf(r), /^[\x20-\x7e]+$/, `${what}: the reason is plain text (${reasonOf(r)})`);
  }
  assert.equal(eventOf(accessEntry(entry({})), 'payments').ok, true, 'an ordinary entry is kept');
});

test('over the real ALS stream, any workload certificate: the entries are refused and counted, nothing is stored', async () => {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-recorded-'));
  const control = await testControl(state);
  const ca = loadCa(state);
  try {
    const intruder = await issueSvid(ca, INTRUDER);
    const Client = clientConstructor(AccessLogService);
    const client = new Client(
      `127.0.0.1:${control.xdsPort}`,
      svidCredentials({
        caPem: ca.certPem,
        certPem: intruder.chainPem,
        keyPem: intruder.keyPem,
        serverId: `spiffe://shop.example${CONTROL_IDENTITY_PATH}`,
      }),
    );
    const call = (
      client as unknown as { StreamAccessLogs(cb: (e: grpc.ServiceError | null) => void): grpc.ClientWritableStream<object> }
    ).StreamAccessLogs(() => {});
    call.write(
      create(StreamAccessLogsMessageSchema, {
        identifier: { node: { id: INTRUDER }, logName: 'perimeter/intruder' },
        logEntries: {
          case: 'httpLogs',
          value: { logEntry: [accessEntry(entry({ path: INJECTED })), accessEntry(entry({ path: ESCAPES })), accessEntry(entry({}))] },
        },
      }),
    );
    await eventually(() => control.status().flows.entries >= 3 && control.status().flows.recorded >= 1, 5_000, 'entries received');
    call.end();
    client.close();
    const st = control.status().flows;
    assert.equal(st.refused, 2);
    assert.equal(st.recorded, 1);
    assert.match(st.lastRefusal ?? '', /the path has a control, space or non-ASCII character/);
  } finally {
    await control.stop();
  }
  const flows = (await FlowStore.read(state)) ?? [];
  assert.deepEqual(
    flows.map((f) => f.lastPath),
    ['/payments/charge'],
  );
});

/** A store that holds hostile flows anyway (written before intake checked, or by hand). */
async function hostileStore(): Promise<string> {
  const state = mkdtempSync(join(tmpdir(), 'perimeter-recorded-store-'));
  const store = FlowStore.open(state);
  store.record([
    ...requests({ source: APP, destination: 'payments', method: 'POST', path: '/payments/charge', n: 5 }),
    ...requests({ source: APP, destination: 'payments', method: 'POST', path: INJECTED, n: 1 }),
    ...requests({ source: APP, destination: 'payments', method: 'GET', path: ESCAPES, n: 1 }),
    ...requests({ source: `${TD}shop/sa/x\n---\nkind: Perimeter`, destination: 'payments', method: 'GET', path: '/p', n: 1 }),
  ]);
  await store.close();
  return state;
}

test('recommend, fed hostile flows, makes exactly one Perimeter for the workload asked for; the rest is inert comment', async () => {
  const state = await hostileStore();
  const r = await perimeterCli('recommend', '--for', 'payments', '--policy', 'examples/shop/policy', '--state', state);
  assert.equal(r.code, 0, r.err);
  const docs = parseAllDocuments(r.out);
  assert.ok(Array.isArray(docs));
  assert.equal(docs.length, 1, r.out);
  const v = docs[0]?.toJS();
  assert.equal(v.metadata.name, 'payments');
  assert.deepEqual(v.spec.selector, { workloads: ['payments'] });
  assert.ok(
    v.spec.rules.every((x: { action: string }) => x.action === 'allow'),
    'only allow rules',
  );
  assert.doesNotMatch(JSON.stringify(v), /intruder|payments-open/, 'nothing of the injected document is structure');
  assert.doesNotMatch(r.out, /\x1b|\u202e|\u0085/, 'no escape sequence reaches the terminal');
  assert.doesNotMatch(r.out, /^---/m, 'no second document starts anywhere');
  assert.equal(r.out.match(/^kind: /gm)?.length, 1);
});

test('the self-check refuses anything but one Perimeter for the workload', () => {
  const one = readFileSync('examples/shop/policy/payments.yaml', 'utf8');
  assert.match(notExactlyOnePerimeter(`${one}\n---\n${one}`, 'payments') ?? '', /2 documents/);
  assert.match(notExactlyOnePerimeter(one.replace(/^kind: .*/m, 'kind: Workload'), 'payments') ?? '', /kind/);
  const own = recommend(
    {
      name: 'payments',
      identity: `${TD}payments/sa/payments`,
      namespace: 'payments',
      labels: {},
      location: { file: '', line: 1, column: 1 },
    },
    [],
    [],
  );
  assert.equal(notExactlyOnePerimeter(own.yaml, 'payments'), undefined);
  assert.match(notExactlyOnePerimeter(own.yaml, 'db') ?? '', /metadata.name/);
});

test('the control server’s JSON logs carry sidecar-sent text inert, C1 controls and bidi overrides included', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => {
    text += d;
  });
  const log = createLogger('info', out);
  log.warn({ node: 'spiffe://x\u009b2J', message: `evil\x1b[2J\u202eevil`, nested: { list: ['\u0085'] } }, 'NACK \u009b31m');
  const line = text.trim();
  assert.doesNotMatch(line, /[\u0080-\u009f\u202a-\u202e]|\x1b/, line);
  const o = JSON.parse(line);
  assert.equal(o.message, 'evil\\x1b[2J\\u202eevil');
  assert.equal(o.msg, 'NACK \\x9b31m');
  assert.deepEqual(o.nested.list, ['\\x85']);
});

test('flows, map, replay and report show hostile recorded values inert', async () => {
  const state = await hostileStore();
  for (const args of [
    ['flows', '--state', state],
    ['map', '--policy', 'examples/shop/policy', '--state', state, '--format', 'dot'],
    ['map', '--policy', 'examples/shop/policy', '--state', state],
    ['replay', '--policy', 'examples/shop/policy', '--candidate', 'examples/shop/policy', '--state', state],
    ['report', '--policy', 'examples/shop/policy', '--state', state],
  ]) {
    const r = await perimeterCli(...args);
    assert.ok(r.code === 0 || r.code === 3, `${args[0]}: ${r.err}`);
    assert.doesNotMatch(r.out, /[\x00-\x08\x0b-\x1f\x7f\u0085\u202e]/, `${args.join(' ')}: a control character reached the output`);
  }
  const flows = await perimeterCli('flows', '--state', state);
  assert.match(flows.out, /\\x1b\]0;pwned\\x07/, 'shown as an escape, readable');
});
