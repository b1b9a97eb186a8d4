/**
 * Two-factor login with a TOTP app ("OTP App"), Frappe's flow (frappe/twofactor.py):
 *
 * 1. After the password is checked, `twoFactorApplies` decides whether the user needs a second
 *    factor (System Settings `enable_two_factor_auth` and a role, or `All`, with
 *    `two_factor_auth`; skipped for `bypass_2fa_for_retricted_ip_users` when the request IP
 *    matches the user's `restrict_ip`).
 * 2. `startTwoFactor` remembers the pending login under a `tmp_id` for 180 s and returns
 *    Frappe's `verification` object; no session exists yet.
 * 3. `confirmTwoFactor` checks the code sent back with the `tmp_id`; on success the caller
 *    finishes the login for the returned user.
 *
 * Safer than Frappe: the `tmp_id` carries 128 bits (Frappe: 8 hex characters); the password and
 * the TOTP secret are never put in the cache (Frappe caches both in clear); a pending login
 * accepts at most 5 wrong codes; an accepted code (time step) cannot be used again; the secret
 * is stored encrypted in `__Auth` and its provisioning URI is shown once per secret.
 */
import { createHash } from 'node:crypto';
import { generateSecret, verify } from 'otplib';
import type { Cache } from '../cache/types.ts';
import { randomHex } from '../core/crypto.ts';
import { FrappeError } from '../core/errors.ts';
import type { SecretCipher } from '../doctype/document/document-context.ts';
import { getHashedField, setHashedField } from '../doctype/document/password-fields.ts';
import type { SystemSettings } from '../doctype/system-settings.ts';
import { UniqueViolation, type SqlExecutor } from '../storage/types.ts';

/** Seconds a pending OTP App login stays valid (Frappe's `otp_expiry` default). */
export const PENDING_TTL_SECONDS = 180;
/** Wrong codes accepted per pending login before it is dropped. */
export const MAX_WRONG_CODES = 5;

const ALL_ROLE = 'All';
const PERIOD = 30;
const DIGITS = 6;
/** ±1 time step, in seconds. */
const TOLERANCE = PERIOD;
/** An accepted step can match for at most 3 steps (−1, 0, +1); kept a little longer. */
const USED_STEP_TTL_SECONDS = 4 * PERIOD;
const TMP_ID = /^[0-9a-f]{32}$/;
const SECRET_FIELD = 'otp_secret';
/** Fingerprint of the secret (its stored ciphertext) whose enrolment a correct code proved. */
const ENROLLED_FIELD = 'otp_enrolled';

const EXPIRED_MESSAGE = 'Login session expired, refresh page to retry';
const INCORRECT_MESSAGE = 'Incorrect Verification code';
const ENROL_PROMPT = 'Scan the QR code (or enter the secret) in your authenticator app, then enter the code it displays.';

export type TwoFactorSettings = Pick<SystemSettings, 'enable_two_factor_auth' | 'bypass_2fa_for_retricted_ip_users'>;

export interface TwoFactorDeps {
  readonly cache: Cache;
  readonly storage: SqlExecutor;
  readonly cipher: SecretCipher;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

export interface TwoFactorVerification {
  method: 'OTP App';
  /** Frappe's meaning: true when the user has completed OTP App enrolment. */
  setup: boolean;
  prompt?: string;
  /** Provisioning URI (`otpauth://totp/...`), only in the response that created the secret. */
  totp_uri?: string;
}

export interface TwoFactorChallenge {
  verification: TwoFactorVerification;
  tmp_id: string;
}

/** Why a confirmation failed; the user is known for a wrong code (for lockout counting). */
export class TwoFactorError extends FrappeError {
  readonly reason: 'expired' | 'incorrect';
  readonly user: string | undefined;

  constructor(reason: 'expired' | 'incorrect', user: string | undefined) {
    // Frappe answers an expired login with ExpiredLoginException (500); cortado with 401.
    super('AuthenticationError', reason === 'expired' ? EXPIRED_MESSAGE : INCORRECT_MESSAGE, { status: 401 });
    this.reason = reason;
    this.user = user;
  }
}

interface PendingLogin {
  user: string;
}

const pendingKey = (tmpId: string) => `2fa:pending:${tmpId}`;
const wrongCodesKey = (tmpId: string) => `2fa:wrong:${tmpId}`;
const lastStepKey = (user: string) => `2fa:last-step:${user}`;
const usedStepKey = (user: string, step: number) => `2fa:used-step:${user}:${step}`;

/**
 * True when this login needs a second factor. `ipMatchesRestriction`: the request IP matches
 * one of the user's `restrict_ip` entries. As in Frappe, Administrator is not exempt.
 */
export async function twoFactorApplies(
  db: SqlExecutor,
  user: string,
  roles: readonly string[],
  settings: TwoFactorSettings,
  ipMatchesRestriction: boolean,
): Promise<boolean> {
  if (!settings.enable_two_factor_auth || user === 'Guest') return false;
  if (settings.bypass_2fa_for_retricted_ip_users && ipMatchesRestriction) return false;
  const names = [...new Set([...roles, ALL_ROLE])];
  const row = await db.get(
    `SELECT "name" FROM "tabRole" WHERE "two_factor_auth" = 1 AND "name" IN (${names.map(() => '?').join(', ')}) LIMIT 1`,
    names,
  );
  return row !== undefined;
}

function fingerprint(storedToken: string): string {
  return createHash('sha256').update(storedToken).digest('hex');
}

async function readSecretRow(db: SqlExecutor, user: string): Promise<string | undefined> {
  const row = await db.get<{ password: string; encrypted: number | string }>(
    'SELECT "password", "encrypted" FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?',
    ['User', user, SECRET_FIELD],
  );
  return row && Number(row.encrypted) === 1 ? row.password : undefined;
}

/**
 * Replaces an unconfirmed secret (or creates the first) with a new one, only if nobody else did
 * meanwhile; undefined when another login won the race.
 */
async function replaceSecret(db: SqlExecutor, cipher: SecretCipher, user: string, current: string | undefined): Promise<string | undefined> {
  const secret = generateSecret({ length: 20 });
  const token = cipher.encrypt(secret);
  if (current === undefined) {
    try {
      await db.run('INSERT INTO "__Auth" ("doctype", "name", "fieldname", "password", "encrypted") VALUES (?, ?, ?, ?, 1)', [
        'User',
        user,
        SECRET_FIELD,
        token,
      ]);
    } catch (error) {
      if (error instanceof UniqueViolation) return undefined;
      throw error;
    }
    return secret;
  }
  const result = await db.run(
    'UPDATE "__Auth" SET "password" = ?, "encrypted" = 1 WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ? AND "password" = ?',
    [token, 'User', user, SECRET_FIELD, current],
  );
  return result.changes === 1 ? secret : undefined;
}

/** `otpauth://totp/<issuer>:<user>?secret=…&issuer=…` with both names percent-encoded (colons too). */
function provisioningUri(issuer: string, user: string, secret: string): string {
  const enc = encodeURIComponent;
  return `otpauth://totp/${enc(issuer)}:${enc(user)}?secret=${secret}&issuer=${enc(issuer)}&algorithm=SHA1&digits=${DIGITS}&period=${PERIOD}`;
}

/**
 * Step 1 of a two-factor login: caches the pending login (the user only, never the password)
 * and returns Frappe's `verification` and `tmp_id`. A user without a confirmed secret gets a new
 * one, stored encrypted, with its provisioning URI in this response only (`setup` false); an
 * enrolled user gets `{method: "OTP App", setup: true}` as in Frappe.
 */
export async function startTwoFactor(
  deps: TwoFactorDeps,
  input: { user: string; settings: Pick<SystemSettings, 'otp_issuer_name'> },
): Promise<TwoFactorChallenge> {
  const { user } = input;
  let verification: TwoFactorVerification | undefined;
  for (let attempt = 0; attempt < 5 && verification === undefined; attempt++) {
    const stored = await readSecretRow(deps.storage, user);
    const enrolled = stored !== undefined && (await getHashedField(deps.storage, 'User', user, ENROLLED_FIELD)) === fingerprint(stored);
    if (enrolled) {
      verification = { method: 'OTP App', setup: true };
      break;
    }
    const secret = await replaceSecret(deps.storage, deps.cipher, user, stored);
    if (secret === undefined) continue;
    const issuer = input.settings.otp_issuer_name.trim() || 'cortado';
    verification = { method: 'OTP App', setup: false, prompt: ENROL_PROMPT, totp_uri: provisioningUri(issuer, user, secret) };
  }
  if (verification === undefined) throw new Error('could not store a two-factor secret: too many concurrent logins');

  const tmpId = randomHex(32);
  const pending: PendingLogin = { user };
  await deps.cache.set(pendingKey(tmpId), JSON.stringify(pending), PENDING_TTL_SECONDS);
  return { verification, tmp_id: tmpId };
}

function parsePending(raw: string | undefined): PendingLogin | undefined {
  if (raw === undefined) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<PendingLogin>;
    return typeof value.user === 'string' && value.user ? { user: value.user } : undefined;
  } catch {
    return undefined;
  }
}

/** The user a pending two-factor login belongs to (for the caller's lockout checks). */
export async function pendingTwoFactorUser(cache: Cache, tmpId: string): Promise<string | undefined> {
  if (typeof tmpId !== 'string' || !TMP_ID.test(tmpId)) return undefined;
  return parsePending(await cache.get(pendingKey(tmpId)))?.user;
}

async function wrongCode(cache: Cache, tmpId: string, user: string): Promise<never> {
  const count = await cache.increment(wrongCodesKey(tmpId), PENDING_TTL_SECONDS);
  if (count >= MAX_WRONG_CODES) {
    await cache.delete(pendingKey(tmpId));
    await cache.delete(wrongCodesKey(tmpId));
  }
  throw new TwoFactorError('incorrect', user);
}

/**
 * Step 2: checks `otp` for the pending login `tmpId`. Resolves with the user (the pending login
 * is consumed: the same `tmp_id` never works twice) or throws a TwoFactorError: `expired`
 * (unknown, expired or used `tmp_id`), `incorrect` (wrong code, or a code already accepted for
 * this user; the pending login stays until its 5th wrong code).
 */
export async function confirmTwoFactor(deps: TwoFactorDeps, tmpId: string, otp: string): Promise<{ user: string }> {
  if (typeof tmpId !== 'string' || !TMP_ID.test(tmpId)) throw new TwoFactorError('expired', undefined);
  const pending = parsePending(await deps.cache.get(pendingKey(tmpId)));
  if (pending === undefined) throw new TwoFactorError('expired', undefined);
  const { user } = pending;

  const stored = await readSecretRow(deps.storage, user);
  if (stored === undefined) {
    // The secret was reset meanwhile: this login must start again.
    await deps.cache.delete(pendingKey(tmpId));
    throw new TwoFactorError('expired', user);
  }
  const code = typeof otp === 'string' ? otp.replace(/\s+/g, '') : '';
  if (!/^\d{6}$/.test(code)) return wrongCode(deps.cache, tmpId, user);

  const lastStep = Number(await deps.cache.get(lastStepKey(user)));
  const result = await verify({
    secret: deps.cipher.decrypt(stored),
    token: code,
    algorithm: 'sha1',
    digits: DIGITS,
    period: PERIOD,
    epoch: Math.floor(deps.now() / 1000),
    epochTolerance: TOLERANCE,
    ...(Number.isSafeInteger(lastStep) ? { afterTimeStep: lastStep } : {}),
  });
  if (!result.valid || !('timeStep' in result)) return wrongCode(deps.cache, tmpId, user);

  // Consume the pending login first: of concurrent confirmations, one wins.
  if ((await deps.cache.getAndDelete(pendingKey(tmpId))) === undefined) throw new TwoFactorError('expired', user);
  await deps.cache.delete(wrongCodesKey(tmpId));
  // The accepted time step is claimed atomically, so a code works once even across tmp_ids.
  if ((await deps.cache.increment(usedStepKey(user, result.timeStep), USED_STEP_TTL_SECONDS)) !== 1) {
    throw new TwoFactorError('incorrect', user);
  }
  if (!(Number.isSafeInteger(lastStep) && lastStep >= result.timeStep)) {
    await deps.cache.set(lastStepKey(user), String(result.timeStep), USED_STEP_TTL_SECONDS);
  }

  // First correct code for this secret: enrolment is complete (Frappe's `<user>_otplogin`).
  const marker = fingerprint(stored);
  if ((await getHashedField(deps.storage, 'User', user, ENROLLED_FIELD)) !== marker) {
    try {
      await setHashedField(deps.storage, 'User', user, ENROLLED_FIELD, marker);
    } catch (error) {
      // A concurrent confirmation for the same user wrote the marker first.
      if (!(error instanceof UniqueViolation)) throw error;
    }
  }
  return { user };
}

/** Admin action: forgets the user's secret; the next login enrols again. True when one existed. */
export async function resetTwoFactor(storage: SqlExecutor, user: string): Promise<boolean> {
  const result = await storage.run('DELETE FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" IN (?, ?)', [
    'User',
    user,
    SECRET_FIELD,
    ENROLLED_FIELD,
  ]);
  return result.changes > 0;
}
