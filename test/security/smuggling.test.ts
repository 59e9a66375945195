/**
 * Attack: request smuggling through the sidecar: framing that two HTTP parsers could read
 * differently, so that a second request rides inside the first past the filter. Each malformed
 * request is refused with 400 and reaches nothing; a request hidden in a well-framed body stays
 * a body, and the app sees exactly the requests the filter decided.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ID, statuses, Target } from '../helpers/target.js';

let t: Target;
before(async () => {
  t = await Target.start();
});
after(() => t.stop());

const HIDDEN = 'GET /admin/users HTTP/1.1\r\nHost: api\r\n\r\n';
/** An allowed request line: if its framing were accepted, the app would be reached. */
const ALLOWED = 'POST /api/orders HTTP/1.1\r\nHost: api\r\nX-Device-Posture: compliant\r\n';
const malformed: [string, string][] = [
  ['Content-Length and Transfer-Encoding together', `${ALLOWED}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`],
  ['two different Content-Lengths', `${ALLOWED}Content-Length: 0\r\nContent-Length: 44\r\n\r\n${HIDDEN}`],
  ['an obfuscated Transfer-Encoding', `${ALLOWED}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${HIDDEN}`],
  ['Transfer-Encoding with chunked not last', `${ALLOWED}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${HIDDEN}`],
  ['a folded header line', `${ALLOWED}X-Env: prod\r\n beta\r\nContent-Length: 0\r\n\r\n`],
  ['a space before the colon', `${ALLOWED}X-Debug : 1\r\nContent-Length: 0\r\n\r\n`],
  ['a NUL in a header value', `${ALLOWED}X-Env: a\0b\r\nContent-Length: 0\r\n\r\n`],
  ['a bare LF line ending', `${ALLOWED.replace(/\r\n/g, '\n')}X-Debug: 1\nContent-Length: 0\n\n`],
];

for (const [name, bytes] of malformed) {
  test(`${name}: refused with 400, and nothing reaches the app`, async () => {
    const r = await t.raw(ID.web, bytes);
    const codes = statuses(r.text);
    assert.equal(codes[0], 400, `${name}: ${r.text.split('\r\n')[0]}`);
    assert.ok(!codes.includes(200), 'no smuggled request was answered');
    assert.equal(r.reached, false, 'the app saw nothing');
  });
}

test('a bad chunk size: the request never completes at the app, and nothing hidden is answered', async () => {
  const before = t.seen.length;
  const r = await t.raw(ID.web, `${ALLOWED}Transfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n${HIDDEN}`);
  assert.ok(!statuses(r.text).includes(200), r.text.split('\r\n')[0]);
  assert.ok(!t.seen.slice(before).some((s) => s.url.startsWith('/admin')), 'the hidden request never reached the app');
});

test('a request inside a well-framed body is a body: the app sees one request, the one the filter allowed', async () => {
  const body = HIDDEN;
  const before = t.seen.length;
  const r = await t.raw(
    ID.web,
    `POST /api/orders HTTP/1.1\r\nHost: api\r\nX-Device-Posture: compliant\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
  assert.deepEqual(statuses(r.text), [200]);
  assert.deepEqual(
    t.seen.slice(before).map((s) => `${s.method} ${s.url}`),
    ['POST /api/orders'],
  );
});

test('pipelined requests are each decided: an allowed one then a denied one', async () => {
  const before = t.seen.length;
  const r = await t.raw(
    ID.web,
    `GET /static/a HTTP/1.1\r\nHost: api\r\n\r\nGET /admin/users HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n`,
  );
  assert.deepEqual(statuses(r.text), [200, 403]);
  assert.deepEqual(
    t.seen.slice(before).map((s) => s.url),
    ['/static/a'],
  );
});
