// The storage conformance suite on the SQLite adapter: over a temporary file (separate reader
// connection, WAL) and over `:memory:` (one connection; reads wait for an open transaction).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../sqlite/sqlite-storage.ts';
import { runStorageConformance } from './storage.suite.ts';

runStorageConformance('sqlite (file)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-sqlite-'));
  const storage = new SqliteStorage({ path: join(dir, 'site.sqlite3') });
  return {
    storage,
    cleanup: async () => {
      // The test may have closed it already; closing twice is not part of the port.
      await storage.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
});

runStorageConformance(
  'sqlite (:memory:)',
  async () => {
    const storage = new SqliteStorage({ path: ':memory:' });
    return { storage, cleanup: () => storage.close().catch(() => {}) };
  },
  { serialisedReads: true },
);
