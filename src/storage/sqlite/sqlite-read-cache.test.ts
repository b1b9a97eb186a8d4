// SqliteStorage.allCached: a read answered again from memory only while nobody — this Storage,
// another connection, another process — has committed since it was read.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { UnitOfWork } from '../unit-of-work.ts';
import { observeWrites } from '../write-observer.ts';
import { SqliteStorage } from './sqlite-storage.ts';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const READ = 'SELECT * FROM "t" WHERE "name" = ?';
const MB = 1024 * 1024;

/** A cached Storage on a temporary file with table t (name, v) holding ('a', '1'); `other` is a second connection. */
async function withCachedStorage(
  fn: (storage: SqliteStorage, other: Database.Database, path: string) => Promise<void>,
  readCacheBytes = MB,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cortado-read-cache-'));
  const path = join(dir, 'site.sqlite3');
  const storage = new SqliteStorage({ path, readCacheBytes });
  const other = new Database(path);
  try {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY, "v" TEXT)');
    await storage.run('INSERT INTO "t" VALUES (?, ?)', ['a', '1']);
    await nextTurn();
    await fn(storage, other, path);
  } finally {
    other.close();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a repeated read is answered from memory with the same frozen rows, which no caller can change', () =>
  withCachedStorage(async (storage) => {
    const first = await storage.allCached<{ name: string; v: string }>(READ, ['a']);
    await nextTurn();
    const second = await storage.allCached<{ name: string; v: string }>(READ, ['a']);
    assert.deepEqual(second, [{ name: 'a', v: '1' }]);
    assert.deepEqual(storage.readCacheStats(), { ...storage.readCacheStats(), hits: 1, misses: 1, entries: 1 });
    assert.equal(second[0], first[0], 'the same object while the answer stands');
    assert.ok(Object.isFrozen(second) && Object.isFrozen(second[0]));
    assert.throws(() => {
      (second[0] as { v: string }).v = 'changed by a caller';
    }, TypeError);
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '1' }]);
  }));

test('a read after a commit gets new rows, not the ones kept before it', () =>
  withCachedStorage(async (storage) => {
    const before = await storage.allCached<{ name: string; v: string }>(READ, ['a']);
    await storage.run('UPDATE "t" SET "v" = ? WHERE "name" = ?', ['2', 'a']);
    const after = await storage.allCached<{ name: string; v: string }>(READ, ['a']);
    assert.deepEqual(after, [{ name: 'a', v: '2' }]);
    assert.deepEqual(before, [{ name: 'a', v: '1' }], 'rows given out before are left as they were');
  }));

test('a commit of this Storage is seen by the next read, in the same turn', () =>
  withCachedStorage(async (storage) => {
    await storage.allCached(READ, ['a']);
    await storage.run('UPDATE "t" SET "v" = ? WHERE "name" = ?', ['2', 'a']);
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
    const tx = await storage.begin();
    await tx.run('UPDATE "t" SET "v" = ? WHERE "name" = ?', ['3', 'a']);
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }], 'not before its commit');
    await tx.commit();
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '3' }]);
  }));

test('a commit of another connection is seen from the next turn on, as a plain read sees it', () =>
  withCachedStorage(async (storage, other) => {
    await storage.allCached(READ, ['a']);
    await nextTurn();
    await storage.allCached(READ, ['a']);
    other.prepare('UPDATE "t" SET "v" = ? WHERE "name" = ?').run('2', 'a');
    await nextTurn();
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
    assert.deepEqual(await storage.all(READ, ['a']), [{ name: 'a', v: '2' }]);
  }));

test('a commit of another process after the WAL was truncated is seen', () =>
  withCachedStorage(async (storage, other) => {
    other.pragma('wal_checkpoint(TRUNCATE)');
    await nextTurn();
    await storage.allCached(READ, ['a']);
    other.prepare('UPDATE "t" SET "v" = ? WHERE "name" = ?').run('2', 'a');
    await nextTurn();
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
  }));

test('a turn whose snapshot a plain read began keeps what it reads, and the next turn sees a later commit', () =>
  withCachedStorage(async (storage, other) => {
    // As in a request: authentication reads first, the document after.
    await storage.all('SELECT count(*) FROM "t"');
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '1' }]);
    other.prepare('UPDATE "t" SET "v" = ? WHERE "name" = ?').run('2', 'a');
    // The same turn: the snapshot's answer, as a plain read gives it.
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '1' }]);
    assert.deepEqual(await storage.all(READ, ['a']), [{ name: 'a', v: '1' }]);
    assert.equal(storage.readCacheStats().hits, 1);
    await nextTurn();
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
  }));

test('a snapshot begun before another connection commits is never answered from after it, nor kept past it', () =>
  withCachedStorage(async (storage, other) => {
    await storage.allCached(READ, ['a']);
    await nextTurn();
    await storage.all('SELECT count(*) FROM "t"');
    other.prepare('UPDATE "t" SET "v" = ? WHERE "name" = ?').run('2', 'a');
    assert.deepEqual(await storage.allCached('SELECT "v" FROM "t"'), [{ v: '1' }]);
    await nextTurn();
    assert.deepEqual(await storage.allCached('SELECT "v" FROM "t"'), [{ v: '2' }]);
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
  }));

test('with no budget, nothing is kept', () =>
  withCachedStorage(async (storage) => {
    await storage.allCached(READ, ['a']);
    await nextTurn();
    await storage.allCached(READ, ['a']);
    assert.deepEqual(storage.readCacheStats(), { hits: 0, misses: 0, entries: 0, bytes: 0 });
  }, 0));

test('an in-memory database keeps nothing: it has no WAL-index header to tell of commits', async () => {
  const storage = new SqliteStorage({ path: ':memory:', readCacheBytes: MB });
  try {
    await storage.run('CREATE TABLE "t" ("name" TEXT PRIMARY KEY, "v" TEXT)');
    await storage.run('INSERT INTO "t" VALUES (?, ?)', ['a', '1']);
    await storage.allCached(READ, ['a']);
    await storage.run('UPDATE "t" SET "v" = ? WHERE "name" = ?', ['2', 'a']);
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
    assert.equal(storage.readCacheStats().entries, 0);
  } finally {
    await storage.close();
  }
});

test('a writing statement passed to allCached is run as a write, and reported to the watcher', () =>
  withCachedStorage(async (storage) => {
    const observed = observeWrites(storage);
    const seen: string[] = [];
    observed.watchWrites({ interested: () => true, committed: (writes) => seen.push(...writes.map((w) => w.sql)) });
    const insert = 'INSERT INTO "t" VALUES (?, ?) RETURNING "name"';
    assert.deepEqual(await observed.allCached(insert, ['b', '1']), [{ name: 'b' }]);
    assert.deepEqual(seen, [insert]);
    assert.equal(storage.readCacheStats().entries, 0);
    assert.deepEqual(await storage.allCached('SELECT "name" FROM "t" ORDER BY "name"'), [{ name: 'a' }, { name: 'b' }]);
  }));

test('a unit of work reads its own uncommitted writes, never the cache, once its transaction is open', () =>
  withCachedStorage(async (storage) => {
    await storage.allCached(READ, ['a']);
    const uow = new UnitOfWork(storage);
    assert.deepEqual(await uow.allCached(READ, ['a']), [{ name: 'a', v: '1' }]);
    await uow.run('UPDATE "t" SET "v" = ? WHERE "name" = ?', ['2', 'a']);
    assert.deepEqual(await uow.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '1' }], 'others do not see it before the commit');
    await uow.finish(true);
    assert.deepEqual(await storage.allCached(READ, ['a']), [{ name: 'a', v: '2' }]);
  }));

// Another connection, on its own thread, commits as fast as it can while this one reads: no
// cached answer may be newer than the turn's snapshot, nor older than what the snapshot of the
// turn before saw (whatever a torn header or an unlucky moment of the check would allow).
const COUNTING_WRITER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require('better-sqlite3');
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const bump = db.prepare('UPDATE "t" SET "v" = CAST("v" AS INTEGER) + 1 WHERE "name" = ?');
const stop = new Int32Array(workerData.stop);
parentPort.postMessage('started');
let commits = 0;
while (Atomics.load(stop, 0) === 0) { bump.run('a'); commits++; }
db.close();
parentPort.postMessage(commits);
`;

test('under a writer committing as fast as it can, a cached read is never older than the turn before saw, nor newer than its own turn', () =>
  withCachedStorage(async (storage, _other, path) => {
    const stop = new SharedArrayBuffer(4);
    const writer = new Worker(COUNTING_WRITER, { eval: true, workerData: { path, stop } });
    const messages: unknown[] = [];
    writer.on('message', (message: unknown) => messages.push(message));
    const ended = new Promise<void>((resolve, reject) => writer.once('exit', () => resolve()).once('error', reject));
    try {
      while (messages.length === 0) await nextTurn();
      const value = async (read: Promise<readonly { v: string }[]>) => Number((await read)[0]?.v);
      let before = 0;
      let turns = 0;
      for (const started = Date.now(); Date.now() - started < 1500; turns++) {
        await nextTurn();
        const cached = await value(storage.allCached(READ, ['a']));
        const snapshot = await value(storage.all(READ, ['a']));
        const cachedAgain = await value(storage.allCached(READ, ['a']));
        assert.ok(cached >= before, `turn ${turns}: cached ${cached} older than the turn before's ${before}`);
        assert.ok(cached <= snapshot && cachedAgain <= snapshot, `turn ${turns}: cached ${cached}/${cachedAgain} newer than the snapshot's ${snapshot}`);
        assert.ok(cachedAgain >= cached, `turn ${turns}: went back from ${cached} to ${cachedAgain}`);
        before = snapshot;
      }
      Atomics.store(new Int32Array(stop), 0, 1);
      await ended;
      const commits = messages[1] as number;
      assert.ok(commits > turns, `the writer committed ${commits} times over ${turns} turns`);
      assert.ok(storage.readCacheStats().hits > 0, 'some reads were answered from memory');
    } finally {
      Atomics.store(new Int32Array(stop), 0, 1);
      await ended;
    }
  }));
