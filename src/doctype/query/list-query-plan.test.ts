/**
 * How SQLite plans a compiled list query: a small page ordered by an indexed column walks the
 * index. With the page length as a literal `LIMIT 1`, SQLite scanned and sorted the whole
 * table instead (milliseconds at a few hundred thousand rows, where the index takes
 * microseconds): the shape of every `get_value` and `exists`-style lookup.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SqliteStorage } from '../../storage/sqlite/sqlite-storage.ts';
import { buildListQuery } from './build-list-query.ts';
import { createTable, insert, makeContext, Task } from './fixtures.test.ts';

let storage: SqliteStorage;

before(async () => {
  storage = new SqliteStorage({ path: ':memory:' });
  await createTable(storage, Task);
  await storage.run('CREATE INDEX "tabTask_modified" ON "tabTask" ("modified")');
  const statuses = ['Open', 'Closed', 'Open', 'Cancelled'];
  await storage.transaction(async (tx) => {
    for (let i = 0; i < 1000; i++) {
      const modified = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString().replace('T', ' ').replace('Z', '000');
      await insert(tx as SqliteStorage, Task, { name: `t${i}`, status: statuses[i % 4] ?? null, modified, creation: modified });
    }
  });
  // Statistics as a serving site has them (`PRAGMA optimize` at migration and hourly).
  await storage.optimize();
});
after(() => storage.close());

test('a page of 1, 2 or 20 rows ordered by an indexed column walks the index, never a scan and sort', async () => {
  for (const limit of [1, 2, 20]) {
    const query = buildListQuery({ doctype: 'Task', fields: ['name'], filters: [['status', '=', 'Open']], order_by: 'modified desc', limit }, makeContext(storage));
    const plan = (await storage.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${query.sql}`, query.params)).map((row) => row.detail).join(' | ');
    assert.match(plan, /USING INDEX "?tabTask_modified/, `limit ${limit}: ${plan}`);
    assert.doesNotMatch(plan, /TEMP B-TREE/, `limit ${limit}: ${plan}`);
    const rows = await storage.all(query.sql, query.params);
    assert.equal(rows.length, limit);
    assert.equal((rows[0] as { name: string }).name, 't998', 'the most recently modified Open task first');
  }
});
