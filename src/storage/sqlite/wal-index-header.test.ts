// The wal-index header moves with every commit, by any connection in any process, and with
// nothing else.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
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

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CHECKPOINT_ELSEWHERE = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1], { timeout: 0 });
process.stdout.write(JSON.stringify(db.pragma('wal_checkpoint(TRUNCATE)')[0]));
db.close();
`;

test('closing one of two headers on a file keeps this process\'s locks on it: another process still sees the reader', () =>
  withDatabase((path, db) => {
    db.prepare('INSERT INTO "t" VALUES (?, ?)').run('a', '1');
    const first = new WalIndexHeader(path);
    const second = new WalIndexHeader(path);
    const reader = new Database(path, { readonly: true });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM "t"').get();
      second.close();
      const child = spawnSync(process.execPath, ['-e', CHECKPOINT_ELSEWHERE, path], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(child.status, 0, child.stderr);
      // POSIX drops all of a process's locks on a file when any descriptor for it is closed:
      // had the second header closed its own, the other process would have reset the WAL.
      assert.equal((JSON.parse(child.stdout) as { busy: number }).busy, 1);
      assert.equal(first.changed(), false);
    } finally {
      reader.exec('COMMIT');
      reader.close();
      first.close();
    }
  }));
