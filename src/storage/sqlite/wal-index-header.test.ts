// The wal-index header moves with every commit, by any connection in any process, and with
// nothing else.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { WalIndexHeader } from './wal-index-header.ts';

async function withDatabase(fn: (path: string, db: Database.Database) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-wal-header-'));
  const path = join(dir, 'site.sqlite3');
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE "t" ("name" TEXT PRIMARY KEY, "v" TEXT)');
    fn(path, db);
  } finally {
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a commit changes the header; reads and rolled-back transactions do not', () =>
  withDatabase((path, db) => {
    const header = new WalIndexHeader(path);
    try {
      assert.equal(header.changed(), false);
      db.prepare('SELECT * FROM "t"').all();
      db.exec('BEGIN IMMEDIATE; INSERT INTO "t" VALUES (\'a\', \'1\'); ROLLBACK');
      assert.equal(header.changed(), false);
      db.prepare('INSERT INTO "t" VALUES (?, ?)').run('a', '1');
      assert.equal(header.changed(), true);
      assert.equal(header.changed(), false);
      // A value of the same length: the page is rewritten in place, the WAL grows all the same.
      db.prepare('UPDATE "t" SET "v" = ? WHERE "name" = ?').run('2', 'a');
      assert.equal(header.changed(), true);
    } finally {
      header.close();
    }
  }));

test('a commit by another connection after the WAL was checkpointed and truncated changes the header', () =>
  withDatabase((path, db) => {
    db.prepare('INSERT INTO "t" VALUES (?, ?)').run('a', '1');
    const header = new WalIndexHeader(path);
    const other = new Database(path);
    try {
      other.pragma('wal_checkpoint(TRUNCATE)');
      header.changed();
      // One page rewritten: the WAL starts again from its first frame, as long as before.
      other.prepare('UPDATE "t" SET "v" = ? WHERE "name" = ?').run('2', 'a');
      assert.equal(header.changed(), true);
      other.pragma('wal_checkpoint(TRUNCATE)');
      header.changed();
      other.prepare('UPDATE "t" SET "v" = ? WHERE "name" = ?').run('3', 'a');
      assert.equal(header.changed(), true);
    } finally {
      other.close();
      header.close();
    }
  }));

test('a database without a -shm file has no header to watch', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-wal-header-'));
  try {
    assert.throws(() => new WalIndexHeader(join(dir, 'missing.sqlite3')), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
