/** The one place that picks storage and cache adapters from the site config. */
import { join } from 'node:path';
import type { SiteConfig } from '../core/config.ts';
import { PostgresStorage } from '../storage/postgres/postgres-storage.ts';
import { SqliteStorage } from '../storage/sqlite/sqlite-storage.ts';
import type { Storage } from '../storage/types.ts';

/** File name of the embedded database inside a site folder. */
export const SQLITE_FILE = 'site.sqlite3';

export function selectStorage(config: SiteConfig, sitePath: string): Storage {
  if (config.db_url) return new PostgresStorage({ url: config.db_url, poolSize: config.db_pool_size });
  return new SqliteStorage({ path: join(sitePath, SQLITE_FILE) });
}
