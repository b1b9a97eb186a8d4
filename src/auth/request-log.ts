/**
 * The API Request Log (System Settings `log_api_requests`): one row per `/api` request —
 * Frappe's `path`, `method`, `user`, and cortado's `status`, `auth_method`, `api_key` (the key
 * id, never the secret), `ip`, `duration_ms`.
 *
 * `record()` only keeps the row, in columns mostly outside the JavaScript heap (synchronous,
 * never throws, never touches the database); a timer (unref'd, so it never keeps the process
 * alive) clips the rows kept since its last tick into a queue and writes the queue in batches,
 * each batch in one transaction of multi-row INSERTs. Rows kept and queued are bounded: beyond
 * `maxQueue` the oldest are dropped and counted (spooled, while the process is busy). A batch
 * that fails is reported through `onError`; it is kept for the next round only when the
 * database is unreachable, else dropped and counted, so one bad row can never wedge the log.
 *
 * With a `spool`, a tick that finds the process busy appends the rows to it instead (named,
 * one JSON array per line), and the first tick that finds the process idle — or the spool past
 * `maxSpoolBytes` — writes the spool, then the queue: the INSERTs, most of the log's cost, are
 * not paid while requests wait (docs/performance.md). Spooled rows are written with
 * `ON CONFLICT DO NOTHING`, so a spool handed over again after a crash adds no row twice.
 */
import { epochMs, formatDatetime, type Clock } from '../core/clock.ts';
import { randomHex } from '../core/crypto.ts';
import { eventLoopBusy } from '../core/event-loop-busy.ts';
import type { LineSpool } from '../core/line-spool.ts';
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
  /** Rows kept and queued at most (default 50,000); beyond it the oldest are dropped (spooled, while busy). */
  maxQueue?: number;
  /** Told about every failed write or purge step. */
  onError?: (error: unknown) => void;
  /** Document names; time-ordered hex by default (see `sortableName`). */
  newName?: () => string;
  /** Where rows wait while the process is busy; without one they are written every tick. */
  spool?: LineSpool;
  /** Whether the process was busy since the last call (default: event loop utilisation ≥ 0.5). */
  busy?: () => boolean;
  /** Spooled bytes beyond which rows are written even while busy (default 64 MiB). */
  maxSpoolBytes?: number;
}

export interface RequestLogStats {
  /** Rows recorded or queued, not yet written or spooled. */
  pending: number;
  /** Bytes of rows spooled, not yet written. */
  spooledBytes: number;
  /** Bytes held for the paths of rows recorded since the last tick (the most kept after a burst is bounded). */
  recordedBytes: number;
  /** Rows written since creation. */
  written: number;
  /** Rows lost: queue overflow, failed batches, records after close. */
  dropped: number;
}

export interface RequestLog {
  /** Keeps one row for the next tick. Synchronous; never awaits, never throws. */
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
/** A row with its document name, as spooled. */
type NamedRow = readonly [name: string, ...QueuedRow];

const textOrNull = (value: unknown) => value === null || typeof value === 'string';
const numberOrNull = (value: unknown) => value === null || (typeof value === 'number' && Number.isFinite(value));

/** A spooled line back as a row, or undefined when it is not one this module wrote. */
function parseSpooledRow(line: string): NamedRow | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 10) return undefined;
  const [name, creation, path, ...rest] = value as unknown[];
  const [method, user, status, authMethod, apiKey, ip, durationMs] = rest;
  const valid =
    typeof name === 'string' && name !== '' && typeof creation === 'number' && Number.isFinite(creation) &&
    typeof path === 'string' && textOrNull(method) && textOrNull(user) && numberOrNull(status) &&
    textOrNull(authMethod) && textOrNull(apiKey) && textOrNull(ip) && numberOrNull(durationMs);
  return valid ? (value as unknown as NamedRow) : undefined;
}

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

/**
 * How much of a path is stored: what comes before its query string or fragment, at most
 * MAX_PATH_LENGTH UTF-16 units and never ending in half a surrogate pair (as `clipText`).
 */
function storedPathLength(path: string): number {
  const query = path.indexOf('?');
  const fragment = path.indexOf('#');
  let end = query === -1 ? path.length : query;
  if (fragment !== -1 && fragment < end) end = fragment;
  if (end <= MAX_PATH_LENGTH) return end;
  const last = path.charCodeAt(MAX_PATH_LENGTH - 1);
  return last >= 0xd800 && last <= 0xdbff ? MAX_PATH_LENGTH - 1 : MAX_PATH_LENGTH;
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
  // A tick names thousands of rows in a few milliseconds: their time digits are made once.
  let prefixMs = -1;
  let prefix = '';
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
    if (ms !== prefixMs) {
      prefixMs = ms;
      prefix = ms.toString(16).padStart(11, '0');
    }
    return prefix + sequence.toString(16).padStart(3, '0') + tag;
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

/** Method, user, auth_method, api_key and ip: kept as ids of texts interned per batch. */
const TEXT_COLUMNS = 5;
/** Int32 slots per recorded row: the ids of its texts, then its path's start and length. */
const ROW_INTS = TEXT_COLUMNS + 2;
/**
 * Float64 slots per recorded row: creation (ms), status and duration_ms as given, checked by the
 * tick (status too: not every integer stored fits an Int32).
 */
const ROW_NUMBERS = 3;
/** Rows the first columns hold; they double when full, and keep their size for the next batches. */
const FIRST_ROWS = 1024;
/** Path units per row the first arena holds (a token read's path is about 30). */
const FIRST_PATH_UNITS = 64;
/** An arena grown past this is let go when its batch is taken. */
const MAX_KEPT_ARENA_BYTES = 4 << 20;
/** Spool lines joined into one text to encode. */
const LINES_PER_ADD = 256;

/** A number (or null) as JSON.stringify writes it. */
const jsonNumber = (value: number | null) => (value !== null && Number.isFinite(value) ? String(value) : 'null');

/**
 * The rows recorded since the last tick, in columns: numbers in typed arrays, the texts requests
 * repeat (method, user, key, address) interned once per batch, and paths copied into an arena
 * outside the JavaScript heap — as UTF-16, which keeps any string as it was (UTF-8 turns a lone
 * surrogate into U+FFFD) and was measured as fast; interning paths, new with each request, cost
 * four times as much. A request leaves no object behind for the young generation's collections
 * to copy; the tick clips, names and serialises the whole batch in one loop.
 */
class RecordedRows {
  readonly #ids = new Map<string, number>();
  readonly #texts: string[] = [];
  /** Per text column, the last value interned and its id. */
  readonly #lastTexts: (string | undefined)[] = [];
  readonly #lastIds = new Int32Array(TEXT_COLUMNS);
  #ints = new Int32Array(FIRST_ROWS * ROW_INTS);
  #numbers = new Float64Array(FIRST_ROWS * ROW_NUMBERS);
  #arena = Buffer.allocUnsafeSlow(FIRST_ROWS * FIRST_PATH_UNITS * 2);
  #pathUnits = 0;
  size = 0;

  /** Adds a row; throws (and adds nothing) when a value cannot be made text. */
  add(creation: number, entry: ApiRequestLogEntry): void {
    const { path } = entry;
    const pathText = typeof path === 'string' ? path : String(path ?? '');
    const pathLength = storedPathLength(pathText);
    const method = this.#intern(0, entry.method);
    const user = this.#intern(1, entry.user);
    const status = Number(entry.status);
    const authMethod = this.#intern(2, entry.auth_method);
    const apiKey = this.#intern(3, entry.api_key);
    const ip = this.#intern(4, entry.ip);
    const duration = Number(entry.duration_ms);
    const row = this.size;
    if (row * ROW_INTS === this.#ints.length) this.#grow();
    const pathStart = this.#pathUnits;
    if ((pathStart + pathLength) * 2 > this.#arena.length) this.#growArena(pathStart + pathLength);
    if (pathLength > 0) this.#arena.write(pathText, pathStart * 2, pathLength * 2, 'utf16le');
    const ints = this.#ints;
    const at = row * ROW_INTS;
    ints[at] = method;
    ints[at + 1] = user;
    ints[at + 2] = authMethod;
    ints[at + 3] = apiKey;
    ints[at + 4] = ip;
    ints[at + 5] = pathStart;
    ints[at + 6] = pathLength;
    const numbers = this.#numbers;
    const n = row * ROW_NUMBERS;
    numbers[n] = creation;
    numbers[n + 1] = status;
    numbers[n + 2] = duration;
    this.#pathUnits = pathStart + pathLength;
    this.size = row + 1;
  }

  /** Empties the batch into rows as stored (clipped, sanitised), oldest first. */
  takeRows(): QueuedRow[] {
    const texts = this.#texts.map((text) => clipText(text, DATA_LENGTH));
    const text = (id: number) => (id === -1 ? null : (texts[id] as string | null));
    const paths = this.#paths();
    const ints = this.#ints;
    const numbers = this.#numbers;
    const rows = new Array<QueuedRow>(this.size);
    for (let row = 0; row < this.size; row += 1) {
      const at = row * ROW_INTS;
      const n = row * ROW_NUMBERS;
      const pathStart = ints[at + 5] as number;
      rows[row] = [
        numbers[n] as number,
        paths.slice(pathStart, pathStart + (ints[at + 6] as number)),
        text(ints[at] as number),
        text(ints[at + 1] as number),
        intOrNull(numbers[n + 1]),
        text(ints[at + 2] as number),
        text(ints[at + 3] as number),
        text(ints[at + 4] as number),
        floatOrNull(numbers[n + 2]),
      ];
    }
    this.#clear();
    return rows;
  }

  /**
   * Empties the batch into spool lines, oldest first, each `JSON.stringify([name, ...row])` of
   * the row `takeRows` would give — but put together from texts serialised once per batch, at
   * a fraction of the cost. `quotedName` gives a name as JSON.
   */
  takeLines(quotedName: () => string, add: (text: string) => void): void {
    const texts = this.#texts.map((text) => JSON.stringify(clipText(text, DATA_LENGTH)));
    const text = (id: number) => (id === -1 ? 'null' : (texts[id] as string));
    const paths = this.#paths();
    // When JSON escapes nothing in any path, as for almost every batch, a path is quoted as it is.
    const quotePath =
      JSON.stringify(paths).length === paths.length + 2 ? (path: string) => `"${path}"` : JSON.stringify;
    const ints = this.#ints;
    const numbers = this.#numbers;
    const lines: string[] = [];
    let middle = '';
    const size = this.size;
    // Emptied first: a name that throws loses the batch rather than spooling part of it twice.
    this.#clear();
    for (let row = 0; row < size; row += 1) {
      const at = row * ROW_INTS;
      const n = row * ROW_NUMBERS;
      // Consecutive rows mostly share their texts and status: that part of the line is made once.
      const same =
        row > 0 && numbers[n + 1] === numbers[n + 1 - ROW_NUMBERS] &&
        ints[at] === ints[at - ROW_INTS] && ints[at + 1] === ints[at + 1 - ROW_INTS] &&
        ints[at + 2] === ints[at + 2 - ROW_INTS] && ints[at + 3] === ints[at + 3 - ROW_INTS] &&
        ints[at + 4] === ints[at + 4 - ROW_INTS];
      if (!same) {
        middle =
          `${text(ints[at] as number)},${text(ints[at + 1] as number)},${jsonNumber(intOrNull(numbers[n + 1]))},` +
          `${text(ints[at + 2] as number)},${text(ints[at + 3] as number)},${text(ints[at + 4] as number)}`;
      }
      const pathStart = ints[at + 5] as number;
      const path = paths.slice(pathStart, pathStart + (ints[at + 6] as number));
      const creation = jsonNumber(numbers[n] as number);
      lines.push(`[${quotedName()},${creation},${quotePath(path)},${middle},${jsonNumber(floatOrNull(numbers[n + 2]))}]\n`);
      // One flat string to encode instead of one per line.
      if (lines.length === LINES_PER_ADD) {
        add(lines.join(''));
        lines.length = 0;
      }
    }
    if (lines.length > 0) add(lines.join(''));
  }

  /** Every path of the batch in one string (one decoding, not one per row), NUL sanitised as `clipText` does. */
  #paths(): string {
    const paths = this.#arena.toString('utf16le', 0, this.#pathUnits * 2);
    return paths.includes('\u0000') ? paths.replaceAll('\u0000', '\uFFFD') : paths;
  }

  #clear(): void {
    this.#ids.clear();
    this.#texts.length = 0;
    this.#lastTexts.length = 0;
    this.#pathUnits = 0;
    this.size = 0;
    // After a burst of long paths (up to maxQueue × MAX_PATH_LENGTH units) the memory goes back.
    if (this.#arena.length > MAX_KEPT_ARENA_BYTES) this.#arena = Buffer.allocUnsafeSlow(FIRST_ROWS * FIRST_PATH_UNITS * 2);
  }

  /** Bytes held outside the heap for paths. */
  get arenaBytes(): number {
    return this.#arena.length;
  }

  /** The id of a text column's value in this batch (-1 for none). */
  #intern(column: number, value: unknown): number {
    if (value === undefined || value === null) return -1;
    const text = typeof value === 'string' ? value : String(value);
    // Consecutive requests mostly share their method, user, key and address: no lookup then.
    if (text === this.#lastTexts[column]) return this.#lastIds[column] as number;
    let id = this.#ids.get(text);
    if (id === undefined) {
      id = this.#texts.push(text) - 1;
      this.#ids.set(text, id);
    }
    this.#lastTexts[column] = text;
    this.#lastIds[column] = id;
    return id;
  }

  #grow(): void {
    const ints = new Int32Array(this.#ints.length * 2);
    ints.set(this.#ints);
    this.#ints = ints;
    const numbers = new Float64Array(this.#numbers.length * 2);
    numbers.set(this.#numbers);
    this.#numbers = numbers;
  }

  #growArena(units: number): void {
    let bytes = this.#arena.length * 2;
    while (bytes < units * 2) bytes *= 2;
    const arena = Buffer.allocUnsafeSlow(bytes);
    this.#arena.copy(arena, 0, 0, this.#pathUnits * 2);
    this.#arena = arena;
  }
}

/** Bytes of a chunk of spooled lines kept in memory. */
const CHUNK_BYTES = 1 << 20;

/**
 * Lines kept in buffers, off the JavaScript heap, until they are appended to the spool: rows
 * held as objects until the next tick survive the young generation's collections and are
 * copied by each (the collector's share of recording fell from a quarter to under a tenth,
 * docs/performance.md).
 */
class LineChunks {
  readonly #full: Buffer[] = [];
  #current: Buffer | undefined;
  #used = 0;
  bytes = 0;

  /** Adds whole lines. */
  add(lines: string): void {
    // A UTF-16 unit takes at most 3 bytes in UTF-8, so the lines always fit whole.
    if (!this.#current || this.#current.length - this.#used < lines.length * 3) {
      this.#seal();
      this.#current = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, lines.length * 3));
    }
    const size = this.#current.write(lines, this.#used);
    this.#used += size;
    this.bytes += size;
  }

  take(): Buffer[] {
    this.#seal();
    this.bytes = 0;
    return this.#full.splice(0);
  }

  #seal(): void {
    if (this.#current && this.#used > 0) this.#full.push(this.#current.subarray(0, this.#used));
    this.#current = undefined;
    this.#used = 0;
  }
}

/** The lines of spooled text (the last one ends with a newline). */
const linesOf = (chunks: readonly Buffer[]): string[] =>
  Buffer.concat(chunks).toString('utf8').split('\n').filter((line) => line !== '');

export function createRequestLog(storage: Storage, clock: Clock, options: RequestLogOptions = {}): RequestLog {
  const flushIntervalMs = positiveInteger(options.flushIntervalMs, 1000, 'flushIntervalMs');
  const maxBatch = positiveInteger(options.maxBatch, 2000, 'maxBatch');
  const maxQueue = positiveInteger(options.maxQueue, 50_000, 'maxQueue');
  const queue = new RingQueue<QueuedRow>(maxQueue);
  const maxSpoolBytes = positiveInteger(options.maxSpoolBytes, 64 * 1024 * 1024, 'maxSpoolBytes');
  const newName = options.newName ?? createSortableNames();
  // Sortable names are hex digits: nothing to escape.
  const quotedName = options.newName ? () => JSON.stringify(newName()) : () => `"${newName()}"`;
  const creationText = datetimeFormatter();
  const onError = options.onError;
  const spool = options.spool;
  const busy = spool ? (options.busy ?? eventLoopBusy()) : undefined;
  const statements = new Map<string, string>();
  /** Off after a failed append: rows are then written as they come, the spool still drained. */
  let spooling = spool !== undefined;
  /** Set by a tick that found the process busy: rows recorded past `maxQueue` go to `lines`. */
  let spoolingNow = false;
  const recorded = new RecordedRows();
  const lines = new LineChunks();
  /** Lines the spool refused, written to the database by the next flush. */
  const stranded: Buffer[] = [];
  let written = 0;
  let lost = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let flushing = 0;

  const insertSql = (rows: number, tail: string): string => {
    const key = `${rows}${tail}`;
    let sql = statements.get(key);
    if (sql === undefined) {
      sql = INSERT_HEAD + Array.from({ length: rows }, () => ROW_SQL).join(', ') + tail;
      statements.set(key, sql);
    }
    return sql;
  };

  /** One transaction of multi-row INSERTs; resolves to the rows stored. */
  async function insertRows(rows: readonly NamedRow[], tail: string): Promise<number> {
    let stored = 0;
    await storage.transaction(async (tx) => {
      for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
        // Requests go on between statements (reads meanwhile use SQLite's reader connection).
        if (start > 0) await yieldToEventLoop();
        const chunk = rows.slice(start, start + ROWS_PER_STATEMENT);
        const params: SqlValue[] = [];
        for (const [name, creation, ...rest] of chunk) {
          const text = creationText(creation);
          params.push(name, text, text, ...rest);
        }
        stored += (await tx.run(insertSql(chunk.length, tail), params)).changes;
      }
    });
    return stored;
  }

  async function writeBatch(batch: readonly QueuedRow[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await insertRows(batch.map((row): NamedRow => [newName(), ...row]), '');
        return;
      } catch (error) {
        // A random name met an existing one: the batch was rolled back; retry with fresh names.
        if (!(error instanceof UniqueViolation) || attempt >= NAME_ATTEMPTS) throw error;
      }
    }
  }

  /** Writes spooled lines; rejects only when the database is unreachable. */
  async function writeLines(batch: readonly string[]): Promise<void> {
    const rows: NamedRow[] = [];
    for (const line of batch) {
      const row = parseSpooledRow(line);
      if (row) rows.push(row);
      else lost += 1;
    }
    if (rows.length === 0) return;
    try {
      written += await insertRows(rows, ' ON CONFLICT ("name") DO NOTHING');
    } catch (error) {
      if (error instanceof StorageUnavailable) throw error;
      report(onError, error);
      lost += rows.length;
    }
    await yieldToEventLoop();
  }

  /** Appends the buffered lines to the spool, or strands them when it cannot take them. */
  async function appendLines(): Promise<void> {
    const chunks = lines.take();
    if (chunks.length === 0) return;
    if (!spool || !spooling) {
      stranded.push(...chunks);
      return;
    }
    try {
      await spool.append(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    } catch (error) {
      report(onError, error);
      spooling = false;
      spoolingNow = false;
      stranded.push(...chunks);
    }
  }

  const spoolRecorded = () => recorded.takeLines(quotedName, (text) => lines.add(text));

  /** Moves the recorded rows to the queue, whose bound drops the oldest. */
  const queueRecorded = () => {
    for (const row of recorded.takeRows()) queue.push(row);
  };

  /** Moves the queue, the recorded rows and the buffered lines to the spool. */
  async function spoolQueue(): Promise<void> {
    for (const row of queue.take(queue.size)) lines.add(`${JSON.stringify([newName(), ...row])}\n`);
    spoolRecorded();
    await appendLines();
  }

  /** Writes what is spooled or stranded; stops (keeping it) when the database is unreachable. */
  async function drainSpool(): Promise<void> {
    await appendLines();
    if (stranded.length > 0) {
      const batch = linesOf(stranded);
      for (let start = 0; start < batch.length; start += maxBatch) await writeLines(batch.slice(start, start + maxBatch));
      stranded.length = 0;
    }
    if (!spool || spool.bytes === 0) return;
    const { torn } = await spool.drain(maxBatch, writeLines);
    lost += torn;
  }

  async function drain(): Promise<number> {
    const before = written;
    try {
      await drainSpool();
    } catch (error) {
      report(onError, error);
    }
    // Rows recorded after this point wait for the next flush, so a busy server cannot keep one
    // flush going for ever.
    queueRecorded();
    let budget = queue.size;
    let batches = 0;
    while (budget > 0 && queue.size > 0) {
      if (batches++ > 0) await yieldToEventLoop();
      const batch = queue.take(Math.min(maxBatch, budget));
      budget -= batch.length;
      try {
        await writeBatch(batch);
        written += batch.length;
      } catch (error) {
        report(onError, error);
        // Kept for the next round, or for the spool when closing.
        if (error instanceof StorageUnavailable && (!closed || spooling)) {
          queue.unshift(batch);
          break;
        }
        lost += batch.length;
      }
    }
    return written - before;
  }

  function inChain<T>(step: () => Promise<T>, fallback: T): Promise<T> {
    flushing += 1;
    const run = chain.then(step).catch((error: unknown) => {
      report(onError, error);
      return fallback;
    });
    chain = run.finally(() => {
      flushing -= 1;
      // The next tick judges the load from here, not counting this write.
      busy?.();
    });
    return run;
  }

  const flush = (): Promise<number> => inChain(drain, 0);

  const spooledBytes = () => (spool?.bytes ?? 0) + lines.bytes + stranded.reduce((sum, chunk) => sum + chunk.length, 0);

  const timer = setInterval(() => {
    if (flushing > 0) return;
    const spooled = spooledBytes();
    if (queue.size === 0 && recorded.size === 0 && spooled === 0) return;
    spoolingNow = spooling && spooled < maxSpoolBytes && busy?.() === true;
    void (spoolingNow ? inChain(spoolQueue, undefined) : flush());
  }, flushIntervalMs);
  timer.unref();

  return {
    record(entry) {
      try {
        if (closed) {
          lost += 1;
          return;
        }
        recorded.add(epochMs(clock), entry);
        // Only when the ticks are held up (by a long flush) or a tick's interval brings more
        // rows than `maxQueue`: the rows go where the last tick sent the queue.
        if (recorded.size + queue.size > maxQueue) {
          if (spoolingNow) spoolRecorded();
          else queueRecorded();
        }
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
      closing = flush()
        .then(() => (queue.size > 0 && spooling ? inChain(spoolQueue, undefined) : undefined))
        .then(() => spool?.close())
        .catch((error: unknown) => report(onError, error))
        .finally(() => {
          // Refused by the spool and by the database: nowhere left to keep them.
          if (stranded.length > 0) lost += linesOf(stranded.splice(0)).length;
        });
      return closing;
    },

    stats() {
      const pending = queue.size + recorded.size;
      return { pending, spooledBytes: spooledBytes(), recordedBytes: recorded.arenaBytes, written, dropped: lost + queue.overflowed };
    },
  };
}
