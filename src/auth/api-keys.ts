/**
 * Frappe's API keys on the User: `api_key` is a plain unique column; the secret is shown once
 * and stored only as a keyed hash in `__Auth` (Frappe stores it reversibly encrypted and
 * compares with `==`; cortado never keeps it readable and compares in constant time).
 */
import { constantEquals, keyedHash, randomHex, randomToken } from '../core/crypto.ts';
import { frappeError } from '../core/errors.ts';
import type { DocumentContext } from '../doctype/document/document-context.ts';
import { setHashedField } from '../doctype/document/password-fields.ts';
import { PASSWORD_MASK } from '../doctype/document/validate-values.ts';
import type { SqlExecutor } from '../storage/types.ts';

/** The hashing key for API secrets, derived from the site's encryption key. */
export function apiSecretHashKey(encryptionKey: string): string {
  return keyedHash(encryptionKey, 'cortado api secret v1');
}

export interface GeneratedKeys {
  api_key: string;
  api_secret: string;
}

/**
 * Makes a new secret for a user (keeping an existing key, as Frappe does); the previous secret
 * stops working at once. The caller checks who may do this.
 */
export async function generateUserKeys(ctx: DocumentContext, user: string, hashKey: string): Promise<GeneratedKeys> {
  await ctx.db.begin();
  const row = await ctx.db.get<{ api_key: string | null }>('SELECT "api_key" FROM "tabUser" WHERE "name" = ?', [user]);
  if (!row) throw frappeError('DoesNotExistError', `User ${user} not found`, { title: 'Not Found' });
  const apiKey = row.api_key || randomHex(15);
  // 256 bits: a secret that cannot be guessed needs no slow hash, only a keyed one.
  const apiSecret = randomToken(32);
  await ctx.db.run('UPDATE "tabUser" SET "api_key" = ?, "api_secret" = ? WHERE "name" = ?', [apiKey, PASSWORD_MASK, user]);
  await setHashedField(ctx.db, 'User', user, 'api_secret', keyedHash(hashKey, apiSecret));
  return { api_key: apiKey, api_secret: apiSecret };
}

/**
 * The user owning `apiKey` and the stored hash of its secret, in one statement: each SQL
 * statement is a measurable share of a request (docs/performance.md). Scalar subqueries, not a
 * join, so each part keeps the index plan of its own statement whatever SQLite's statistics
 * say; the `__Auth` part reads as `getHashedField` does (a hash only when not encrypted).
 */
const AUTH_COLUMN = (column: string) =>
  `(SELECT "${column}" FROM "__Auth" WHERE "doctype" = 'User' AND "name" = "tabUser"."name" AND "fieldname" = 'api_secret')`;
const USER_KEY_SQL = `SELECT "name", "enabled", ${AUTH_COLUMN('password')} AS "password", ${AUTH_COLUMN('encrypted')} AS "encrypted" FROM "tabUser" WHERE "api_key" = ?`;

/** The enabled user owning `apiKey` whose secret matches, else undefined. */
export async function verifyUserApiKey(db: SqlExecutor, apiKey: string, apiSecret: string, hashKey: string): Promise<string | undefined> {
  if (apiKey.includes('\u0000')) return undefined;
  const row = await db.get<{ name: string; enabled: number | string; password: string | null; encrypted: number | string | null }>(USER_KEY_SQL, [apiKey]);
  // Hash even when the key is unknown, so timing does not tell which keys exist.
  const presented = keyedHash(hashKey, apiSecret);
  const stored = row && row.password !== null && Number(row.encrypted) === 0 ? row.password : undefined;
  const matches = constantEquals(presented, stored ?? keyedHash(hashKey, 'no stored secret'));
  if (!row || stored === undefined || !matches || Number(row.enabled) !== 1) return undefined;
  return row.name;
}
