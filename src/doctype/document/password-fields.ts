/**
 * Password values live in `__Auth`, never in the DocType table: Password fields encrypted
 * under the site key (readable by the server only), login passwords as argon2id hashes.
 */
import { hashPassword, verifyPassword } from '../../core/passwords.ts';
import type { SqlExecutor } from '../../storage/types.ts';
import type { SecretCipher } from './document-context.ts';

async function upsertAuth(db: SqlExecutor, doctype: string, name: string, fieldname: string, value: string, encrypted: 0 | 1): Promise<void> {
  await db.run('DELETE FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', [doctype, name, fieldname]);
  await db.run('INSERT INTO "__Auth" ("doctype", "name", "fieldname", "password", "encrypted") VALUES (?, ?, ?, ?, ?)', [
    doctype,
    name,
    fieldname,
    value,
    encrypted,
  ]);
}

export async function setEncryptedField(
  db: SqlExecutor,
  cipher: SecretCipher,
  doctype: string,
  name: string,
  fieldname: string,
  plain: string,
): Promise<void> {
  await upsertAuth(db, doctype, name, fieldname, cipher.encrypt(plain), 1);
}

/** The clear value of a Password field, for server code only (Frappe's get_decrypted_password). */
export async function getDecryptedField(
  db: SqlExecutor,
  cipher: SecretCipher,
  doctype: string,
  name: string,
  fieldname: string,
): Promise<string | undefined> {
  const row = await db.get<{ password: string; encrypted: number }>(
    'SELECT "password", "encrypted" FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?',
    [doctype, name, fieldname],
  );
  if (!row || Number(row.encrypted) !== 1) return undefined;
  return cipher.decrypt(row.password);
}

/** Stores a one-way value (a hash) for a field, e.g. an API secret's keyed hash. */
export async function setHashedField(db: SqlExecutor, doctype: string, name: string, fieldname: string, hash: string): Promise<void> {
  await upsertAuth(db, doctype, name, fieldname, hash, 0);
}

export async function getHashedField(db: SqlExecutor, doctype: string, name: string, fieldname: string): Promise<string | undefined> {
  const row = await db.get<{ password: string; encrypted: number }>(
    'SELECT "password", "encrypted" FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?',
    [doctype, name, fieldname],
  );
  return row && Number(row.encrypted) === 0 ? row.password : undefined;
}

export async function deleteAuthRows(db: SqlExecutor, doctype: string, name: string): Promise<void> {
  await db.run('DELETE FROM "__Auth" WHERE "doctype" = ? AND "name" = ?', [doctype, name]);
}

export async function setUserPassword(db: SqlExecutor, user: string, password: string): Promise<void> {
  await setHashedField(db, 'User', user, 'password', await hashPassword(password));
}

/**
 * Checks a login password; a Frappe pbkdf2 hash (or weaker argon2 parameters) is replaced
 * with a current argon2id hash after a successful check.
 */
export async function checkUserPassword(db: SqlExecutor, user: string, password: string): Promise<boolean> {
  const stored = await getHashedField(db, 'User', user, 'password');
  if (stored === undefined) return false;
  const result = await verifyPassword(password, stored);
  if (result.ok && result.needsRehash) await setUserPassword(db, user, password);
  return result.ok;
}
