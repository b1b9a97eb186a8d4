/**
 * Password changes: with the old password, or with a one-time reset key (the forced reset after
 * `force_user_to_reset_password` days, or a link a System Manager makes). Keys are 224-bit,
 * stored as SHA-256, expire after an hour and work once. A new password ends every session of
 * the user.
 */
import { createHash } from 'node:crypto';
import { formatDate } from '../core/clock.ts';
import { randomHex } from '../core/crypto.ts';
import { frappeError } from '../core/errors.ts';
import { verifyPassword } from '../core/passwords.ts';
import { getHashedField, setHashedField, setUserPassword } from '../doctype/document/password-fields.ts';
import { ADMINISTRATOR, GUEST } from '../doctype/principal.ts';
import type { SqlExecutor } from '../storage/types.ts';
import type { AuthDeps } from './auth-deps.ts';

export const RESET_KEY_LIFETIME_SECONDS = 3600;
const KEY = /^[0-9a-f]{56}$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export async function createResetKey(db: SqlExecutor, user: string, now: Date): Promise<string> {
  const key = randomHex(56);
  await setHashedField(db, 'User', user, 'reset_password_key', sha256(key));
  await setHashedField(db, 'User', user, 'reset_password_key_expiry', String(Math.floor(now.getTime() / 1000) + RESET_KEY_LIFETIME_SECONDS));
  return key;
}

async function userOfKey(db: SqlExecutor, key: string, now: Date): Promise<string> {
  const row = KEY.test(key)
    ? await db.get<{ name: string }>('SELECT "name" FROM "__Auth" WHERE "doctype" = \'User\' AND "fieldname" = \'reset_password_key\' AND "password" = ?', [sha256(key)])
    : undefined;
  if (!row) throw frappeError('ValidationError', 'The reset password link has either been used before or is invalid', { title: 'Invalid Link' });
  const expiry = Number(await getHashedField(db, 'User', row.name, 'reset_password_key_expiry'));
  if (!Number.isFinite(expiry) || expiry * 1000 <= now.getTime()) {
    throw frappeError('ValidationError', 'The reset password link has been expired', { title: 'Link Expired' });
  }
  return row.name;
}

/** Frappe's policy switch: with it, at least 8 characters and not the user's own name. */
function checkStrength(password: string, user: string, policy: boolean): void {
  if (password.length === 0) throw frappeError('ValidationError', 'Password cannot be empty');
  if (password.length > 512) throw frappeError('ValidationError', 'Password size exceeded the maximum allowed size');
  if (!policy) return;
  if (password.length < 8 || password.toLowerCase() === user.toLowerCase() || /^(.)\1*$/.test(password)) {
    throw frappeError('ValidationError', 'Invalid Password: use at least 8 characters, not your user name or one repeated character', { title: 'Weak Password' });
  }
}

export interface PasswordChange {
  newPassword: unknown;
  key?: unknown;
  oldPassword?: unknown;
  /** The logged-in user (Guest when only a key is given). */
  currentUser: string;
}

/** Changes a password; returns the user whose password changed. */
export async function updatePassword(deps: AuthDeps, change: PasswordChange): Promise<string> {
  const settings = await deps.settings();
  const now = deps.clock.now();
  if (typeof change.newPassword !== 'string') throw frappeError('ValidationError', 'new_password is required');
  let user: string;
  if (typeof change.key === 'string' && change.key !== '') {
    user = await userOfKey(deps.storage, change.key, now);
  } else {
    if (change.currentUser === GUEST) throw frappeError('PermissionError', 'Log in, or use a reset link, to change a password');
    user = change.currentUser;
    const stored = await getHashedField(deps.storage, 'User', user, 'password');
    const ok = typeof change.oldPassword === 'string' && stored !== undefined && (await verifyPassword(change.oldPassword, stored)).ok;
    if (!ok) throw frappeError('AuthenticationError', 'Incorrect current password', { extra: { message: 'Incorrect current password' } });
  }
  if (user === GUEST) throw frappeError('PermissionError', 'Guest has no password');
  checkStrength(change.newPassword, user, Number(settings.raw.enable_password_policy ?? 0) === 1 && user !== ADMINISTRATOR);
  await deps.storage.transaction(async (tx) => {
    await setUserPassword(tx, user, change.newPassword as string);
    await tx.run('UPDATE "tabUser" SET "last_password_reset_date" = ? WHERE "name" = ?', [formatDate(now), user]);
    await tx.run('DELETE FROM "__Auth" WHERE "doctype" = \'User\' AND "name" = ? AND "fieldname" IN (\'reset_password_key\', \'reset_password_key_expiry\')', [user]);
    // Whoever knew the old password is logged out everywhere.
    await tx.run('DELETE FROM "__Sessions" WHERE "user" = ?', [user]);
  });
  return user;
}
