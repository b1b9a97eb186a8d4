/**
 * The Activity Log (Frappe's `add_authentication_log`): one row per authentication event —
 * login success and failure, logout and session end with the reason, key generation, lockout.
 *
 * Rows are written straight into `tabActivity Log` in autocommit, outside any request
 * transaction, so a rolled-back request still leaves its trace. Writing never throws to the
 * caller: a database error goes to `onError` and the login goes on.
 *
 * On SQLite the autocommit insert waits for the writer lock: a caller whose own unit of work
 * already holds an open write transaction must not await `log()` before finishing it (fire
 * and forget, or log after commit), or it would wait on itself.
 */
import { formatDatetime, type Clock } from '../core/clock.ts';
import { randomHex } from '../core/crypto.ts';
import { UniqueViolation, type SqlValue, type Storage } from '../storage/types.ts';

/** The `operation` values of the Activity Log DocType (Frappe's three, then cortado's). */
export const ACTIVITY_OPERATIONS = ['Login', 'Logout', 'Impersonate', 'Session', 'API Key', 'Lockout', 'OAuth'] as const;
export type ActivityOperation = (typeof ACTIVITY_OPERATIONS)[number];

export interface ActivityLogEntry {
  /** The user, or the name submitted at a failed login, or "Unknown User". */
  user: string;
  /** One of ACTIVITY_OPERATIONS (a plain string, so apps may add their own). */
  operation: string;
  status: 'Success' | 'Failed';
  /** Stored as given; the caller guarantees it holds no secret. */
  subject: string;
  full_name?: string;
  ip?: string;
  reference_doctype?: string;
  reference_name?: string;
}

export interface ActivityLog {
  /** Inserts one row; resolves when written or when the write failed (never rejects). */
  log(entry: ActivityLogEntry): Promise<void>;
}

export interface ActivityLogOptions {
  /** Told about every failed write (the entry is then lost). */
  onError?: (error: unknown) => void;
  /** Document names; Frappe's 10-character hash by default. */
  newName?: () => string;
}

export const ACTIVITY_LOG_TABLE = 'tabActivity Log';

/** Longest subject stored (characters); longer ones are cut. */
export const MAX_SUBJECT_LENGTH = 1000;
/** Data columns are varchar(140) on PostgreSQL, which refuses longer values. */
export const DATA_LENGTH = 140;

/**
 * Text safe to store: at most `max` UTF-16 units, not ending in half a surrogate pair, and
 * without NUL (PostgreSQL refuses it in text, which would lose the row or a whole batch).
 */
export function clipText(value: unknown, max: number): string | null {
  if (value === undefined || value === null) return null;
  let text = typeof value === 'string' ? value : String(value);
  if (text.includes('\u0000')) text = text.replaceAll('\u0000', '\uFFFD');
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/** Calls an error callback without letting it throw into the caller. */
export function report(onError: ((error: unknown) => void) | undefined, error: unknown): void {
  try {
    onError?.(error);
  } catch {
    // A broken error sink must not break a login or a request either.
  }
}

const COLUMNS = [
  'name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx',
  'subject', 'user', 'full_name', 'operation', 'status', 'reference_doctype', 'reference_name',
  'ip_address', 'communication_date',
] as const;

const INSERT_SQL =
  `INSERT INTO "${ACTIVITY_LOG_TABLE}" (${COLUMNS.map((c) => `"${c}"`).join(', ')}) ` +
  `VALUES (${COLUMNS.map(() => '?').join(', ')})`;

/** Attempts on a name collision (a fresh random name each time). */
const NAME_ATTEMPTS = 3;

export function createActivityLog(storage: Storage, clock: Clock, options: ActivityLogOptions = {}): ActivityLog {
  const newName = options.newName ?? (() => randomHex(10));
  return {
    async log(entry) {
      try {
        const now = formatDatetime(clock.now());
        const values: SqlValue[] = [
          '', 'Administrator', now, now, 'Administrator', 0, 0,
          clipText(entry.subject, MAX_SUBJECT_LENGTH) ?? '',
          clipText(entry.user, DATA_LENGTH),
          clipText(entry.full_name, DATA_LENGTH),
          clipText(entry.operation, DATA_LENGTH),
          clipText(entry.status, DATA_LENGTH),
          clipText(entry.reference_doctype, DATA_LENGTH),
          clipText(entry.reference_name, DATA_LENGTH),
          clipText(entry.ip, DATA_LENGTH),
          now,
        ];
        for (let attempt = 1; ; attempt += 1) {
          values[0] = newName();
          try {
            await storage.run(INSERT_SQL, values);
            return;
          } catch (error) {
            if (!(error instanceof UniqueViolation) || attempt >= NAME_ATTEMPTS) throw error;
          }
        }
      } catch (error) {
        report(options.onError, error);
      }
    },
  };
}
