/**
 * Answers to repeated reads, kept while the database is known not to have changed: the SQLite
 * adapter empties it on any commit by anyone (`WalIndexHeader`), so an answer is only ever
 * given for the database state it was read from (docs/performance.md, eighth pass). Bounded by
 * an estimate of the bytes its answers hold; the oldest go first.
 */
import type { SqlValue } from '../types.ts';

interface CachedRead<T> {
  readonly value: T;
  readonly bytes: number;
}

/** An answer larger than this share of the budget is not kept (it would push out many small ones). */
const LARGEST_SHARE = 8;

export class ReadCache<T> {
  readonly #maxBytes: number;
  readonly #entries = new Map<string, CachedRead<T>>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get(key: string): T | undefined {
    return this.#entries.get(key)?.value;
  }

  set(key: string, value: T, bytes: number): void {
    const size = bytes + key.length + 64;
    if (size > this.#maxBytes / LARGEST_SHARE) return;
    const previous = this.#entries.get(key);
    if (previous) {
      this.#bytes -= previous.bytes;
      this.#entries.delete(key);
    }
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes + size <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
    this.#entries.set(key, { value, bytes: size });
    this.#bytes += size;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}

/**
 * The cache key of a statement and its parameters, or undefined when a parameter is of a kind
 * not worth keying (binary). Each parameter carries its type and length, so no two different
 * parameter lists share a key.
 */
export function readKey(sql: string, params: readonly SqlValue[]): string | undefined {
  let key = sql;
  for (const param of params) {
    if (typeof param === 'string') key += `\u0000s${param.length}:${param}`;
    else if (typeof param === 'number' || typeof param === 'bigint') key += `\u0000${typeof param}:${String(param)}`;
    else if (param === null) key += '\u0000null';
    else return undefined;
  }
  return key;
}

/**
 * Roughly the bytes rows of these values hold, or undefined when one holds something mutable
 * a caller could change under the cache (a Buffer).
 */
export function rowsBytes(rows: readonly (readonly unknown[])[]): number | undefined {
  let bytes = 0;
  for (const row of rows) {
    bytes += 32;
    for (const value of row) {
      if (typeof value === 'string') bytes += value.length + 16;
      else if (value !== null && typeof value === 'object') return undefined;
      else bytes += 16;
    }
  }
  return bytes;
}
