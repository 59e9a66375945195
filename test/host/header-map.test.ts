/**
 * HeaderMap: the host's header maps kept as the Proxy-Wasm pairs serialization, the bytes a
 * module reads with proxy_get_header_map_pairs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderMap } from '../../envoy/host/header-map.js';
import { deserializePairs, serializePairs } from '../../envoy/host/pairs.js';

test('a map of text is the pairs serialization of its entries, keys lower-cased as in Envoy', () => {
  const m = HeaderMap.of([
    [':method', 'GET'],
    ['X-Tenant', 'café'],
    ['accept', '*/*'],
  ]);
  assert.deepEqual(
    Buffer.from(m.pairs()),
    Buffer.from(
      serializePairs([
        [':method', 'GET'],
        ['x-tenant', 'café'],
        ['accept', '*/*'],
      ]),
    ),
  );
  assert.equal(m.length, 3);
  assert.deepEqual(m.entries()[1], ['x-tenant', 'café']);
  // Envoy's byteSize: the bytes of every key and value ("café" is five bytes of UTF-8).
  assert.equal(m.byteSize(), 7 + 3 + 8 + 5 + 6 + 3);
});

test("an array of lower-case keys is kept as the map's entries, not copied", () => {
  const given: [string, string][] = [
    [':path', '/a'],
    ['x-a', '1'],
  ];
  assert.equal(HeaderMap.of(given).entries(), given);
  const upper: [string, string][] = [['X-A', '1']];
  const m = HeaderMap.of(upper);
  assert.notEqual(m.entries(), upper);
  assert.deepEqual(upper, [['X-A', '1']]);
});

test('a map off the wire hands the module each header byte as it came (latin1), and reads back the same', () => {
  // Node's HTTP parser makes one character of each byte: "é" sent as UTF-8 arrives as "Ã©".
  const wire = Buffer.from('é', 'utf8').toString('latin1');
  const m = HeaderMap.of([['x-name', wire]], 'latin1');
  const pairs = deserializePairs(m.pairs(), 'latin1');
  assert.deepEqual(pairs, [['x-name', wire]]);
  const bytes = Buffer.from(m.pairs());
  assert.ok(bytes.includes(Buffer.from([0xc3, 0xa9, 0x00])), 'the two bytes of é, then the NUL');
  assert.equal(bytes.length, 4 + 8 + 6 + 1 + 2 + 1);
  // A map from those bytes reads back as the same strings.
  assert.deepEqual(HeaderMap.fromPairs(m.pairs(), 'latin1').entries(), [['x-name', wire]]);
});

test('first and joined read a repeated header as Envoy does', () => {
  const m = HeaderMap.of([
    ['x-a', '1'],
    ['x-b', '2'],
    ['x-a', '3'],
  ]);
  assert.equal(m.first('x-a'), '1');
  assert.equal(m.joined('x-a'), '1,3');
  assert.equal(m.joined('x-c'), undefined);
});

test('changes make a new list and new bytes: a clone, and the array a map was made from, keep theirs', () => {
  const given: [string, string][] = [
    ['x-a', '1'],
    ['x-a', '2'],
    ['x-b', '3'],
  ];
  const m = HeaderMap.of(given);
  const before = Buffer.from(m.pairs());
  const c = m.clone();
  c.replace('X-A', 'one');
  c.add('X-New', 'n');
  c.remove('x-b');
  assert.deepEqual(c.entries(), [
    ['x-a', 'one'],
    ['x-new', 'n'],
  ]);
  assert.deepEqual(deserializePairs(c.pairs()), c.entries());
  assert.deepEqual(Buffer.from(m.pairs()), before);
  assert.deepEqual(given, [
    ['x-a', '1'],
    ['x-a', '2'],
    ['x-b', '3'],
  ]);
  c.setAll([['Y', 'z']]);
  assert.deepEqual(c.entries(), [['y', 'z']]);
  assert.throws(() => HeaderMap.EMPTY.add('x', 'y'), /never changed/);
});
