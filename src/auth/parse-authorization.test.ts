import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrappeError } from '../core/errors.ts';
import { parseAuthorization } from './parse-authorization.ts';

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const DECODE_MESSAGE = 'Failed to decode token, please provide a valid base64-encoded token.';

function isDecodeError(error: unknown): boolean {
  assert.ok(error instanceof FrappeError, `expected FrappeError, got ${String(error)}`);
  assert.equal(error.excType, 'InvalidAuthorizationToken');
  assert.equal(error.status, 400);
  assert.equal(error.message, DECODE_MESSAGE);
  return true;
}

describe('parseAuthorization: the two-part rule (spec §1.2)', () => {
  it('ignores a missing or empty header', () => {
    assert.deepEqual(parseAuthorization(undefined), { kind: 'none' });
    assert.deepEqual(parseAuthorization(''), { kind: 'none' });
  });

  it('ignores headers that do not split into exactly two parts on single spaces', () => {
    for (const header of [
      'Bearer',
      'token',
      'tokenk:s',
      'Bearer a b',
      'token k:s extra',
      'token  k:s', // double space: three parts
      ' token k:s',
      'token k:s ',
      'Basic  ' + b64('k:s'),
      '   ',
    ]) {
      assert.deepEqual(parseAuthorization(header), { kind: 'none' }, JSON.stringify(header));
    }
  });

  it('splits on the space character only, not on tabs', () => {
    assert.deepEqual(parseAuthorization('token\tk:s'), { kind: 'none' });
    assert.deepEqual(parseAuthorization('token k:\ts'), { kind: 'api-key', scheme: 'token', key: 'k', secret: '\ts' });
  });
});

describe('parseAuthorization: token and Basic (spec §1.3)', () => {
  it('reads token key:secret with any case of the scheme', () => {
    for (const scheme of ['token', 'Token', 'TOKEN', 'tOkEn']) {
      assert.deepEqual(parseAuthorization(`${scheme} abc123:s3cr3t`), {
        kind: 'api-key',
        scheme: 'token',
        key: 'abc123',
        secret: 's3cr3t',
      });
    }
  });

  it('keeps empty key or secret pieces for the lookup to refuse', () => {
    assert.deepEqual(parseAuthorization('token :s'), { kind: 'api-key', scheme: 'token', key: '', secret: 's' });
    assert.deepEqual(parseAuthorization('token k:'), { kind: 'api-key', scheme: 'token', key: 'k', secret: '' });
  });

  it('answers token without exactly one colon as unusable (401 later, no 400)', () => {
    for (const credential of ['abc', 'a:b:c', '::', 'a:b:', '']) {
      assert.deepEqual(parseAuthorization(`token ${credential}`), { kind: 'unusable', scheme: 'token' }, credential);
    }
  });

  it('reads Basic base64(key:secret) with any case of the scheme', () => {
    for (const scheme of ['Basic', 'basic', 'BASIC']) {
      assert.deepEqual(parseAuthorization(`${scheme} ${b64('abc123:s3cr3t')}`), {
        kind: 'api-key',
        scheme: 'basic',
        key: 'abc123',
        secret: 's3cr3t',
      });
    }
    assert.deepEqual(parseAuthorization(`Basic ${b64('ключ:секрет✓')}`), {
      kind: 'api-key',
      scheme: 'basic',
      key: 'ключ',
      secret: 'секрет✓',
    });
  });

  it('drops characters outside the base64 alphabet before decoding, as Python does', () => {
    const encoded = b64('key:secret'); // a2V5OnNlY3JldA==
    const noisy = `${encoded.slice(0, 4)}!${encoded.slice(4, 8)}-_${encoded.slice(8)}`;
    assert.deepEqual(parseAuthorization(`Basic ${noisy}`), { kind: 'api-key', scheme: 'basic', key: 'key', secret: 'secret' });
  });

  it('refuses bad padding with InvalidAuthorizationToken (400) and Frappe message', () => {
    for (const credential of ['abc', 'a', 'abcde', 'a===', b64('key:secret').replace(/=+$/, ''), 'ab=c', '=abc']) {
      assert.throws(() => parseAuthorization(`Basic ${credential}`), isDecodeError, credential);
    }
  });

  it('answers Basic that decodes to something without exactly one colon as unusable', () => {
    for (const text of ['nocolon', 'a:b:c', '']) {
      assert.deepEqual(parseAuthorization(`Basic ${b64(text)}`), { kind: 'unusable', scheme: 'basic' }, text);
    }
  });

  it('answers Basic that decodes to invalid UTF-8 as unusable', () => {
    const bytes = Buffer.concat([Buffer.from('key:'), Buffer.from([0xff, 0xfe, 0xc3])]);
    assert.deepEqual(parseAuthorization(`Basic ${b64(bytes)}`), { kind: 'unusable', scheme: 'basic' });
    assert.deepEqual(parseAuthorization(`Basic ${b64(Buffer.from([0xc3, 0x28, 0x3a, 0x61]))}`), { kind: 'unusable', scheme: 'basic' });
  });

  it('decodes Basic after a value that failed to decode, and after one cut inside a character', () => {
    const cut = Buffer.concat([Buffer.from('key:é'), Buffer.from([0xc3])]);
    for (const bad of [Buffer.from([0xff, 0x3a, 0x61]), cut]) {
      assert.deepEqual(parseAuthorization(`Basic ${b64(bad)}`), { kind: 'unusable', scheme: 'basic' });
      assert.deepEqual(parseAuthorization(`Basic ${b64('k:é')}`), { kind: 'api-key', scheme: 'basic', key: 'k', secret: 'é' });
    }
  });
});

describe('parseAuthorization: Bearer and other schemes', () => {
  it('reads Bearer <token> with any case of the scheme, keeping the token as sent', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      assert.deepEqual(parseAuthorization(`${scheme} AbC.dEf-123`), { kind: 'bearer', token: 'AbC.dEf-123' });
    }
    assert.deepEqual(parseAuthorization('Bearer a:b:c'), { kind: 'bearer', token: 'a:b:c' });
  });

  it('answers an unknown two-part scheme as unusable, lower-cased', () => {
    assert.deepEqual(parseAuthorization('Foo bar'), { kind: 'unusable', scheme: 'foo' });
    assert.deepEqual(parseAuthorization('Digest k:s'), { kind: 'unusable', scheme: 'digest' });
    assert.deepEqual(parseAuthorization(' k:s'), { kind: 'unusable', scheme: '' });
  });
});

describe('parseAuthorization: hostile input (property)', () => {
  const header = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.tuple(fc.constantFrom('Basic', 'basic', 'token', 'Bearer', 'BASIC'), fc.string({ unit: 'binary', maxLength: 300 })).map(([s, c]) => `${s} ${c}`),
    fc.tuple(fc.constantFrom('Basic', 'basic'), fc.base64String({ maxLength: 300 })).map(([s, c]) => `${s} ${c}`),
    fc.tuple(fc.constantFrom('Basic', 'basic'), fc.uint8Array({ maxLength: 200 })).map(([s, c]) => `${s} ${Buffer.from(c).toString('base64')}`),
  );

  it('never throws anything but InvalidAuthorizationToken, and always answers a known kind', () => {
    fc.assert(
      fc.property(header, (value) => {
        try {
          const result = parseAuthorization(value);
          assert.ok(['none', 'api-key', 'bearer', 'unusable'].includes(result.kind));
          if (result.kind === 'api-key') {
            assert.ok(!result.key.includes(':') && !result.secret.includes(':'));
          }
        } catch (error) {
          isDecodeError(error);
          assert.match(value, /^basic /i);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('does not hang on huge headers', () => {
    const started = process.hrtime.bigint();
    for (const value of [
      `Basic ${'A'.repeat(1_000_000)}`,
      `Basic ${'!'.repeat(1_000_000)}`,
      `Basic ${'='.repeat(1_000_000)}`,
      `Basic ${'QQ=='.repeat(250_000)}`,
      `token ${':'.repeat(1_000_000)}`,
      `Bearer ${'x'.repeat(1_000_000)}`,
      ' '.repeat(1_000_000),
    ]) {
      try {
        parseAuthorization(value);
      } catch (error) {
        isDecodeError(error);
      }
    }
    // Generous bound: catastrophic backtracking would take minutes, linear work takes milliseconds.
    assert.ok(process.hrtime.bigint() - started < 5_000_000_000n);
  });
});
