import assert from 'node:assert/strict';
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, it } from 'node:test';
import { hash as argon2Hash } from '@node-rs/argon2';
import { ab64Decode, ab64Encode, hashPassword, verifyPassword } from './passwords.ts';

/** passlib's adapted base64, written independently of the module under test. */
function passlibAb64(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./';
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    const chars = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63].map((c) => alphabet[c]).join('');
    const remaining = bytes.length - i;
    out += remaining >= 3 ? chars : chars.slice(0, remaining + 1);
  }
  return out;
}

/** What passlib's `pbkdf2_sha256.hash(password, salt=salt, rounds=rounds)` produces. */
function passlibHash(password: string, salt: Buffer, rounds: number): string {
  const checksum = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, rounds, 32, 'sha256');
  return `$pbkdf2-sha256$${rounds}$${passlibAb64(salt)}$${passlibAb64(checksum)}`;
}

describe('passlib pbkdf2_sha256', () => {
  it('verifies passlib\'s own published test vectors', async () => {
    // passlib/tests/test_handlers_pbkdf2.py, pbkdf2_sha256_test.known_correct_hashes
    const vectors: [string, string][] = [
      ['password', '$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ'],
      ['\u0399\u03c9\u03b1\u03bd\u03bd\u03b7\u03c2', '$pbkdf2-sha256$1212$3SABFJGDtyhrQMVt1uABPw$WyaUoqCLgvz97s523nF4iuOqZNbp5Nt8do/cuaa7AiI'],
    ];
    for (const [password, stored] of vectors) {
      assert.deepEqual(await verifyPassword(password, stored), { ok: true, needsRehash: true });
      assert.deepEqual(await verifyPassword(`${password}x`, stored), { ok: false, needsRehash: false });
    }
  });

  it('verifies pbkdf2_sha256.hash("password", salt=b"salt", rounds=1000) formatted the passlib way', async () => {
    const stored = passlibHash('password', Buffer.from('salt'), 1000);
    assert.match(stored, /^\$pbkdf2-sha256\$1000\$c2FsdA\$[A-Za-z0-9./]{43}$/);
    assert.deepEqual(await verifyPassword('password', stored), { ok: true, needsRehash: true });
    assert.equal((await verifyPassword('Password', stored)).ok, false);
    assert.equal((await verifyPassword('', stored)).ok, false);
  });

  it('verifies Frappe-default hashes (29000 rounds, 16-byte salt) with unicode passwords', async () => {
    const salt = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const stored = passlibHash('pässwörd ✓ 🔑', salt, 29000);
    assert.equal((await verifyPassword('pässwörd ✓ 🔑', stored)).ok, true);
    assert.equal((await verifyPassword('passwörd ✓ 🔑', stored)).ok, false);
  });

  it('refuses malformed pbkdf2 hashes without throwing', async () => {
    const good = passlibHash('password', Buffer.from('saltsaltsaltsalt'), 1000);
    const [, , , salt, checksum] = good.split('$');
    const bad = [
      `$pbkdf2-sha256$01000$${salt}$${checksum}`, // zero-padded rounds
      `$pbkdf2-sha256$0$${salt}$${checksum}`,
      `$pbkdf2-sha256$-1$${salt}$${checksum}`,
      `$pbkdf2-sha256$99999999999$${salt}$${checksum}`,
      `$pbkdf2-sha256$4000000000$${salt}$${checksum}`, // too many rounds to run
      `$pbkdf2-sha256$1000$${salt}`,
      `$pbkdf2-sha256$1000$${salt}$${checksum}$`,
      `$pbkdf2-sha256$1000$${salt}$${checksum?.slice(0, -1)}`,
      `$pbkdf2-sha256$1000$${salt}$${checksum}AA`,
      `$pbkdf2-sha256$1000$${salt}!$${checksum}`,
      `$pbkdf2-sha256$1000$${salt}$${checksum?.replace(/./, '*')}`,
      `$pbkdf2-sha256$1e3$${salt}$${checksum}`,
      `$pbkdf2-sha256$$${salt}$${checksum}`,
    ];
    for (const stored of bad) {
      assert.deepEqual(await verifyPassword('password', stored), { ok: false, needsRehash: false }, stored);
    }
    assert.equal((await verifyPassword('password', good)).ok, true);
  });

  it('ab64 round-trips and rejects non-ab64 text', () => {
    for (let length = 0; length < 40; length++) {
      const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 73 + 250) & 255));
      assert.equal(ab64Encode(bytes), passlibAb64(bytes));
      assert.deepEqual(ab64Decode(ab64Encode(bytes)), bytes);
    }
    assert.equal(ab64Decode('a+b'), undefined);
    assert.equal(ab64Decode('abc='), undefined);
    assert.equal(ab64Decode('abcde'), undefined);
    assert.equal(ab64Decode('ab-_'), undefined);
  });
});

describe('argon2id', () => {
  it('hashes at the OWASP policy and verifies without needing a rehash', async () => {
    const stored = await hashPassword('correct horse battery staple');
    assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.deepEqual(await verifyPassword('correct horse battery staple', stored), { ok: true, needsRehash: false });
    assert.deepEqual(await verifyPassword('correct horse battery stapler', stored), { ok: false, needsRehash: false });
  });

  it('salts every hash', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    assert.notEqual(a, b);
  });

  it('hashes unicode and empty passwords', async () => {
    for (const password of ['', 'ünïcödé 🔐', 'x'.repeat(4096)]) {
      const stored = await hashPassword(password);
      assert.equal((await verifyPassword(password, stored)).ok, true);
    }
  });

  it('asks for a rehash when the stored parameters are weaker than the policy', async () => {
    const weakMemory = await argon2Hash('pw', { memoryCost: 4096, timeCost: 3, parallelism: 1 });
    assert.deepEqual(await verifyPassword('pw', weakMemory), { ok: true, needsRehash: true });
    const weakTime = await argon2Hash('pw', { memoryCost: 19456, timeCost: 1, parallelism: 1 });
    assert.deepEqual(await verifyPassword('pw', weakTime), { ok: true, needsRehash: true });
    // passlib's argon2 defaults (what Frappe writes when configured for argon2): argon2id, m=512, t=2, p=2.
    const passlibDefault = await argon2Hash('pw', { memoryCost: 512, timeCost: 2, parallelism: 2 });
    assert.deepEqual(await verifyPassword('pw', passlibDefault), { ok: true, needsRehash: true });
    const argon2i = await argon2Hash('pw', { algorithm: 1, memoryCost: 19456, timeCost: 2, parallelism: 1 });
    assert.match(argon2i, /^\$argon2i\$/);
    assert.deepEqual(await verifyPassword('pw', argon2i), { ok: true, needsRehash: true });
    const stronger = await argon2Hash('pw', { memoryCost: 32768, timeCost: 3, parallelism: 1 });
    assert.deepEqual(await verifyPassword('pw', stronger), { ok: true, needsRehash: false });
    // A wrong password never asks for a rehash.
    assert.deepEqual(await verifyPassword('nope', weakMemory), { ok: false, needsRehash: false });
  });

  it('refuses malformed argon2 hashes without throwing', async () => {
    const good = await hashPassword('pw');
    const bad = [
      good.slice(0, -2),
      good.replace('m=19456', 'm=abc'),
      good.replace('m=19456', 'm=99999999999'),
      good.replace('t=2', 't=100000'),
      good.replace('$argon2id$', '$argon2x$'),
      `${good}$`,
      '$argon2id$',
      '$argon2id$v=19$m=19456,t=2,p=1$$',
    ];
    for (const stored of bad) {
      assert.deepEqual(await verifyPassword('pw', stored), { ok: false, needsRehash: false }, stored);
    }
  });
});

describe('unknown and hostile input', () => {
  it('answers ok=false for unknown formats', async () => {
    const unknown = [
      '',
      'password',
      '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19', // MySQL PASSWORD()
      '$2b$12$abcdefghijklmnopqrstuuGq2bUqQKk1rjJ2bvYxWZzvSL0nX2j7u', // bcrypt
      '$pbkdf2-sha512$1212$RHY0Fr3IDMSVO/RSZyb5ow$eNLfBK',
      createHmac('sha256', 'k').update('password').digest('hex'),
      '$'.repeat(10_000),
    ];
    for (const stored of unknown) {
      assert.deepEqual(await verifyPassword('password', stored), { ok: false, needsRehash: false });
    }
  });

  it('answers ok=false for non-string arguments', async () => {
    const stored = await hashPassword('pw');
    assert.equal((await verifyPassword(undefined as unknown as string, stored)).ok, false);
    assert.equal((await verifyPassword('pw', null as unknown as string)).ok, false);
    assert.equal((await verifyPassword({} as unknown as string, stored)).ok, false);
  });

  it('never puts the password in an error', async () => {
    const secret = 'hunter2-super-secret';
    await assert.rejects(hashPassword(42 as unknown as string), (error: Error) => {
      assert.ok(!error.message.includes('42'));
      return error instanceof TypeError;
    });
    const result = await verifyPassword(secret, '$pbkdf2-sha256$1000$!!$!!');
    assert.ok(!JSON.stringify(result).includes(secret));
  });

  it('keeps the event loop responsive while hashing', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all([hashPassword('a'), hashPassword('b'), verifyPassword('c', passlibHash('c', Buffer.from('s'), 200_000))]);
    clearInterval(timer);
    assert.ok(ticks > 0, 'timers ran while hashes were computed');
  });
});
