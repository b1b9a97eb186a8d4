import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createSecretBox, isSecretBoxToken, SecretBoxError } from './secret-box.ts';

const key = randomBytes(32).toString('base64url');
const otherKey = randomBytes(32).toString('base64url');

function assertOpaque(error: unknown, ...secrets: string[]): boolean {
  assert.ok(error instanceof SecretBoxError);
  for (const secret of secrets) {
    if (secret) assert.ok(!error.message.includes(secret), 'error message leaks a secret');
    if (secret) assert.ok(!String(error.stack).includes(secret), 'stack leaks a secret');
  }
  assert.equal(error.cause, undefined);
  return true;
}

describe('secret box', () => {
  it('round-trips text, unicode and empty strings', () => {
    const box = createSecretBox(key);
    for (const plain of ['smtp-password', '', 'ünïcödé ✓ 🔑 日本語', 'a.b.c', 'x'.repeat(100_000), '\u0000\uffff']) {
      const token = box.encrypt(plain);
      assert.ok(isSecretBoxToken(token), token.slice(0, 40));
      assert.ok(!token.includes(plain) || plain === '' || plain.length < 3);
      assert.equal(box.decrypt(token), plain);
    }
  });

  it('writes a versioned token with a fresh IV each time', () => {
    const box = createSecretBox(key);
    const a = box.encrypt('same');
    const b = box.encrypt('same');
    assert.notEqual(a, b);
    const [version, iv, ciphertext, tag] = a.split('.');
    assert.equal(version, 'v1');
    assert.equal(Buffer.from(iv ?? '', 'base64url').length, 12);
    assert.equal(Buffer.from(ciphertext ?? '', 'base64url').length, 4);
    assert.equal(Buffer.from(tag ?? '', 'base64url').length, 16);
  });

  it('decrypts with a second box made from the same key (stateless across nodes)', () => {
    const token = createSecretBox(key).encrypt('shared');
    assert.equal(createSecretBox(key).decrypt(token), 'shared');
  });

  it('detects tampering with any part of the token', () => {
    const box = createSecretBox(key);
    const plain = 'top secret value';
    const token = box.encrypt(plain);
    const parts = token.split('.');
    for (let index = 1; index < 4; index++) {
      const part = parts[index] ?? '';
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      const tampered = [...parts];
      tampered[index] = bytes.toString('base64url');
      assert.throws(() => box.decrypt(tampered.join('.')), (error) => assertOpaque(error, plain, key));
    }
    // Truncated ciphertext, dropped tag, swapped version.
    assert.throws(() => box.decrypt(`${parts[0]}.${parts[1]}.${parts[2]?.slice(0, -2)}.${parts[3]}`), (e) => assertOpaque(e, plain, key));
    assert.throws(() => box.decrypt(parts.slice(0, 3).join('.')), (e) => assertOpaque(e, plain, key));
    assert.throws(() => box.decrypt(['v2', ...parts.slice(1)].join('.')), (e) => assertOpaque(e, plain, key));
  });

  it('refuses tokens made under another key', () => {
    const plain = 'belongs to another site';
    const token = createSecretBox(otherKey).encrypt(plain);
    assert.throws(() => createSecretBox(key).decrypt(token), (error) => assertOpaque(error, plain, key, otherKey));
  });

  it('refuses foreign and hostile tokens without crashing', () => {
    const box = createSecretBox(key);
    const foreign = [
      '',
      'plain text',
      // A Fernet token as Frappe writes it.
      'gAAAAABhZ2V0X3RoaXNfaXNfbm90X3JlYWxfYnV0X2xvb2tzX2xpa2VfZmVybmV0X3Rva2VuX3h4eHh4eA==',
      'v1...',
      'v1.!!!!.!!!!.!!!!',
      'v1.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA',
      `v1.${'A'.repeat(16)}.${'A'.repeat(1_000_000)}.${'A'.repeat(22)}`,
      '.'.repeat(10_000),
    ];
    for (const token of foreign) {
      assert.throws(() => box.decrypt(token), (error) => assertOpaque(error, key));
    }
    for (const value of [undefined, null, 42, {}, ['v1']]) {
      assert.throws(() => box.decrypt(value as unknown as string), (error) => assertOpaque(error, key));
    }
  });

  it('accepts Frappe-style padded keys and refuses short or malformed keys without echoing them', () => {
    const padded = randomBytes(32).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
    assert.ok(padded.endsWith('='));
    const box = createSecretBox(padded);
    assert.equal(box.decrypt(box.encrypt('ok')), 'ok');
    assert.equal(createSecretBox(padded.replace(/=+$/, '')).decrypt(box.encrypt('same key')), 'same key');

    const short = randomBytes(16).toString('base64url');
    const malformed = `${randomBytes(32).toString('base64url')}!*`;
    for (const bad of [short, malformed, '', 'not base64 at all', undefined as unknown as string]) {
      assert.throws(() => createSecretBox(bad), (error) => assertOpaque(error, bad ?? ''));
    }
  });

  it('refuses to encrypt non-strings', () => {
    const box = createSecretBox(key);
    assert.throws(() => box.encrypt(42 as unknown as string), TypeError);
  });

  it('recognises its own tokens', () => {
    assert.equal(isSecretBoxToken(createSecretBox(key).encrypt('x')), true);
    assert.equal(isSecretBoxToken('*****'), false);
    assert.equal(isSecretBoxToken(null), false);
  });
});
