/**
 * The cache port: short-lived shared state (sessions, counters for lockout and rate limits,
 * one-time codes) and pub/sub for invalidation across nodes. Values are strings; callers
 * serialise. TTLs are in seconds (fractions allowed) and must be positive.
 */
export type MessageHandler = (message: string) => void;

export interface Cache {
  get(key: string): Promise<string | undefined>;
  /**
   * The same answer as `get`, synchronously, on adapters that hold the values in this process
   * (the memory cache); absent where a server must be asked. Checks made on every request use
   * it to skip a promise and a turn of the microtask queue.
   */
  readonly getLocal?: (key: string) => string | undefined;
  /** Stores the value; without a TTL the key never expires (an earlier TTL is cleared). */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** True when the key existed. */
  delete(key: string): Promise<boolean>;
  /** Reads and removes the key in one atomic step: of concurrent callers, one gets the value. */
  getAndDelete(key: string): Promise<string | undefined>;
  /**
   * Adds 1 atomically and returns the new value (a missing key counts from 0). The TTL applies
   * only when this call creates the key, so a window does not slide with each hit. Rejects when
   * the stored value is not an integer.
   */
  increment(key: string, ttlSeconds?: number): Promise<number>;
  /** Sets a new TTL on an existing key; false when the key is missing. */
  expire(key: string, ttlSeconds: number): Promise<boolean>;
  /** Remaining lifetime in whole seconds, rounded up; undefined when missing or without TTL. */
  ttl(key: string): Promise<number | undefined>;
  /** Delivers the message to every subscriber of the channel, on every node. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Calls `handler` for each message published on the channel from now on (delivery is
   * asynchronous and at most once). Resolves once the subscription is active, with a function
   * that ends it. `onGap` is called when messages may have been lost — the connection carrying
   * the subscription dropped and has been restored — once the subscription is active again, so
   * a subscriber can drop whatever those messages would have told it to.
   */
  subscribe(channel: string, handler: MessageHandler, onGap?: () => void): Promise<() => Promise<void>>;
  /** True when the cache answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The cache service cannot be reached (or the cache is closed); requests fail fast with 503. */
export class CacheUnavailable extends Error {
  override name = 'CacheUnavailable';
}

/** The cache was closed by its owner: unavailable for good, so not worth retrying. */
export class CacheClosed extends CacheUnavailable {
  override name = 'CacheClosed';

  constructor() {
    super('cache is closed');
  }
}

/** Validates a TTL and returns it in whole milliseconds (at least 1). */
export function ttlMilliseconds(ttlSeconds: number): number {
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`TTL must be a positive number of seconds, got ${String(ttlSeconds)}`);
  }
  return Math.max(1, Math.ceil(ttlSeconds * 1000));
}
