import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { keyedHash, lookupDigest, randomHex } from './crypto.ts';

test('lookupDigest is SHA-256 over key, NUL, value: stable, and different for another key or value', () => {
  const digest = lookupDigest('site-key', 'credential:api-key\u0000abc\u0000secret');
  assert.equal(digest, createHash('sha256').update('site-key\u0000credential:api-key\u0000abc\u0000secret').digest('base64url'));
  assert.equal(digest, lookupDigest('site-key', 'credential:api-key\u0000abc\u0000secret'));
  assert.notEqual(digest, lookupDigest('other-key', 'credential:api-key\u0000abc\u0000secret'));
  assert.notEqual(digest, lookupDigest('site-key', 'credential:api-key\u0000abc\u0000secreT'));
  // The separator keeps the key and the value apart.
  assert.notEqual(lookupDigest('ab', 'c'), lookupDigest('a', 'bc'));
  assert.ok(!digest.includes('secret'));
});

test('lookupDigest is not the stored keyed hash', () => {
  assert.notEqual(lookupDigest('k', 'v'), keyedHash('k', 'v'));
});

test('randomHex gives fresh hex of the asked length, across refills of its pool and beyond its size', () => {
  const seen = new Set<string>();
  // 3,000 names of 5 bytes each draw the 4 KiB pool down and refill it three times.
  for (let i = 0; i < 3000; i++) {
    const name = randomHex(10);
    assert.match(name, /^[0-9a-f]{10}$/);
    seen.add(name);
  }
  assert.equal(seen.size, 3000, 'no bytes are handed out twice');
  assert.match(randomHex(7), /^[0-9a-f]{7}$/);
  assert.match(randomHex(10_000), /^[0-9a-f]{10000}$/);
  assert.notEqual(randomHex(10_000), randomHex(10_000));
});
