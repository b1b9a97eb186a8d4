/**
 * One request's view of the database. Reads go straight to the storage until the first write
 * (or an explicit `begin()`); from then on everything runs in one transaction, which the
 * request ends with `finish(commit)`: commit for a successful unsafe request, rollback
 * otherwise (Frappe rolls back writes made while serving GET).
 */
import type { Row, RunResult, SqlExecutor, SqlValue, Storage, Transaction } from './types.ts';

const READ_ONLY = /^\s*SELECT\b/i;

const FINISHED: Promise<void> = Promise.resolve();
const firstRow = <T>(rows: T[]): T | undefined => rows[0];

export class UnitOfWork implements SqlExecutor {
  readonly #storage: Storage;
  #tx: Transaction | undefined;
  #starting: Promise<Transaction> | undefined;
  #finished = false;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  get dialect() {
    return this.#storage.dialect;
  }

  /** True once a transaction has been opened for this unit. */
  get inTransaction(): boolean {
    return this.#tx !== undefined || this.#starting !== undefined;
  }

  /** Opens the transaction now (idempotent), e.g. before a read that guards a write. */
  async begin(): Promise<Transaction> {
    if (this.#finished) throw new Error('unit of work already finished');
    if (this.#tx) return this.#tx;
    this.#starting ??= this.#storage.begin().then((tx) => (this.#tx = tx));
    return this.#starting;
  }

  // `all` and `get` hand on the storage's promise rather than wrap it in an async function's:
  // every read of every request passes here.
  all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    if (!this.inTransaction && READ_ONLY.test(sql)) return this.#storage.all<T>(sql, params);
    return this.begin().then((tx) => tx.all<T>(sql, params));
  }

  get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.all<T>(sql, params).then(firstRow);
  }

  /** A transaction's reads see its own writes, so only reads outside one may be answered from memory. */
  allCached<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<readonly T[]> {
    if (!this.inTransaction && this.#storage.allCached && READ_ONLY.test(sql)) return this.#storage.allCached<T>(sql, params);
    return this.all<T>(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    return (await this.begin()).run(sql, params);
  }

  /**
   * Ends the unit: commits when `commit` is true and a transaction is open, else rolls back.
   * A unit that never opened one (most reads) ends at once, without a promise of its own.
   */
  finish(commit: boolean): Promise<void> {
    if (this.#finished) return FINISHED;
    this.#finished = true;
    if (this.#tx === undefined && this.#starting === undefined) return FINISHED;
    return this.#end(commit);
  }

  async #end(commit: boolean): Promise<void> {
    const tx = this.#tx ?? (this.#starting ? await this.#starting : undefined);
    if (!tx || !tx.open) return;
    if (commit) await tx.commit();
    else await tx.rollback();
  }
}
