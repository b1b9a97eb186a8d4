// The SQLite adapter's read path: row objects built from raw rows by a function compiled per
// result shape, and reads sharing one snapshot per turn of the event loop.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UniqueViolation } from '../types.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs `fn` with `count` Storages on one temporary database file, then closes and removes them. */
async function withStorages(count: number, fn: (...storages: SqliteStorage[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-sqlite-rows-'));
  const storages = Array.from({ length: count }, () => new SqliteStorage({ path: join(dir, 'site.sqlite3') }));
  try {
    await fn(...storages);
  } finally {
    for (const storage of storages.reverse()) await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a cached SELECT * follows a column another connection added', async () => {
  await withStorages(2, async (serving, migrating) => {
    await serving.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY, "a" TEXT)');
    await serving.run('INSERT INTO "t" VALUES (?, ?)', ['one', 'x']);
    assert.deepEqual(await serving.all('SELECT * FROM "t"'), [{ name: 'one', a: 'x' }]);
    await migrating.run('ALTER TABLE "t" ADD COLUMN "b" TEXT DEFAULT \'y\'');
    await nextTurn();
    assert.deepEqual(await serving.all('SELECT * FROM "t"'), [{ name: 'one', a: 'x', b: 'y' }]);
  });
});

test('a column named __proto__ is a property of the row, not its prototype', async () => {
  await withStorages(1, async (storage) => {
    const [row] = await storage.all<Record<string, unknown>>('SELECT 1 AS "__proto__", 2 AS "b"');
    assert.ok(row);
    assert.equal(Object.getPrototypeOf(row), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(row, '__proto__')?.value, 1);
    assert.deepEqual(Object.keys(row), ['__proto__', 'b']);
  });
});

test('column names are keys, whatever characters they hold, and a repeated name keeps its last value', async () => {
  await withStorages(1, async (storage) => {
    const names = ['with "quotes"', 'back\\slash', 'line\nbreak', '}; throw 1; ({', 'a'];
    const sql = `SELECT ${names.map((name, i) => `${i} AS "${name.replace(/"/g, '""')}"`).join(', ')}, 9 AS "a"`;
    const [row] = await storage.all<Record<string, unknown>>(sql);
    assert.deepEqual(row, { 'with "quotes"': 0, 'back\\slash': 1, 'line\nbreak': 2, '}; throw 1; ({': 3, a: 9 });
  });
});

test('reads see this Storage\'s own commits at once, within the same turn', async () => {
  await withStorages(1, async (storage) => {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    assert.deepEqual(await storage.all('SELECT * FROM "t"'), []);
    await storage.run('INSERT INTO "t" VALUES (?)', ['autocommit']);
    assert.deepEqual(await storage.all('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'autocommit' }]);
    const tx = await storage.begin();
    await tx.run('INSERT INTO "t" VALUES (?)', ['transaction']);
    // Not yet committed: the read connection does not see it.
    assert.deepEqual(await storage.all('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'autocommit' }]);
    await tx.commit();
    assert.deepEqual(await storage.all('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'autocommit' }, { name: 'transaction' }]);
  });
});

test('another connection\'s commit shows from the next turn of the event loop', async () => {
  await withStorages(2, async (serving, other) => {
    await serving.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    await nextTurn();
    assert.deepEqual(await serving.all('SELECT * FROM "t"'), []);
    await other.run('INSERT INTO "t" VALUES (?)', ['elsewhere']);
    // The same turn reads one snapshot, as if the other commit had come a moment later.
    assert.deepEqual(await serving.all('SELECT * FROM "t"'), []);
    await nextTurn();
    assert.deepEqual(await serving.all('SELECT * FROM "t"'), [{ name: 'elsewhere' }]);
  });
});

test('the snapshot of a turn does not hold back another connection\'s checkpoint afterwards', async () => {
  await withStorages(2, async (serving, other) => {
    await serving.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    await nextTurn();
    await serving.all('SELECT * FROM "t"');
    for (let i = 0; i < 50; i++) await other.run('INSERT INTO "t" VALUES (?)', [`row ${i}`]);
    await nextTurn();
    const [result] = await other.all<{ busy: number }>('PRAGMA wal_checkpoint(TRUNCATE)');
    assert.equal(result?.busy, 0);
  });
});

// Group commit: transactions waiting for the writer join the running one's SQLite transaction.

test('group commit: transactions that waited commit together, each acknowledged only once the group is committed', async () => {
  await withStorages(2, async (storage, other) => {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    const first = await storage.begin();
    const waiting = [storage.begin(), storage.begin()];
    await first.run('INSERT INTO "t" VALUES (?)', ['a']);
    let acknowledged = false;
    const committed = first.commit().then(() => (acknowledged = true));
    const second = await waiting[0];
    assert.ok(second);
    await second.run('INSERT INTO "t" VALUES (?)', ['b']);
    await nextTurn();
    assert.equal(acknowledged, false, 'not acknowledged while the group is open');
    assert.deepEqual(await other.all('SELECT "name" FROM "t"'), [], 'another process sees nothing yet');
    // Each member's commit waits for the group: a caller ends its own transaction and waits.
    const secondCommitted = second.commit();
    const third = await waiting[1];
    assert.ok(third);
    await third.run('INSERT INTO "t" VALUES (?)', ['c']);
    await Promise.all([third.commit(), secondCommitted, committed]);
    assert.equal(acknowledged, true);
    await nextTurn();
    assert.deepEqual(await other.all('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    assert.deepEqual(await storage.all('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'a' }, { name: 'b' }, { name: 'c' }], 'this process reads its own commits at once');
  });
});

test('group commit: a member that rolls back or fails undoes only its own writes', async () => {
  await withStorages(1, async (storage) => {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    await storage.run('INSERT INTO "t" VALUES (?)', ['taken']);
    const first = await storage.begin();
    const [rolledBack, failing, last] = [storage.begin(), storage.begin(), storage.begin()];
    await first.run('INSERT INTO "t" VALUES (?)', ['a']);
    const firstCommitted = first.commit();

    const b = await rolledBack;
    await b.run('INSERT INTO "t" VALUES (?)', ['b']);
    await b.rollback();

    const c = await failing;
    await c.run('INSERT INTO "t" VALUES (?)', ['c']);
    await assert.rejects(c.run('INSERT INTO "t" VALUES (?)', ['taken']), UniqueViolation);
    await c.rollback();

    const d = await last;
    await d.run('INSERT INTO "t" VALUES (?)', ['d']);
    await d.commit();
    await firstCommitted;
    assert.deepEqual(await storage.all('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'a' }, { name: 'd' }, { name: 'taken' }]);
  });
});

test('group commit: a write outside any transaction commits the open group first', async () => {
  await withStorages(2, async (storage, other) => {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    const first = await storage.begin();
    const next = storage.begin();
    const plain = storage.run('INSERT INTO "t" VALUES (?)', ['plain']);
    await first.run('INSERT INTO "t" VALUES (?)', ['a']);
    const firstCommitted = first.commit();
    const second = await next;
    await second.run('INSERT INTO "t" VALUES (?)', ['b']);
    await second.commit();
    await Promise.all([firstCommitted, plain]);
    await nextTurn();
    assert.deepEqual(await other.all('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'a' }, { name: 'b' }, { name: 'plain' }]);
  });
});

test('group commit: closing the storage commits the open group', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-sqlite-close-'));
  const path = join(dir, 'site.sqlite3');
  try {
    const storage = new SqliteStorage({ path });
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    const tx = await storage.begin();
    await tx.run('INSERT INTO "t" VALUES (?)', ['kept']);
    const committed = tx.commit();
    await storage.close();
    await committed;
    const reopened = new SqliteStorage({ path });
    assert.deepEqual(await reopened.all('SELECT "name" FROM "t"'), [{ name: 'kept' }]);
    await reopened.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('group commit: when the group is lost, every member that joined it is told, and the storage goes on', async () => {
  await withStorages(1, async (storage) => {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY)');
    const first = await storage.begin();
    const next = storage.begin();
    await first.run('INSERT INTO "t" VALUES (?)', ['a']);
    const firstCommitted = first.commit();
    const second = await next;
    await second.run('INSERT INTO "t" VALUES (?)', ['b']);
    // Ends the shared SQLite transaction under the group, as a full disk or an I/O error would.
    await second.run('ROLLBACK');
    await assert.rejects(second.commit());
    await assert.rejects(firstCommitted, 'an earlier member is never acknowledged for writes that were lost');
    const after = await storage.begin();
    await after.run('INSERT INTO "t" VALUES (?)', ['c']);
    await after.commit();
    assert.deepEqual(await storage.all('SELECT "name" FROM "t"'), [{ name: 'c' }]);
  });
});

test('once externalChanges() tells of another connection\'s commit, reads in the same turn see it, cached or not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-sqlite-external-'));
  const path = join(dir, 'site.sqlite3');
  const storage = new SqliteStorage({ path, readCacheBytes: 1 << 20 });
  const other = new SqliteStorage({ path });
  try {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY, "v" INTEGER)');
    await storage.run('INSERT INTO "t" VALUES (?, ?)', ['a', 1]);
    await nextTurn();
    const before = storage.externalChanges();
    // This turn's snapshot, and a cached answer, hold v = 1 ...
    assert.deepEqual(await storage.all('SELECT "v" FROM "t"'), [{ v: 1 }]);
    assert.deepEqual(await storage.allCached('SELECT "v" FROM "t" WHERE "name" = ?', ['a']), [{ v: 1 }]);
    // ... when another connection commits, still in this turn.
    await other.run('UPDATE "t" SET "v" = 2');
    assert.notEqual(storage.externalChanges(), before);
    // A caller that drops what it derived from the old rows reads them again: never the old ones.
    assert.deepEqual(await storage.all('SELECT "v" FROM "t"'), [{ v: 2 }]);
    assert.deepEqual(await storage.allCached('SELECT "v" FROM "t" WHERE "name" = ?', ['a']), [{ v: 2 }]);
  } finally {
    await other.close();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
});
