/**
 * Frappe's `Frappe-Authorization-Source: <DocType>` header: the API key is looked up in that
 * DocType instead of User. The DocType must be one of the site's (never SQL built from the
 * header: the registry's metadata names the table and columns) and must have `api_key` (Data),
 * `api_secret` (Password), `user` (Link to User) and `enabled` (Check); otherwise the request
 * is refused with a clear 401 (Frappe answers a DocType without `enabled` with a 500).
 *
 * The secret is the record's Password field, encrypted in `__Auth` by the document engine; it
 * is decrypted and compared in constant time (Frappe compares with `==`). A value that cannot
 * be decrypted counts as a mismatch.
 */
import { constantEquals, keyedHash } from '../core/crypto.ts';
import { frappeError, type FrappeError } from '../core/errors.ts';
import type { SecretCipher } from '../doctype/document/document-context.ts';
import { getDecryptedField } from '../doctype/document/password-fields.ts';
import type { MetaRegistry } from '../doctype/meta/meta-registry.ts';
import type { DocTypeMeta } from '../doctype/meta/types.ts';
import { GUEST } from '../doctype/principal.ts';
import { findUser } from '../doctype/users.ts';
import type { SqlExecutor } from '../storage/types.ts';

export const AUTHORIZATION_SOURCE_HEADER = 'frappe-authorization-source';

/** The fields a key-source DocType must have, with their type (and Link target). */
export const REQUIRED_SOURCE_FIELDS: readonly { fieldname: string; fieldtype: string; options?: string }[] = [
  { fieldname: 'api_key', fieldtype: 'Data' },
  { fieldname: 'api_secret', fieldtype: 'Password' },
  { fieldname: 'user', fieldtype: 'Link', options: 'User' },
  { fieldname: 'enabled', fieldtype: 'Check' },
];

/** DocTypes whose keys are not kept as a readable Password: they have their own lookups. */
const OWN_LOOKUP: ReadonlySet<string> = new Set(['User', 'API Key']);

/** Fixed key for the comparison hash: equal-length digests compare in constant time. */
const COMPARE_KEY = 'cortado custom key source compare v1';

function refuse(message: string): FrappeError {
  return frappeError('AuthenticationError', message, { title: 'Not Permitted' });
}

/** The header value as it may appear in a message: printable, short. */
function shown(doctype: string): string {
  const printable = doctype.replace(/[^\x20-\x7E]/g, '?');
  return JSON.stringify(printable.length > 64 ? `${printable.slice(0, 64)}…` : printable);
}

/**
 * The DocType named by the header, checked for the required fields; throws a 401
 * AuthenticationError naming what is wrong.
 */
export function keySourceMeta(registry: MetaRegistry, doctype: string): DocTypeMeta {
  const prefix = 'Frappe-Authorization-Source';
  if (typeof doctype !== 'string' || doctype.trim() === '') throw refuse(`${prefix}: no DocType given`);
  const meta = registry.find(doctype.trim());
  if (!meta) throw refuse(`${prefix}: DocType ${shown(doctype)} does not exist`);
  if (OWN_LOOKUP.has(meta.name)) {
    throw refuse(`${prefix}: ${meta.name} keys are checked without this header; send the key without Frappe-Authorization-Source`);
  }
  if (meta.issingle || meta.istable || meta.is_virtual) {
    throw refuse(`${prefix}: DocType ${shown(meta.name)} cannot hold API keys (single, child table or virtual DocType)`);
  }
  const problems: string[] = [];
  for (const required of REQUIRED_SOURCE_FIELDS) {
    const field = meta.fieldMap.get(required.fieldname);
    const wanted = required.options ? `${required.fieldtype} to ${required.options}` : required.fieldtype;
    if (!field) problems.push(`${required.fieldname} (${wanted}) is missing`);
    else if (field.fieldtype !== required.fieldtype || (required.options !== undefined && field.options !== required.options)) {
      const actual = field.fieldtype === 'Link' ? `Link to ${field.options}` : field.fieldtype;
      problems.push(`${required.fieldname} must be ${wanted}, not ${actual}`);
    }
  }
  if (problems.length > 0) {
    throw refuse(
      `${prefix}: DocType ${shown(meta.name)} cannot be used as an authorization source: ${problems.join('; ')}. ` +
        'It needs api_key (Data), api_secret (Password), user (Link to User) and enabled (Check).',
    );
  }
  return meta;
}

/**
 * The enabled user of the first enabled record of `doctype` whose `api_key` is `apiKey` and
 * whose `api_secret` decrypts to `secret`; undefined otherwise (unknown key, wrong secret,
 * disabled record, missing or disabled user). Throws a 401 AuthenticationError when the
 * DocType is unknown or lacks the required fields.
 */
export async function verifyCustomSourceKey(
  db: SqlExecutor,
  registry: MetaRegistry,
  doctype: string,
  apiKey: string,
  secret: string,
  cipher: SecretCipher,
): Promise<string | undefined> {
  const meta = keySourceMeta(registry, doctype);
  const q = db.dialect.quote;
  const table = q(meta.tableName);
  const row =
    typeof apiKey === 'string' && apiKey !== ''
      ? await db.get<{ name: string; user: string | null }>(
          `SELECT ${q('name')}, ${q('user')} FROM ${table} WHERE ${q('api_key')} = ? AND ${q('enabled')} = 1 ` +
            `ORDER BY ${q('creation')} ASC, ${q('name')} ASC LIMIT 1`,
          [apiKey],
        )
      : undefined;
  let stored: string | undefined;
  if (row) {
    try {
      stored = await getDecryptedField(db, cipher, meta.name, String(row.name), 'api_secret');
    } catch {
      // Tampered, or encrypted under another key: a mismatch, never a server error.
      stored = undefined;
    }
  }
  // Digests of equal length: the comparison time says nothing about the stored secret.
  const presented = keyedHash(COMPARE_KEY, typeof secret === 'string' ? secret : '');
  const expected = keyedHash(COMPARE_KEY, stored ?? '\u0000no stored secret');
  const matches = constantEquals(presented, expected);
  if (!row || stored === undefined || stored === '' || !matches) return undefined;
  const user = row.user;
  if (!user || user === GUEST) return undefined;
  const record = await findUser(db, user);
  return record?.enabled ? record.name : undefined;
}
