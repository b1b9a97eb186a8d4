/**
 * PostgreSQL adapter (pg, a connection pool). Statements arrive in the port's portable form —
 * `?` placeholders, `"double-quoted"` identifiers — and are translated to `$1..$n` here.
 * Reads and writes through the Storage itself run on any pooled connection in autocommit mode;
 * a Transaction holds one connection from `BEGIN` to `COMMIT`/`ROLLBACK`.
 *
 * Unlike SQLite, PostgreSQL aborts the whole transaction when one statement in it fails; this
 * adapter makes that loud: later statements and `commit()` reject, and `commit()` rolls back.
 */
import pg from 'pg';
import {
  quoteIdentifier,
  StatementTimeout,
  StorageUnavailable,
  StorageValueError,
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

/** PostgreSQL truncates longer identifiers silently; refuse them instead. */
const MAX_IDENTIFIER_BYTES = 63;

function quotePostgresIdentifier(identifier: string): string {
  const quoted = quoteIdentifier(identifier);
  if (Buffer.byteLength(identifier) > MAX_IDENTIFIER_BYTES) {
    throw new TypeError(`SQL identifier longer than ${MAX_IDENTIFIER_BYTES} bytes: ${JSON.stringify(identifier)}`);
  }
  return quoted;
}

export const postgresDialect: Dialect = {
  name: 'postgres',
  quote: quotePostgresIdentifier,
  likeOperator: 'ilike',
  columnType(column: ColumnSpec): string {
    switch (column.kind) {
      case 'varchar':
        return `varchar(${column.length ?? 140})`;
      case 'int':
      case 'bigint':
        return 'bigint';
      case 'float':
        return 'double precision';
      case 'text':
      case 'json':
        return 'text';
    }
  },
};

/**
 * Rewrites `?` placeholders to `$1..$n`, leaving `?` inside "quoted identifiers",
 * 'string literals' (with '' escapes) and comments untouched.
 */
export function translatePlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let i = 0;
  let start = 0;
  const length = sql.length;
  while (i < length) {
    const ch = sql[i];
    if (ch === '?') {
      out += `${sql.slice(start, i)}$${++n}`;
      i += 1;
      start = i;
    } else if (ch === "'" || ch === '"') {
      // A doubled quote inside is an escaped quote: scanning on to the next quote handles it.
      const end = sql.indexOf(ch, i + 1);
      i = end === -1 ? length : end + 1;
    } else if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i + 2);
      i = end === -1 ? length : end + 1;
    } else if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? length : end + 2;
    } else {
      i += 1;
    }
  }
  return n === 0 ? sql : out + sql.slice(start);
}

/** Bounded memo of translated statements (the hot ones repeat). */
class TranslationCache {
  readonly #map = new Map<string, string>();

  get(sql: string): string {
    let translated = this.#map.get(sql);
    if (translated === undefined) {
      translated = translatePlaceholders(sql);
      if (this.#map.size > 2000) this.#map.clear();
      this.#map.set(sql, translated);
    }
    return translated;
  }
}

/** int8 (20) and numeric (1700) as JS numbers, like SQLite's integers and reals. */
const toNumber = (value: string): number => Number(value);
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return toNumber;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function toPostgres(value: SqlValue): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value);
  return value;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

const UNAVAILABLE_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end)/;

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code;
  if (code !== undefined && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (UNAVAILABLE_MESSAGE.test(error.message)) return true;
  // Connection attempts to several addresses fail together.
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return false;
}

/** Columns named in a unique violation's detail: `Key (a, "b c")=(…) already exists.` */
function violatedColumn(detail: string | undefined): string | undefined {
  const match = /^Key \((.+?)\)=\(/.exec(detail ?? '');
  if (!match?.[1]) return undefined;
  const first = match[1].split(', ')[0] ?? '';
  return first.startsWith('"') && first.endsWith('"') ? first.slice(1, -1).replaceAll('""', '"') : first;
}

function mapError(error: unknown): unknown {
  if (error instanceof UniqueViolation || error instanceof StorageUnavailable) return error;
  const e = error as { code?: string; table?: string; detail?: string };
  if (e?.code === '23505') return new UniqueViolation(e.table, violatedColumn(e.detail), { cause: error });
  // Bad text encoding (NUL), value too long, number out of range.
  if (e?.code === '22021' || e?.code === '22P05' || e?.code === '22001' || e?.code === '22003') {
    return new StorageValueError('the database cannot store a value of this request', { cause: error });
  }
  // query_canceled: the statement timeout (or an operator's pg_cancel_backend).
  if (e?.code === '57014') return new StatementTimeout('the statement took too long and was stopped', { cause: error });
  if (isUnavailable(error)) {
    return new StorageUnavailable(`PostgreSQL unavailable: ${(error as Error).message}`, { cause: error });
  }
  return error;
}

/** Rows touched, for data-changing commands only (SQLite reports 0 for reads and DDL). */
function changes(result: pg.QueryResult): number {
  switch (result.command) {
    case 'INSERT':
    case 'UPDATE':
    case 'DELETE':
    case 'MERGE':
      return result.rowCount ?? 0;
    default:
      return 0;
  }
}

type Queryable = Pick<pg.PoolClient, 'query'>;

class PostgresTransaction implements Transaction {
  readonly dialect = postgresDialect;
  #open = true;
  /** Set when a statement failed: PostgreSQL has aborted the transaction. */
  #failure: unknown;
  /** Set when the connection itself broke; the client is then destroyed, not pooled. */
  #broken: Error | undefined;
  readonly #client: pg.PoolClient;
  readonly #translations: TranslationCache;
  readonly #onClientError = (error: Error) => {
    this.#broken = error;
  };

  constructor(client: pg.PoolClient, translations: TranslationCache) {
    this.#client = client;
    this.#translations = translations;
    client.on('error', this.#onClientError);
  }

  get open(): boolean {
    return this.#open;
  }

  async #query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    if (!this.#open) throw new Error('transaction already ended');
    // Rolling back to a savepoint is the one way out of an aborted transaction.
    const toSavepoint = /^\s*ROLLBACK\s+TO\s+(SAVEPOINT\s+)?/i.test(sql);
    if (this.#failure !== undefined && !toSavepoint) {
      throw new Error('transaction aborted by an earlier failed statement; roll it back', { cause: this.#failure });
    }
    try {
      const result = await query(this.#client, this.#translations.get(sql), params);
      if (toSavepoint) this.#failure = undefined;
      return result;
    } catch (error) {
      this.#failure = error;
      if (isUnavailable(error)) this.#broken ??= error as Error;
      throw mapError(error);
    }
  }

  async all<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.#query(sql, params)).rows as T[];
  }

  async get<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return { changes: changes(await this.#query(sql, params)) };
  }

  async commit(): Promise<void> {
    if (!this.#open) return;
    if (this.#failure !== undefined) {
      await this.rollback();
      throw new Error('cannot commit: a statement in the transaction failed, so it was rolled back', {
        cause: this.#failure,
      });
    }
    this.#open = false;
    let error: unknown;
    try {
      const result = await this.#client.query('COMMIT');
      // COMMIT of an aborted transaction answers ROLLBACK instead of failing.
      if (result.command === 'ROLLBACK') error = new Error('transaction was rolled back by the database');
    } catch (caught) {
      if (isUnavailable(caught)) this.#broken ??= caught as Error;
      error = mapError(caught);
    }
    this.#release();
    if (error !== undefined) throw error;
  }

  async rollback(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    try {
      await this.#client.query('ROLLBACK');
    } catch (error) {
      // The server discards an unfinished transaction when its connection goes; drop the client.
      this.#broken ??= error instanceof Error ? error : new Error(String(error));
    }
    this.#release();
  }

  #release(): void {
    this.#client.removeListener('error', this.#onClientError);
    this.#client.release(this.#broken);
  }
}

function query(client: Queryable, text: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
  // Extended protocol always: one statement per call, as on SQLite (no stacked statements).
  const config = { text, values: params.map(toPostgres), queryMode: 'extended' } as pg.QueryConfig;
  return client.query(config);
}

export interface PostgresStorageOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Schema to work in: set as `search_path` on every connection. */
  schema?: string;
  /** How long to wait for a connection before failing with StorageUnavailable (default 3000 ms). */
  connectionTimeoutMillis?: number;
  /** Longest a statement may run before PostgreSQL stops it (StatementTimeout); 0 or absent: no limit. Schema changes are exempt. */
  statementTimeoutMs?: number;
}

export class PostgresStorage implements Storage {
  readonly dialect = postgresDialect;
  readonly #pool: pg.Pool;
  readonly #translations = new TranslationCache();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresStorageOptions) {
    const schema = options.schema === undefined ? undefined : quotePostgresIdentifier(options.schema);
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3000,
      idleTimeoutMillis: 30_000,
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      types: typeParsers,
      // Awaited by the pool before the connection is used; a failure fails the checkout.
      onConnect: schema === undefined ? undefined : async (client) => {
        await client.query(`SET search_path TO ${schema}`);
      },
    });
    // Idle connections that break (server restart) are dropped by the pool; the next checkout
    // reconnects or fails with StorageUnavailable. Without a listener the process would crash.
    this.#pool.on('error', () => {});
    // A connection can also break while checked out, between our own listeners: every client
    // gets one for its whole life, so a dropped connection is an error, never a crash.
    this.#pool.on('connect', (client) => {
      client.on('error', () => {});
    });
  }

  #check(): void {
    if (this.#closed) throw new StorageUnavailable('storage is closed');
  }

  async #query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    this.#check();
    try {
      return await query(this.#pool, this.#translations.get(sql), params);
    } catch (error) {
      throw mapError(error);
    }
  }

  async all<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.#query(sql, params)).rows as T[];
  }

  async get<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return { changes: changes(await this.#query(sql, params)) };
  }

  async begin(): Promise<Transaction> {
    this.#check();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw mapError(error);
    }
    try {
      await client.query('BEGIN');
    } catch (error) {
      client.release(error instanceof Error ? error : true);
      throw mapError(error);
    }
    return new PostgresTransaction(client, this.#translations);
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
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    );
    return rows.map((r) => r.name).sort(byCodeUnit);
  }

  async columns(table: string): Promise<ColumnInfo[]> {
    return this.#columns(this, table);
  }

  async #columns(executor: SqlExecutor, table: string): Promise<ColumnInfo[]> {
    const rows = await executor.all<{ name: string; type: string; length: number | null }>(
      `SELECT column_name AS name, data_type AS type, character_maximum_length AS length
         FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = ?
        ORDER BY ordinal_position`,
      [table],
    );
    return rows.map((r) => ({
      name: r.name,
      type: (r.length === null ? r.type : `${r.type}(${r.length})`).toLowerCase(),
    }));
  }

  /** Indexes made by CREATE INDEX; like SQLite, not those backing PRIMARY KEY / UNIQUE constraints. */
  async indexNames(table: string): Promise<string[]> {
    const rows = await this.all<{ name: string }>(
      `SELECT i.indexname AS name
         FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = ?
          AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname = i.schemaname AND c.conname = i.indexname AND c.contype IN ('p', 'u', 'x'))`,
      [table],
    );
    return rows.map((r) => r.name).sort(byCodeUnit);
  }

  async ensureTable(spec: TableSpec): Promise<void> {
    const q = quotePostgresIdentifier;
    const table = q(spec.name);
    await this.transaction(async (tx) => {
      // An index on a large table may take longer than any request should: no limit here.
      await tx.run('SET LOCAL statement_timeout = 0');
      // Serialise schema changes to this table across every node (released at commit).
      await tx.run('SELECT pg_advisory_xact_lock(hashtext(current_schema() || ?))', [`.${spec.name}`]);
      const existing = new Set((await this.#columns(tx, spec.name)).map((c) => c.name));
      if (existing.size === 0) {
        const columns = spec.columns.map((c) => columnDefinition(c));
        await tx.run(`CREATE TABLE IF NOT EXISTS ${table} (${columns.join(', ')})`);
      } else {
        for (const column of spec.columns) {
          if (existing.has(column.name)) continue;
          await tx.run(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${columnDefinition({ ...column, primaryKey: false })}`);
        }
      }
      for (const index of spec.indexes ?? []) {
        await tx.run(
          `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${q(index.name)} ON ${table} (${index.columns.map(q).join(', ')})`,
        );
      }
      if (spec.retiredIndexes?.length) {
        const present = await tx.all<{ name: string }>('SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?', [spec.name]);
        const retired = new Set(spec.retiredIndexes);
        for (const { name } of present) if (retired.has(name)) await tx.run(`DROP INDEX IF EXISTS ${q(name)}`);
      }
    });
  }

  async ping(): Promise<boolean> {
    try {
      await this.#query('SELECT 1', []);
      return true;
    } catch {
      return false;
    }
  }

  /** Ends the pool once every open transaction has ended. Safe to call twice. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#pool.end();
    return this.#closing;
  }
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function columnDefinition(column: ColumnSpec): string {
  let sql = `${quotePostgresIdentifier(column.name)} ${postgresDialect.columnType(column)}`;
  if (column.primaryKey) sql += ' PRIMARY KEY';
  if (column.notNull) sql += ' NOT NULL';
  if (column.defaultSql !== undefined) sql += ` DEFAULT ${column.defaultSql}`;
  return sql;
}

/** Creates a schema (for tests that isolate themselves); no error when it exists. */
export async function createSchema(url: string, schema: string): Promise<void> {
  await withClient(url, (client) => client.query(`CREATE SCHEMA IF NOT EXISTS ${quotePostgresIdentifier(schema)}`));
}

/** Drops a schema and everything in it; no error when it is missing. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  await withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS ${quotePostgresIdentifier(schema)} CASCADE`));
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw mapError(error);
  }
  try {
    return await fn(client);
  } catch (error) {
    throw mapError(error);
  } finally {
    await client.end().catch(() => {});
  }
}
