/** The one place that picks storage and cache adapters from the site config. */
import { join } from 'node:path';
import { MemoryCache } from '../cache/memory/memory-cache.ts';
import { RedisCache } from '../cache/redis/redis-cache.ts';
import type { Cache } from '../cache/types.ts';
import type { SiteConfig } from '../core/config.ts';
import { keyedHash } from '../core/crypto.ts';
import { PostgresStorage } from '../storage/postgres/postgres-storage.ts';
import { SqliteStorage } from '../storage/sqlite/sqlite-storage.ts';
import type { Storage } from '../storage/types.ts';

/** File name of the embedded database inside a site folder. */
export const SQLITE_FILE = 'site.sqlite3';

export function selectStorage(config: SiteConfig, sitePath: string): Storage {
  if (config.db_url) {
    return new PostgresStorage({ url: config.db_url, poolSize: config.db_pool_size, statementTimeoutMs: config.db_statement_timeout_ms });
  }
  return new SqliteStorage({ path: join(sitePath, SQLITE_FILE), readCacheBytes: config.read_cache_mb * 1024 * 1024 });
}

/**
 * The cache: in-process for one node, Redis when `redis_url` is set. Keys are prefixed per site
 * (derived from its key, the same on every node) so sites can share one Redis.
 */
export function selectCache(config: SiteConfig): Cache {
  if (!config.redis_url) return new MemoryCache();
  const prefix = `cortado:${keyedHash(config.encryption_key, 'cache prefix').slice(0, 12)}:`;
  return new RedisCache({ url: config.redis_url, keyPrefix: prefix });
}
