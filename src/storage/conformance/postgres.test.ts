// The storage conformance suite on the PostgreSQL adapter, each test in a fresh random schema of
// the database at CORTADO_TEST_PG_URL; plus the adapter's own behaviour (placeholders, failures).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import {
  createSchema,
  dropSchema,
  PostgresStorage,
  postgresDialect,
  translatePlaceholders,
} from '../postgres/postgres-storage.ts';
import { StatementTimeout, StorageUnavailable, UniqueViolation } from '../types.ts';
import { runStorageConformance } from './storage.suite.ts';

const url = process.env.CORTADO_TEST_PG_URL;

if (!url) {
  test('postgres storage conformance', { skip: 'CORTADO_TEST_PG_URL is not set: PostgreSQL tests skipped' }, () => {});
} else {
  const pgUrl = url;
  const freshSchema = () => `cortado_test_${randomBytes(6).toString('hex')}`;

  runStorageConformance('postgres', async () => {
    const schema = freshSchema();
    await createSchema(pgUrl, schema);
    const storage = new PostgresStorage({ url: pgUrl, schema, poolSize: 5 });
    return {
      storage,
      cleanup: async () => {
        await storage.close();
        await dropSchema(pgUrl, schema);
      },
    };
  });

  describe('postgres adapter', () => {
    test('translates ? to $n outside quoted identifiers, string literals and comments', () => {
      assert.equal(translatePlaceholders('SELECT 1'), 'SELECT 1');
      assert.equal(translatePlaceholders('SELECT * FROM "t" WHERE "a" = ? AND "b" = ?'), 'SELECT * FROM "t" WHERE "a" = $1 AND "b" = $2');
      assert.equal(translatePlaceholders(`SELECT '?', ?, 'it''s ?', ?`), `SELECT '?', $1, 'it''s ?', $2`);
      assert.equal(translatePlaceholders('SELECT "a b" FROM "tabTo Do" WHERE x IN (?, ?, ?)'), 'SELECT "a b" FROM "tabTo Do" WHERE x IN ($1, $2, $3)');
      assert.equal(translatePlaceholders('SELECT ? -- why?\n, ? /* and? */ , ?'), 'SELECT $1 -- why?\n, $2 /* and? */ , $3');
      assert.equal(translatePlaceholders(`SELECT 'unterminated ?`), `SELECT 'unterminated ?`);
      assert.equal(translatePlaceholders('?'), '$1');
    });

    test('maps column kinds to PostgreSQL types and refuses identifiers it would truncate', () => {
      assert.equal(postgresDialect.columnType({ name: 'a', kind: 'varchar' }), 'varchar(140)');
      assert.equal(postgresDialect.columnType({ name: 'a', kind: 'varchar', length: 20 }), 'varchar(20)');
      assert.equal(postgresDialect.columnType({ name: 'a', kind: 'text' }), 'text');
      assert.equal(postgresDialect.columnType({ name: 'a', kind: 'json' }), 'text');
      assert.equal(postgresDialect.columnType({ name: 'a', kind: 'int' }), 'bigint');
      assert.equal(postgresDialect.columnType({ name: 'a', kind: 'bigint' }), 'bigint');
      assert.equal(postgresDialect.columnType({ name: 'a', kind: 'float' }), 'double precision');
      assert.equal(postgresDialect.likeOperator, 'ilike');
      assert.equal(postgresDialect.quote('x'.repeat(63)), `"${'x'.repeat(63)}"`);
      assert.throws(() => postgresDialect.quote('x'.repeat(64)), TypeError);
    });

    test('reports column types with lengths, lower-case', async () => {
      const schema = freshSchema();
      await createSchema(pgUrl, schema);
      const storage = new PostgresStorage({ url: pgUrl, schema });
      try {
        await storage.ensureTable({
          name: 'tabKinds',
          columns: [
            { name: 'name', kind: 'varchar', primaryKey: true },
            { name: 'short', kind: 'varchar', length: 20 },
            { name: 'i', kind: 'int' },
            { name: 'f', kind: 'float' },
            { name: 'j', kind: 'json' },
          ],
        });
        assert.deepEqual(await storage.columns('tabKinds'), [
          { name: 'name', type: 'character varying(140)' },
          { name: 'short', type: 'character varying(20)' },
          { name: 'i', type: 'bigint' },
          { name: 'f', type: 'double precision' },
          { name: 'j', type: 'text' },
        ]);
      } finally {
        await storage.close();
        await dropSchema(pgUrl, schema);
      }
    });

    test('schemas isolate storages from one another', async () => {
      const [a, b] = [freshSchema(), freshSchema()];
      await createSchema(pgUrl, a);
      await createSchema(pgUrl, b);
      const first = new PostgresStorage({ url: pgUrl, schema: a });
      const second = new PostgresStorage({ url: pgUrl, schema: b });
      try {
        await first.ensureTable({ name: 'only here', columns: [{ name: 'name', kind: 'varchar', primaryKey: true }] });
        assert.deepEqual(await first.tableNames(), ['only here']);
        assert.deepEqual(await second.tableNames(), []);
        await assert.rejects(second.all('SELECT * FROM "only here"'));
      } finally {
        await first.close();
        await second.close();
        await dropSchema(pgUrl, a);
        await dropSchema(pgUrl, b);
      }
    });

    test('concurrent ensureTable calls for the same table all succeed', async () => {
      const schema = freshSchema();
      await createSchema(pgUrl, schema);
      const storage = new PostgresStorage({ url: pgUrl, schema });
      try {
        const spec = {
          name: 'tabRace',
          columns: [
            { name: 'name', kind: 'varchar' as const, primaryKey: true },
            { name: 'extra', kind: 'text' as const },
          ],
          indexes: [{ name: 'tabRace_extra', columns: ['extra'] }],
        };
        await Promise.all(Array.from({ length: 4 }, () => storage.ensureTable({ name: spec.name, columns: spec.columns.slice(0, 1) })));
        await Promise.all(Array.from({ length: 4 }, () => storage.ensureTable(spec)));
        assert.deepEqual((await storage.columns('tabRace')).map((c) => c.name), ['name', 'extra']);
        assert.deepEqual(await storage.indexNames('tabRace'), ['tabRace_extra']);
      } finally {
        await storage.close();
        await dropSchema(pgUrl, schema);
      }
    });

    test('a unique violation names a column whose name holds a space', async () => {
      const schema = freshSchema();
      await createSchema(pgUrl, schema);
      const storage = new PostgresStorage({ url: pgUrl, schema });
      try {
        await storage.ensureTable({
          name: 'tabPerson',
          columns: [
            { name: 'name', kind: 'varchar', primaryKey: true },
            { name: 'full name', kind: 'varchar' },
          ],
          indexes: [{ name: 'tabPerson_full_name', columns: ['full name'], unique: true }],
        });
        await storage.run('INSERT INTO "tabPerson" ("name", "full name") VALUES (?, ?)', ['a', 'Ada']);
        const error = await storage
          .run('INSERT INTO "tabPerson" ("name", "full name") VALUES (?, ?)', ['b', 'Ada'])
          .catch((e: unknown) => e);
        assert.ok(error instanceof UniqueViolation, String(error));
        assert.equal(error.column, 'full name');
        assert.equal(error.table, 'tabPerson');
      } finally {
        await storage.close();
        await dropSchema(pgUrl, schema);
      }
    });

    test('a statement sent after a failed one in the same transaction rejects, and commit() refuses', async () => {
      const schema = freshSchema();
      await createSchema(pgUrl, schema);
      const storage = new PostgresStorage({ url: pgUrl, schema });
      try {
        await storage.ensureTable({ name: 't', columns: [{ name: 'name', kind: 'varchar', primaryKey: true }] });
        const tx = await storage.begin();
        await tx.run('INSERT INTO "t" ("name") VALUES (?)', ['a']);
        await assert.rejects(tx.run('INSERT INTO "t" ("name") VALUES (?)', ['a']));
        await assert.rejects(tx.run('INSERT INTO "t" ("name") VALUES (?)', ['b']), /aborted/);
        await assert.rejects(tx.commit(), /rolled back/);
        assert.equal(tx.open, false);
        assert.deepEqual(await storage.all('SELECT "name" FROM "t"'), []);
      } finally {
        await storage.close();
        await dropSchema(pgUrl, schema);
      }
    });

    test('statementTimeoutMs: a longer statement is stopped with StatementTimeout, its transaction rolled back; schema changes are exempt', async () => {
      const schema = freshSchema();
      await createSchema(pgUrl, schema);
      const storage = new PostgresStorage({ url: pgUrl, schema, statementTimeoutMs: 300 });
      const locker = new PostgresStorage({ url: pgUrl, schema });
      try {
        const started = Date.now();
        await assert.rejects(storage.get('SELECT pg_sleep(3)'), StatementTimeout);
        assert.ok(Date.now() - started < 2500, `stopped after ${Date.now() - started} ms`);
        await storage.ensureTable({ name: 't', columns: [{ name: 'name', kind: 'varchar', primaryKey: true }] });
        const tx = await storage.begin();
        await tx.run('INSERT INTO "t" ("name") VALUES (?)', ['a']);
        await assert.rejects(tx.get('SELECT pg_sleep(3)'), StatementTimeout);
        await assert.rejects(tx.commit(), /rolled back/);
        assert.deepEqual(await storage.all('SELECT "name" FROM "t"'), []);

        // A schema change waiting longer than the timeout (here for a lock) still completes.
        const holder = await locker.begin();
        await holder.run('LOCK TABLE "t" IN ACCESS EXCLUSIVE MODE');
        const release = new Promise((resolve) => setTimeout(resolve, 800)).then(() => holder.commit());
        await storage.ensureTable({ name: 't', columns: [{ name: 'name', kind: 'varchar', primaryKey: true }], indexes: [{ name: 't_name2', columns: ['name'] }] });
        await release;
        assert.deepEqual(await storage.indexNames('t'), ['t_name2']);
        // The exemption was local to that transaction.
        assert.deepEqual(await storage.get('SHOW statement_timeout'), { statement_timeout: '300ms' });
      } finally {
        await storage.close();
        await locker.close();
        await dropSchema(pgUrl, schema);
      }
    });

    test('a connection killed during a transaction fails with StorageUnavailable; the pool recovers', async () => {
      const schema = freshSchema();
      await createSchema(pgUrl, schema);
      const storage = new PostgresStorage({ url: pgUrl, schema, poolSize: 2 });
      try {
        const tx = await storage.begin();
        const row = await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        assert.ok(row);
        await storage.get('SELECT pg_terminate_backend(?)', [row.pid]);
        await assert.rejects(tx.get('SELECT 1'), StorageUnavailable);
        await tx.rollback();
        assert.equal(await storage.ping(), true);
        await storage.transaction(async (again) => {
          assert.ok(await again.get('SELECT 1 AS one'));
        });
      } finally {
        await storage.close();
        await dropSchema(pgUrl, schema);
      }
    });

    test('an unreachable server fails fast with StorageUnavailable and ping() answers false', async () => {
      const storage = new PostgresStorage({ url: 'postgres://postgres@127.0.0.1:1/test' });
      try {
        const started = Date.now();
        await assert.rejects(storage.get('SELECT 1'), StorageUnavailable);
        await assert.rejects(storage.begin(), StorageUnavailable);
        await assert.rejects(storage.ensureTable({ name: 't', columns: [{ name: 'a', kind: 'text' }] }), StorageUnavailable);
        assert.equal(await storage.ping(), false);
        assert.ok(Date.now() - started < 3000);
      } finally {
        await storage.close();
      }
      await assert.rejects(createSchema('postgres://postgres@127.0.0.1:1/test', 'x'), StorageUnavailable);
    });

    test('a server that never answers fails with StorageUnavailable after the connection timeout', async () => {
      const sockets = new Set<Socket>();
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      assert.ok(address && typeof address === 'object');
      const storage = new PostgresStorage({
        url: `postgres://postgres@127.0.0.1:${address.port}/test`,
        connectionTimeoutMillis: 200,
      });
      try {
        const started = Date.now();
        await assert.rejects(storage.get('SELECT 1'), StorageUnavailable);
        assert.equal(await storage.ping(), false);
        assert.ok(Date.now() - started < 2000);
      } finally {
        await storage.close();
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });
}
