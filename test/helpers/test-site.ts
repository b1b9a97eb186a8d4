/**
 * Builds real sites for tests: a temporary folder with SQLite, or the same on a fresh
 * PostgreSQL schema when CORTADO_TEST_PG_URL is set. `forEachDatabase` runs a suite on each.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openServingSite } from '../../src/app/create-server.ts';
import { newSite, writeSiteConfig, type Site } from '../../src/app/site.ts';
import type { Logger } from '../../src/core/logger.ts';
import { testLogger } from './test-log.ts';
import { randomHex } from '../../src/core/crypto.ts';
import { createSchema, dropSchema } from '../../src/storage/postgres/postgres-storage.ts';

export type TestDatabase = 'sqlite' | 'postgres';

export const PG_URL = process.env.CORTADO_TEST_PG_URL;
export const REDIS_URL = process.env.CORTADO_TEST_REDIS_URL;
export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestSite {
  site: Site;
  path: string;
  /** Re-opens the site (e.g. after changing its config or apps). */
  reopen(): Promise<Site>;
  cleanup(): Promise<void>;
}

export interface TestSiteOptions {
  db?: TestDatabase;
  apps?: string[];
  config?: Record<string, unknown>;
  /** The site's logger (default: quiet, every line kept when CORTADO_TEST_LOG_DIR is set). */
  logger?: Logger;
}

export async function createTestSite(options: TestSiteOptions = {}): Promise<TestSite> {
  const folder = mkdtempSync(join(tmpdir(), 'cortado-test-'));
  const path = join(folder, 'site');
  let dbUrl: string | undefined;
  let schema: string | undefined;
  if (options.db === 'postgres') {
    if (!PG_URL) throw new Error('CORTADO_TEST_PG_URL is not set');
    schema = `t_${randomHex(12)}`;
    await createSchema(PG_URL, schema);
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    dbUrl = url.toString();
  }
  const logger = options.logger ?? testLogger();
  const created = await newSite(path, { adminPassword: ADMIN_PASSWORD, dbUrl, logger });
  await created.close();
  if (options.apps || options.config) {
    const { readFileSync } = await import('node:fs');
    const raw = JSON.parse(readFileSync(join(path, 'site_config.json'), 'utf8')) as Record<string, unknown>;
    writeSiteConfig(path, { ...raw, ...options.config, installed_apps: options.apps ?? [] });
  }
  let site = await openServingSite(path, { logger });
  await site.migrate();
  const handle: TestSite = {
    get site() {
      return site;
    },
    path,
    async reopen() {
      await site.close();
      site = await openServingSite(path, { logger });
      await site.migrate();
      return site;
    },
    async cleanup() {
      await site.close().catch(() => undefined);
      if (schema && PG_URL) await dropSchema(PG_URL, schema);
      rmSync(folder, { recursive: true, force: true });
    },
  };
  return handle;
}

/** Databases to run on: SQLite always; PostgreSQL when configured. */
export function testDatabases(): TestDatabase[] {
  return PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

/**
 * Runs `suite` once per database. Without PostgreSQL a visibly skipped test says why.
 */
export function forEachDatabase(name: string, suite: (db: TestDatabase) => void): void {
  for (const db of testDatabases()) describe(`${name} [${db}]`, () => suite(db));
  if (!PG_URL) test(`${name} [postgres]`, { skip: 'CORTADO_TEST_PG_URL is not set: PostgreSQL tests skipped' }, () => {});
}
