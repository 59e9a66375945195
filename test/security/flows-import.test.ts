/**
 * Attack: log files fed to `perimeter flows import`. A log holds whatever callers sent (paths,
 * authorities) and whatever wrote it; what it says becomes flows, then policy (recommend) and text
 * on an operator's terminal. A line with a control character, a caller that is no SPIFFE ID, an
 * overlong line or a request line split by spaces is refused by number, and nothing of it is stored
 * or printed raw.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';

const TD = 'spiffe://shop.example';
const line = (o: Record<string, unknown>) =>
  JSON.stringify({
    start_time: '2026-11-30T09:00:00.000Z',
    method: 'GET',
    path: '/orders/1',
    response_code: 200,
    authority: 'db',
    downstream_peer_uri_san: `${TD}/ns/shop/sa/app`,
    downstream_local_uri_san: `${TD}/ns/data/sa/db`,
    ...o,
  });

test('hostile Envoy log lines are refused by line number; only the honest line becomes a flow', () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-attack-'));
  const file = join(dir, 'access.log');
  writeFileSync(
    file,
    [
      line({}),
      line({ path: '/orders/\u001b]0;owned\u0007' }),
      line({ authority: 'db\u001b[2J' }),
      line({ downstream_peer_uri_san: 'https://evil.example/admin' }),
      line({ method: 'GET /admin' }),
      line({ path: `/${'a'.repeat(70_000)}` }),
      // Keys that name an object's prototype, as a log may carry them: read as plain keys, ignored.
      line({ constructor: 'x' }).replace('{', '{"__proto__": {"polluted": true}, '),
    ].join('\n'),
  );
  const state = join(dir, 'state');
  const r = runCli('flows', 'import', '--format', 'envoy-json', '--policy', 'examples/shop/policy', '--state', state, file);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.out + r.err, /\u001b|\u0007/, 'nothing raw reaches the terminal');
  const json = JSON.parse(
    runCli('flows', 'import', '--format', 'envoy-json', '--policy', 'examples/shop/policy', '--state', join(dir, 's2'), '--json', file).out,
  );
  assert.deepEqual(
    json.problems.map((p: { line: number; reason: string }) => [p.line, p.reason]),
    [
      [2, 'the path has a control, space or non-ASCII character'],
      [3, 'the authority has a control, space or non-ASCII character'],
      [4, 'the caller is not a SPIFFE ID'],
      [5, 'the method is not an HTTP method token'],
      [6, 'longer than 65536 bytes'],
    ],
  );
  assert.equal(json.imported, 2, 'the honest line, and the one whose extra keys are ignored');
  const flows = JSON.parse(runCli('flows', '--state', state, '--json').out).flows as { template: string; count: number }[];
  assert.deepEqual(
    flows.map((f) => [f.template, f.count]),
    [['/orders/*', 2]],
  );
  assert.equal(({} as { polluted?: boolean }).polluted, undefined);
});

test('an Istio request line split by spaces is unreadable, not read as another request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-istio-attack-'));
  const file = join(dir, 'istio.log');
  writeFileSync(
    file,
    '[2026-11-30T09:00:00.000Z] "GET /orders/1 HTTP/1.1 extra" 200 - via_upstream - "-" 0 1 1 1 "-" "ua" "id" "db" "127.0.0.6:8080" inbound|8080|| 127.0.0.6:1 10.1.2.13:8080 10.1.1.12:2 - default\n',
  );
  const r = runCli(
    'flows',
    'import',
    '--format',
    'istio',
    '--policy',
    'examples/shop/policy',
    '--pods',
    'examples/flows/pods.json',
    '--state',
    join(dir, 's'),
    '--json',
    file,
  );
  const json = JSON.parse(r.out);
  assert.equal(json.imported, 0);
  assert.deepEqual(json.problems, [{ file, line: 1, reason: 'the request is not "METHOD PATH PROTOCOL"' }]);
});
