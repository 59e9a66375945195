/** Path templates: identifiers collapse, words and versions stay. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isIdentifier, pathTemplate } from '../../control/flows/template.js';

test('numbers, UUIDs, hex and generated tokens collapse to *; the query is dropped', () => {
  assert.equal(pathTemplate('/orders/123'), '/orders/*');
  assert.equal(pathTemplate('/orders/123/items/9?x=1'), '/orders/*/items/*');
  assert.equal(pathTemplate('/users/6f1c2a9e-3b4d-4c5e-9f60-7a8b9c0d1e2f/profile'), '/users/*/profile');
  assert.equal(pathTemplate('/blobs/5f2b9c0e1d3a4b6c'), '/blobs/*');
  assert.equal(pathTemplate('/tokens/01HZX3KQ7ZP9V2M4N6B8C0D2E4'), '/tokens/*');
  assert.equal(pathTemplate('/orders/ord-1234'), '/orders/*');
  assert.equal(pathTemplate('/prices/12.50'), '/prices/*');
});

test('words, API versions, the root and empty segments are kept', () => {
  assert.equal(pathTemplate('/api/v2/orders'), '/api/v2/orders');
  assert.equal(pathTemplate('/health'), '/health');
  assert.equal(pathTemplate('/'), '/');
  assert.equal(pathTemplate('/?q=1'), '/');
  assert.equal(pathTemplate('/a//b/'), '/a//b/');
  assert.equal(pathTemplate('/oauth2/callback'), '/oauth2/callback');
  for (const w of ['orders', 'v1', 'v1.2', 'health', 'x509', 'utf8']) assert.equal(isIdentifier(w), false, w);
});
