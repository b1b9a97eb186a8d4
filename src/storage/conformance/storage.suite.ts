/**
 * The storage conformance suite: every Storage adapter must pass it unchanged. Each test opens
 * a fresh storage through `open()` and calls `cleanup()` afterwards (which must cope with a
 * storage the test has already closed).
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { UniqueViolation, type Storage, type TableSpec } from '../types.ts';

export interface OpenedStorage {
  storage: Storage;
  cleanup: () => Promise<void>;
}

export interface StorageConformanceOptions {
  /**
   * True when reads through the Storage wait for an open transaction to end (SQLite
   * `:memory:`, one connection). Otherwise a read must answer while a transaction is open.
   */
  serialisedReads?: boolean;
}

const TIMEOUT = 30_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with the promise's value, or rejects when it takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const values: TableSpec = {
  name: 'tabValue Types',
  columns: [
    { name: 'name', kind: 'varchar', primaryKey: true },
    { name: 's', kind: 'text' },
    { name: 'i', kind: 'bigint' },
    { name: 'f', kind: 'float' },
  ],
};

const todo: TableSpec = {
  name: 'tabTo Do',
  columns: [
    { name: 'name', kind: 'varchar', length: 140, primaryKey: true },
    { name: 'description', kind: 'text' },
    { name: 'status', kind: 'varchar', length: 20, notNull: true, defaultSql: "'Open'" },
    { name: 'idx', kind: 'int', notNull: true, defaultSql: '0' },
    { name: 'due date', kind: 'varchar' },
  ],
  indexes: [{ name: 'tabTo Do_status', columns: ['status'] }],
};

const users: TableSpec = {
  name: 'tabUser',
  columns: [
    { name: 'name', kind: 'varchar', primaryKey: true },
    { name: 'email', kind: 'varchar', notNull: true },
    { name: 'full name', kind: 'varchar' },
  ],
  indexes: [{ name: 'tabUser_email_unique', columns: ['email'], unique: true }],
};

const counter: TableSpec = {
  name: 'counter',
  columns: [
    { name: 'name', kind: 'varchar', primaryKey: true },
    { name: 'n', kind: 'bigint', notNull: true, defaultSql: '0' },
  ],
};

export function runStorageConformance(
  name: string,
  open: () => Promise<OpenedStorage>,
  options: StorageConformanceOptions = {},
): void {
  /** A test with a fresh storage, cleaned up afterwards whatever happens. */
  const it = (title: string, fn: (storage: Storage, t: TestContext) => Promise<void>) =>
    test(title, { timeout: TIMEOUT }, async (t) => {
      const { storage, cleanup } = await open();
      try {
        await fn(storage, t);
      } finally {
        await cleanup();
      }
    });

  describe(`storage conformance: ${name}`, () => {
    describe('values and statements', () => {
      it('round-trips strings, including unicode, quotes and question marks', async (storage) => {
        await storage.ensureTable(values);
        const strings = [
          'plain',
          '',
          'unicode: héllo wörld — 日本語 🎉 \u{1F9EA}',
          `quotes ' '' " "" \` and a backslash \\ and \\'`,
          'question? marks ?? and $1 and :name',
          'line\nbreak\ttab',
          'x'.repeat(10_000),
        ];
        for (const [index, s] of strings.entries()) {
          await storage.run('INSERT INTO "tabValue Types" ("name", "s") VALUES (?, ?)', [`s${index}`, s]);
        }
        for (const [index, s] of strings.entries()) {
          const row = await storage.get<{ s: string }>('SELECT "s" FROM "tabValue Types" WHERE "name" = ?', [`s${index}`]);
          assert.equal(row?.s, s);
        }
        // A value is never SQL: the quotes above did not end the literal.
        const count = await storage.get<{ c: number }>('SELECT COUNT(*) AS c FROM "tabValue Types"');
        assert.equal(count?.c, strings.length);
      });

      it('round-trips integers (including beyond 32 bits and bigint parameters) as numbers', async (storage) => {
        await storage.ensureTable(values);
        const integers: Array<[number | bigint, number]> = [
          [0, 0],
          [1, 1],
          [-1, -1],
          [2_147_483_648, 2_147_483_648],
          [-2_147_483_649, -2_147_483_649],
          [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
          [Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
          [1_234_567_890_123n, 1_234_567_890_123],
        ];
        for (const [index, [input]] of integers.entries()) {
          await storage.run('INSERT INTO "tabValue Types" ("name", "i") VALUES (?, ?)', [`i${index}`, input]);
        }
        for (const [index, [, expected]] of integers.entries()) {
          const row = await storage.get<{ i: unknown }>('SELECT "i" FROM "tabValue Types" WHERE "name" = ?', [`i${index}`]);
          assert.equal(row?.i, expected);
        }
        // Aggregates come back as numbers too.
        const sum = await storage.get<{ c: unknown; m: unknown }>(
          'SELECT COUNT(*) AS c, MAX("i") AS m FROM "tabValue Types"',
        );
        assert.deepEqual(sum, { c: integers.length, m: Number.MAX_SAFE_INTEGER });
      });

      it('round-trips floats exactly', async (storage) => {
        await storage.ensureTable(values);
        const floats = [1.5, -0.25, 0.1 + 0.2, Math.PI, 1e-300, 1.7976931348623157e308, 123456.789, 2 ** 60];
        for (const [index, f] of floats.entries()) {
          await storage.run('INSERT INTO "tabValue Types" ("name", "f") VALUES (?, ?)', [`f${index}`, f]);
        }
        for (const [index, f] of floats.entries()) {
          const row = await storage.get<{ f: unknown }>('SELECT "f" FROM "tabValue Types" WHERE "name" = ?', [`f${index}`]);
          assert.equal(row?.f, f);
        }
      });

      it('round-trips null and matches it with IS NULL', async (storage) => {
        await storage.ensureTable(values);
        await storage.run('INSERT INTO "tabValue Types" ("name", "s", "i", "f") VALUES (?, ?, ?, ?)', ['n', null, null, null]);
        const row = await storage.get('SELECT "s", "i", "f" FROM "tabValue Types" WHERE "name" = ?', ['n']);
        assert.deepEqual(row, { s: null, i: null, f: null });
        const rows = await storage.all('SELECT "name" FROM "tabValue Types" WHERE "s" IS NULL AND "i" IS NULL');
        assert.deepEqual(rows, [{ name: 'n' }]);
      });

      it('all() returns rows in order, get() returns the first or undefined, run() counts changes', async (storage) => {
        await storage.ensureTable(values);
        for (const [name, i] of [['b', 2], ['a', 1], ['c', 3]] as const) {
          const result = await storage.run('INSERT INTO "tabValue Types" ("name", "i") VALUES (?, ?)', [name, i]);
          assert.equal(result.changes, 1);
        }
        assert.deepEqual(await storage.all('SELECT "name", "i" FROM "tabValue Types" ORDER BY "i"'), [
          { name: 'a', i: 1 },
          { name: 'b', i: 2 },
          { name: 'c', i: 3 },
        ]);
        assert.deepEqual(await storage.all('SELECT "name" FROM "tabValue Types" WHERE "i" > ?', [10]), []);
        assert.deepEqual(await storage.get('SELECT "name" FROM "tabValue Types" ORDER BY "i" DESC'), { name: 'c' });
        assert.equal(await storage.get('SELECT "name" FROM "tabValue Types" WHERE "name" = ?', ['zzz']), undefined);
        assert.equal((await storage.run('UPDATE "tabValue Types" SET "s" = ? WHERE "i" >= ?', ['x', 2])).changes, 2);
        assert.equal((await storage.run('UPDATE "tabValue Types" SET "s" = ? WHERE "i" > ?', ['x', 99])).changes, 0);
        assert.equal((await storage.run('DELETE FROM "tabValue Types" WHERE "name" <> ?', ['a'])).changes, 2);
        assert.deepEqual(await storage.all('SELECT "name" FROM "tabValue Types"'), [{ name: 'a' }]);
      });

      it('all() returns the rows of INSERT … RETURNING', async (storage) => {
        await storage.ensureTable(values);
        const rows = await storage.all('INSERT INTO "tabValue Types" ("name", "i") VALUES (?, ?) RETURNING "name", "i"', [
          'r',
          7,
        ]);
        assert.deepEqual(rows, [{ name: 'r', i: 7 }]);
      });

      it('a ? inside a string literal is not a placeholder', async (storage) => {
        await storage.ensureTable(values);
        await storage.run(`INSERT INTO "tabValue Types" ("name", "s") VALUES (?, 'what?')`, ['lit']);
        await storage.run(`INSERT INTO "tabValue Types" ("name", "s", "i") VALUES ('it''s ?', ?, ?)`, ['x?', 5]);
        assert.deepEqual(await storage.get('SELECT "s" FROM "tabValue Types" WHERE "name" = ?', ['lit']), { s: 'what?' });
        const rows = await storage.all(
          `SELECT "name", "s", "i" FROM "tabValue Types" WHERE ("s" = 'x?' OR "s" = ?) AND "name" <> '?' ORDER BY "name"`,
          ['what?'],
        );
        assert.deepEqual(rows, [
          { name: "it's ?", s: 'x?', i: 5 },
          { name: 'lit', s: 'what?', i: null },
        ]);
      });

      it('the like operator of the dialect matches case-insensitively', async (storage) => {
        await storage.ensureTable(values);
        await storage.run('INSERT INTO "tabValue Types" ("name", "s") VALUES (?, ?), (?, ?)', ['a', 'Hello World', 'b', 'bye']);
        const rows = await storage.all(
          `SELECT "name" FROM "tabValue Types" WHERE "s" ${storage.dialect.likeOperator} ?`,
          ['hello%'],
        );
        assert.deepEqual(rows, [{ name: 'a' }]);
      });

      it('a failing statement rejects and the storage stays usable', async (storage) => {
        await assert.rejects(storage.all('SELECT * FROM "no such table"'));
        await assert.rejects(storage.run('NOT SQL AT ALL'));
        await storage.ensureTable(values);
        await storage.run('INSERT INTO "tabValue Types" ("name") VALUES (?)', ['ok']);
        assert.deepEqual(await storage.get('SELECT "name" FROM "tabValue Types"'), { name: 'ok' });
      });
    });

    describe('identifiers', () => {
      it('tables and columns whose names hold spaces work', async (storage) => {
        await storage.ensureTable(todo);
        await storage.run('INSERT INTO "tabTo Do" ("name", "description", "due date") VALUES (?, ?, ?)', [
          'TD-1',
          'buy milk',
          '2024-01-31',
        ]);
        const row = await storage.get('SELECT "name", "due date", "status", "idx" FROM "tabTo Do" WHERE "due date" = ?', [
          '2024-01-31',
        ]);
        assert.deepEqual(row, { name: 'TD-1', 'due date': '2024-01-31', status: 'Open', idx: 0 });
      });

      it('dialect.quote quotes metadata names and rejects ", ?, ; and other characters', async (storage) => {
        const { quote } = storage.dialect;
        assert.equal(quote('tabTo Do'), '"tabTo Do"');
        assert.equal(quote('due_date'), '"due_date"');
        for (const bad of ['a"b', '"', 'a?b', '?', 'a;b', 'x; DROP TABLE y', "a'b", 'a\nb', '', 'a\u0000b']) {
          assert.throws(() => quote(bad), TypeError, JSON.stringify(bad));
        }
        assert.ok(['sqlite', 'postgres'].includes(storage.dialect.name));
      });
    });

    describe('transactions', () => {
      it('transaction() commits when the function resolves and returns its value', async (storage) => {
        await storage.ensureTable(todo);
        const result = await storage.transaction(async (tx) => {
          await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1']);
          await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-2']);
          // A transaction sees its own writes.
          return (await tx.get<{ c: number }>('SELECT COUNT(*) AS c FROM "tabTo Do"'))?.c;
        });
        assert.equal(result, 2);
        assert.deepEqual(await storage.all('SELECT "name" FROM "tabTo Do" ORDER BY "name"'), [
          { name: 'TD-1' },
          { name: 'TD-2' },
        ]);
      });

      it('transaction() rolls back when the function throws, and rethrows the same error', async (storage) => {
        await storage.ensureTable(todo);
        await storage.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['kept']);
        const failure = new Error('boom');
        await assert.rejects(
          storage.transaction(async (tx) => {
            await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['lost']);
            await tx.run('UPDATE "tabTo Do" SET "description" = ? WHERE "name" = ?', ['changed', 'kept']);
            throw failure;
          }),
          (error) => error === failure,
        );
        assert.deepEqual(await storage.all('SELECT "name", "description" FROM "tabTo Do"'), [
          { name: 'kept', description: null },
        ]);
      });

      it('a failed statement inside a transaction rejects and the transaction still rolls back cleanly', async (storage) => {
        await storage.ensureTable(users);
        await storage.run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u1', 'a@example.com']);
        await assert.rejects(
          storage.transaction(async (tx) => {
            await tx.run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u2', 'b@example.com']);
            await tx.run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u3', 'a@example.com']);
          }),
          UniqueViolation,
        );
        assert.deepEqual(await storage.all('SELECT "name" FROM "tabUser"'), [{ name: 'u1' }]);
        // The connection went back to a usable state.
        await storage.transaction(async (tx) => {
          await tx.run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u4', 'd@example.com']);
        });
        assert.equal((await storage.get<{ c: number }>('SELECT COUNT(*) AS c FROM "tabUser"'))?.c, 2);
      });

      it('begin() … commit() by hand: open flips, later use rejects, ending twice is harmless', async (storage) => {
        await storage.ensureTable(todo);
        const tx = await storage.begin();
        assert.equal(tx.open, true);
        assert.equal(tx.dialect.name, storage.dialect.name);
        assert.equal((await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1'])).changes, 1);
        assert.deepEqual(await tx.all('SELECT "name" FROM "tabTo Do"'), [{ name: 'TD-1' }]);
        await tx.commit();
        assert.equal(tx.open, false);
        await tx.commit();
        await tx.rollback();
        // (async wrappers: a synchronous throw is checked separately below)
        await assert.rejects(async () => tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-2']));
        await assert.rejects(async () => tx.all('SELECT 1'));
        await assert.rejects(async () => tx.get('SELECT 1'));
        assert.deepEqual(await storage.all('SELECT "name" FROM "tabTo Do"'), [{ name: 'TD-1' }]);
      });

      it('begin() … rollback() by hand discards the writes', async (storage) => {
        await storage.ensureTable(todo);
        const tx = await storage.begin();
        await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1']);
        await tx.rollback();
        assert.equal(tx.open, false);
        await assert.rejects(async () => tx.get('SELECT 1'));
        assert.deepEqual(await storage.all('SELECT "name" FROM "tabTo Do"'), []);
        // The storage is usable for further transactions.
        const again = await storage.begin();
        await again.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-2']);
        await again.commit();
        assert.deepEqual(await storage.all('SELECT "name" FROM "tabTo Do"'), [{ name: 'TD-2' }]);
      });

      it('an ended transaction answers with rejected promises, never a synchronous throw', async (storage) => {
        const tx = await storage.begin();
        await tx.rollback();
        const calls = {
          run: () => tx.run('SELECT 1'),
          all: () => tx.all('SELECT 1'),
          get: () => tx.get('SELECT 1'),
        };
        const synchronous: string[] = [];
        for (const [method, call] of Object.entries(calls)) {
          let promise: Promise<unknown>;
          try {
            promise = call();
          } catch {
            synchronous.push(`${method}()`);
            continue;
          }
          await assert.rejects(promise);
        }
        assert.deepEqual(synchronous, [], 'on an ended transaction these threw synchronously instead of rejecting');
      });

      it('a committed write is visible to reads through the storage', async (storage) => {
        await storage.ensureTable(todo);
        const tx = await storage.begin();
        await tx.run('INSERT INTO "tabTo Do" ("name", "description") VALUES (?, ?)', ['TD-1', 'first']);
        await tx.commit();
        assert.deepEqual(await storage.get('SELECT "description" FROM "tabTo Do" WHERE "name" = ?', ['TD-1']), {
          description: 'first',
        });
        const count = await storage.get<{ c: number }>('SELECT COUNT(*) AS c FROM "tabTo Do"');
        assert.equal(count?.c, 1);
      });

      it('an uncommitted write is not visible to reads through the storage while the transaction is open', async (storage) => {
        await storage.ensureTable(todo);
        await storage.run('INSERT INTO "tabTo Do" ("name", "description") VALUES (?, ?)', ['TD-0', 'before']);

        for (const end of ['commit', 'rollback'] as const) {
          const tx = await storage.begin();
          await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', [`TD-${end}`]);
          await tx.run('UPDATE "tabTo Do" SET "description" = ? WHERE "name" = ?', [`during ${end}`, 'TD-0']);
          assert.ok(await tx.get('SELECT "name" FROM "tabTo Do" WHERE "name" = ?', [`TD-${end}`]));

          const read = storage
            .all<{ name: string; description: string | null }>('SELECT "name", "description" FROM "tabTo Do" ORDER BY "name"')
            .then((rows) => ({ rows, whileOpen: tx.open }));
          const expectedBefore = end === 'commit' ? 'before' : 'during commit';
          const previous = end === 'commit' ? [] : [{ name: 'TD-commit', description: null }];

          if (options.serialisedReads) {
            // The read waits for the transaction; it must then see exactly the ended state.
            await sleep(50);
            await tx[end]();
            const { rows } = await within(read, 5000, 'a read after the transaction ended');
            const after =
              end === 'commit'
                ? [{ name: 'TD-0', description: 'during commit' }, { name: 'TD-commit', description: null }]
                : [{ name: 'TD-0', description: 'during commit' }, ...previous];
            assert.deepEqual(rows, after);
          } else {
            const { rows, whileOpen } = await within(read, 5000, 'a read while a transaction is open');
            assert.equal(whileOpen, true);
            assert.deepEqual(rows, [{ name: 'TD-0', description: expectedBefore }, ...previous]);
            await tx[end]();
          }
        }
        assert.deepEqual(await storage.all('SELECT "name", "description" FROM "tabTo Do" ORDER BY "name"'), [
          { name: 'TD-0', description: 'during commit' },
          { name: 'TD-commit', description: null },
        ]);
      });

      it('concurrent read-then-write transactions lose no update', async (storage) => {
        await storage.ensureTable(counter);
        await storage.run('INSERT INTO "counter" ("name", "n") VALUES (?, ?)', ['hits', 0]);
        // PostgreSQL needs the row lock SQLite's serialised transactions give for free.
        const lock = storage.dialect.name === 'postgres' ? ' FOR UPDATE' : '';
        const increments = Array.from({ length: 20 }, () =>
          storage.transaction(async (tx) => {
            const row = await tx.get<{ n: number }>(`SELECT "n" FROM "counter" WHERE "name" = ?${lock}`, ['hits']);
            assert.ok(row);
            await sleep(1);
            await tx.run('UPDATE "counter" SET "n" = ? WHERE "name" = ?', [row.n + 1, 'hits']);
          }),
        );
        await within(Promise.all(increments), 20_000, '20 concurrent transactions');
        assert.deepEqual(await storage.get('SELECT "n" FROM "counter" WHERE "name" = ?', ['hits']), { n: 20 });
      });

      it('concurrent transactions and autocommit reads all complete', async (storage) => {
        await storage.ensureTable(todo);
        const work = Array.from({ length: 12 }, (_, i) =>
          i % 3 === 0
            ? storage.all('SELECT "name" FROM "tabTo Do"')
            : storage.transaction(async (tx) => {
                await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', [`TD-${i}`]);
              }),
        );
        await within(Promise.all(work), 20_000, 'concurrent work');
        assert.equal((await storage.get<{ c: number }>('SELECT COUNT(*) AS c FROM "tabTo Do"'))?.c, 8);
      });
    });

    describe('unique violations', () => {
      it('a duplicate in a unique index rejects with UniqueViolation naming the column', async (storage) => {
        await storage.ensureTable(users);
        await storage.run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u1', 'a@example.com']);
        const error = await storage
          .run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u2', 'a@example.com'])
          .then(
            () => assert.fail('expected a UniqueViolation'),
            (caught: unknown) => caught,
          );
        assert.ok(error instanceof UniqueViolation, String(error));
        assert.equal(error.column, 'email');
        assert.equal(error.table, 'tabUser');
        assert.match(error.message, /email/);
      });

      it('a duplicate primary key rejects with UniqueViolation naming the column, in and out of transactions', async (storage) => {
        await storage.ensureTable(todo);
        await storage.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1']);
        const outside = await storage.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1']).catch((e: unknown) => e);
        assert.ok(outside instanceof UniqueViolation, String(outside));
        assert.equal(outside.column, 'name');
        assert.equal(outside.table, 'tabTo Do');

        const tx = await storage.begin();
        const inside = await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1']).catch((e: unknown) => e);
        await tx.rollback();
        assert.ok(inside instanceof UniqueViolation, String(inside));
        assert.equal(inside.column, 'name');
      });
    });

    describe('schema', () => {
      it('ensureTable creates a table, then adds new columns and indexes and keeps the rows', async (storage) => {
        await storage.ensureTable(todo);
        await storage.run('INSERT INTO "tabTo Do" ("name", "description", "idx") VALUES (?, ?, ?)', ['TD-1', 'kept', 3]);
        await storage.ensureTable(todo); // idempotent

        const grown: TableSpec = {
          ...todo,
          columns: [
            ...todo.columns,
            { name: 'priority', kind: 'varchar', length: 20, defaultSql: "'Medium'" },
            { name: 'estimate', kind: 'float' },
            { name: 'payload', kind: 'json' },
            { name: 'count', kind: 'int', notNull: true, defaultSql: '1' },
          ],
          indexes: [...(todo.indexes ?? []), { name: 'tabTo Do_priority', columns: ['priority', 'status'] }],
        };
        await storage.ensureTable(grown);
        await storage.ensureTable(grown); // idempotent again

        assert.deepEqual(
          await storage.get('SELECT "name", "description", "idx", "priority", "estimate", "payload", "count" FROM "tabTo Do"'),
          { name: 'TD-1', description: 'kept', idx: 3, priority: 'Medium', estimate: null, payload: null, count: 1 },
        );
        await storage.run('INSERT INTO "tabTo Do" ("name", "estimate", "payload") VALUES (?, ?, ?)', [
          'TD-2',
          2.5,
          '{"a":[1,2]}',
        ]);
        assert.deepEqual(await storage.get('SELECT "estimate", "payload", "priority" FROM "tabTo Do" WHERE "name" = ?', ['TD-2']), {
          estimate: 2.5,
          payload: '{"a":[1,2]}',
          priority: 'Medium',
        });
        const columns = (await storage.columns('tabTo Do')).map((c) => c.name);
        assert.deepEqual(columns, grown.columns.map((c) => c.name));
        const indexes = await storage.indexNames('tabTo Do');
        assert.deepEqual(indexes, ['tabTo Do_priority', 'tabTo Do_status']);
      });

      it('ensureTable drops the retired indexes present, keeps the others and the rows', async (storage) => {
        const indexed: TableSpec = { ...todo, indexes: [...(todo.indexes ?? []), { name: 'tabTo Do_description', columns: ['description'] }] };
        await storage.ensureTable(indexed);
        await storage.run('INSERT INTO "tabTo Do" ("name", "description") VALUES (?, ?)', ['TD-1', 'kept']);
        await storage.ensureTable({ ...todo, retiredIndexes: ['tabTo Do_description', 'tabTo Do_never_made'] });
        assert.deepEqual(await storage.indexNames('tabTo Do'), ['tabTo Do_status']);
        assert.deepEqual(await storage.all('SELECT "name", "description" FROM "tabTo Do"'), [{ name: 'TD-1', description: 'kept' }]);
      });

      it('ensureTable adds a unique index that is then enforced', async (storage) => {
        const plain: TableSpec = { ...users, indexes: [] };
        await storage.ensureTable(plain);
        await storage.run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u1', 'a@example.com']);
        await storage.ensureTable(users);
        assert.deepEqual(await storage.indexNames('tabUser'), ['tabUser_email_unique']);
        await assert.rejects(
          storage.run('INSERT INTO "tabUser" ("name", "email") VALUES (?, ?)', ['u2', 'a@example.com']),
          UniqueViolation,
        );
      });

      it('tableNames, columns and indexNames describe the schema', async (storage) => {
        assert.deepEqual(await storage.tableNames(), []);
        assert.deepEqual(await storage.columns('tabMissing'), []);
        assert.deepEqual(await storage.indexNames('tabMissing'), []);

        await storage.ensureTable(users);
        await storage.ensureTable(todo);
        await storage.ensureTable(counter);
        assert.deepEqual(await storage.tableNames(), ['counter', 'tabTo Do', 'tabUser']);

        const columns = await storage.columns('tabUser');
        assert.deepEqual(columns.map((c) => c.name), ['name', 'email', 'full name']);
        for (const column of columns) {
          assert.equal(typeof column.type, 'string');
          assert.ok(column.type.length > 0, `type of ${column.name}`);
          assert.equal(column.type, column.type.toLowerCase());
        }
        const kinds = await storage.columns('counter');
        assert.match(kinds.find((c) => c.name === 'n')?.type ?? '', /int/);
        assert.deepEqual(await storage.indexNames('tabUser'), ['tabUser_email_unique']);
        assert.deepEqual(await storage.indexNames('counter'), []);
      });
    });

    describe('lifecycle', () => {
      it('ping() answers true', async (storage) => {
        assert.equal(await storage.ping(), true);
      });

      it('close() waits for an open transaction to end', async (storage) => {
        await storage.ensureTable(todo);
        const tx = await storage.begin();
        await tx.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1']);
        let closed = false;
        const closing = storage.close().then(() => (closed = true));
        await sleep(50);
        assert.equal(closed, false);
        await tx.commit();
        await within(closing, 5000, 'close()');
        assert.equal(closed, true);
      });

      it('after close() the storage rejects work and ping() answers false', async (storage) => {
        await storage.ensureTable(todo);
        await storage.close();
        await assert.rejects(storage.all('SELECT "name" FROM "tabTo Do"'));
        await assert.rejects(storage.get('SELECT 1'));
        await assert.rejects(storage.run('INSERT INTO "tabTo Do" ("name") VALUES (?)', ['TD-1']));
        await assert.rejects(storage.begin());
        await assert.rejects(storage.transaction(async () => undefined));
        assert.equal(await storage.ping(), false);
      });
    });
  });
}
