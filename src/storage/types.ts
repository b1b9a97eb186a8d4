/**
 * The storage port: parameterised SQL over SQLite or PostgreSQL. Statements use `?`
 * placeholders and `"double-quoted"` identifiers on both databases; the adapter translates.
 * Identifiers must come from metadata and go through `Dialect.quote`.
 */
export type SqlValue = string | number | bigint | null | Uint8Array;
export type Row = Record<string, unknown>;

/** Portable column kinds; each dialect maps them to its own types. */
export type ColumnKind = 'varchar' | 'text' | 'int' | 'bigint' | 'float' | 'json';

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  /** For varchar: the length Frappe gives the field (default 140). */
  length?: number;
  notNull?: boolean;
  /** SQL literal default, produced by the caller from metadata only (never user input). */
  defaultSql?: string;
  primaryKey?: boolean;
}

export interface IndexSpec {
  name: string;
  columns: string[];
  unique?: boolean;
}

export interface TableSpec {
  name: string;
  columns: ColumnSpec[];
  indexes?: IndexSpec[];
  /**
   * Indexes an earlier definition of the table made and this one no longer wants (a field's
   * search index turned off): dropped where present. Never one of `indexes`.
   */
  retiredIndexes?: string[];
}

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** Quotes an identifier; throws on characters no metadata name may hold. */
  quote(identifier: string): string;
  columnType(column: ColumnSpec): string;
  /** Case-insensitive LIKE operator (`like` on SQLite, `ilike` on PostgreSQL). */
  readonly likeOperator: string;
}

export interface RunResult {
  changes: number;
}

export interface SqlExecutor {
  readonly dialect: Dialect;
  all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /**
   * `all` for a read whose answer depends only on the database's content and `params` (no
   * clock, no randomness in the SQL): an executor that can tell nothing was committed since it
   * last gave the same answer may give it again from memory. Where absent, use `all`. Rows given
   * from memory are shared by every caller and frozen; a frozen row is the same object for as
   * long as its answer stands, so what is derived from it may be kept beside it (a WeakMap).
   */
  allCached?<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<readonly T[]>;
}

/** A transaction the caller ends explicitly: commit or roll back exactly once. */
export interface Transaction extends SqlExecutor {
  commit(): Promise<void>;
  rollback(): Promise<void>;
  readonly open: boolean;
}

export interface ColumnInfo {
  name: string;
  /** The database's own type name, lower-case. */
  type: string;
}

export interface Storage extends SqlExecutor {
  /**
   * Starts a transaction. On SQLite, transactions are serialised (one writer at a time); reads
   * through the Storage itself never see uncommitted writes of an open transaction.
   */
  begin(): Promise<Transaction>;
  /** Runs `fn` in a transaction: commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  tableNames(): Promise<string[]>;
  columns(table: string): Promise<ColumnInfo[]>;
  indexNames(table: string): Promise<string[]>;
  /**
   * Creates the table if missing, else adds missing columns and indexes, and drops the retired
   * indexes present; never drops a column or a row.
   */
  ensureTable(spec: TableSpec): Promise<void>;
  /** True when the database answers. */
  ping(): Promise<boolean>;
  /**
   * A number that changes whenever another connection — another process — commits to the
   * database (SQLite's `PRAGMA data_version` of the writer connection); undefined where the
   * adapter cannot tell. Synchronous and cheap, for polling.
   */
  externalChanges?(): number | undefined;
  /** Refreshes the query planner's statistics where the database needs it (SQLite). */
  optimize?(): Promise<void>;
  close(): Promise<void>;
}

/** A unique constraint was violated; `column` is set when the adapter can tell which. */
export class UniqueViolation extends Error {
  override name = 'UniqueViolation';
  constructor(
    readonly table: string | undefined,
    readonly column: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`unique constraint violated${column ? ` on ${column}` : ''}`, options);
  }
}

/**
 * The database refused a value (text it cannot store, such as a NUL character, or a number out
 * of range): the client's input is wrong, not the server.
 */
export class StorageValueError extends Error {
  override name = 'StorageValueError';
}

/** A statement ran past the database's statement timeout and was stopped (its transaction rolls back). */
export class StatementTimeout extends Error {
  override name = 'StatementTimeout';
}

/** The database cannot be reached; requests fail fast with 503. */
export class StorageUnavailable extends Error {
  override name = 'StorageUnavailable';
}

const IDENTIFIER = /^[A-Za-z0-9_ \-.:]+$/;

/** Shared identifier rule: metadata names only; quotes, `?` and control characters never pass. */
export function quoteIdentifier(identifier: string): string {
  if (!IDENTIFIER.test(identifier) || identifier.length > 128) {
    throw new TypeError(`invalid SQL identifier: ${JSON.stringify(identifier)}`);
  }
  return `"${identifier}"`;
}
