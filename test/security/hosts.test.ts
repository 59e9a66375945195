/**
 * Attack: the same host spelled so that a host-conditioned deny does not see it: case, a trailing
 * dot, a port, an overlong authority, a second Host header. Through the sidecar over mTLS.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ID, statuses, Target } from '../helpers/target.js';

let t: Target;
before(async () => {
  t = await Target.start();
});
after(() => t.stop());

const get = (host: string, extra = '') => `GET /static/a HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`;

for (const host of ['internal.api', 'INTERNAL.API', 'Internal.Api', 'internal.api.', 'internal.api:8443', 'INTERNAL.API.:443']) {
  test(`Host ${host}: denied like internal.api`, async () => {
    const r = await t.raw(ID.web, get(host));
    assert.deepEqual(statuses(r.text), [403]);
    assert.equal(r.reached, false);
  });
}

test('an authority longer than 1 KiB is an unsafe request (denied), never truncated into a match', async () => {
  const r = await t.raw(ID.web, get(`${'a'.repeat(1100)}.internal.api`));
  assert.deepEqual(statuses(r.text), [403]);
  assert.match(t.records.at(-1)?.decision ?? '', /rule=api\/unsafe-request/);
});

test('a second Host header: refused, or decided on the very Host the app receives', async () => {
  const r = await t.raw(ID.web, get('public.api', 'Host: internal.api\r\n'));
  const [code] = statuses(r.text);
  if (code === 200) {
    const seen = t.seen.at(-1);
    const hosts = (seen?.rawHeaders ?? []).filter((_, i, a) => i % 2 === 1 && a[i - 1]?.toLowerCase() === 'host');
    assert.deepEqual(hosts, ['public.api'], 'the app receives the host the filter decided on');
  } else assert.ok(code === 400 || code === 403, `${code}`);
});

test('a host other than the denied one passes (the deny is not everything)', async () => {
  const r = await t.raw(ID.web, get('public.api'));
  assert.deepEqual(statuses(r.text), [200]);
});
