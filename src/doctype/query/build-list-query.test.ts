import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FrappeError, type ExcType } from '../../core/errors.ts';
import { quoteIdentifier, type Dialect, type SqlValue } from '../../storage/types.ts';
import { buildListQuery, type ListQueryInput, type QueryContext } from './build-list-query.ts';
import { makeContext, makeMeta, Member, seed, Task, TaskItem } from './fixtures.test.ts';

const sqlite: Dialect = { name: 'sqlite', quote: quoteIdentifier, likeOperator: 'like', columnType: () => 'TEXT' };
const postgres: Dialect = { name: 'postgres', quote: quoteIdentifier, likeOperator: 'ilike', columnType: () => 'TEXT' };

function build(input: Omit<ListQueryInput, 'doctype'> & { doctype?: string }, extra: Partial<QueryContext> = {}) {
  return buildListQuery({ doctype: 'Task', ...input }, makeContext({ dialect: sqlite }, extra));
}

function throwsFrappe(fn: () => unknown, excType: ExcType, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FrappeError, `expected FrappeError, got ${String(error)}`);
    assert.equal(error.excType, excType, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('SQL shape', () => {
  test('defaults: name only, the DocType order, no WHERE, no LIMIT', () => {
    assert.deepEqual(build({}), {
      sql: 'SELECT "tabTask"."name" AS "name" FROM "tabTask" ORDER BY "tabTask"."modified" DESC',
      params: [],
      columns: ['name'],
      keys: ['name'],
    });
    const bare = makeMeta('Bare', [], { sort_field: '' });
    const query = buildListQuery({ doctype: 'Bare' }, { ...makeContext({ dialect: sqlite }), getMeta: () => bare });
    assert.equal(query.sql, 'SELECT "tabBare"."name" AS "name" FROM "tabBare" ORDER BY "tabBare"."creation" DESC');
  });

  test('all clauses in order, every value a parameter', () => {
    const query = build({
      fields: '["status", "count(name) as n"]',
      filters: '[["status", "!=", "Closed"]]',
      or_filters: { priority: 'High', qty: ['>', 3] },
      group_by: 'status',
      order_by: 'n desc',
      limit_start: '10',
      limit: 5,
      extraWhere: { sql: '"tabTask"."owner" = ?', params: ['ada@example.com'] },
    });
    assert.equal(
      query.sql,
      'SELECT "tabTask"."status" AS "status", COUNT("tabTask"."name") AS "n" FROM "tabTask" ' +
        'WHERE coalesce("tabTask"."status", ?) <> ? AND ("tabTask"."priority" = ? OR "tabTask"."qty" > ?) ' +
        'AND ("tabTask"."owner" = ?) GROUP BY "tabTask"."status" ORDER BY "n" DESC LIMIT 5 + 0 OFFSET ?',
    );
    assert.deepEqual(query.params, ['', 'Closed', 'High', 3, 'ada@example.com', 10]);
    assert.deepEqual(query.columns, ['status', 'n']);
    assert.doesNotMatch(query.sql, /'/, 'no literal in the SQL text');
  });

  test('JSON text and native JSON give the same query', () => {
    const text = build({ fields: '["name","status"]', filters: '{"status":"Open"}', or_filters: '[["qty",">",1]]' });
    const native = build({ fields: ['name', 'status'], filters: { status: 'Open' }, or_filters: [['qty', '>', 1]] });
    assert.deepEqual(text, native);
  });

  test('join parameters come before WHERE parameters', () => {
    const query = build({ fields: ['name', 'items.item_code'], filters: [['items.qty', '>', 1]], limit: 1 });
    assert.deepEqual(query.params, ['Task', 'items', 1, 0]);
    assert.equal((query.sql.match(/\?/g) ?? []).length, query.params.length);
  });

  test('order_by: empty string → no ORDER BY; explicit replaces default', () => {
    assert.doesNotMatch(build({ order_by: '' }).sql, /ORDER BY/);
    assert.match(build({ order_by: 'name asc' }).sql, /ORDER BY "tabTask"."name" ASC$/);
  });

  test('aggregates alone are not ordered; default order kept only when grouped', () => {
    assert.doesNotMatch(build({ fields: ['count(name) as c'] }).sql, /ORDER BY/);
    assert.doesNotMatch(build({ fields: ['count(*)', 'max(qty)'], order_by: 'creation desc' }).sql, /ORDER BY/);
    assert.doesNotMatch(build({ fields: ['status', 'count(*) as c'], group_by: 'status' }).sql, /ORDER BY/);
    assert.match(build({ fields: ['status', 'count(*) as c'], group_by: 'status', order_by: 'c desc' }).sql, /ORDER BY "c" DESC/);
    assert.match(build({ fields: ['modified', 'count(*) as c'], group_by: 'modified' }).sql, /ORDER BY "tabTask"."modified" DESC/);
  });

  test('limit and limit_start: non-negative integers, 0 = all', () => {
    assert.match(build({ limit: '20' }).sql, /LIMIT 20 \+ 0 OFFSET \?$/, 'the page length in the SQL, so SQLite need not re-plan per run');
    const paged = build({ limit: ' 20 ', limit_start: 40 });
    assert.match(paged.sql, /LIMIT 20 \+ 0 OFFSET \?$/);
    assert.deepEqual(paged.params, [40]);
    assert.doesNotMatch(build({ limit: 0 }).sql, /LIMIT/);
    assert.doesNotMatch(build({ limit: '0', limit_start: 5 }).sql, /LIMIT|OFFSET/, 'Frappe ignores the start without a page length');
    assert.doesNotMatch(build({ limit: null, limit_start: '' }).sql, /LIMIT/);
    for (const bad of [-1, '-1', 1.5, '1.5', '1e3', '0x10', 'abc', true, [], {}, '10 OFFSET 5', '1; DROP TABLE x', Number.MAX_VALUE, NaN]) {
      throwsFrappe(() => build({ limit: bad }), 'ValidationError', /limit must be a non-negative integer/);
      throwsFrappe(() => build({ limit: 5, limit_start: bad }), 'ValidationError', /limit_start/);
    }
  });

  test('PostgreSQL dialect: ilike', () => {
    const query = buildListQuery(
      { doctype: 'Task', filters: [['subject', 'like', '%a%'], ['status', 'not like', 'x%']] },
      makeContext({ dialect: postgres }),
    );
    assert.match(query.sql, /"tabTask"."subject" ilike \? ESCAPE \? AND coalesce\("tabTask"."status", \?\) NOT ilike \? ESCAPE \?/);
  });

  test('PostgreSQL: ungrouped columns beside aggregates are a DataError, not a database error', () => {
    const pg = (input: Omit<ListQueryInput, 'doctype'>) => buildListQuery({ doctype: 'Task', ...input }, makeContext({ dialect: postgres }));
    throwsFrappe(() => pg({ fields: ['status', 'count(name) as n'] }), 'DataError', /^status must be in group_by/);
    throwsFrappe(() => pg({ fields: ['status', 'priority', 'count(*)'], group_by: 'status' }), 'DataError', /^priority/);
    throwsFrappe(() => pg({ fields: ['status'], group_by: 'status', order_by: 'qty desc' }), 'DataError', /^order_by tabTask.qty/);
    throwsFrappe(() => pg({ fields: ['qty'], order_by: 'count(name) desc' }), 'DataError', /^qty/);
    assert.doesNotThrow(() => pg({ fields: ['status', 'count(*) as n'], group_by: 'status', order_by: 'n desc, status' }));
    assert.doesNotThrow(() => pg({ fields: ['name', 'status', 'items.item_code as c'], group_by: 'name, items.name' }), 'grouped by primary keys');
    assert.doesNotThrow(() => pg({ fields: ['status as s', 'count(*)'], group_by: 's' }), 'grouped by an alias');
    // SQLite stays as lenient as MariaDB.
    assert.doesNotThrow(() => build({ fields: ['status', 'count(name) as n'] }));
  });

  test('an aggregate in order_by without group_by or an aggregate field is a DataError on SQLite too', () => {
    throwsFrappe(() => build({ order_by: 'count(status)' }), 'DataError', /^An aggregate in order_by needs group_by/);
    throwsFrappe(() => build({ fields: ['name', 'qty'], order_by: 'sum(qty) desc' }), 'DataError', /^An aggregate in order_by/);
    assert.doesNotThrow(() => build({ fields: ['status', 'count(name) as n'], group_by: 'status', order_by: 'count(name) desc' }));
    assert.doesNotThrow(() => build({ fields: ['status', 'count(name) as n'], order_by: 'count(name) desc' }));
  });

  test('columns and keys: Frappe names, unique SQL aliases', () => {
    const query = build({ fields: ['name', 'items.name', 'count(name)', 'status as s', 'items.item_code', 'sum(qty)'] });
    assert.deepEqual(query.columns, ['name', 'name', 'count(name)', 's', 'item_code', 'sum(qty)']);
    assert.deepEqual(query.keys, ['name', 'name__2', 'col3', 's', 'item_code', 'col6']);
    assert.match(query.sql, /COUNT\("tabTask"."name"\) AS "col3"/);
    const proto = build({ fields: ['name as __proto__'] });
    assert.deepEqual([proto.columns, proto.keys], [['__proto__'], ['col1']]);
  });

  test('parentDoctype limits child rows to that parent type', () => {
    const query = buildListQuery({ doctype: 'Task Item', parentDoctype: 'Task' }, makeContext({ dialect: sqlite }));
    assert.equal(
      query.sql,
      'SELECT "tabTask Item"."name" AS "name" FROM "tabTask Item" WHERE "tabTask Item"."parenttype" = ? ORDER BY "tabTask Item"."idx" ASC',
    );
    assert.deepEqual(query.params, ['Task']);
    assert.doesNotMatch(buildListQuery({ doctype: 'Task', parentDoctype: 'X' }, makeContext({ dialect: sqlite })).sql, /parenttype/);
  });

  test('unknown and table-less DocTypes', () => {
    throwsFrappe(() => build({ doctype: 'Nope' }), 'DoesNotExistError', /DocType Nope not found/);
    throwsFrappe(() => build({ doctype: 'Task Settings' }), 'DataError');
    throwsFrappe(() => build({ doctype: '' }), 'ValidationError');
  });

  test('readableFields hides fields from fields and *, not from filters', () => {
    const readable = (meta: { name: string }) => (meta.name === 'Task' ? new Set(['subject', 'status']) : undefined);
    const query = build({ fields: ['name', 'secret', 'qty', 'status'], filters: { secret: 's1' } }, { readableFields: readable });
    assert.deepEqual(query.columns, ['name', 'status']);
    assert.match(query.sql, /WHERE "tabTask"."secret" = \?/);
    const star = build({ fields: '*' }, { readableFields: readable });
    assert.deepEqual(star.columns, ['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx', 'subject', 'status']);
    const none = build({ fields: ['secret'] }, { readableFields: readable });
    assert.deepEqual(none.columns, ['name'], 'nothing readable left: name');
  });

  test('optional columns are dropped from fields and filters', () => {
    const query = build({ fields: ['name', '_assign', '_liked_by', '_comments'], filters: [['_assign', 'like', '%me%']] });
    assert.equal(query.sql, 'SELECT "tabTask"."name" AS "name" FROM "tabTask" ORDER BY "tabTask"."modified" DESC');
  });

  test('operators: unknown → 417 ValidationError, tree → DataError', () => {
    assert.throws(
      () => build({ filters: [['status', 'regexp', 'x']] }),
      (error: unknown) =>
        error instanceof FrappeError &&
        error.excType === 'ValidationError' &&
        error.status === 417 &&
        error.message.startsWith('Operator must be one of'),
    );
    throwsFrappe(() => build({ filters: [['name', 'descendants of', 'x']] }), 'DataError', /not supported/);
  });

  test('links: Dynamic Link and unknown targets are refused', () => {
    throwsFrappe(() => buildListQuery({ doctype: 'Sales Order', fields: ['ref_name.x'] }, makeContext({ dialect: sqlite })), 'DataError');
    throwsFrappe(() => buildListQuery({ doctype: 'Sales Order', fields: ['ref_type.name'] }, makeContext({ dialect: sqlite })), 'DataError');
  });
});

describe('results on SQLite', () => {
  let storage: Awaited<ReturnType<typeof seed>>;
  before(async () => {
    storage = await seed();
  });
  after(async () => {
    await storage.close();
  });

  async function rows(input: Omit<ListQueryInput, 'doctype'> & { doctype?: string }, extra: Partial<QueryContext> = {}) {
    const query = buildListQuery({ doctype: 'Task', ...input }, makeContext(storage, extra));
    const raw = await storage.all(query.sql, query.params);
    return raw.map((row) => Object.fromEntries(query.columns.map((c, i) => [c, row[query.keys[i] ?? c]])));
  }

  async function names(filters: unknown, extra: Omit<ListQueryInput, 'doctype'> = {}): Promise<string[]> {
    const result = await rows({ fields: ['name'], filters, order_by: 'name asc', ...extra });
    return result.map((r) => String(r.name));
  }

  test('= and != / <> with Frappe\'s NULL rule', async () => {
    assert.deepEqual(await names({ status: 'Open' }), ['t1', 't3']);
    assert.deepEqual(await names({ status: '' }), ['t5', 't6'], '= "" matches NULL and empty');
    assert.deepEqual(await names({ status: null }), ['t5', 't6']);
    assert.deepEqual(await names([['status', '!=', 'Open']]), ['t2', 't4', 't5', 't6'], '!= also matches NULL');
    assert.deepEqual(await names([['status', '<>', 'Open']]), ['t2', 't4', 't5', 't6']);
    assert.deepEqual(await names([['status', '!=', '']]), ['t1', 't2', 't3', 't4']);
    assert.deepEqual(await names(['subject', '=', 'Write spec']), ['t1'], 'single flat condition');
    assert.deepEqual(await names([['subject', 'Write spec']]), ['t1'], '[field, value] pair');
  });

  test('numeric and Check columns: coerced, never coalesced', async () => {
    assert.deepEqual(await names([['qty', '>', 3]]), ['t1', 't4', 't6']);
    assert.deepEqual(await names([['qty', '>', '3']]), ['t1', 't4', 't6']);
    assert.deepEqual(await names([['qty', '!=', 5]]), ['t2', 't3', 't4', 't6'], 'NULL qty (t5) not matched');
    assert.deepEqual(await names({ qty: 0 }), ['t3']);
    assert.deepEqual(await names([['qty', '<=', 2]]), ['t2', 't3']);
    assert.deepEqual(await names([['qty', '<', 2.5]]), ['t2', 't3']);
    assert.deepEqual(await names([['qty', 'between', ['1.5', '5.5']]]), ['t1', 't2']);
    assert.deepEqual(await names([['amount', '>=', '20']]), ['t1', 't2']);
    assert.deepEqual(await names({ done: 1 }), ['t2', 't3']);
    assert.deepEqual(await names({ done: true }), ['t2', 't3']);
    assert.deepEqual(await names({ done: 'true' }), ['t2', 't3']);
    assert.deepEqual(await names({ done: '0' }), ['t1', 't4', 't6']);
    assert.deepEqual(await names([['rating', '!=', 1]]), ['t1', 't2', 't4', 't5', 't6'], 'Rating is coalesced to 0');
    assert.deepEqual(await names([['docstatus', '=', 0]]), ['t1', 't2', 't3', 't4', 't5', 't6']);
  });

  test('like / not like', async () => {
    assert.deepEqual(await names([['subject', 'like', '%spec']]), ['t1', 't2']);
    assert.deepEqual(await names([['subject', 'LIKE', 'write%']]), ['t1'], 'case-insensitive');
    assert.deepEqual(await names([['subject', 'like', '%\\%%']]), ['t3'], 'escaped % is literal');
    assert.deepEqual(await names([['subject', 'like', 'under\\_s%']]), ['t4'], 'escaped _ is literal');
    assert.deepEqual(await names([['subject', 'like', '%\\']]), [], 'trailing backslash is harmless');
    assert.deepEqual(await names([['subject', 'not like', '%spec']]), ['t3', 't4', 't5', 't6'], 'not like matches NULL');
    assert.deepEqual(await names([['qty', 'like', '1%']]), ['t4']);
  });

  test('in / not in', async () => {
    assert.deepEqual(await names([['status', 'in', ['Open', 'Closed']]]), ['t1', 't2', 't3']);
    assert.deepEqual(await names([['status', 'in', 'Open, Closed']]), ['t1', 't2', 't3']);
    assert.deepEqual(await names([['status', 'in', []]]), ['t5', 't6'], 'empty list looks for empty values');
    assert.deepEqual(await names([['status', 'in', ['Open', '']]]), ['t1', 't3', 't5', 't6']);
    assert.deepEqual(await names([['status', 'not in', ['Open']]]), ['t2', 't4', 't5', 't6']);
    assert.deepEqual(await names([['name', 'not in', 't1,t2,t3']]), ['t4', 't5', 't6']);
    assert.deepEqual(await names([['qty', 'in', ['5', 10]]]), ['t1', 't4']);
    assert.deepEqual(await names({ name: ['in', ['t2', 't9']] }), ['t2']);
  });

  test('is set / is not set', async () => {
    assert.deepEqual(await names([['status', 'is', 'set']]), ['t1', 't2', 't3', 't4']);
    assert.deepEqual(await names([['status', 'is', 'not set']]), ['t5', 't6']);
    assert.deepEqual(await names([['priority', 'is', 'not set']]), ['t4', 't5', 't6']);
    assert.deepEqual(await names([['qty', 'is', 'set']]), ['t1', 't2', 't4', 't6']);
    assert.deepEqual(await names([['due_date', 'is', 'set']]), ['t1', 't2', 't3', 't4']);
  });

  test('dates, datetimes and times', async () => {
    assert.deepEqual(await names({ due_date: '2024-05-15' }), ['t1']);
    assert.deepEqual(await names([['due_date', '<', '2024-05-15']]), ['t2', 't4', 't5', 't6'], 'NULL dates compare as 0001-01-01');
    assert.deepEqual(await names([['due_date', '>', '2024-05-14']]), ['t1', 't3']);
    assert.deepEqual(await names([['due_date', '>=', '2024-05-15 18:00']]), ['t1', 't3']);
    assert.deepEqual(await names({ reminder_at: '2024-05-20' }), ['t3'], 'date-only = midnight');
    assert.deepEqual(await names([['reminder_at', '>', '2024-05-15T08:00:00+02:00']]), ['t1', 't3'], 'zone converted to UTC');
    assert.deepEqual(await names([['start_time', '>', '12:00']]), ['t2', 't3']);
    assert.deepEqual(await names([['modified', '>', '2024-05-14']]), ['t1', 't2', 't5']);
    assert.deepEqual(await names([['creation', '<', '2024-01-01']]), ['t6']);
  });

  test('between', async () => {
    assert.deepEqual(await names([['due_date', 'between', ['2024-05-14', '2024-05-15']]]), ['t1', 't2']);
    assert.deepEqual(await names([['reminder_at', 'between', ['2024-05-14', '2024-05-14']]]), ['t2'], 'to-date covers the whole day');
    assert.deepEqual(await names([['creation', 'between', ['2024-05-10', '2024-05-11']]]), ['t1', 't2']);
    assert.deepEqual(await names([['due_date', 'between', ['2024-05-14']]]), ['t1', 't2'], 'missing bound = today');
    assert.deepEqual(await names([['qty', 'between', [2, 5]]]), ['t1', 't2']);
    assert.deepEqual(await names([['subject', 'between', ['A', 'Z']]]), ['t1', 't2']);
    assert.deepEqual(await names([['subject', 'between', ['', '2']]]), ['t3', 't5', 't6'], 'NULL compares as ""');
  });

  test('timespan, previous, next', async () => {
    assert.deepEqual(await names([['due_date', 'timespan', 'today']]), ['t1']);
    assert.deepEqual(await names([['due_date', 'Timespan', 'This Week']]), ['t1', 't2']);
    assert.deepEqual(await names([['due_date', 'timespan', 'this week']], {}), ['t1', 't2']);
    assert.deepEqual(await names([['due_date', 'timespan', 'next week']]), ['t3']);
    assert.deepEqual(await names([['due_date', 'timespan', 'last month']]), ['t4']);
    assert.deepEqual(await names([['due_date', 'timespan', 'yesterday']]), ['t2']);
    assert.deepEqual(await names([['due_date', 'timespan', 'last 7 days']]), ['t1', 't2']);
    assert.deepEqual(await names([['creation', 'timespan', 'this year']]), ['t1', 't2', 't3', 't4', 't5']);
    assert.deepEqual(await names([['creation', 'previous', '1 week']]), ['t1', 't2'], 'last calendar week, Sunday start');
    assert.deepEqual(await names([['due_date', 'next', '1 month']]), []);
    assert.deepEqual(await names([['reminder_at', 'timespan', 'today']]), ['t1']);
    // Week starting Monday: 2024-05-13..19 still holds t1 and t2, and next week holds t3.
    const monday = makeContext(storage, { firstDayOfWeek: 1 });
    const query = buildListQuery({ doctype: 'Task', filters: [['due_date', 'timespan', 'this week']], order_by: 'name' }, monday);
    assert.deepEqual((await storage.all(query.sql, query.params)).map((r) => r.name), ['t1', 't2']);
  });

  test('or_filters are ORed in one group and ANDed with filters', async () => {
    assert.deepEqual(await names(undefined, { or_filters: [['status', '=', 'Closed'], ['qty', '>', 6]] }), ['t2', 't4', 't6']);
    assert.deepEqual(await names({ done: 0 }, { or_filters: { status: 'Closed', qty: ['>', 6] } }), ['t4', 't6']);
  });

  test('child-table filters and fields', async () => {
    assert.deepEqual(await names([['Task Item', 'item_code', '=', 'A']]), ['t1', 't2'], 'other parenttype rows never join');
    assert.deepEqual(await names([['item_code', '=', 'B']]), ['t1'], 'a name found on the child table');
    assert.deepEqual(await names([['items.rate', '>', 15]]), ['t1', 't2']);
    const lines = await rows({ fields: ['name', 'items.item_code', 'items.qty as q'], filters: { name: 't1' }, order_by: 'items.idx asc' });
    assert.deepEqual(lines, [
      { name: 't1', item_code: 'A', q: 1 },
      { name: 't1', item_code: 'B', q: 2 },
    ]);
    const tab = await rows({ fields: ['`tabTask Item`.item_code', 'tabTask.name'], filters: { name: 't2' } });
    assert.deepEqual(tab, [{ item_code: 'A', name: 't2' }]);
    // A parent without children still appears once (LEFT JOIN).
    const none = await rows({ fields: ['name', 'items.item_code'], filters: { name: 't3' } });
    assert.deepEqual(none, [{ name: 't3', item_code: null }]);
  });

  test('child doctypes under two Table fields', async () => {
    const ctx = makeContext(storage);
    const run = async (input: Omit<ListQueryInput, 'doctype'>) => {
      const query = buildListQuery({ doctype: 'Sales Order', order_by: 'name', ...input }, ctx);
      return storage.all(query.sql, query.params);
    };
    assert.deepEqual(await run({ fields: ['name', 'lines.product'] }), [
      { name: 'so1', product: 'P' },
      { name: 'so2', product: null },
    ]);
    assert.deepEqual(await run({ fields: ['name', 'extra_lines.product'], filters: { name: 'so1' } }), [{ name: 'so1', product: 'Q' }]);
    assert.deepEqual(await run({ filters: [['Order Line', 'product', '=', 'Q']] }), [{ name: 'so1' }]);
    assert.deepEqual(await run({ fields: ['`tabOrder Line`.product'], filters: { name: 'so1' }, order_by: '`tabOrder Line`.product' }), [
      { product: 'P' },
      { product: 'Q' },
    ]);
  });

  test('listing a child DocType with its parent', async () => {
    const query = buildListQuery(
      { doctype: 'Task Item', fields: ['name', 'parent'], parentDoctype: 'Task', order_by: 'name' },
      makeContext(storage),
    );
    assert.deepEqual((await storage.all(query.sql, query.params)).map((r) => r.name), ['i1', 'i2', 'i3']);
  });

  test('link fields join the linked DocType', async () => {
    assert.deepEqual(await rows({ fields: ['name', 'assigned_to.full_name'], filters: [['name', 'in', ['t1', 't2', 't4']]], order_by: 'name' }), [
      { name: 't1', full_name: 'Ada Lovelace' },
      { name: 't2', full_name: 'Alan Turing' },
      { name: 't4', full_name: null },
    ]);
    assert.deepEqual(await names([['assigned_to.full_name', 'like', 'Alan%']]), ['t2']);
    assert.deepEqual(
      await rows(
        { fields: ['name', 'assigned_to.full_name as who', 'assigned_to.salary'], filters: { name: 't1' } },
        { readableFields: (meta) => (meta === Member ? new Set(['full_name']) : undefined) },
      ),
      [{ name: 't1', who: 'Ada Lovelace' }],
      'fields of the linked DocType obey readableFields',
    );
  });

  test('aggregates with group_by and ordering by alias', async () => {
    assert.deepEqual(await rows({ fields: ['status', 'count(name) as n', 'sum(qty) as total'], group_by: 'status', order_by: 'n desc, status asc' }), [
      { status: 'Open', n: 2, total: 5 },
      { status: null, n: 1, total: null },
      { status: '', n: 1, total: 7 },
      { status: 'Cancelled', n: 1, total: 10 },
      { status: 'Closed', n: 1, total: 2 },
    ]);
    assert.deepEqual(await rows({ fields: ['count(*)'] }), [{ 'count(*)': 6 }]);
    assert.deepEqual(await rows({ fields: ['count(name)', 'count(distinct priority) as p', 'max(qty) as hi', 'min(qty) as lo', 'avg(qty) as mean'] }), [
      { 'count(name)': 6, p: 3, hi: 10, lo: 0, mean: 24 / 5 },
    ]);
    assert.deepEqual(await rows({ fields: ['items.item_code', 'sum(items.qty) as q'], group_by: 'items.item_code', filters: [['items.item_code', 'is', 'set']], order_by: 'q desc' }), [
      { item_code: 'A', q: 4 },
      { item_code: 'B', q: 2 },
    ]);
  });

  test('ordering and paging', async () => {
    const order = async (order_by: string, extra: Omit<ListQueryInput, 'doctype'> = {}) =>
      (await rows({ fields: ['name'], order_by, ...extra })).map((r) => r.name);
    assert.deepEqual(await order('qty desc, name asc'), ['t4', 't6', 't1', 't2', 't3', 't5']);
    assert.deepEqual(await order('`tabTask`.`creation` asc'), ['t6', 't4', 't1', 't2', 't3', 't5']);
    assert.deepEqual(await order('name', { limit: 2, limit_start: 2 }), ['t3', 't4']);
    assert.deepEqual(await order('name', { limit: '2', limit_start: '4' }), ['t5', 't6']);
    assert.deepEqual(await order('name', { limit: 10, limit_start: 6 }), []);
    assert.deepEqual(await order('name', { limit: 0 }), ['t1', 't2', 't3', 't4', 't5', 't6']);
    // Default: sort_field modified desc
    assert.deepEqual((await rows({})).map((r) => r.name), ['t2', 't5', 't1', 't3', 't4', 't6']);
  });

  test('fields *', async () => {
    const [row] = await rows({ fields: '*', filters: { name: 't1' } });
    assert.equal(row?.subject, 'Write spec');
    assert.equal(row?.qty, 5);
    assert.equal(row?.idx, 1);
    assert.ok(row && !('items' in row) && !('sb1' in row));
    const [child] = await rows({ doctype: 'Task Item', fields: ['*'], filters: { name: 'i1' } });
    assert.deepEqual(
      Object.keys(child ?? {}),
      ['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx', 'parent', 'parentfield', 'parenttype', 'item_code', 'qty', 'rate'],
    );
    const [items] = await rows({ fields: ['name', 'items.*'], filters: { name: 't2' } });
    assert.equal(items?.item_code, 'A');
    assert.equal(items?.parent, 't2');
  });

  test('extraWhere is ANDed with the client\'s conditions', async () => {
    const extraWhere = { sql: '"tabTask"."assigned_to" = ?', params: ['m1'] as SqlValue[] };
    assert.deepEqual(await names(undefined, { extraWhere }), ['t1', 't3']);
    assert.deepEqual(await names(undefined, { extraWhere, or_filters: [['status', '=', 'Closed'], ['qty', '=', 0]] }), ['t3']);
  });

  test('TaskItem metadata sanity for these tests', () => {
    assert.equal(TaskItem.istable, true);
    assert.equal(Task.fieldMap.get('items')?.options, 'Task Item');
  });
});
