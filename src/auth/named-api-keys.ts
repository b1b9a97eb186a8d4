/**
 * Named API keys (the `API Key` DocType), beyond Frappe: one user or service account may hold
 * many keys, each with a label, an optional expiry, scopes and IP restriction, usable with the
 * same `token <key>:<secret>` / `Basic` headers as the User's own key.
 *
 * - Keys are `ck_` + 24 hex characters, so a lookup can be routed by prefix: a User's Frappe
 *   key (15 hex, see api-keys.ts) never starts with `ck_` and is never equal to a named key.
 * - Secrets carry 256 bits, are shown once and stored only as a keyed hash in `__Auth`
 *   (fieldname `api_secret`). The hash is bound to the key's `user`: reassigning a key (or
 *   renaming its user) invalidates its secret until it is rotated, so whoever held the secret
 *   can never act as the new user.
 * - Rotation may keep the previous secret's hash (`previous_api_secret`) valid until
 *   `previous_secret_expires_at`, for rotation without downtime.
 * - `last_used_at` / `last_used_ip` are kept in memory and written in batches.
 */
import { epochMs, formatDatetime, type Clock } from '../core/clock.ts';
import { constantEquals, keyedHash, randomHex, randomToken } from '../core/crypto.ts';
import { frappeError } from '../core/errors.ts';
import type { DocumentContext } from '../doctype/document/document-context.ts';
import { coerceFieldValue } from '../doctype/document/field-values.ts';
import { setHashedField } from '../doctype/document/password-fields.ts';
import { PASSWORD_MASK } from '../doctype/document/validate-values.ts';
import { insertDoc, saveDoc } from '../doctype/document/write-documents.ts';
import { assertDoctypePermission } from '../doctype/permissions.ts';
import { GUEST, isAdministrator } from '../doctype/principal.ts';
import type { Row, SqlExecutor, Storage } from '../storage/types.ts';

export const API_KEY_DOCTYPE = 'API Key';
/** Every named key starts with this; User keys (15 hex) never do. */
export const NAMED_API_KEY_PREFIX = 'ck_';
const NAMED_API_KEY = /^ck_[0-9a-f]{24}$/;
const SECRET_FIELD = 'api_secret';
const PREVIOUS_SECRET_FIELD = 'previous_api_secret';
/** The longest rotation grace period accepted: 30 days. */
export const MAX_ROTATION_GRACE_SECONDS = 30 * 24 * 60 * 60;
const MAX_LABEL_LENGTH = 140;
/** RFC 6749 scope-token: printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** True when `apiKey` has the shape of a named key, so the caller looks it up here. */
export function isNamedApiKey(apiKey: string): boolean {
  return NAMED_API_KEY.test(apiKey);
}

/** The stored form of a secret: a keyed hash bound to the user the key acts as. */
function secretHash(hashKey: string, user: string, secret: string): string {
  return keyedHash(hashKey, `cortado named api key v1\u0000${user}\u0000${secret}`);
}

function isManager(ctx: DocumentContext): boolean {
  return ctx.ignorePermissions === true || isAdministrator(ctx.principal) || ctx.principal.roles.has('System Manager');
}

/** A stored Datetime (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC wall time) as a Date; undefined when empty or unreadable. */
function parseStoredDatetime(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value !== 'string' || value === '') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(value.trim());
  if (!m) return undefined;
  const millis = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), millis));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function normalizeScopes(scopes: unknown): string | null {
  if (scopes === undefined || scopes === null) return null;
  if (typeof scopes !== 'string') throw frappeError('ValidationError', 'Scopes must be a space-separated list of scope names');
  const list = [...new Set(scopes.split(/\s+/).filter((s) => s !== ''))];
  for (const scope of list) {
    if (!SCOPE_TOKEN.test(scope) || scope.length > 140) {
      throw frappeError('ValidationError', `Invalid scope ${JSON.stringify(scope.slice(0, 140))}: scope names are printable ASCII without spaces, quotes or backslashes`);
    }
  }
  return list.length > 0 ? list.join(' ') : null;
}

function normalizeRestrictIp(restrictIp: unknown): string | null {
  if (restrictIp === undefined || restrictIp === null) return null;
  if (typeof restrictIp !== 'string') throw frappeError('ValidationError', 'Restrict IP must be text');
  const trimmed = restrictIp.trim();
  return trimmed === '' ? null : trimmed;
}

function optionalText(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = String(value).trim();
  return trimmed === '' ? undefined : trimmed;
}

async function newApiKey(ctx: DocumentContext): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const apiKey = NAMED_API_KEY_PREFIX + randomHex(24);
    const inUser = await ctx.db.get('SELECT "name" FROM "tabUser" WHERE "api_key" = ?', [apiKey]);
    const inKeys = await ctx.db.get('SELECT "name" FROM "tabAPI Key" WHERE "api_key" = ?', [apiKey]);
    if (!inUser && !inKeys) return apiKey;
  }
  // 96 random bits colliding five times in a row means the random source is broken.
  throw new Error('could not generate a unique API key');
}

export interface NewNamedApiKeyInput {
  label: string;
  /** Defaults to the caller; only a System Manager may name another user. */
  user?: string;
  /** A Datetime (UTC unless it carries an offset), in the future. */
  expires_on?: string;
  /** Space-separated scope names; stored only (enforced with OAuth). */
  scopes?: string;
  /** Frappe's restrict_ip list (IPs, CIDRs, partial IPv4), enforced by the IP check. */
  restrict_ip?: string;
}

export interface NewNamedApiKey {
  /** The `API Key` document's name. */
  name: string;
  api_key: string;
  /** Shown this once; only its keyed hash is kept. */
  api_secret: string;
}

/**
 * Creates a named key. Anyone who may create `API Key` documents may create keys for
 * themselves; keys for another user need System Manager (PermissionError otherwise). The
 * document is owned by the key's user, so that user can see and delete every key acting as
 * them.
 */
export async function createNamedApiKey(ctx: DocumentContext, input: NewNamedApiKeyInput, hashKey: string): Promise<NewNamedApiKey> {
  const meta = ctx.registry.get(API_KEY_DOCTYPE);
  if (!ctx.ignorePermissions) assertDoctypePermission(meta, 'create', ctx.principal);
  if (ctx.principal.user === GUEST && !ctx.ignorePermissions) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
  const given: unknown = input.user;
  const user = given === undefined || given === null || given === '' ? ctx.principal.user : given;
  if (typeof user !== 'string') throw frappeError('ValidationError', 'User must be a user name');
  if (user !== ctx.principal.user && !isManager(ctx)) {
    throw frappeError('PermissionError', 'You can only create API keys for yourself', { title: 'Not Permitted' });
  }
  if (user === GUEST) throw frappeError('ValidationError', 'API keys cannot be created for Guest');
  const rawLabel: unknown = input.label;
  const label = typeof rawLabel === 'string' ? rawLabel.trim() : '';
  if (label === '') throw frappeError('MandatoryError', `[${API_KEY_DOCTYPE}, new]: label`, { title: 'Missing Fields', errorMessage: `Error: Value missing for ${API_KEY_DOCTYPE}: Label` });
  if (label.length > MAX_LABEL_LENGTH) throw frappeError('CharacterLengthExceededError', `Label cannot be longer than ${MAX_LABEL_LENGTH} characters`);

  let expiresOn: string | null = null;
  const rawExpiry: unknown = input.expires_on;
  if (rawExpiry !== undefined && rawExpiry !== null && rawExpiry !== '') {
    const field = meta.fieldMap.get('expires_on');
    if (!field) throw new Error('API Key DocType has no expires_on field');
    expiresOn = String(coerceFieldValue(field, rawExpiry, { doctype: API_KEY_DOCTYPE }));
    const at = parseStoredDatetime(expiresOn);
    if (!at || at.getTime() <= epochMs(ctx.clock)) throw frappeError('ValidationError', 'Expires On must be in the future');
  }
  const scopes = normalizeScopes(input.scopes);
  const restrictIp = normalizeRestrictIp(input.restrict_ip);

  await ctx.db.begin();
  const apiKey = await newApiKey(ctx);
  // Permission decided above; the fields at permlevel 1 are set by this code, not by the caller.
  const internal: DocumentContext = { ...ctx, ignorePermissions: true };
  const doc = await insertDoc(
    API_KEY_DOCTYPE,
    { label, user, api_key: apiKey, enabled: 1, expires_on: expiresOn, scopes, restrict_ip: restrictIp },
    internal,
  );
  const name = String(doc.name);
  const apiSecret = randomToken(32);
  await ctx.db.run('UPDATE "tabAPI Key" SET "api_secret" = ?, "owner" = ? WHERE "name" = ?', [PASSWORD_MASK, user, name]);
  await setHashedField(ctx.db, API_KEY_DOCTYPE, name, SECRET_FIELD, secretHash(hashKey, user, apiSecret));
  return { name, api_key: apiKey, api_secret: apiSecret };
}

/** Loads a key for a change by its user or a System Manager (locked on PostgreSQL). */
async function loadForChange(ctx: DocumentContext, name: string): Promise<Row & { name: string; user: string }> {
  if (typeof name !== 'string' || name === '') throw frappeError('ValidationError', 'API Key name is required');
  await ctx.db.begin();
  const lock = ctx.db.dialect.name === 'postgres' ? ' FOR UPDATE' : '';
  const row = await ctx.db.get<Row & { name: string; user: string }>(`SELECT * FROM "tabAPI Key" WHERE "name" = ?${lock}`, [name]);
  const mayChange = row !== undefined && (isManager(ctx) || (ctx.principal.user !== GUEST && row.user === ctx.principal.user));
  if (!row) {
    if (!isManager(ctx)) throw frappeError('PermissionError', `No permission for ${API_KEY_DOCTYPE}`, { title: 'Not Permitted' });
    throw frappeError('DoesNotExistError', `${API_KEY_DOCTYPE} ${name} not found`, { title: 'Not Found' });
  }
  if (!mayChange) throw frappeError('PermissionError', `No permission for ${API_KEY_DOCTYPE} ${name}`, { title: 'Not Permitted' });
  return row;
}

/**
 * Makes a new secret for a key (its user or a System Manager). With `graceSeconds` > 0 the
 * secret in use until now keeps working for that long; with 0 it stops at once. Only one
 * previous secret is kept: rotating again ends the grace of the one before.
 */
export async function rotateNamedApiKey(ctx: DocumentContext, name: string, hashKey: string, graceSeconds = 0): Promise<{ api_secret: string }> {
  if (typeof graceSeconds !== 'number' || !Number.isFinite(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_ROTATION_GRACE_SECONDS) {
    throw frappeError('ValidationError', `The grace period must be between 0 and ${MAX_ROTATION_GRACE_SECONDS} seconds`);
  }
  const row = await loadForChange(ctx, name);
  const keyName = String(row.name);
  const current = await ctx.db.get<{ password: string; encrypted: number | string }>(
    'SELECT "password", "encrypted" FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?',
    [API_KEY_DOCTYPE, keyName, SECRET_FIELD],
  );
  let graceEnd: string | null = null;
  if (graceSeconds > 0 && current && Number(current.encrypted) === 0) {
    await setHashedField(ctx.db, API_KEY_DOCTYPE, keyName, PREVIOUS_SECRET_FIELD, current.password);
    graceEnd = formatDatetime(new Date(epochMs(ctx.clock) + Math.floor(graceSeconds * 1000)));
  } else {
    await ctx.db.run('DELETE FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', [API_KEY_DOCTYPE, keyName, PREVIOUS_SECRET_FIELD]);
  }
  const apiSecret = randomToken(32);
  await setHashedField(ctx.db, API_KEY_DOCTYPE, keyName, SECRET_FIELD, secretHash(hashKey, String(row.user), apiSecret));
  await saveDoc(API_KEY_DOCTYPE, keyName, { previous_secret_expires_at: graceEnd }, { ...ctx, ignorePermissions: true });
  await ctx.db.run('UPDATE "tabAPI Key" SET "api_secret" = ? WHERE "name" = ?', [PASSWORD_MASK, keyName]);
  return { api_secret: apiSecret };
}

/** Disables a key (its user or a System Manager) and ends any rotation grace. */
export async function revokeNamedApiKey(ctx: DocumentContext, name: string): Promise<void> {
  const row = await loadForChange(ctx, name);
  const keyName = String(row.name);
  await ctx.db.run('DELETE FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', [API_KEY_DOCTYPE, keyName, PREVIOUS_SECRET_FIELD]);
  await saveDoc(API_KEY_DOCTYPE, keyName, { enabled: 0, previous_secret_expires_at: null }, { ...ctx, ignorePermissions: true });
}

export interface VerifiedNamedApiKey {
  /** The user the request runs as. */
  readonly user: string;
  /** The `API Key` document's name (for last-used bookkeeping and logs). */
  readonly keyName: string;
  /** The key's own restrict_ip list, undefined when none (the user's own list applies too). */
  readonly restrictIp: string | undefined;
  /** Scope names stored on the key (empty: none). */
  readonly scopes: readonly string[];
  /** When this secret stops working by itself (expiry, end of a rotation grace), in ms; undefined: never. */
  readonly validUntil?: number;
}

interface KeyRow {
  name: string;
  user: string | null;
  enabled: number | string | null;
  expires_on: unknown;
  restrict_ip: string | null;
  scopes: string | null;
  previous_secret_expires_at: unknown;
  user_enabled: number | string | null;
}

/**
 * The key's identity when `secret` is its current secret (or its previous one before the
 * rotation grace ends), the key is enabled and not expired (`expires_on` < now refuses) and
 * its user exists and is enabled; else undefined. Unknown keys cost the same hashing and
 * comparisons as known ones.
 */
export async function verifyNamedApiKey(
  db: SqlExecutor,
  apiKey: string,
  secret: string,
  hashKey: string,
  now: Date,
): Promise<VerifiedNamedApiKey | undefined> {
  const wellFormed = typeof apiKey === 'string' && isNamedApiKey(apiKey) && typeof secret === 'string';
  const row = wellFormed
    ? await db.get<KeyRow>(
        'SELECT k."name", k."user", k."enabled", k."expires_on", k."restrict_ip", k."scopes", k."previous_secret_expires_at", ' +
          'u."enabled" AS "user_enabled" FROM "tabAPI Key" k LEFT JOIN "tabUser" u ON u."name" = k."user" WHERE k."api_key" = ?',
        [apiKey],
      )
    : undefined;
  const stored = await db.all<{ fieldname: string; password: string; encrypted: number | string }>(
    'SELECT "fieldname", "password", "encrypted" FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" IN (?, ?)',
    [API_KEY_DOCTYPE, row?.name ?? '', SECRET_FIELD, PREVIOUS_SECRET_FIELD],
  );
  const hashOf = (fieldname: string) => stored.find((r) => r.fieldname === fieldname && Number(r.encrypted) === 0)?.password;
  const currentHash = row ? hashOf(SECRET_FIELD) : undefined;
  const previousHash = row ? hashOf(PREVIOUS_SECRET_FIELD) : undefined;
  const missing = keyedHash(hashKey, 'no stored secret');
  const presented = secretHash(hashKey, row?.user ?? '', typeof secret === 'string' ? secret : '');
  // Both comparisons always run, so timing tells nothing about which one (if any) matched.
  const currentMatches = constantEquals(presented, currentHash ?? missing);
  const previousMatches = constantEquals(presented, previousHash ?? missing);
  if (!row || !row.user || row.user === GUEST) return undefined;
  const graceEnd = parseStoredDatetime(row.previous_secret_expires_at);
  const byCurrent = currentHash !== undefined && currentMatches;
  const accepted = byCurrent || (previousHash !== undefined && previousMatches && graceEnd !== undefined && now.getTime() < graceEnd.getTime());
  if (!accepted) return undefined;
  if (Number(row.enabled) !== 1 || Number(row.user_enabled) !== 1) return undefined;
  let validUntil = byCurrent ? undefined : graceEnd?.getTime();
  if (optionalText(row.expires_on as string | null) !== undefined) {
    const expiresOn = parseStoredDatetime(row.expires_on);
    // An expiry that cannot be read fails closed.
    if (!expiresOn || expiresOn.getTime() < now.getTime()) return undefined;
    // `expires_on` < now refuses: the key still works during its last millisecond.
    validUntil = Math.min(validUntil ?? Number.POSITIVE_INFINITY, expiresOn.getTime() + 1);
  }
  return {
    user: row.user,
    keyName: row.name,
    restrictIp: optionalText(row.restrict_ip),
    scopes: (row.scopes ?? '').split(/\s+/).filter((s) => s !== ''),
    ...(validUntil === undefined ? {} : { validUntil }),
  };
}

export interface LastUsedRecorder {
  /** Notes a use in memory; never touches the database. */
  touch(keyName: string, ip: string): void;
  /** Writes every pending use in one transaction. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is pending; later touches are ignored. */
  close(): Promise<void>;
}

const MAX_IP_LENGTH = 140;

/**
 * Batches `last_used_at` / `last_used_ip` updates: `touch` on every request keeps the latest
 * use per key in memory; a timer (every `flushIntervalMs`, unref'd) or `flush()` writes them,
 * without changing the documents' `modified` (bookkeeping, not an edit). A failed write keeps
 * the uses for the next flush.
 */
export function createLastUsedRecorder(
  storage: Pick<Storage, 'transaction'>,
  clock: Clock,
  flushIntervalMs = 5000,
): LastUsedRecorder {
  let pending = new Map<string, { at: string; ip: string }>();
  let closed = false;
  let chain: Promise<void> = Promise.resolve();

  const write = async (): Promise<void> => {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      await storage.transaction(async (tx) => {
        for (const [keyName, use] of batch) {
          await tx.run('UPDATE "tabAPI Key" SET "last_used_at" = ?, "last_used_ip" = ? WHERE "name" = ?', [use.at, use.ip, keyName]);
        }
      });
    } catch (error) {
      // Keep the uses for the next flush, unless a newer use of the same key came in meanwhile.
      for (const [keyName, use] of batch) if (!pending.has(keyName)) pending.set(keyName, use);
      throw error;
    }
  };
  const flush = (): Promise<void> => {
    const run = chain.then(write);
    chain = run.catch(() => undefined);
    return run;
  };

  const timer = setInterval(() => void flush().catch(() => undefined), Math.max(1, flushIntervalMs));
  timer.unref();

  return {
    touch(keyName, ip) {
      if (closed || typeof keyName !== 'string' || keyName === '') return;
      pending.set(keyName, { at: formatDatetime(clock.now()), ip: String(ip ?? '').slice(0, MAX_IP_LENGTH) });
    },
    flush,
    async close() {
      closed = true;
      clearInterval(timer);
      await flush();
    },
  };
}
