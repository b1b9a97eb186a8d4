/**
 * PostgreSQL schemas and Redis keys that a bench or soak run makes for itself, and removes at
 * clean-up (on success, error and Ctrl-C alike).
 */
import { Redis } from 'ioredis';
import { keyedHash, randomHex } from '../../src/core/crypto.ts';
import { createSchema, dropSchema } from '../../src/storage/postgres/postgres-storage.ts';
import { onCleanup } from './processes.ts';

/** A fresh schema named `<prefix>_<random>`, dropped at clean-up; returns the URL that uses it. */
export async function throwawaySchema(pgUrl: string, prefix: string): Promise<string> {
  const schema = `${prefix}_${randomHex(10)}`;
  await createSchema(pgUrl, schema);
  onCleanup(`PostgreSQL schema ${schema}`, () => dropSchema(pgUrl, schema));
  const url = new URL(pgUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/** Deletes a site's Redis keys (their prefix is derived from the site's key). */
export async function clearSiteRedisKeys(redisUrl: string, encryptionKey: string): Promise<void> {
  const prefix = `cortado:${keyedHash(encryptionKey, 'cache prefix').slice(0, 12)}:`;
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
