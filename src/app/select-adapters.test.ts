// The site config reaches the adapters: read_cache_mb the SQLite one (repeated reads are answered
// from memory with the default, never with 0), db_statement_timeout_ms the PostgreSQL one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSiteConfig } from '../core/config.ts';
import { SqliteStorage } from '../storage/sqlite/sqlite-storage.ts';
import { StatementTimeout } from '../storage/types.ts';
import { selectStorage } from './select-adapters.ts';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function hitsOfRepeatedRead(config: Record<string, unknown>): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-adapters-'));
  const storage = selectStorage(parseSiteConfig({ encryption_key: randomBytes(32).toString('base64url'), ...config }), dir);
  try {
    assert.ok(storage instanceof SqliteStorage);
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    for (let i = 0; i < 3; i++) {
      await nextTurn();
      await storage.allCached('SELECT * FROM "t"');
    }
    return storage.readCacheStats().hits;
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('the SQLite site keeps read answers by default, and none with read_cache_mb: 0', async () => {
  assert.equal(await hitsOfRepeatedRead({}), 2);
  assert.equal(await hitsOfRepeatedRead({ read_cache_mb: 0 }), 0);
});

const pgUrl = process.env.CORTADO_TEST_PG_URL;
test('db_statement_timeout_ms reaches PostgreSQL', { skip: pgUrl ? false : 'CORTADO_TEST_PG_URL is not set: PostgreSQL test skipped' }, async () => {
  const config = parseSiteConfig({ encryption_key: randomBytes(32).toString('base64url'), db_url: pgUrl, db_statement_timeout_ms: 200 });
  const storage = selectStorage(config, tmpdir());
  try {
    await assert.rejects(storage.get('SELECT pg_sleep(3)'), StatementTimeout);
  } finally {
    await storage.close();
  }
});
