// The read cache's bookkeeping: keys that never collide, a byte budget the oldest answers leave
// first, and no answer that holds something a caller could mutate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadCache, readKey, rowsBytes } from './read-cache.ts';

test('keys tell apart parameter lists that would join to the same text', () => {
  const sql = 'SELECT * FROM "t" WHERE "a" = ? AND "b" = ?';
  const keys = [
    readKey(sql, ['a\u0000s1:b', 'c']),
    readKey(sql, ['a', 'b\u0000s1:c']),
    readKey(sql, ['a', 'bc']),
    readKey(sql, ['ab', 'c']),
    readKey(sql, ['1', 'c']),
    readKey(sql, [1, 'c']),
    readKey(sql, [1n, 'c']),
    readKey(sql, [null, 'c']),
    readKey(sql, ['null', 'c']),
    readKey(`${sql} `, ['a', 'bc']),
  ];
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(readKey(sql, ['a', 'bc']), readKey(sql, ['a', 'bc']));
});

test('a binary parameter makes a read uncacheable', () => {
  assert.equal(readKey('SELECT ?', [new Uint8Array([1, 2])]), undefined);
});

test('rows holding a Buffer are not kept; others are sized by their text', () => {
  assert.equal(rowsBytes([['a', Buffer.from('b')]]), undefined);
  const small = rowsBytes([['a', 1, null]]) as number;
  const large = rowsBytes([['a'.repeat(1000), 1, null]]) as number;
  assert.ok(small > 0);
  assert.equal(large - small, 999);
  assert.equal(rowsBytes([]), 0);
});

test('the oldest answers leave first when the budget is full, and an oversized one is not kept', () => {
  const cache = new ReadCache<string>(10_000);
  for (let i = 0; i < 20; i++) cache.set(`k${i}`, `v${i}`, 900);
  assert.ok(cache.bytes <= 10_000);
  assert.equal(cache.get('k0'), undefined);
  assert.equal(cache.get('k19'), 'v19');
  const kept = cache.size;
  assert.ok(kept >= 9 && kept < 20, `kept ${kept}`);
  cache.set('huge', 'x', 5_000);
  assert.equal(cache.get('huge'), undefined);
  assert.equal(cache.get('k19'), 'v19');
});

test('setting a key again replaces its answer and its size', () => {
  const cache = new ReadCache<string>(100_000);
  cache.set('k', 'one', 1000);
  const once = cache.bytes;
  cache.set('k', 'two', 1000);
  assert.equal(cache.bytes, once);
  assert.equal(cache.size, 1);
  assert.equal(cache.get('k'), 'two');
  cache.clear();
  assert.equal(cache.size, 0);
  assert.equal(cache.bytes, 0);
});
