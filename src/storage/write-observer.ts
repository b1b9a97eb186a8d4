/**
 * A Storage that reports the write statements someone is interested in once they are durable:
 * right after an autocommit statement succeeds, or after the COMMIT of the transaction that ran
 * them (a rolled-back transaction reports nothing). The app layer uses it to drop per-process
 * caches (verified credentials) whatever code path changed the rows they were built from,
 * including raw SQL of apps and tests.
 *
 * Reads pay one Map lookup: whether a statement is of interest is decided once per SQL text.
 */
import type { ColumnInfo, Row, RunResult, SqlExecutor, SqlValue, Storage, TableSpec, Transaction } from './types.ts';

export interface ObservedWrite {
  readonly sql: string;
  readonly params: readonly SqlValue[];
}

export interface WriteWatcher {
  /** Called once per distinct SQL text (the answer is remembered): report this statement? */
  interested(sql: string): boolean;
  /** The statements of interest, once committed, in the order they ran. Must not throw. */
  committed(writes: readonly ObservedWrite[]): void;
}

export interface ObservedStorage extends Storage {
  /** Sets the (single) watcher; statements that ran before are not reported. */
  watchWrites(watcher: WriteWatcher): void;
  /** The adapter's `optimize`, or nothing where it has none. */
  optimize(): Promise<void>;
  /** The adapter's `allCached`, or `all` where it has none. */
  allCached<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<readonly T[]>;
}

const SELECT = /^\s*SELECT\b/i;
const MAX_REMEMBERED = 5000;

class ObservedTransaction implements Transaction {
  readonly #inner: Transaction;
  readonly #owner: WriteObservingStorage;
  #pending: ObservedWrite[] | undefined;

  constructor(inner: Transaction, owner: WriteObservingStorage) {
    this.#inner = inner;
    this.#owner = owner;
  }

  get dialect() {
    return this.#inner.dialect;
  }

  get open(): boolean {
    return this.#inner.open;
  }

  #note(sql: string, params: readonly SqlValue[] | undefined): void {
    if (this.#owner.isInteresting(sql)) (this.#pending ??= []).push({ sql, params: params ? [...params] : [] });
  }

  all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    this.#note(sql, params);
    return this.#inner.all<T>(sql, params);
  }

  get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    this.#note(sql, params);
    return this.#inner.get<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    this.#note(sql, params);
    return this.#inner.run(sql, params);
  }

  async commit(): Promise<void> {
    await this.#inner.commit();
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) this.#owner.deliver(pending);
  }

  async rollback(): Promise<void> {
    this.#pending = undefined;
    await this.#inner.rollback();
  }
}

class WriteObservingStorage implements ObservedStorage {
  readonly #inner: Storage;
  #watcher: WriteWatcher | undefined;
  readonly #interest = new Map<string, boolean>();

  constructor(inner: Storage) {
    this.#inner = inner;
  }

  get dialect() {
    return this.#inner.dialect;
  }

  watchWrites(watcher: WriteWatcher): void {
    this.#watcher = watcher;
    this.#interest.clear();
  }

  isInteresting(sql: string): boolean {
    const watcher = this.#watcher;
    if (!watcher) return false;
    let answer = this.#interest.get(sql);
    if (answer === undefined) {
      answer = !SELECT.test(sql) || /\bRETURNING\b/i.test(sql) ? watcher.interested(sql) : false;
      if (this.#interest.size >= MAX_REMEMBERED) this.#interest.clear();
      this.#interest.set(sql, answer);
    }
    return answer;
  }

  deliver(writes: readonly ObservedWrite[]): void {
    try {
      this.#watcher?.committed(writes);
    } catch {
      // A watcher must not fail a write that is already committed.
    }
  }

  async #autocommit<T>(sql: string, params: readonly SqlValue[] | undefined, run: () => Promise<T>): Promise<T> {
    const result = await run();
    this.deliver([{ sql, params: params ? [...params] : [] }]);
    return result;
  }

  all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    if (!this.isInteresting(sql)) return this.#inner.all<T>(sql, params);
    return this.#autocommit(sql, params, () => this.#inner.all<T>(sql, params));
  }

  get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    if (!this.isInteresting(sql)) return this.#inner.get<T>(sql, params);
    return this.#autocommit(sql, params, () => this.#inner.get<T>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    if (!this.isInteresting(sql)) return this.#inner.run(sql, params);
    return this.#autocommit(sql, params, () => this.#inner.run(sql, params));
  }

  allCached<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<readonly T[]> {
    if (!this.#inner.allCached || this.isInteresting(sql)) return this.all<T>(sql, params);
    return this.#inner.allCached<T>(sql, params);
  }

  async begin(): Promise<Transaction> {
    return new ObservedTransaction(await this.#inner.begin(), this);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const tx = await this.begin();
    try {
      const result = await fn(tx);
      await tx.commit();
      return result;
    } catch (error) {
      if (tx.open) await tx.rollback();
      throw error;
    }
  }

  tableNames(): Promise<string[]> {
    return this.#inner.tableNames();
  }

  columns(table: string): Promise<ColumnInfo[]> {
    return this.#inner.columns(table);
  }

  indexNames(table: string): Promise<string[]> {
    return this.#inner.indexNames(table);
  }

  ensureTable(spec: TableSpec): Promise<void> {
    return this.#inner.ensureTable(spec);
  }

  externalChanges(): number | undefined {
    return this.#inner.externalChanges?.();
  }

  optimize(): Promise<void> {
    return this.#inner.optimize?.() ?? Promise.resolve();
  }

  ping(): Promise<boolean> {
    return this.#inner.ping();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** Wraps `storage` so a watcher can be told about committed writes. */
export function observeWrites(storage: Storage): ObservedStorage {
  return new WriteObservingStorage(storage);
}
