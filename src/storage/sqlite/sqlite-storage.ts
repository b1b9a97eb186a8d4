/**
 * SQLite adapter (better-sqlite3, WAL). One writer connection, serialised by a mutex so a
 * request-long transaction cannot interleave with another; a second connection serves reads,
 * which in WAL mode see only committed data and never wait for the writer.
 */
import Database from 'better-sqlite3';
import { Mutex, MutexTimeout } from '../mutex.ts';
import { ReadCache, readKey, rowsBytes } from './read-cache.ts';
import { WalIndexHeader } from './wal-index-header.ts';
import {
  quoteIdentifier,
  StorageUnavailable,
  UniqueViolation,
  type ColumnInfo,
  type ColumnSpec,
  type Dialect,
  type Row,
  type RunResult,
  type SqlExecutor,
  type SqlValue,
  type Storage,
  type TableSpec,
  type Transaction,
} from '../types.ts';

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  quote: quoteIdentifier,
  likeOperator: 'like',
  columnType(column: ColumnSpec): string {
    switch (column.kind) {
      case 'int':
      case 'bigint':
        return 'INTEGER';
      case 'float':
        return 'REAL';
      default:
        return 'TEXT';
    }
  },
};

type Statement = Database.Statement<unknown[], unknown>;

/** A row object from a raw row (the values in column order). */
type RowBuilder = (values: readonly unknown[]) => Row;

/**
 * Rows are read raw and turned into objects by a function compiled per result shape: every row
 * of a statement then gets one hidden class from one object literal, where better-sqlite3's own
 * row objects set one property per column and internalise each column name again on every row
 * (a third of a 20-column primary-key read; docs/performance.md).
 */
function rowBuilder(names: readonly string[]): RowBuilder {
  // As a literal key, `__proto__` would set the prototype instead of adding a property.
  if (names.includes('__proto__')) {
    return (values) => {
      const row: Row = {};
      names.forEach((name, i) => Object.defineProperty(row, name, { value: values[i], enumerable: true, writable: true, configurable: true }));
      return row;
    };
  }
  // The source holds only JSON string literals of the column names and array indexes.
  return new Function('v', `return {${names.map((name, i) => `${JSON.stringify(name)}: v[${i}]`).join(', ')}};`) as RowBuilder;
}

interface Prepared {
  readonly statement: Statement;
  /** For statements that return rows: the builder of the result shape last seen. */
  build: RowBuilder | undefined;
  width: number;
}

class Connection {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Prepared>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  get db(): Database.Database {
    return this.#db;
  }

  prepare(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (!prepared) {
      const statement = this.#db.prepare(sql);
      if (statement.reader) statement.raw(true);
      const names = statement.reader ? columnNames(statement) : [];
      prepared = { statement, build: statement.reader ? rowBuilder(names) : undefined, width: names.length };
      // Bounded: dynamic list queries produce many shapes; keep the hot ones.
      if (this.#statements.size > 2000) this.#statements.clear();
      this.#statements.set(sql, prepared);
    }
    return prepared;
  }

  all<T>(sql: string, params: readonly SqlValue[]): T[] {
    const answer = this.query(sql, params);
    return answer ? buildRows<T>(answer) : [];
  }

  /** A reading statement's rows as value arrays, with the builder of their objects; a writing one is run. */
  query(sql: string, params: readonly SqlValue[]): RawRows | undefined {
    const prepared = this.prepare(sql);
    const args = params.map(toSqlite);
    if (!prepared.build) {
      prepared.statement.run(...args);
      return undefined;
    }
    const values = prepared.statement.all(...args) as unknown[][];
    // SQLite re-prepares a statement whose table changed (another process migrated it): a
    // `SELECT *` then returns another set of columns, and the builder follows.
    if (values.length > 0 && (values[0] as unknown[]).length !== prepared.width) {
      prepared.build = rowBuilder(columnNames(prepared.statement));
      prepared.width = (values[0] as unknown[]).length;
    }
    return { build: prepared.build, values };
  }

  run(sql: string, params: readonly SqlValue[]): RunResult {
    const { statement } = this.prepare(sql);
    const args = params.map(toSqlite);
    if (statement.reader) {
      statement.all(...args);
      return { changes: 0 };
    }
    return { changes: statement.run(...args).changes };
  }
}

export interface ReadCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  /** Estimated. */
  readonly bytes: number;
}

interface CacheState {
  readonly answers: ReadCache<readonly Row[]>;
  readonly header: WalIndexHeader;
}

/** Rows as SQLite gave them: one array of values per row, and what makes them objects. */
interface RawRows {
  readonly build: RowBuilder;
  readonly values: readonly (readonly unknown[])[];
}

function buildRows<T>({ build, values }: RawRows): T[] {
  const rows = new Array<T>(values.length);
  for (let i = 0; i < values.length; i++) rows[i] = build(values[i] as unknown[]) as T;
  return rows;
}

function columnNames(statement: Statement): string[] {
  return statement.columns().map((column) => column.name);
}

function toSqlite(value: SqlValue | boolean): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value);
  return value;
}

function mapError(error: unknown): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    // "UNIQUE constraint failed: tabHas Role.full name, …": names may hold spaces, never dots.
    const first = (error as Error).message.split('failed: ')[1]?.split(', ')[0] ?? '';
    const dot = first.lastIndexOf('.');
    return new UniqueViolation(dot > 0 ? first.slice(0, dot) : undefined, dot > 0 ? first.slice(dot + 1) : undefined, { cause: error });
  }
  return error;
}

function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(mapError(error));
  }
}

class SqliteTransaction implements Transaction {
  readonly dialect = sqliteDialect;
  #open = true;

  constructor(
    readonly connection: Connection,
    readonly end: (commit: boolean) => Promise<void>,
  ) {}

  get open(): boolean {
    return this.#open;
  }

  #check(): void {
    if (!this.#open) throw new Error('transaction already ended');
  }

  async all<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    this.#check();
    return attempt(() => this.connection.all<T>(sql, params));
  }

  async get<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    this.#check();
    return attempt(() => this.connection.run(sql, params));
  }

  async commit(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    return this.end(true);
  }

  async rollback(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    return this.end(false);
  }
}

/** A transaction released into the group, waiting for the group's COMMIT. */
interface GroupMember {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Group commit: a transaction that ends leaves the SQLite transaction open until the end of
 * the event loop's turn; the transactions of requests served in that turn join it, each as a
 * savepoint, and one COMMIT ends them all. Requests rarely overlap in time otherwise (a write
 * transaction takes microseconds of synchronous work), and a BEGIN and COMMIT cost dozens of
 * system calls — the file locks, a WAL frame and header per page touched — which a busy server
 * now pays once per group instead of once per request (docs/performance.md). A member's own
 * rollback undoes only its savepoint; its commit resolves only once the group's COMMIT is
 * done, so nothing is acknowledged before it is in the database, and rejects if that COMMIT
 * fails. A group takes no new member once it holds `MAX_GROUP` or is `MAX_GROUP_MS` old, so a
 * commit waits at most for the turn and the transactions that joined before the limit. One
 * rule follows for callers: a flow must not wait for its own commit while a transaction it
 * began later is still open (that transaction is a member the group waits for).
 */
const MAX_GROUP = 64;
const MAX_GROUP_MS = 5;

export interface SqliteStorageOptions {
  /** Path of the database file, or `:memory:` (one connection; reads wait for the writer). */
  path: string;
  /**
   * How long a write waits for the single writer before failing with StorageUnavailable (503)
   * instead of hanging (default 15 s).
   */
  lockTimeoutMs?: number;
  /**
   * Bytes (estimated) of answers `allCached` may keep; 0, the default, keeps none. A file
   * database only: `:memory:` has no WAL-index header to tell of commits.
   */
  readCacheBytes?: number;
}

export class SqliteStorage implements Storage {
  readonly dialect = sqliteDialect;
  readonly #writer: Connection;
  readonly #reader: Connection;
  readonly #path: string;
  readonly #cacheBytes: number;
  /** Undefined until first used; null where it cannot be (no `-shm` file) or once closed. */
  #cache: CacheState | undefined | null;
  /** Whether the cache was checked against the wal-index header in this turn of the event loop. */
  #cacheChecked = false;
  #cacheHits = 0;
  #cacheMisses = 0;
  readonly #lock = new Mutex();
  readonly #memory: boolean;
  readonly #lockTimeoutMs: number;
  /** The open group's members; undefined when no group transaction is open. */
  #group: GroupMember[] | undefined;
  #groupStarted = 0;
  #sweepQueued = false;
  /** The `data_version` externalChanges() last saw. */
  #dataVersion: number | undefined;

  constructor(options: SqliteStorageOptions) {
    this.#memory = options.path === ':memory:';
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 15_000;
    const writer = new Database(options.path);
    writer.pragma('journal_mode = WAL');
    writer.pragma('synchronous = NORMAL');
    writer.pragma('busy_timeout = 5000');
    writer.pragma('foreign_keys = OFF');
    this.#writer = new Connection(writer);
    if (this.#memory) {
      this.#reader = this.#writer;
    } else {
      const reader = new Database(options.path, { readonly: true });
      reader.pragma('busy_timeout = 5000');
      this.#reader = new Connection(reader);
    }
    this.#path = options.path;
    this.#cacheBytes = this.#memory ? 0 : (options.readCacheBytes ?? 0);
  }

  async #acquire(): Promise<() => void> {
    try {
      return await this.#lock.acquire(this.#lockTimeoutMs);
    } catch (error) {
      if (error instanceof MutexTimeout) throw new StorageUnavailable('the database is busy: no write lock within the time limit');
      throw error;
    }
  }

  /**
   * Reads on the read connection share one read transaction per turn of the event loop: each
   * transaction costs SQLite two file-lock system calls (and an fstat), which were a third of a
   * primary-key read (docs/performance.md). The snapshot ends when the turn does, and at once
   * whenever this Storage commits, so a read never misses a write this process made before it;
   * another process's commit shows from the next turn on, as if it had come a moment later.
   */
  #snapshotOpen = false;
  readonly #endSnapshot = (): void => {
    // Also at the end of a turn that only checked the cache, and after every commit of ours.
    this.#cacheChecked = false;
    if (!this.#snapshotOpen) return;
    this.#snapshotOpen = false;
    if (this.#reader.db.open && this.#reader.db.inTransaction) this.#reader.db.exec('COMMIT');
  };

  // Not `async`: a read is one promise, already settled, not an async function's promise
  // resolved with another (which costs the microtask queue three turns per read).
  #read<T>(fn: (connection: Connection) => T): Promise<T> {
    if (this.#memory) return this.#readLocked(fn);
    try {
      if (!this.#snapshotOpen) {
        // The cache is checked before any snapshot of the turn begins: what a snapshot reads
        // is then never older than the header the cache's answers are held against.
        if (this.#cacheBytes > 0 && !this.#cacheChecked) this.#checkCache(false);
        this.#reader.db.exec('BEGIN');
        this.#snapshotOpen = true;
        setImmediate(this.#endSnapshot);
      }
      return Promise.resolve(fn(this.#reader));
    } catch (error) {
      return Promise.reject(mapError(error));
    }
  }

  /** `:memory:`: reader and writer are one connection, so reads take the lock. */
  async #readLocked<T>(fn: (connection: Connection) => T): Promise<T> {
    const release = await this.#acquire();
    try {
      return await attempt(() => fn(this.#reader));
    } finally {
      release();
    }
  }

  all<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    // Statements that write outside a transaction go to the writer, under the lock.
    if (!isReadOnly(sql)) return this.#autocommit((c) => c.all<T>(sql, params));
    return this.#read((c) => c.all<T>(sql, params));
  }

  async get<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  /**
   * `all` for a read whose answer depends only on the database's content and `params`: answered
   * from memory when the same read was answered since the last commit by any connection, as the
   * wal-index header tells (checked once per turn). The rows are frozen and shared: every call
   * answered from memory gets the same objects, so the document read can keep its serialised
   * answer beside them instead of converting and serialising them again (docs/performance.md).
   */
  allCached<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<readonly T[]> {
    const cache = this.#cacheBytes > 0 && isReadOnly(sql) ? this.#openCache() : undefined;
    const key = cache ? readKey(sql, params) : undefined;
    if (!cache || key === undefined) return this.all<T>(sql, params);
    try {
      if (!this.#cacheChecked) this.#checkCache(!this.#snapshotOpen);
      const answer = cache.answers.get(key);
      // A hit starts no read transaction: nothing was committed since the answer was read.
      if (answer) {
        this.#cacheHits++;
        return Promise.resolve(answer as readonly T[]);
      }
    } catch (error) {
      return Promise.reject(mapError(error));
    }
    this.#cacheMisses++;
    return this.#read((c) => {
      const answer = c.query(sql, params) as RawRows;
      const rows = buildRows<Row>(answer);
      for (const row of rows) Object.freeze(row);
      Object.freeze(rows);
      const bytes = rowsBytes(answer.values);
      if (bytes !== undefined) cache.answers.set(key, rows, bytes);
      return rows as readonly T[];
    });
  }

  /** What `allCached` answered from memory and from the database, and what it holds. */
  readCacheStats(): ReadCacheStats {
    const answers = this.#cache?.answers;
    return { hits: this.#cacheHits, misses: this.#cacheMisses, entries: answers?.size ?? 0, bytes: answers?.bytes ?? 0 };
  }

  /** The read cache, set up on first use: the `-shm` file exists once a connection has read. */
  #openCache(): CacheState | undefined {
    if (this.#cache === undefined && !this.#closed) {
      try {
        this.#cache = { answers: new ReadCache(this.#cacheBytes), header: new WalIndexHeader(this.#path) };
      } catch {
        this.#cache = null;
      }
    }
    return this.#cache ?? undefined;
  }

  /**
   * Once per turn of the event loop, before its snapshot begins, and again after each commit
   * of ours: empties the cache when anyone committed since the last check. `endOfTurn`: no
   * snapshot will be opened now to end the turn's check with it.
   */
  #checkCache(endOfTurn: boolean): void {
    this.#cacheChecked = true;
    const cache = this.#openCache();
    if (!cache) return;
    if (endOfTurn) setImmediate(this.#endSnapshot);
    if (cache.header.changed()) cache.answers.clear();
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return this.#autocommit((c) => c.run(sql, params));
  }

  async #autocommit<T>(fn: (connection: Connection) => T): Promise<T> {
    const release = await this.#acquire();
    try {
      this.#finishGroup();
      return await attempt(() => fn(this.#writer));
    } finally {
      release();
      this.#endSnapshot();
    }
  }

  async begin(): Promise<Transaction> {
    const release = await this.#acquire();
    const db = this.#writer.db;
    if (this.#memory) {
      // One connection serves reads too: no group, so reads never see a released member.
      try {
        db.exec('BEGIN IMMEDIATE');
      } catch (error) {
        release();
        throw mapError(error);
      }
      return new SqliteTransaction(this.#writer, async (commit) => {
        try {
          db.exec(commit ? 'COMMIT' : 'ROLLBACK');
        } finally {
          release();
        }
      });
    }
    try {
      if (!this.#group) {
        db.exec('BEGIN IMMEDIATE');
        this.#group = [];
        this.#groupStarted = performance.now();
      }
      db.exec('SAVEPOINT "cortado_tx"');
    } catch (error) {
      this.#finishGroup();
      release();
      throw mapError(error);
    }
    return new SqliteTransaction(this.#writer, (commit) => this.#endMember(commit, release));
  }

  /** Ends a member of the group: its savepoint released (commit) or rolled back. */
  async #endMember(commit: boolean, release: () => void): Promise<void> {
    const db = this.#writer.db;
    const group = this.#group as GroupMember[];
    let failure: unknown;
    let joined: Promise<void> | undefined;
    try {
      if (commit) {
        db.exec('RELEASE "cortado_tx"');
        joined = new Promise<void>((resolve, reject) => group.push({ resolve, reject }));
      } else {
        db.exec('ROLLBACK TO "cortado_tx"');
        db.exec('RELEASE "cortado_tx"');
      }
    } catch (error) {
      failure = mapError(error);
    }
    if (failure !== undefined || !db.inTransaction) {
      // The savepoint could not be ended, or SQLite rolled the whole transaction back (a full
      // disk, an I/O error): the group's earlier members fail with it.
      this.#rollbackGroup();
      this.#failGroup(failure ?? new StorageUnavailable('the database rolled the transaction back'));
      release();
      this.#endSnapshot();
      // A member that had joined learns it from its own (now rejected) promise.
      if (joined) return joined;
      if (failure !== undefined) throw failure;
      return;
    }
    if (group.length < MAX_GROUP && performance.now() - this.#groupStarted < MAX_GROUP_MS) {
      // Left open for the rest of this turn of the event loop: the transactions of requests
      // arriving in it join, and a sweep queued behind them commits the group.
      this.#sweepSoon();
      release();
    } else {
      this.#finishGroup();
      release();
    }
    return joined;
  }

  #sweepSoon(): void {
    if (this.#sweepQueued) return;
    this.#sweepQueued = true;
    setImmediate(this.#sweep);
  }

  readonly #sweep = (): void => {
    void this.#lock.acquire().then((release) => {
      this.#sweepQueued = false;
      try {
        this.#finishGroup();
      } finally {
        release();
      }
    });
  };

  /** Commits the open group, if any (the caller holds the lock); its members learn the outcome. */
  #finishGroup(): void {
    const group = this.#group;
    if (!group) return;
    this.#group = undefined;
    const db = this.#writer.db;
    let failure: unknown;
    try {
      if (db.inTransaction) db.exec('COMMIT');
      else failure = new StorageUnavailable('the database rolled the transaction back');
    } catch (error) {
      failure = mapError(error);
      this.#rollbackGroup();
    }
    this.#endSnapshot();
    for (const member of group) {
      if (failure === undefined) member.resolve();
      else member.reject(failure);
    }
  }

  /** Rolls the group's SQLite transaction back, if SQLite has not already. */
  #rollbackGroup(): void {
    try {
      if (this.#writer.db.inTransaction) this.#writer.db.exec('ROLLBACK');
    } catch {
      // Nothing left to roll back.
    }
  }

  #failGroup(error: unknown): void {
    const group = this.#group ?? [];
    this.#group = undefined;
    for (const member of group) member.reject(error);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const tx = await this.begin();
    try {
      const result = await fn(tx);
      await tx.commit();
      return result;
    } catch (error) {
      await tx.rollback();
      throw error;
    }
  }

  async tableNames(): Promise<string[]> {
    const rows = await this.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    return rows.map((r) => r.name);
  }

  async columns(table: string): Promise<ColumnInfo[]> {
    const rows = await this.#autocommit((c) =>
      c.all<{ name: string; type: string }>(`PRAGMA table_info(${quoteIdentifier(table)})`, []),
    );
    return rows.map((r) => ({ name: r.name, type: r.type.toLowerCase() }));
  }

  async indexNames(table: string): Promise<string[]> {
    const rows = await this.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
      [table],
    );
    return rows.map((r) => r.name);
  }

  async ensureTable(spec: TableSpec): Promise<void> {
    const q = quoteIdentifier;
    await this.transaction(async (tx) => {
      // Read under the writer lock, so two concurrent calls cannot both add a column.
      const info = await tx.all<{ name: string }>(`PRAGMA table_info(${q(spec.name)})`);
      const existing = new Set(info.map((c) => c.name));
      if (existing.size === 0) {
        const columns = spec.columns.map((c) => columnDefinition(c));
        await tx.run(`CREATE TABLE IF NOT EXISTS ${q(spec.name)} (${columns.join(', ')})`);
      } else {
        for (const column of spec.columns) {
          if (existing.has(column.name)) continue;
          // SQLite cannot add a NOT NULL column without a default; metadata defaults cover it.
          await tx.run(`ALTER TABLE ${q(spec.name)} ADD COLUMN ${columnDefinition({ ...column, primaryKey: false })}`);
        }
      }
      for (const index of spec.indexes ?? []) {
        await tx.run(
          `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${q(index.name)} ON ${q(spec.name)} (${index.columns.map(q).join(', ')})`,
        );
      }
      if (spec.retiredIndexes?.length) {
        const present = await tx.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", [spec.name]);
        const retired = new Set(spec.retiredIndexes);
        for (const { name } of present) if (retired.has(name)) await tx.run(`DROP INDEX IF EXISTS ${q(name)}`);
      }
    });
  }

  /**
   * The writer connection's `data_version`: it changes when another connection commits (another
   * process, or another Storage on the same file), never for this Storage's own writes, since
   * they all go through the writer connection. An in-memory database has no other connection.
   * When it has changed, this turn's snapshot ends and the read cache is checked again: a caller
   * that drops what it derived from the old rows must not read them back from either.
   */
  externalChanges(): number | undefined {
    if (this.#memory || this.#closed) return 0;
    const version = Number(this.#writer.db.pragma('data_version', { simple: true }));
    if (version !== this.#dataVersion) {
      this.#dataVersion = version;
      this.#endSnapshot();
    }
    return version;
  }

  /**
   * Refreshes the planner's statistics (`PRAGMA optimize`, SQLite ≥ 3.46: tables whose row
   * counts changed a lot since their last ANALYZE, or never analyzed, are analyzed again, each
   * on a bounded sample). Without statistics, or with those of a tiny table, SQLite may plan an
   * indexed lookup as a full scan (docs/performance.md).
   */
  async optimize(): Promise<void> {
    if (this.#closed) return;
    const release = await this.#acquire();
    try {
      this.#finishGroup();
      this.#writer.db.pragma('analysis_limit = 1000');
      this.#writer.db.pragma('optimize = 0x10002');
    } finally {
      release();
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.#read((c) => c.all('SELECT 1', []));
      return true;
    } catch {
      return false;
    }
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Wait for any open transaction to end before closing, however long it takes.
    const release = await this.#lock.acquire();
    try {
      this.#finishGroup();
      this.#endSnapshot();
      if (this.#reader !== this.#writer) this.#reader.db.close();
      this.#writer.db.pragma('optimize');
      this.#writer.db.close();
      // After the connections: closing a descriptor of the file drops this process's locks on it.
      this.#cache?.header.close();
      this.#cache = null;
    } finally {
      release();
    }
  }
}

function columnDefinition(column: ColumnSpec): string {
  let sql = `${quoteIdentifier(column.name)} ${sqliteDialect.columnType(column)}`;
  if (column.primaryKey) sql += ' PRIMARY KEY';
  if (column.notNull) sql += ' NOT NULL';
  if (column.defaultSql !== undefined) sql += ` DEFAULT ${column.defaultSql}`;
  return sql;
}

const readOnly = new Map<string, boolean>();

/** Plain SELECTs may use the read connection; anything else (WITH … INSERT too) goes to the writer. */
function isReadOnly(sql: string): boolean {
  let answer = readOnly.get(sql);
  if (answer === undefined) {
    answer = /^\s*SELECT\b/i.test(sql) && !/\bRETURNING\b/i.test(sql);
    // Bounded like the statement caches: dynamic list queries produce many shapes.
    if (readOnly.size > 2000) readOnly.clear();
    readOnly.set(sql, answer);
  }
  return answer;
}
