/**
 * The API Request Log (System Settings `log_api_requests`): one row per `/api` request —
 * Frappe's `path`, `method`, `user`, and cortado's `status`, `auth_method`, `api_key` (the key
 * id, never the secret), `ip`, `duration_ms`.
 *
 * `record()` only queues (synchronous, never throws, never touches the database); a timer
 * (unref'd, so it never keeps the process alive) writes the queue in batches, each batch in
 * one transaction of multi-row INSERTs. The queue is bounded: beyond `maxQueue` the oldest
 * rows are dropped and counted. A batch that fails is reported through `onError`; it is kept
 * for the next round only when the database is unreachable, else dropped and counted, so one
 * bad row can never wedge the log.
 */
import { epochMs, formatDatetime, type Clock } from '../core/clock.ts';
import { randomHex } from '../core/crypto.ts';
import { StorageUnavailable, UniqueViolation, type SqlValue, type Storage } from '../storage/types.ts';
import { clipText, DATA_LENGTH, report } from './activity-log.ts';

export const API_REQUEST_LOG_TABLE = 'tabAPI Request Log';

/** How the request proved who it is (the `auth_method` options). */
export const AUTH_METHODS = ['session', 'token', 'basic', 'bearer', 'hook', 'guest'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export interface ApiRequestLogEntry {
  /** Request path; anything from `?` on is cut off before storing. */
  path: string;
  method: string;
  /** Session user after authentication (`Guest` when none). */
  user: string;
  /** HTTP status of the answer. */
  status: number;
  /** One of AUTH_METHODS. */
  auth_method: string;
  /** The API key id, never the secret. */
  api_key?: string;
  ip: string;
  duration_ms: number;
}

export interface RequestLogOptions {
  /** How often queued rows are written (default 1000 ms). */
  flushIntervalMs?: number;
  /** Rows per transaction (default 2000); the event loop runs between its statements. */
  maxBatch?: number;
  /** Rows held in memory at most (default 50,000); beyond it the oldest are dropped. */
  maxQueue?: number;
  /** Told about every failed write or purge step. */
  onError?: (error: unknown) => void;
  /** Document names; time-ordered hex by default (see `sortableName`). */
  newName?: () => string;
}

export interface RequestLogStats {
  /** Rows queued, not yet written. */
  pending: number;
  /** Rows written since creation. */
  written: number;
  /** Rows lost: queue overflow, failed batches, records after close. */
  dropped: number;
}

export interface RequestLog {
  /** Queues one row. Synchronous; never awaits, never throws. */
  record(entry: ApiRequestLogEntry): void;
  /** Writes every row queued now (after any flush in progress); resolves to the rows written. Never rejects. */
  flush(): Promise<number>;
  /** Deletes rows whose `creation` is older than `retentionDays` days; resolves to the rows deleted. */
  purge(retentionDays: number): Promise<number>;
  /** Stops the timer and flushes; later records are dropped. Idempotent. */
  close(): Promise<void>;
  stats(): RequestLogStats;
}

/** Longest path stored (characters). */
export const MAX_PATH_LENGTH = 1000;

/**
 * Bound parameters per INSERT statement: SQLite's historical limit (999), far below
 * PostgreSQL's 65,535, so one statement shape works on both.
 */
const MAX_PARAMS = 999;
const ROW_COLUMNS = [
  'name', 'creation', 'modified', 'path', 'method', 'user', 'status', 'auth_method', 'api_key', 'ip', 'duration_ms',
] as const;
const ROWS_PER_STATEMENT = Math.floor(MAX_PARAMS / ROW_COLUMNS.length);
/** Constant standard columns, written as literals rather than parameters. */
const ROW_SQL = `(?, 'Administrator', ?, ?, 'Administrator', 0, 0, ${ROW_COLUMNS.slice(3).map(() => '?').join(', ')})`;
const INSERT_HEAD =
  `INSERT INTO "${API_REQUEST_LOG_TABLE}" ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", ` +
  `${ROW_COLUMNS.slice(3).map((c) => `"${c}"`).join(', ')}) VALUES `;

const NAME_ATTEMPTS = 3;
const PURGE_CHUNK = 5000;
const DAY_MS = 86_400_000;

/** A queued row: everything but the name, already clipped and sanitised. */
type QueuedRow = readonly [
  /** ms since the epoch (formatted when written). */
  creation: number,
  path: string,
  method: string | null,
  user: string | null,
  status: number | null,
  authMethod: string | null,
  apiKey: string | null,
  ip: string | null,
  durationMs: number | null,
];

/** Fixed-capacity FIFO; pushing onto a full one overwrites (and counts) the oldest. */
class RingQueue<T> {
  readonly #items: (T | undefined)[];
  #head = 0;
  #size = 0;
  overflowed = 0;

  constructor(readonly capacity: number) {
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size === this.capacity) {
      this.#items[this.#head] = item;
      this.#head = (this.#head + 1) % this.capacity;
      this.overflowed += 1;
      return;
    }
    this.#items[(this.#head + this.#size) % this.capacity] = item;
    this.#size += 1;
  }

  take(count: number): T[] {
    const out: T[] = [];
    while (out.length < count && this.#size > 0) {
      out.push(this.#items[this.#head] as T);
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.capacity;
      this.#size -= 1;
    }
    return out;
  }

  /** Puts rows back in front (they are older than the queued ones); the oldest go when full. */
  unshift(items: readonly T[]): void {
    const room = this.capacity - this.#size;
    const keep = items.length <= room ? items : items.slice(items.length - room);
    this.overflowed += items.length - keep.length;
    for (let i = keep.length - 1; i >= 0; i -= 1) {
      this.#head = (this.#head - 1 + this.capacity) % this.capacity;
      this.#items[this.#head] = keep[i];
      this.#size += 1;
    }
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 1) throw new RangeError(`${name} must be a number ≥ 1, got ${value}`);
  return Math.floor(value);
}

/** The path without query string (or fragment), clipped. */
export function storedPath(path: unknown): string {
  const text = typeof path === 'string' ? path : String(path ?? '');
  const cut = text.search(/[?#]/);
  return clipText(cut === -1 ? text : text.slice(0, cut), MAX_PATH_LENGTH) ?? '';
}

function intOrNull(value: unknown): number | null {
  const n = Number(value);
  return Number.isFinite(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER ? Math.trunc(n) : null;
}

function floatOrNull(value: unknown): number | null {
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/**
 * Names that sort by time: 11 hex digits of the millisecond, 3 of a sequence within it, 4 of a
 * tag random per process (so nodes writing in the same millisecond do not collide). Rows are
 * then appended to the primary key's index instead of landing at random places in it: random
 * names made each row's insert about twice as expensive once the table holds a few hundred
 * thousand rows (docs/performance.md).
 */
export function createSortableNames(now: () => number = Date.now, tag = randomHex(4)): () => string {
  let lastMs = 0;
  let sequence = 0;
  return () => {
    let ms = Math.max(now(), lastMs);
    if (ms === lastMs) {
      sequence += 1;
      // 4096 names in one millisecond: borrow the next one.
      if (sequence > 0xfff) {
        ms += 1;
        sequence = 0;
      }
    } else sequence = 0;
    lastMs = ms;
    return ms.toString(16).padStart(11, '0') + sequence.toString(16).padStart(3, '0') + tag;
  };
}

/** Formats the `creation` of queued rows; consecutive rows usually share their millisecond. */
function datetimeFormatter(): (ms: number) => string {
  let lastMs = Number.NaN;
  let lastText = '';
  return (ms) => {
    if (ms !== lastMs) {
      lastMs = ms;
      lastText = formatDatetime(new Date(ms));
    }
    return lastText;
  };
}

/** Lets the event loop serve requests between the statements of a long write. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createRequestLog(storage: Storage, clock: Clock, options: RequestLogOptions = {}): RequestLog {
  const flushIntervalMs = positiveInteger(options.flushIntervalMs, 1000, 'flushIntervalMs');
  const maxBatch = positiveInteger(options.maxBatch, 2000, 'maxBatch');
  const queue = new RingQueue<QueuedRow>(positiveInteger(options.maxQueue, 50_000, 'maxQueue'));
  const newName = options.newName ?? createSortableNames();
  const creationText = datetimeFormatter();
  const onError = options.onError;
  const statements = new Map<number, string>();
  let written = 0;
  let lost = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let flushing = 0;

  const insertSql = (rows: number): string => {
    let sql = statements.get(rows);
    if (sql === undefined) {
      sql = INSERT_HEAD + Array.from({ length: rows }, () => ROW_SQL).join(', ');
      statements.set(rows, sql);
    }
    return sql;
  };

  async function writeBatch(batch: readonly QueuedRow[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await storage.transaction(async (tx) => {
          for (let start = 0; start < batch.length; start += ROWS_PER_STATEMENT) {
            // Requests go on between statements (reads meanwhile use SQLite's reader connection).
            if (start > 0) await yieldToEventLoop();
            const chunk = batch.slice(start, start + ROWS_PER_STATEMENT);
            const params: SqlValue[] = [];
            for (const [creation, ...rest] of chunk) {
              const text = creationText(creation);
              params.push(newName(), text, text, ...rest);
            }
            await tx.run(insertSql(chunk.length), params);
          }
        });
        return;
      } catch (error) {
        // A random name met an existing one: the batch was rolled back; retry with fresh names.
        if (!(error instanceof UniqueViolation) || attempt >= NAME_ATTEMPTS) throw error;
      }
    }
  }

  async function drain(): Promise<number> {
    let count = 0;
    // Rows queued after this point wait for the next flush, so a busy server cannot keep one
    // flush going for ever.
    let budget = queue.size;
    while (budget > 0 && queue.size > 0) {
      if (count > 0) await yieldToEventLoop();
      const batch = queue.take(Math.min(maxBatch, budget));
      budget -= batch.length;
      try {
        await writeBatch(batch);
        count += batch.length;
        written += batch.length;
      } catch (error) {
        report(onError, error);
        if (error instanceof StorageUnavailable && !closed) {
          queue.unshift(batch);
          break;
        }
        lost += batch.length;
      }
    }
    return count;
  }

  function flush(): Promise<number> {
    flushing += 1;
    const run = chain.then(drain).catch((error: unknown) => {
      report(onError, error);
      return 0;
    });
    chain = run.finally(() => {
      flushing -= 1;
    });
    return run;
  }

  const timer = setInterval(() => {
    if (queue.size > 0 && flushing === 0) void flush();
  }, flushIntervalMs);
  timer.unref();

  return {
    record(entry) {
      try {
        if (closed) {
          lost += 1;
          return;
        }
        queue.push([
          epochMs(clock),
          storedPath(entry.path),
          clipText(entry.method, DATA_LENGTH),
          clipText(entry.user, DATA_LENGTH),
          intOrNull(entry.status),
          clipText(entry.auth_method, DATA_LENGTH),
          clipText(entry.api_key, DATA_LENGTH),
          clipText(entry.ip, DATA_LENGTH),
          floatOrNull(entry.duration_ms),
        ]);
      } catch (error) {
        report(onError, error);
      }
    },

    flush,

    async purge(retentionDays) {
      if (!Number.isFinite(retentionDays) || retentionDays <= 0) {
        throw new RangeError(`retentionDays must be a positive number, got ${retentionDays}`);
      }
      const cutoff = formatDatetime(new Date(epochMs(clock) - retentionDays * DAY_MS));
      const table = `"${API_REQUEST_LOG_TABLE}"`;
      // In chunks, so a large purge never holds the SQLite writer for long.
      const sql =
        `DELETE FROM ${table} WHERE "name" IN ` +
        `(SELECT "name" FROM ${table} WHERE "creation" < ? LIMIT ${PURGE_CHUNK})`;
      let deleted = 0;
      for (;;) {
        const { changes } = await storage.run(sql, [cutoff]);
        deleted += changes;
        if (changes < PURGE_CHUNK) return deleted;
      }
    },

    close() {
      if (closing) return closing;
      closed = true;
      clearInterval(timer);
      closing = flush().then(() => undefined);
      return closing;
    },

    stats() {
      return { pending: queue.size, written, dropped: lost + queue.overflowed };
    },
  };
}
