/**
 * A hostile module against the host's per-request caches and state: names and local-reply
 * strings it rewrites in place are read again (never served from the cache by address),
 * cycling through more names than the cache holds costs only misses, and a stream's filter
 * state is bounded in keys and bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FILTER_STATE_MAX_KEYS, FILTER_STATE_MAX_VALUE_BYTES, FilterState } from '../../envoy/host/filter-state.js';
import { ModuleMemory } from '../../envoy/host/module-memory.js';

class Memory extends ModuleMemory {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  private next = 4096;
  malloc(n: number): number {
    const p = this.next;
    this.next += n;
    return p;
  }
  put(at: number, s: string): number {
    return Buffer.from(this.memory.buffer).write(s, at, 'latin1');
  }
}

test('a name rewritten in place, or differing in one byte anywhere, is read afresh', () => {
  const m = new Memory();
  const names = [
    'connection\0uri_san_peer_certificate',
    'connection\0uri_san_peer_certificatX',
    'Xonnection\0uri_san_peer_certificate',
    'abc',
    'abd',
  ];
  for (let round = 0; round < 3; round++)
    for (const n of names) {
      m.put(100, n);
      assert.equal(m.readKey(100, n.length), n);
    }
  // Out of bounds is refused, not cached.
  assert.equal(m.readKey(65530, 64), undefined);
});

test("a local reply's details and body rewritten in place are read afresh; a body kept for one reply is never changed by the next", () => {
  const m = new Memory();
  const bodies: Uint8Array[] = [];
  for (let round = 0; round < 3; round++)
    for (const text of ['access denied\n', 'access denieD\n', 'Access denied\n', 'x', '']) {
      m.put(300, text);
      const slot = m.replySlot(300, text.length);
      assert.ok(slot !== undefined && slot >= 0);
      assert.equal(m.replyText(slot), text);
      const body = m.replyBytes(slot);
      assert.equal(Buffer.from(body).toString('latin1'), text);
      bodies.push(body);
    }
  // Every body handed out still holds what it held when its reply was sent.
  const texts = ['access denied\n', 'access denieD\n', 'Access denied\n', 'x', ''];
  bodies.forEach((b, i) => {
    assert.equal(Buffer.from(b).toString('latin1'), texts[i % texts.length]);
  });
  // Too long to keep: -1 (the caller reads it afresh); out of bounds: undefined.
  assert.equal(m.replySlot(0, 4096), -1);
  assert.equal(m.replySlot(65530, 64), undefined);
});

test('cycling through more names than the cache keeps still reads every one right', () => {
  const m = new Memory();
  for (let round = 0; round < 3; round++)
    for (let i = 0; i < 100; i++) {
      const n = `name-${i}-${'x'.repeat(i % 7)}`;
      m.put(200, n);
      assert.equal(m.readKey(200, n.length), n);
    }
});

test('a string result is what was asked for, whatever was sent before', () => {
  const m = new Memory();
  const out = 16;
  const read = () => {
    const dv = new DataView(m.memory.buffer);
    const p = dv.getUint32(out, true);
    const n = dv.getUint32(out + 4, true);
    return Buffer.from(m.memory.buffer, p, n).toString('utf8');
  };
  for (const s of [
    'spiffe://td/ns/a/sa/b',
    'spiffe://td/ns/a/sa/c',
    'spiffe://td/ns/a/sa/b',
    'ünïcode',
    '',
    'spiffe://td/ns/a/sa/b'.slice(0),
  ]) {
    assert.equal(m.copyOutString(s, out, out + 4), 0);
    assert.equal(read(), s);
  }
});

test('filter state holds at most its bounds: more keys or a larger value are refused and change nothing', () => {
  const f = new FilterState();
  const copyIn = (key: string, v: Uint8Array) => f.copyIn(key, v, new Int32Array(0), 0, v.length);
  const v = new Uint8Array([1, 2, 3]);
  for (let i = 0; i < FILTER_STATE_MAX_KEYS; i++) assert.equal(copyIn(`k${i}`, v), true);
  assert.equal(copyIn('one-more', v), false);
  assert.equal(f.size, FILTER_STATE_MAX_KEYS);
  const big = new Uint8Array(FILTER_STATE_MAX_VALUE_BYTES + 1);
  assert.equal(copyIn('k0', big), false);
  assert.deepEqual([...(f.get('k0') ?? [])], [1, 2, 3]);
  // Cleared for the next stream: nothing of this one is readable, and buffers are reused.
  f.clear();
  assert.equal(f.get('k0'), undefined);
  assert.equal(copyIn('k0', new Uint8Array([9])), true);
  assert.deepEqual([...(f.get('k0') ?? [])], [9]);
});
