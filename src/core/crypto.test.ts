import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { keyedHash, lookupDigest } from './crypto.ts';

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
