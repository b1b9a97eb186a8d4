import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SqliteStorage } from './sqlite/sqlite-storage.ts';
import { UniqueViolation } from './types.ts';
import { UnitOfWork } from './unit-of-work.ts';

let dir: string;
let storage: SqliteStorage;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cortado-uow-'));
  storage = new SqliteStorage({ path: join(dir, 'site.db') });
  await storage.ensureTable({
    name: 'tabNote',
    columns: [
      { name: 'name', kind: 'varchar', primaryKey: true, notNull: true },
      { name: 'writer', kind: 'varchar' },
    ],
  });
});

afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (db: { run: UnitOfWork['run'] }, name: string, writer = 'x') =>
  db.run('INSERT INTO "tabNote" ("name", "writer") VALUES (?, ?)', [name, writer]);
const names = async (db: { all: UnitOfWork['all'] } = storage) =>
  (await db.all<{ name: string }>('SELECT "name" FROM "tabNote" ORDER BY "name"')).map((r) => r.name);

/** Resolves to 'pending' if `promise` has not settled within `ms`. */
async function settledWithin<T>(promise: Promise<T>, ms = 50): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('UnitOfWork', () => {
  it('reads straight from the storage before the first write, without opening a transaction', async () => {
    await insert(storage, 'existing');
    const unit = new UnitOfWork(storage);
    assert.deepEqual(await names(unit), ['existing']);
    assert.deepEqual(await unit.get('SELECT "name" FROM "tabNote"'), { name: 'existing' });
    assert.deepEqual(await unit.all('  select count(*) AS n FROM "tabNote"'), [{ n: 1 }]);
    assert.equal(unit.inTransaction, false);
    // The writer lock is free: another transaction can start at once.
    const other = await settledWithin(storage.begin());
    assert.notEqual(other, 'pending', 'a read-only unit must not hold the writer lock');
    if (other !== 'pending') await other.rollback();
    await unit.finish(true);
  });

  it('opens a transaction on the first write, and later reads go through it', async () => {
    const unit = new UnitOfWork(storage);
    await insert(unit, 'a');
    assert.equal(unit.inTransaction, true);
    // The unit sees its own uncommitted write; the storage does not.
    assert.deepEqual(await names(unit), ['a']);
    assert.deepEqual(await names(), []);
    await unit.finish(true);
    assert.deepEqual(await names(), ['a']);
  });

  it('runs statements that are not plain SELECTs in the transaction', async () => {
    const unit = new UnitOfWork(storage);
    await unit.all('WITH t AS (SELECT 1 AS n) SELECT n FROM t');
    assert.equal(unit.inTransaction, true);
    await unit.finish(false);
  });

  it('commits on finish(true)', async () => {
    const unit = new UnitOfWork(storage);
    await insert(unit, 'a');
    await insert(unit, 'b');
    await unit.finish(true);
    assert.deepEqual(await names(), ['a', 'b']);
  });

  it('rolls back on finish(false)', async () => {
    await insert(storage, 'kept');
    const unit = new UnitOfWork(storage);
    await insert(unit, 'a');
    await unit.run('DELETE FROM "tabNote" WHERE "name" = ?', ['kept']);
    assert.deepEqual(await names(unit), ['a']);
    await unit.finish(false);
    assert.deepEqual(await names(), ['kept']);
  });

  it('rolls back after a failed statement, and the storage stays usable', async () => {
    const unit = new UnitOfWork(storage);
    await insert(unit, 'a');
    await assert.rejects(insert(unit, 'a'), UniqueViolation);
    await unit.finish(false);
    assert.deepEqual(await names(), []);
    await insert(storage, 'after');
    assert.deepEqual(await names(), ['after']);
  });

  it('opens the transaction on an explicit begin(), once', async () => {
    const unit = new UnitOfWork(storage);
    const [first, second] = await Promise.all([unit.begin(), unit.begin()]);
    assert.equal(first, second);
    assert.equal(await unit.begin(), first);
    assert.equal(unit.inTransaction, true);
    assert.equal(first.open, true);
    await unit.finish(true);
    assert.equal(first.open, false);
  });

  it('makes finish idempotent', async () => {
    const unit = new UnitOfWork(storage);
    await insert(unit, 'a');
    await unit.finish(true);
    await unit.finish(false);
    await unit.finish(true);
    assert.deepEqual(await names(), ['a']);

    const rolled = new UnitOfWork(storage);
    await insert(rolled, 'b');
    await Promise.all([rolled.finish(false), rolled.finish(true)]);
    assert.deepEqual(await names(), ['a']);

    const idle = new UnitOfWork(storage);
    await idle.finish(true);
    await idle.finish(false);
  });

  it('refuses begin() and writes after finish', async () => {
    const unit = new UnitOfWork(storage);
    await unit.finish(true);
    await assert.rejects(unit.begin(), /already finished/);
    await assert.rejects(insert(unit, 'late'), /already finished/);

    const written = new UnitOfWork(storage);
    await insert(written, 'a');
    await written.finish(true);
    await assert.rejects(written.begin(), /already finished/);
    await assert.rejects(insert(written, 'late'), /already finished/);
    assert.deepEqual(await names(), ['a']);
  });

  it('releases the writer lock on finish, so the next unit can write', async () => {
    for (let i = 0; i < 5; i++) {
      const unit = new UnitOfWork(storage);
      await insert(unit, `n${i}`);
      await unit.finish(i % 2 === 0);
    }
    assert.deepEqual(await names(), ['n0', 'n2', 'n4']);
  });

  it("makes a second unit's write wait until the first finishes, without interleaving", async () => {
    const first = new UnitOfWork(storage);
    const second = new UnitOfWork(storage);
    const log: string[] = [];

    await insert(first, 'a1', 'first');
    log.push('first wrote a1');
    const secondWrite = insert(second, 'b1', 'second').then(() => log.push('second wrote b1'));
    assert.equal(await settledWithin(secondWrite), 'pending', 'the second write must wait for the first unit');

    await insert(first, 'a2', 'first');
    log.push('first wrote a2');
    // Reads through the storage see neither unit's uncommitted rows, and do not wait.
    assert.deepEqual(await settledWithin(names()), []);
    assert.equal(await settledWithin(secondWrite), 'pending');

    await first.finish(true);
    log.push('first finished');
    await secondWrite;
    // The second unit sees what the first committed.
    assert.deepEqual(await names(second), ['a1', 'a2', 'b1']);
    assert.deepEqual(await names(), ['a1', 'a2']);
    await second.finish(true);

    assert.deepEqual(log, ['first wrote a1', 'first wrote a2', 'first finished', 'second wrote b1']);
    assert.deepEqual(await names(), ['a1', 'a2', 'b1']);
  });

  it('lets a unit still waiting for the lock finish once the holder does', async () => {
    const holder = new UnitOfWork(storage);
    await insert(holder, 'h');
    const waiter = new UnitOfWork(storage);
    const waiting = insert(waiter, 'w');
    const finishing = waiter.finish(false);
    assert.equal(await settledWithin(finishing), 'pending');
    await holder.finish(true);
    await finishing;
    // A write still in flight when its unit finishes is never applied (it may fail or be rolled back).
    await Promise.allSettled([waiting]);
    // The waiter's write is not committed and the lock is free again.
    assert.deepEqual(await names(), ['h']);
    const next = await settledWithin(storage.begin());
    assert.notEqual(next, 'pending');
    if (next !== 'pending') await next.rollback();
  });

  it('serialises many concurrent units: each sees a consistent counter', async () => {
    await insert(storage, 'counter', '0');
    const bump = async () => {
      const unit = new UnitOfWork(storage);
      await unit.begin();
      const row = await unit.get<{ writer: string }>('SELECT "writer" FROM "tabNote" WHERE "name" = ?', ['counter']);
      await new Promise((resolve) => setImmediate(resolve));
      await unit.run('UPDATE "tabNote" SET "writer" = ? WHERE "name" = ?', [String(Number(row?.writer) + 1), 'counter']);
      await unit.finish(true);
    };
    await Promise.all(Array.from({ length: 20 }, bump));
    assert.deepEqual(await storage.get('SELECT "writer" FROM "tabNote" WHERE "name" = ?', ['counter']), { writer: '20' });
  });
});
