/** Signing-key rotation: the new key signs, the old one stays published for the overlap. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { rotateSigningKey } from '../../src/app/sessions-admin.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';

let t: TestSite;
before(async () => {
  t = await createTestSite();
});
after(async () => t.cleanup());

test('after a rotation both keys are in the JWKS and new tokens name the new kid; retired keys leave after the overlap', async () => {
  const keys = authServicesFor(t.site).oauth.keys;
  const first = (await keys.signingKey()).kid;
  const second = await rotateSigningKey(t.site);
  assert.notEqual(first, second);
  assert.equal((await keys.signingKey()).kid, second);
  const published = (await keys.jwks()).keys.map((k) => k.kid);
  assert.deepEqual(published.sort(), [first, second].sort());
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: 'RS256', kid: second }).sign((await keys.signingKey()).privateKey);
  assert.equal(decodeProtectedHeader(token).kid, second);
  await t.site.storage.run('UPDATE "__OAuthKeys" SET "retired" = ? WHERE "kid" = ?', ['2000-01-01 00:00:00.000000', first]);
  assert.deepEqual((await keys.jwks()).keys.map((k) => k.kid), [second]);
});
