import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { generate } from 'otplib';
// A test may pick the in-process adapter directly; production auth code gets its cache from app/.
 
import { MemoryCache } from '../cache/memory/memory-cache.ts';
import { getDecryptedField } from '../doctype/document/password-fields.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../../test/helpers/test-site.ts';
import {
  MAX_WRONG_CODES,
  PENDING_TTL_SECONDS,
  TwoFactorError,
  confirmTwoFactor,
  pendingTwoFactorUser,
  resetTwoFactor,
  startTwoFactor,
  twoFactorApplies,
  type TwoFactorDeps,
} from './two-factor.ts';

const USER = 'otp.user@example.com';
const SETTINGS = { otp_issuer_name: 'cortado' };
/** Five seconds into a 30 s time step, so a test's few steps never straddle a boundary by accident. */
const START = (Math.floor(1_700_000_000 / 30) * 30 + 5) * 1000;

function rejectsWith(reason: 'expired' | 'incorrect', user?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof TwoFactorError, `expected a TwoFactorError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    assert.equal(error.excType, 'AuthenticationError');
    assert.equal(error.status, 401);
    assert.equal(error.message, reason === 'expired' ? 'Login session expired, refresh page to retry' : 'Incorrect Verification code');
    if (user !== undefined) assert.equal(error.user, user);
    return true;
  };
}

forEachDatabase('two-factor login', (db) => {
  let testSite: TestSite;
  let cache: MemoryCache;
  let clock: number;
  let deps: TwoFactorDeps;

  before(async () => {
    testSite = await createTestSite({ db });
  });
  after(async () => {
    await testSite.cleanup();
  });
  beforeEach(async () => {
    clock = START;
    cache = new MemoryCache({ now: () => clock, sweepIntervalMs: 0 });
    const { storage, cipher } = testSite.site;
    deps = { cache, storage, cipher, now: () => clock };
    await resetTwoFactor(storage, USER);
    await storage.run('UPDATE "tabRole" SET "two_factor_auth" = 0');
  });

  const secretOf = async () => {
    const secret = await getDecryptedField(testSite.site.storage, testSite.site.cipher, 'User', USER, 'otp_secret');
    assert.ok(secret, 'the user has a stored secret');
    return secret;
  };
  const codeAt = async (secret: string, ms = clock) => generate({ secret, epoch: Math.floor(ms / 1000) });
  const wrong = (code: string) => String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');
  const flagRole = (role: string) => testSite.site.storage.run('UPDATE "tabRole" SET "two_factor_auth" = 1 WHERE "name" = ?', [role]);

  /** Starts a login and completes enrolment, so later logins are ordinary ones. */
  const enrol = async () => {
    const first = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    const secret = await secretOf();
    assert.deepEqual(await confirmTwoFactor(deps, first.tmp_id, await codeAt(secret)), { user: USER });
    clock += 30_000;
    return secret;
  };

  test('applies for a flagged role of the user, or a flagged All, only when enabled', async () => {
    const { storage } = testSite.site;
    const on = { enable_two_factor_auth: true, bypass_2fa_for_retricted_ip_users: false };
    const off = { enable_two_factor_auth: false, bypass_2fa_for_retricted_ip_users: false };

    assert.equal(await twoFactorApplies(storage, USER, ['Desk User'], on, false), false, 'no role is flagged');
    await flagRole('Desk User');
    assert.equal(await twoFactorApplies(storage, USER, ['Desk User'], on, false), true);
    assert.equal(await twoFactorApplies(storage, USER, ['System Manager'], on, false), false, 'another role is flagged');
    assert.equal(await twoFactorApplies(storage, USER, ['Desk User'], off, false), false, 'settings off');

    await storage.run('UPDATE "tabRole" SET "two_factor_auth" = 0');
    await flagRole('All');
    assert.equal(await twoFactorApplies(storage, USER, [], on, false), true, 'All applies to every user');

    await flagRole('System Manager');
    assert.equal(
      await twoFactorApplies(storage, 'Administrator', ['Administrator', 'System Manager'], on, false),
      true,
      'Administrator is not exempt (as in Frappe)',
    );
  });

  test('bypass for restricted-IP users skips 2FA only when the request IP matches', async () => {
    const { storage } = testSite.site;
    await flagRole('Desk User');
    const bypass = { enable_two_factor_auth: true, bypass_2fa_for_retricted_ip_users: true };
    const noBypass = { enable_two_factor_auth: true, bypass_2fa_for_retricted_ip_users: false };
    assert.equal(await twoFactorApplies(storage, USER, ['Desk User'], bypass, true), false);
    assert.equal(await twoFactorApplies(storage, USER, ['Desk User'], bypass, false), true);
    assert.equal(await twoFactorApplies(storage, USER, ['Desk User'], noBypass, true), true);
  });

  test('enrolment: the provisioning URI comes once, the secret is stored encrypted only', async () => {
    const { storage } = testSite.site;
    const first = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.match(first.tmp_id, /^[0-9a-f]{32}$/);
    assert.equal(first.verification.method, 'OTP App');
    assert.equal(first.verification.setup, false, "Frappe's setup flag: enrolment not completed yet");
    const uri = first.verification.totp_uri;
    assert.ok(uri);
    const match = /^otpauth:\/\/totp\/cortado:otp\.user%40example\.com\?secret=([A-Z2-7]+)&issuer=cortado&/.exec(uri);
    assert.ok(match, uri);
    const secret = await secretOf();
    assert.equal(match[1], secret);
    assert.ok(secret.length >= 32, '160-bit secret');

    const rows = await storage.all<{ fieldname: string; password: string; encrypted: number | string }>(
      'SELECT "fieldname", "password", "encrypted" FROM "__Auth"',
    );
    assert.ok(rows.some((r) => r.fieldname === 'otp_secret' && Number(r.encrypted) === 1));
    for (const row of rows) assert.ok(!row.password.includes(secret), `secret in clear in __Auth (${row.fieldname})`);
    // Nor in the cache: the pending login holds the user only.
    assert.equal(await pendingTwoFactorUser(cache, first.tmp_id), USER);
    assert.ok(!(await cache.get(`2fa:pending:${first.tmp_id}`))?.includes(secret));

    assert.deepEqual(await confirmTwoFactor(deps, first.tmp_id, await codeAt(secret)), { user: USER });
    clock += 30_000;
    const second = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.deepEqual(second.verification, { method: 'OTP App', setup: true });
    assert.equal(await secretOf(), secret, 'the enrolled secret is kept');
    assert.deepEqual(await confirmTwoFactor(deps, second.tmp_id, await codeAt(secret)), { user: USER });
  });

  test('an enrolment never confirmed is replaced by a new secret at the next login', async () => {
    const first = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    const oldSecret = await secretOf();
    const second = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.equal(second.verification.setup, false);
    const newSecret = await secretOf();
    assert.notEqual(newSecret, oldSecret);
    assert.ok(second.verification.totp_uri?.includes(`secret=${newSecret}&`));
    await assert.rejects(confirmTwoFactor(deps, second.tmp_id, await codeAt(oldSecret)), rejectsWith('incorrect', USER));
    assert.deepEqual(await confirmTwoFactor(deps, first.tmp_id, await codeAt(newSecret)), { user: USER });
  });

  test('a correct code confirms; the same tmp_id cannot be replayed', async () => {
    const secret = await enrol();
    const { tmp_id } = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.deepEqual(await confirmTwoFactor(deps, tmp_id, await codeAt(secret)), { user: USER });
    assert.equal(await pendingTwoFactorUser(cache, tmp_id), undefined);
    clock += 30_000;
    await assert.rejects(confirmTwoFactor(deps, tmp_id, await codeAt(secret)), rejectsWith('expired'));
  });

  test('codes from the adjacent time steps are accepted, older ones are not', async () => {
    const secret = await enrol();
    clock += 60_000; // the step enrolment used is now two steps back
    const { tmp_id } = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    await assert.rejects(confirmTwoFactor(deps, tmp_id, await codeAt(secret, clock - 90_000)), rejectsWith('incorrect'));
    await assert.rejects(confirmTwoFactor(deps, tmp_id, await codeAt(secret, clock + 60_000)), rejectsWith('incorrect'));
    assert.deepEqual(await confirmTwoFactor(deps, tmp_id, await codeAt(secret, clock - 30_000)), { user: USER });
    const next = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.deepEqual(await confirmTwoFactor(deps, next.tmp_id, await codeAt(secret, clock + 30_000)), { user: USER });
  });

  test('a wrong code fails and keeps the pending login', async () => {
    const secret = await enrol();
    const { tmp_id } = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    const code = await codeAt(secret);
    await assert.rejects(confirmTwoFactor(deps, tmp_id, wrong(code)), rejectsWith('incorrect', USER));
    await assert.rejects(confirmTwoFactor(deps, tmp_id, 'abcdef'), rejectsWith('incorrect', USER));
    await assert.rejects(confirmTwoFactor(deps, tmp_id, ''), rejectsWith('incorrect', USER));
    assert.equal(await pendingTwoFactorUser(cache, tmp_id), USER);
    assert.deepEqual(await confirmTwoFactor(deps, tmp_id, ` ${code.slice(0, 3)} ${code.slice(3)} `), { user: USER }, 'spaces are ignored');
  });

  test(`the pending login expires after ${PENDING_TTL_SECONDS} s`, async () => {
    const secret = await enrol();
    const { tmp_id } = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    clock += (PENDING_TTL_SECONDS - 1) * 1000;
    assert.equal(await pendingTwoFactorUser(cache, tmp_id), USER);
    clock += 1000;
    await assert.rejects(confirmTwoFactor(deps, tmp_id, await codeAt(secret)), rejectsWith('expired'));
  });

  test('unknown and malformed tmp_ids are expired logins', async () => {
    const secret = await enrol();
    const code = await codeAt(secret);
    await assert.rejects(confirmTwoFactor(deps, '0123abcd', code), rejectsWith('expired'));
    await assert.rejects(confirmTwoFactor(deps, '0'.repeat(32), code), rejectsWith('expired'));
    await assert.rejects(confirmTwoFactor(deps, '2fa:pending:x', code), rejectsWith('expired'));
  });

  test('an accepted code cannot be used again, even with a new tmp_id', async () => {
    const secret = await enrol();
    const code = await codeAt(secret);
    const first = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.deepEqual(await confirmTwoFactor(deps, first.tmp_id, code), { user: USER });

    const second = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    clock += 10_000; // still inside the window that would accept the code
    await assert.rejects(confirmTwoFactor(deps, second.tmp_id, code), rejectsWith('incorrect', USER));
    assert.equal(await pendingTwoFactorUser(cache, second.tmp_id), USER, 'a reused code counts as a wrong one');
    clock += 30_000;
    assert.deepEqual(await confirmTwoFactor(deps, second.tmp_id, await codeAt(secret)), { user: USER });
  });

  test('concurrent confirmations of one tmp_id: exactly one succeeds', async () => {
    const secret = await enrol();
    const { tmp_id } = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    const code = await codeAt(secret);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => confirmTwoFactor(deps, tmp_id, code)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  });

  test(`${MAX_WRONG_CODES} wrong codes end the pending login`, async () => {
    const secret = await enrol();
    const { tmp_id } = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    const code = await codeAt(secret);
    for (let i = 0; i < MAX_WRONG_CODES; i++) {
      await assert.rejects(confirmTwoFactor(deps, tmp_id, wrong(code)), rejectsWith('incorrect', USER));
    }
    assert.equal(await pendingTwoFactorUser(cache, tmp_id), undefined);
    await assert.rejects(confirmTwoFactor(deps, tmp_id, code), rejectsWith('expired'));
  });

  test('reset deletes the secret: pending logins expire and the next login enrols again', async () => {
    const secret = await enrol();
    const { tmp_id } = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.equal(await resetTwoFactor(testSite.site.storage, USER), true);
    assert.equal(await getDecryptedField(testSite.site.storage, testSite.site.cipher, 'User', USER, 'otp_secret'), undefined);
    await assert.rejects(confirmTwoFactor(deps, tmp_id, await codeAt(secret)), rejectsWith('expired'));
    const next = await startTwoFactor(deps, { user: USER, settings: SETTINGS });
    assert.equal(next.verification.setup, false);
    assert.ok(next.verification.totp_uri);
    assert.notEqual(await secretOf(), secret);
    assert.equal(await resetTwoFactor(testSite.site.storage, 'nobody@example.com'), false);
  });
});
