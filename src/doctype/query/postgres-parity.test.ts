/**
 * The compiled SQL on PostgreSQL: the same rows as on SQLite for every operator and NULL rule,
 * joins, aggregates and paging; grouping mistakes answered as DataError rather than database
 * errors; and random field / order / group text that compiles always runs. Uses a fresh schema
 * of the database at CORTADO_TEST_PG_URL (skipped when unset, as the storage conformance suite).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { FrappeError } from '../../core/errors.ts';
// Runs the compiled SQL on the real PostgreSQL adapter; tests may pick an adapter, the code may not.
 
import { createSchema, dropSchema, PostgresStorage } from '../../storage/postgres/postgres-storage.ts';
import type { Row } from '../../storage/types.ts';
import { buildListQuery, type ListQueryInput } from './build-list-query.ts';
import { makeContext, seed, seedInto } from './fixtures.test.ts';

const url = process.env.CORTADO_TEST_PG_URL;

/** Filters whose results must be the same on both databases (compared as name lists). */
const FILTERS: unknown[] = [
  { status: 'Open' },
  { status: '' },
  { status: null },
  [['status', '!=', 'Open']],
  [['status', '<>', '']],
  ['subject', '=', 'Write spec'],
  [['qty', '>', 3]],
  [['qty', '!=', 5]],
  { qty: 0 },
  [['qty', '<', 2.5]],
  [['qty', 'between', ['1.5', '5.5']]],
  [['qty', '>', 1e300]],
  [['idx', 'in', [1, '2.5', 3]]],
  [['amount', '>=', '20']],
  { done: 'true' },
  { done: '0' },
  [['rating', '!=', 1]],
  [['docstatus', '=', 0]],
  [['subject', 'like', '%SPEC']],
  [['subject', 'like', '%\\%%']],
  [['subject', 'like', 'under\\_s%']],
  [['subject', 'like', '%\\']],
  [['subject', 'not like', '%spec']],
  [['qty', 'like', '1%']],
  [['done', 'like', '1%']],
  [['status', 'in', ['Open', 'Closed']]],
  [['status', 'in', 'Open, Closed']],
  [['status', 'in', []]],
  [['status', 'in', ['Open', '']]],
  [['status', 'not in', ['Open']]],
  [['qty', 'in', ['5', 10]]],
  [['status', 'is', 'set']],
  [['status', 'is', 'not set']],
  [['qty', 'is', 'set']],
  [['due_date', 'is', 'set']],
  { due_date: '2024-05-15' },
  [['due_date', '<', '2024-05-15']],
  [['due_date', '>=', '2024-05-15 18:00']],
  { reminder_at: '2024-05-20' },
  [['reminder_at', '>', '2024-05-15T08:00:00+02:00']],
  [['start_time', '>', '12:00']],
  [['modified', '>', '2024-05-14']],
  [['creation', '<', '2024-01-01']],
  [['due_date', 'between', ['2024-05-14', '2024-05-15']]],
  [['reminder_at', 'between', ['2024-05-14', '2024-05-14']]],
  [['creation', 'between', ['2024-05-10', '2024-05-11']]],
  [['due_date', 'between', ['2024-05-14']]],
  [['subject', 'between', ['A', 'Z']]],
  [['due_date', 'timespan', 'this week']],
  [['due_date', 'timespan', 'last month']],
  [['creation', 'previous', '1 week']],
  [['reminder_at', 'timespan', 'today']],
  [['Task Item', 'item_code', '=', 'A']],
  [['item_code', '=', 'B']],
  [['items.rate', '>', 15]],
  [['assigned_to.full_name', 'like', 'alan%']],
];

/** Whole queries compared row by row (ordered on columns without NULLs: NULL order differs). */
const QUERIES: Omit<ListQueryInput, 'doctype'>[] = [
  { fields: ['status', 'count(name) as n', 'sum(qty) as total'], group_by: 'status', filters: [['status', 'is', 'set']], order_by: 'n desc, status asc' },
  { fields: ['count(*)'] },
  { fields: ['count(name)', 'count(distinct priority) as p', 'max(qty) as hi', 'min(qty) as lo', 'avg(qty) as mean'] },
  { fields: ['items.item_code', 'sum(items.qty) as q'], group_by: 'items.item_code', filters: [['items.item_code', 'is', 'set']], order_by: 'q desc' },
  { fields: ['name', 'items.*', 'assigned_to.full_name as who'], order_by: 'name, items.idx' },
  { fields: '*', limit: 2, limit_start: 1, order_by: 'idx desc' },
  { fields: ['name', 'assigned_to.full_name'], filters: [['name', 'in', ['t1', 't2', 't4']]], order_by: 'name' },
  { fields: ['name'], order_by: 'name', limit: '2', limit_start: '4' },
  { fields: ['name'], or_filters: { status: 'Closed', qty: ['>', 6] }, filters: { done: 0 }, order_by: 'name' },
  { fields: ['name', 'status'], group_by: 'name', order_by: 'name' },
];

if (!url) {
  test('list queries on PostgreSQL', { skip: 'CORTADO_TEST_PG_URL is not set: PostgreSQL tests skipped' }, () => {});
} else {
  const pgUrl = url;
  describe('list queries on PostgreSQL match SQLite', () => {
    let lite: Awaited<ReturnType<typeof seed>>;
    let pgs: PostgresStorage;
    const schema = `cortado_query_${randomBytes(6).toString('hex')}`;

    before(async () => {
      lite = await seed();
      await createSchema(pgUrl, schema);
      pgs = new PostgresStorage({ url: pgUrl, schema, poolSize: 2 });
      await seedInto(pgs);
    });

    after(async () => {
      await lite?.close();
      await pgs?.close();
      await dropSchema(pgUrl, schema);
    });

    async function both(input: ListQueryInput): Promise<[Row[], Row[]]> {
      const onLite = buildListQuery(input, makeContext(lite));
      const onPg = buildListQuery(input, makeContext(pgs));
      return [await lite.all(onLite.sql, onLite.params), await pgs.all(onPg.sql, onPg.params)];
    }

    test('filters select the same rows', async () => {
      for (const filters of FILTERS) {
        const [a, b] = await both({ doctype: 'Task', fields: ['name'], filters, order_by: 'name asc' });
        assert.deepEqual(b, a, JSON.stringify(filters));
      }
    });

    test('fields, joins, aggregates and paging give the same rows', async () => {
      for (const input of QUERIES) {
        const [a, b] = await both({ doctype: 'Task', ...input });
        assert.deepEqual(b, a, JSON.stringify(input));
      }
      const [a, b] = await both({ doctype: 'Sales Order', fields: ['name', '`tabOrder Line`.product'], filters: [['Order Line', 'product', '=', 'Q']] });
      assert.deepEqual(b, a);
      const [c, d] = await both({ doctype: 'Task Item', parentDoctype: 'Task', fields: ['name'], order_by: 'name' });
      assert.deepEqual(d, c);
    });

    test('ungrouped columns next to aggregates are a DataError on PostgreSQL', () => {
      const refused = (input: Omit<ListQueryInput, 'doctype'>, column: RegExp) =>
        assert.throws(
          () => buildListQuery({ doctype: 'Task', ...input }, makeContext(pgs)),
          (error: unknown) => error instanceof FrappeError && error.excType === 'DataError' && column.test(error.message),
        );
      refused({ fields: ['status', 'count(name) as n'] }, /^status must be in group_by/);
      refused({ fields: ['status', 'priority', 'count(*)'], group_by: 'status' }, /^priority/);
      refused({ fields: ['status'], group_by: 'status', order_by: 'qty desc' }, /^order_by tabTask.qty/);
      refused({ fields: ['qty'], order_by: 'count(name) desc' }, /^qty/);
      // Grouping by a table's name makes its other columns valid, as PostgreSQL allows.
      assert.doesNotThrow(() => buildListQuery({ doctype: 'Task', fields: ['name', 'status', 'count(items.name) as n'], group_by: 'name' }, makeContext(pgs)));
      // SQLite keeps MariaDB's leniency.
      assert.doesNotThrow(() => buildListQuery({ doctype: 'Task', fields: ['status', 'count(name) as n'] }, makeContext(lite)));
    });

    test('random field, order and group text that compiles runs on PostgreSQL', async () => {
      const TOKENS = [
        'name', 'status', 'qty', 'items', 'assigned_to', 'full_name', 'item_code', 'idx', 'modified', 'tabTask',
        '`tabTask`', '`tabTask Item`', '.', '(', ')', ',', ' ', '*', 'count', 'sum', 'max', 'distinct', 'as', 'n',
        'asc', 'desc', ';', "'", '"', '?', '\\',
      ];
      const tokenText = fc.array(fc.constantFrom(...TOKENS), { maxLength: 6 }).map((parts) => parts.join(''));
      const field = fc.oneof(
        fc.constantFrom('name', 'status', '*', 'count(name) as n', 'sum(qty)', 'items.item_code', 'assigned_to.full_name', 'tabTask.idx as i', 'items.*'),
        tokenText,
      );
      const group = fc.oneof(fc.constant(undefined), fc.constantFrom('status', 'name', 'items.item_code', 'status, priority', 'i'), tokenText);
      const order = fc.oneof(fc.constant(undefined), fc.constantFrom('name', 'n desc', 'status', 'count(name) desc', 'items.idx', 'i asc'), tokenText);
      const value = fc.oneof(fc.string({ maxLength: 10 }), fc.double(), fc.integer());
      await fc.assert(
        fc.asyncProperty(fc.array(field, { minLength: 1, maxLength: 3 }), group, order, value, async (fields, group_by, order_by, v) => {
          let query;
          try {
            query = buildListQuery(
              { doctype: 'Task', fields, group_by, order_by, filters: [['qty', '>', v], ['subject', 'like', String(v)]] },
              makeContext(pgs),
            );
          } catch (error) {
            assert.ok(error instanceof FrappeError && error.is('ValidationError'), String(error));
            return;
          }
          await pgs.all(query.sql, query.params);
        }),
        { numRuns: 300 },
      );
    });
  });
}
