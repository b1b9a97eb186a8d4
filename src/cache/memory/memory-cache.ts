/**
 * In-process cache for a single node: a Map with TTLs and in-process pub/sub. Expired entries
 * vanish on access (lazy expiry) and are swept periodically by an unref'd timer, so the cache
 * never keeps the process alive. Time comes from an injectable clock so tests can move it.
 */
import { CacheClosed, ttlMilliseconds, type Cache, type MessageHandler } from '../types.ts';

export interface MemoryCacheOptions {
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  /** How often expired entries are swept (default 60 s); 0 turns the sweeper off. */
  sweepIntervalMs?: number;
  /** Called when a subscriber's handler throws (default: logged to stderr). */
  onHandlerError?: (error: unknown, channel: string) => void;
}

interface Entry {
  value: string;
  /** Epoch milliseconds; undefined for keys that never expire. */
  expiresAt: number | undefined;
}

interface Subscription {
  handler: MessageHandler;
}

const INTEGER = /^-?\d+$/;

export class MemoryCache implements Cache {
  readonly #entries = new Map<string, Entry>();
  readonly #channels = new Map<string, Set<Subscription>>();
  readonly #now: () => number;
  readonly #onHandlerError: (error: unknown, channel: string) => void;
  readonly #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: MemoryCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#onHandlerError =
      options.onHandlerError ??
      ((error, channel) => console.error(`cache: a subscriber of ${JSON.stringify(channel)} failed:`, error));
    const interval = options.sweepIntervalMs ?? 60_000;
    if (interval > 0) {
      this.#sweeper = setInterval(() => this.#sweep(), interval);
      this.#sweeper.unref();
    }
  }

  #check(): void {
    if (this.#closed) throw new CacheClosed();
  }

  /** The live entry, dropping it when expired. */
  #entry(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#entries.delete(key);
    }
  }

  async get(key: string): Promise<string | undefined> {
    return this.getLocal(key);
  }

  readonly getLocal = (key: string): string | undefined => {
    this.#check();
    return this.#entry(key)?.value;
  };

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.#check();
    const expiresAt = ttlSeconds === undefined ? undefined : this.#now() + ttlMilliseconds(ttlSeconds);
    this.#entries.set(key, { value: String(value), expiresAt });
  }

  async delete(key: string): Promise<boolean> {
    this.#check();
    const existed = this.#entry(key) !== undefined;
    this.#entries.delete(key);
    return existed;
  }

  async getAndDelete(key: string): Promise<string | undefined> {
    this.#check();
    const entry = this.#entry(key);
    this.#entries.delete(key);
    return entry?.value;
  }

  async increment(key: string, ttlSeconds?: number): Promise<number> {
    this.#check();
    const ttl = ttlSeconds === undefined ? undefined : ttlMilliseconds(ttlSeconds);
    const entry = this.#entry(key);
    if (entry === undefined) {
      this.#entries.set(key, { value: '1', expiresAt: ttl === undefined ? undefined : this.#now() + ttl });
      return 1;
    }
    const current = INTEGER.test(entry.value) ? Number(entry.value) : Number.NaN;
    if (!Number.isSafeInteger(current) || !Number.isSafeInteger(current + 1)) {
      throw new TypeError(`cache value of ${JSON.stringify(key)} is not an integer`);
    }
    entry.value = String(current + 1);
    return current + 1;
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    this.#check();
    const ttl = ttlMilliseconds(ttlSeconds);
    const entry = this.#entry(key);
    if (entry === undefined) return false;
    entry.expiresAt = this.#now() + ttl;
    return true;
  }

  async ttl(key: string): Promise<number | undefined> {
    this.#check();
    const entry = this.#entry(key);
    if (entry?.expiresAt === undefined) return undefined;
    return Math.ceil((entry.expiresAt - this.#now()) / 1000);
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#check();
    const subscriptions = this.#channels.get(channel);
    if (subscriptions === undefined) return;
    // Delivered after the publisher resumes, in publication order, as Redis would.
    for (const subscription of [...subscriptions]) {
      queueMicrotask(() => {
        if (!subscriptions.has(subscription)) return;
        try {
          subscription.handler(message);
        } catch (error) {
          this.#onHandlerError(error, channel);
        }
      });
    }
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    this.#check();
    let subscriptions = this.#channels.get(channel);
    if (subscriptions === undefined) {
      subscriptions = new Set();
      this.#channels.set(channel, subscriptions);
    }
    const subscription: Subscription = { handler };
    subscriptions.add(subscription);
    const set = subscriptions;
    return async () => {
      set.delete(subscription);
      if (set.size === 0 && this.#channels.get(channel) === set) this.#channels.delete(channel);
    };
  }

  /** Entries held, including expired ones not yet swept (for monitoring and tests). */
  get size(): number {
    return this.#entries.size;
  }

  async ping(): Promise<boolean> {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#entries.clear();
    this.#channels.clear();
  }
}
