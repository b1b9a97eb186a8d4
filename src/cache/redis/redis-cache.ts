/**
 * Redis cache (ioredis) shared by every node. Commands fail fast while Redis is unreachable
 * (no offline queue, short connect and command timeouts) with CacheUnavailable, and the client
 * keeps reconnecting in the background. Pub/sub runs on a second connection, opened on the
 * first subscribe; subscriptions are restored after a reconnect, but messages published while
 * disconnected are lost (Redis pub/sub is at most once), so each subscriber's `onGap` is called
 * once its channel is live again.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { CacheClosed, CacheUnavailable, ttlMilliseconds, type Cache, type MessageHandler } from '../types.ts';

export interface RedisCacheOptions {
  /** `redis://[:password@]host:port[/db]` */
  url: string;
  /** Prepended to every key and channel, so several sites or test runs can share one Redis. */
  keyPrefix?: string;
  /** Time allowed to open a connection (default 2000 ms). */
  connectTimeoutMs?: number;
  /** Time allowed for one command (default 2000 ms). */
  commandTimeoutMs?: number;
  /** Called when a subscriber's handler throws (default: logged to stderr). */
  onHandlerError?: (error: unknown, channel: string) => void;
}

/** INCR, with the TTL set only when this call created the key: atomic in one script. */
const INCREMENT = `
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCR', KEYS[1])
local ttl = tonumber(ARGV[1])
if created and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return value`;

type WithIncrement = Redis & { cortadoIncrement(key: string, ttlMs: number): Promise<number> };

/** Replies that mean the server cannot serve now, rather than that the command was wrong. */
const UNAVAILABLE_REPLY = /^(LOADING|MASTERDOWN|READONLY|BUSY|TRYAGAIN|CLUSTERDOWN)\b/;

function mapError(error: unknown): unknown {
  if (error instanceof CacheUnavailable || error instanceof RangeError) return error;
  const name = (error as { name?: string } | undefined)?.name;
  // ReplyError: Redis answered with an error about the command itself (wrong type, not an integer).
  if (name === 'ReplyError' && !UNAVAILABLE_REPLY.test((error as Error).message)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CacheUnavailable(`Redis unavailable: ${message}`, { cause: error });
}

interface Subscription {
  readonly handler: MessageHandler;
  readonly onGap: (() => void) | undefined;
}

interface Channel {
  subscriptions: Set<Subscription>;
  /** Resolves when Redis has confirmed the SUBSCRIBE. */
  ready: Promise<void>;
}

export class RedisCache implements Cache {
  readonly #options: RedisOptions;
  readonly #url: string;
  readonly #prefix: string;
  readonly #client: WithIncrement;
  #subscriber: Redis | undefined;
  readonly #connecting = new Map<Redis, Promise<void>>();
  readonly #channels = new Map<string, Channel>();
  readonly #onHandlerError: (error: unknown, channel: string) => void;
  #closed = false;

  constructor(options: RedisCacheOptions) {
    this.#url = options.url;
    this.#prefix = options.keyPrefix ?? '';
    this.#onHandlerError =
      options.onHandlerError ??
      ((error, channel) => console.error(`cache: a subscriber of ${JSON.stringify(channel)} failed:`, error));
    const connectTimeout = options.connectTimeoutMs ?? 2000;
    this.#options = {
      lazyConnect: true,
      enableOfflineQueue: false,
      connectTimeout,
      // A connection that failed its handshake is destroyed this long after ending it.
      disconnectTimeout: connectTimeout,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      maxRetriesPerRequest: 0,
      // Keep trying in the background; commands meanwhile fail fast.
      retryStrategy: (times) => Math.min(100 * times, 2000),
    };
    this.#client = this.#connection() as WithIncrement;
    this.#client.defineCommand('cortadoIncrement', { numberOfKeys: 1, lua: INCREMENT });
  }

  #connection(): Redis {
    const redis = new Redis(this.#url, this.#options);
    // Connection errors surface through the commands that fail; without a listener ioredis
    // would print every reconnect attempt.
    redis.on('error', () => {});
    return redis;
  }

  /** The connection, connected on first use; a connect in progress is shared. */
  async #connected<R extends Redis>(redis: R): Promise<R> {
    if (this.#closed) throw new CacheClosed();
    if (redis.status === 'wait' && !this.#connecting.has(redis)) {
      const connecting = redis.connect().finally(() => this.#connecting.delete(redis));
      this.#connecting.set(redis, connecting);
    }
    const pending = this.#connecting.get(redis);
    if (pending !== undefined) {
      try {
        await pending;
      } catch (error) {
        throw mapError(error);
      }
    }
    return redis;
  }

  async #run<T>(fn: (redis: WithIncrement) => Promise<T>): Promise<T> {
    const redis = await this.#connected(this.#client);
    try {
      return await fn(redis);
    } catch (error) {
      throw mapError(error);
    }
  }

  #key(key: string): string {
    return this.#prefix + key;
  }

  get(key: string): Promise<string | undefined> {
    return this.#run(async (redis) => (await redis.get(this.#key(key))) ?? undefined);
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    const ttl = ttlSeconds === undefined ? undefined : ttlMilliseconds(ttlSeconds);
    await this.#run((redis) =>
      ttl === undefined ? redis.set(this.#key(key), value) : redis.set(this.#key(key), value, 'PX', ttl),
    );
  }

  delete(key: string): Promise<boolean> {
    return this.#run(async (redis) => (await redis.del(this.#key(key))) > 0);
  }

  getAndDelete(key: string): Promise<string | undefined> {
    return this.#run(async (redis) => (await redis.getdel(this.#key(key))) ?? undefined);
  }

  async increment(key: string, ttlSeconds?: number): Promise<number> {
    const ttl = ttlSeconds === undefined ? 0 : ttlMilliseconds(ttlSeconds);
    return this.#run(async (redis) => Number(await redis.cortadoIncrement(this.#key(key), ttl)));
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    const ttl = ttlMilliseconds(ttlSeconds);
    return this.#run(async (redis) => (await redis.pexpire(this.#key(key), ttl)) === 1);
  }

  ttl(key: string): Promise<number | undefined> {
    return this.#run(async (redis) => {
      const ms = await redis.pttl(this.#key(key));
      // -2: no such key; -1: no expiry.
      return ms < 0 ? undefined : Math.max(1, Math.ceil(ms / 1000));
    });
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#run((redis) => redis.publish(this.#prefix + channel, message));
  }

  async subscribe(channel: string, handler: MessageHandler, onGap?: () => void): Promise<() => Promise<void>> {
    const name = this.#prefix + channel;
    const subscriber = await this.#connected(this.#subscriberConnection());
    let entry = this.#channels.get(name);
    if (entry === undefined) {
      const created: Channel = {
        subscriptions: new Set(),
        ready: subscriber.subscribe(name).then(() => undefined),
      };
      created.ready.catch(() => {
        if (this.#channels.get(name) === created) this.#channels.delete(name);
      });
      this.#channels.set(name, created);
      entry = created;
    }
    const subscription: Subscription = { handler, onGap };
    entry.subscriptions.add(subscription);
    try {
      await entry.ready;
    } catch (error) {
      entry.subscriptions.delete(subscription);
      throw mapError(error);
    }
    const channelEntry = entry;
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      channelEntry.subscriptions.delete(subscription);
      if (channelEntry.subscriptions.size > 0 || this.#channels.get(name) !== channelEntry) return;
      this.#channels.delete(name);
      // If Redis is down the subscription died with the connection; nothing is delivered for it.
      if (!this.#closed) await subscriber.unsubscribe(name).catch(() => {});
    };
  }

  #subscriberConnection(): Redis {
    if (this.#subscriber === undefined) {
      const subscriber = this.#connection();
      let readyBefore = false;
      subscriber.on('ready', () => {
        if (readyBefore) void this.#resumed(subscriber);
        readyBefore = true;
      });
      subscriber.on('message', (name: string, message: string) => {
        const entry = this.#channels.get(name);
        if (entry === undefined) return;
        for (const subscription of [...entry.subscriptions]) {
          try {
            subscription.handler(message);
          } catch (error) {
            this.#onHandlerError(error, name.slice(this.#prefix.length));
          }
        }
      });
      this.#subscriber = subscriber;
    }
    return this.#subscriber;
  }

  /** After a reconnect: tells every subscriber that messages may have been lost, once its channel is live. */
  async #resumed(subscriber: Redis): Promise<void> {
    const names = [...this.#channels.keys()];
    if (names.length === 0 || this.#closed) return;
    try {
      // ioredis re-subscribes by itself but says nothing when that is done; the reply to this
      // SUBSCRIBE of the same channels does, and until then a message could still be missed.
      await subscriber.subscribe(...names);
    } catch {
      // Dropped again: the next reconnect tries again.
      return;
    }
    for (const name of names) {
      for (const { onGap } of [...(this.#channels.get(name)?.subscriptions ?? [])]) {
        if (onGap === undefined) continue;
        try {
          onGap();
        } catch (error) {
          this.#onHandlerError(error, name.slice(this.#prefix.length));
        }
      }
    }
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.#run((redis) => redis.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channels.clear();
    await Promise.all(
      [this.#client, this.#subscriber].map(async (redis) => {
        if (redis === undefined) return;
        if (redis.status === 'ready') {
          try {
            await redis.quit();
            return;
          } catch {
            // fall through: drop the connection
          }
        }
        redis.disconnect();
      }),
    );
  }
}
