import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrappeError, type ExcType } from '../../core/errors.ts';
import { quoteIdentifier, type Dialect } from '../../storage/types.ts';
import { Order, Task, makeContext } from './fixtures.test.ts';
import { QueryScope } from './parse-fields.ts';
import {
  compileCondition,
  flt,
  normalizeFilters,
  normalizeOperator,
  OPERATORS,
  type FilterOptions,
  type RawCondition,
} from './parse-filters.ts';

const dialect: Dialect = { name: 'sqlite', quote: quoteIdentifier, likeOperator: 'like', columnType: () => 'TEXT' };
const options: FilterOptions = { today: '2024-05-15', weekStart: 0, likeOperator: 'like' };

function throwsFrappe(fn: () => unknown, excType: ExcType, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FrappeError, `expected FrappeError, got ${String(error)}`);
    assert.equal(error.excType, excType, error.message);
    assert.equal(error.status, 417);
    if (message) assert.match(error.message, message);
    return true;
  });
}

function compile(condition: RawCondition, meta = Task, opts = options) {
  const scope = new QueryScope(makeContext({ dialect }), meta);
  const fragment = compileCondition(condition, scope, opts);
  return fragment && { ...fragment, joins: scope.joinSql() };
}

test('normalizeFilters: dict form', () => {
  assert.deepEqual(normalizeFilters({ status: 'Open', modified: ['>', '2024-01-01'] }), [
    { field: 'status', operator: '=', value: 'Open' },
    { field: 'modified', operator: '>', value: '2024-01-01' },
  ]);
  assert.deepEqual(normalizeFilters('{"status": null}'), [{ field: 'status', operator: '=', value: null }]);
});

test('normalizeFilters: list forms', () => {
  assert.deepEqual(normalizeFilters([['status', '=', 'Open'], ['Task Item', 'qty', '>', 1], ['status', 'Open']]), [
    { field: 'status', operator: '=', value: 'Open' },
    { doctype: 'Task Item', field: 'qty', operator: '>', value: 1 },
    { field: 'status', operator: '=', value: 'Open' },
  ]);
  // A single flat condition
  assert.deepEqual(normalizeFilters(['status', 'in', ['Open', 'Closed']]), [
    { field: 'status', operator: 'in', value: ['Open', 'Closed'] },
  ]);
  // Frappe desk's fifth element is dropped
  assert.deepEqual(normalizeFilters('[["Task", "status", "=", "Open", false]]'), [
    { doctype: 'Task', field: 'status', operator: '=', value: 'Open' },
  ]);
  // Dicts inside lists
  assert.deepEqual(normalizeFilters([{ status: 'Open' }, ['qty', '>', 1]]), [
    { field: 'status', operator: '=', value: 'Open' },
    { field: 'qty', operator: '>', value: 1 },
  ]);
  for (const empty of [undefined, null, '', '[]', '{}', [], {}]) assert.deepEqual(normalizeFilters(empty), []);
});

test('normalizeFilters refuses malformed input', () => {
  throwsFrappe(() => normalizeFilters('[["status", "=", "Open"]'), 'ValidationError', /JSON/);
  throwsFrappe(() => normalizeFilters('status = "Open"'), 'ValidationError');
  throwsFrappe(() => normalizeFilters(42), 'ValidationError');
  throwsFrappe(() => normalizeFilters(true), 'ValidationError');
  throwsFrappe(() => normalizeFilters([['status']]), 'ValidationError', /Invalid filter/);
  throwsFrappe(() => normalizeFilters([[]]), 'ValidationError');
  // Frappe runs a string entry as raw SQL; cortado refuses it.
  throwsFrappe(() => normalizeFilters([['status', '=', 'x'], '1=1']), 'ValidationError');
  throwsFrappe(() => normalizeFilters([[1, '=', 'x']]), 'DataError');
  throwsFrappe(() => normalizeFilters([[{}, 'status', '=', 'x']]), 'DataError');
  throwsFrappe(() => normalizeFilters(Array.from({ length: 501 }, () => ['status', 'x'])), 'ValidationError', /Too many/);
});

test('normalizeOperator: case-insensitive, else "Operator must be one of"', () => {
  assert.equal(normalizeOperator('LIKE'), 'like');
  assert.equal(normalizeOperator(' Not   In '), 'not in');
  assert.equal(normalizeOperator('Timespan'), 'timespan');
  assert.equal(normalizeOperator('<>'), '<>');
  for (const op of OPERATORS) assert.equal(normalizeOperator(op), op);
  assert.equal(normalizeOperator(''), '=', 'missing operator is = (frappe get_filter)');
  assert.equal(normalizeOperator(null), '=');
  assert.equal(normalizeOperator(undefined), '=');
  for (const bad of ['==', 'regexp', 'glob', 'is not', 'contains', ' ', 1, 0, false, ['='], '= 1 OR 1=1', 'in (select 1)']) {
    throwsFrappe(() => normalizeOperator(bad), 'ValidationError', /^Operator must be one of =, !=, <>, >, <, >=, <=, like/);
  }
});

test('flt follows frappe.utils.flt', () => {
  assert.equal(flt('1,000.5'), 1000.5);
  assert.equal(flt(' 7 '), 7);
  assert.equal(flt('abc'), 0);
  assert.equal(flt('1 OR 1=1'), 0);
  assert.equal(flt(''), 0);
  assert.equal(flt(null), 0);
  assert.equal(flt(Infinity), 0);
  assert.equal(flt(true), 1);
  assert.equal(flt('-2.5e2'), -250);
  assert.equal(flt('.5'), 0.5);
  for (const junk of ['0x10', '0b1', 'Infinity', '1e999', 'NaN', '1 2', '--1']) assert.equal(flt(junk), 0, junk);
});

test('text columns are compared through coalesce except = / like with a value', () => {
  assert.deepEqual(compile({ field: 'status', operator: '=', value: 'Open' }), {
    sql: '"tabTask"."status" = ?',
    params: ['Open'],
    joins: { sql: '', params: [] },
  });
  assert.deepEqual(compile({ field: 'status', operator: '=', value: '' })?.sql, 'coalesce("tabTask"."status", ?) = ?');
  assert.deepEqual(compile({ field: 'status', operator: '=', value: null })?.params, ['', '']);
  assert.deepEqual(compile({ field: 'status', operator: '!=', value: 'Open' }), {
    sql: 'coalesce("tabTask"."status", ?) <> ?',
    params: ['', 'Open'],
    joins: { sql: '', params: [] },
  });
  assert.equal(compile({ field: 'status', operator: '<>', value: 'Open' })?.sql, 'coalesce("tabTask"."status", ?) <> ?');
  assert.equal(compile({ field: 'subject', operator: '>', value: 'M' })?.sql, 'coalesce("tabTask"."subject", ?) > ?');
  assert.equal(compile({ field: 'subject', operator: 'like', value: '%a%' })?.sql, '"tabTask"."subject" like ? ESCAPE ?');
  assert.equal(compile({ field: 'subject', operator: 'like', value: '' })?.sql, 'coalesce("tabTask"."subject", ?) like ? ESCAPE ?');
  assert.equal(compile({ field: 'subject', operator: 'not like', value: '%a%' })?.sql, 'coalesce("tabTask"."subject", ?) NOT like ? ESCAPE ?');
  assert.deepEqual(compile({ field: 'subject', operator: 'like', value: '%a%' })?.params, ['%a%', '\\']);
});

test('name, creation, modified and numeric columns are never wrapped', () => {
  assert.equal(compile({ field: 'name', operator: '!=', value: 'x' })?.sql, '"tabTask"."name" <> ?');
  assert.equal(compile({ field: 'creation', operator: '<', value: '2024-01-01' })?.sql, '"tabTask"."creation" < ?');
  assert.deepEqual(compile({ field: 'modified', operator: '>', value: '2024-01-01' })?.params, ['2024-01-01 00:00:00.000000']);
  assert.deepEqual(compile({ field: 'qty', operator: '!=', value: '5' }), {
    sql: '"tabTask"."qty" <> ?',
    params: [5],
    joins: { sql: '', params: [] },
  });
  assert.deepEqual(compile({ field: 'done', operator: '=', value: 'true' })?.params, [1]);
  assert.deepEqual(compile({ field: 'done', operator: '=', value: false })?.params, [0]);
  assert.deepEqual(compile({ field: 'amount', operator: '>=', value: '1,000.50' })?.params, [1000.5]);
  assert.deepEqual(compile({ field: 'qty', operator: '=', value: "1' OR '1'='1" })?.params, [0]);
  // Rating is numeric but Frappe compares it through ifnull(col, 0)
  assert.deepEqual(compile({ field: 'rating', operator: '!=', value: 1 }), {
    sql: 'coalesce("tabTask"."rating", ?) <> ?',
    params: [0, 1],
    joins: { sql: '', params: [] },
  });
  assert.equal(compile({ field: 'qty', operator: 'like', value: '1%' })?.sql, 'CAST("tabTask"."qty" AS TEXT) like ? ESCAPE ?');
  // Fractions against integer columns are cast, so PostgreSQL does not read them as integers.
  assert.equal(compile({ field: 'qty', operator: '>', value: 1.5 })?.sql, '"tabTask"."qty" > CAST(? AS DOUBLE PRECISION)');
  assert.equal(compile({ field: 'qty', operator: '>', value: 2 })?.sql, '"tabTask"."qty" > ?');
  assert.equal(compile({ field: 'amount', operator: '>', value: 1.5 })?.sql, '"tabTask"."amount" > ?');
  assert.equal(compile({ field: 'idx', operator: 'in', value: [1, '2.5'] })?.sql, '"tabTask"."idx" IN (?, CAST(? AS DOUBLE PRECISION))');
  assert.equal(
    compile({ field: 'qty', operator: 'between', value: [0.5, 3] })?.sql,
    '"tabTask"."qty" BETWEEN CAST(? AS DOUBLE PRECISION) AND ?',
  );
});

test('date, datetime and time values are normalised and fall back to Frappe\'s minimum', () => {
  assert.deepEqual(compile({ field: 'due_date', operator: '=', value: '2024-05-15 10:00' })?.params, ['2024-05-15']);
  assert.deepEqual(compile({ field: 'due_date', operator: '!=', value: '2024-05-15' })?.params, ['0001-01-01', '2024-05-15']);
  assert.deepEqual(compile({ field: 'reminder_at', operator: '<', value: '2024-05-15' })?.params, [
    '0001-01-01 00:00:00.000000',
    '2024-05-15 00:00:00.000000',
  ]);
  assert.deepEqual(compile({ field: 'start_time', operator: '>', value: '9:30' })?.params, ['00:00:00', '09:30:00']);
  throwsFrappe(() => compile({ field: 'due_date', operator: '=', value: 'not a date' }), 'ValidationError', /not a valid date/);
  throwsFrappe(() => compile({ field: 'status', operator: '=', value: ['Open'] }), 'ValidationError', /Invalid value/);
  throwsFrappe(() => compile({ field: 'status', operator: '=', value: { a: 1 } }), 'ValidationError');
});

test('in / not in take lists or comma strings; coalesce only when empty values are sought', () => {
  assert.deepEqual(compile({ field: 'status', operator: 'in', value: ['Open', 'Closed'] })?.sql, '"tabTask"."status" IN (?, ?)');
  assert.deepEqual(compile({ field: 'status', operator: 'in', value: 'Open, Closed' })?.params, ['Open', 'Closed']);
  assert.deepEqual(compile({ field: 'status', operator: 'in', value: ['Open', ''] }), {
    sql: 'coalesce("tabTask"."status", ?) IN (?, ?)',
    params: ['', 'Open', ''],
    joins: { sql: '', params: [] },
  });
  assert.deepEqual(compile({ field: 'status', operator: 'in', value: [] })?.params, ['', '']);
  assert.deepEqual(compile({ field: 'status', operator: 'not in', value: ['Open'] })?.sql, 'coalesce("tabTask"."status", ?) NOT IN (?)');
  assert.deepEqual(compile({ field: 'qty', operator: 'in', value: ['1', 2] }), {
    sql: '"tabTask"."qty" IN (?, ?)',
    params: [1, 2],
    joins: { sql: '', params: [] },
  });
  throwsFrappe(() => compile({ field: 'name', operator: 'in', value: Array(5001).fill('x') }), 'ValidationError', /Too many values/);
});

test('is set / is not set', () => {
  assert.deepEqual(compile({ field: 'status', operator: 'is', value: 'set' })?.sql, 'coalesce("tabTask"."status", ?) <> ?');
  assert.deepEqual(compile({ field: 'status', operator: 'IS', value: 'Not Set' })?.sql, 'coalesce("tabTask"."status", ?) = ?');
  assert.deepEqual(compile({ field: 'qty', operator: 'is', value: 'set' })?.params, [0, 0]);
  throwsFrappe(() => compile({ field: 'status', operator: 'is', value: 'null' }), 'ValidationError', /"is" takes/);
  throwsFrappe(() => compile({ field: 'status', operator: 'is', value: null }), 'ValidationError');
});

test('between: dates expand to whole days, missing bounds are today, numbers need both', () => {
  assert.deepEqual(compile({ field: 'reminder_at', operator: 'between', value: ['2024-05-01', '2024-05-02'] }), {
    sql: '"tabTask"."reminder_at" BETWEEN ? AND ?',
    params: ['2024-05-01 00:00:00.000000', '2024-05-02 23:59:59.999999'],
    joins: { sql: '', params: [] },
  });
  assert.deepEqual(compile({ field: 'creation', operator: 'between', value: ['2024-05-01 08:00', '2024-05-02'] })?.params, [
    '2024-05-01 08:00:00.000000',
    '2024-05-02 23:59:59.999999',
  ]);
  assert.deepEqual(compile({ field: 'due_date', operator: 'between', value: ['2024-05-01'] })?.params, ['2024-05-01', '2024-05-15']);
  assert.deepEqual(compile({ field: 'due_date', operator: 'between', value: '2024-05-01,2024-05-03' })?.params, ['2024-05-01', '2024-05-03']);
  assert.deepEqual(compile({ field: 'qty', operator: 'between', value: ['1', '5'] }), {
    sql: '"tabTask"."qty" BETWEEN ? AND ?',
    params: [1, 5],
    joins: { sql: '', params: [] },
  });
  assert.equal(compile({ field: 'subject', operator: 'between', value: ['a', 'm'] })?.sql, 'coalesce("tabTask"."subject", ?) BETWEEN ? AND ?');
  throwsFrappe(() => compile({ field: 'qty', operator: 'between', value: [1] }), 'ValidationError');
  throwsFrappe(() => compile({ field: 'qty', operator: 'between', value: [1, 2, 3] }), 'ValidationError');
  throwsFrappe(() => compile({ field: 'due_date', operator: 'between', value: { from: 1 } }), 'ValidationError');
});

test('timespan / previous / next become a date range', () => {
  assert.deepEqual(compile({ field: 'due_date', operator: 'timespan', value: 'this week' })?.params, ['2024-05-12', '2024-05-18']);
  assert.deepEqual(compile({ field: 'modified', operator: 'Timespan', value: 'Today' })?.params, [
    '2024-05-15 00:00:00.000000',
    '2024-05-15 23:59:59.999999',
  ]);
  assert.deepEqual(
    compile({ field: 'due_date', operator: 'timespan', value: 'this week' }, Task, { ...options, weekStart: 1 })?.params,
    ['2024-05-13', '2024-05-19'],
  );
  assert.deepEqual(compile({ field: 'due_date', operator: 'previous', value: '1 month' })?.params, ['2024-04-01', '2024-04-30']);
  assert.deepEqual(compile({ field: 'due_date', operator: 'next', value: '1 year' })?.params, ['2025-01-01', '2025-12-31']);
  throwsFrappe(() => compile({ field: 'due_date', operator: 'timespan', value: 'someday' }), 'ValidationError', /unknown timespan/);
  throwsFrappe(() => compile({ field: 'due_date', operator: 'previous', value: '2 weeks' }), 'ValidationError');
  throwsFrappe(() => compile({ field: 'status', operator: 'timespan', value: 'today' }), 'ValidationError', /Date or Datetime/);
});

test('like patterns keep % and _ and cannot end in a lone escape', () => {
  assert.deepEqual(compile({ field: 'subject', operator: 'like', value: '100\\%' })?.params, ['100\\%', '\\']);
  assert.deepEqual(compile({ field: 'subject', operator: 'like', value: 'ends\\' })?.params, ['ends\\\\', '\\']);
  assert.deepEqual(compile({ field: 'subject', operator: 'like', value: 'ends\\\\' })?.params, ['ends\\\\', '\\']);
  const pg = compileCondition(
    { field: 'subject', operator: 'not like', value: '%x%' },
    new QueryScope(makeContext({ dialect: { ...dialect, name: 'postgres', likeOperator: 'ilike' } }), Task),
    { ...options, likeOperator: 'ilike' },
  );
  assert.equal(pg?.sql, 'coalesce("tabTask"."subject", ?) NOT ilike ? ESCAPE ?');
});

test('tree operators are refused as not supported', () => {
  for (const op of ['descendants of', 'ancestors of', 'not descendants of', 'not ancestors of', 'descendants of (inclusive)']) {
    throwsFrappe(() => compile({ field: 'name', operator: op, value: 'x' }), 'DataError', /not supported/);
  }
});

test('child-table filters join the child table; unknown names are refused', () => {
  const viaDoctype = compile({ doctype: 'Task Item', field: 'item_code', operator: '=', value: 'A' });
  assert.equal(viaDoctype?.sql, '"t1"."item_code" = ?');
  assert.deepEqual(viaDoctype?.joins.params, ['Task', 'items']);
  assert.equal(compile({ field: 'item_code', operator: '=', value: 'A' })?.sql, '"t1"."item_code" = ?', 'found on the child table');
  assert.equal(compile({ field: 'items.rate', operator: '>', value: 1 })?.sql, '"t1"."rate" > ?');
  assert.equal(compile({ field: 'assigned_to.full_name', operator: 'like', value: 'A%' })?.sql, '"t1"."full_name" like ? ESCAPE ?');
  assert.equal(compile({ doctype: 'Task', field: 'status', operator: '=', value: 'x' })?.sql, '"tabTask"."status" = ?');
  // Two Table fields on one child DocType: one join on parent + parenttype
  const order = compile({ doctype: 'Order Line', field: 'product', operator: '=', value: 'Q' }, Order);
  assert.deepEqual(order?.joins, {
    sql: 'LEFT JOIN "tabOrder Line" AS "t1" ON "t1"."parent" = "tabSales Order"."name" AND "t1"."parenttype" = ?',
    params: ['Sales Order'],
  });
  throwsFrappe(() => compile({ doctype: 'Member', field: 'full_name', operator: '=', value: 'x' }), 'DataError', /Invalid filter DocType/);
  throwsFrappe(() => compile({ doctype: 'Task Item', field: 'items.qty', operator: '=', value: 1 }), 'DataError');
  throwsFrappe(() => compile({ field: 'nope', operator: '=', value: 1 }), 'DataError', /Field not permitted in query: nope/);
  throwsFrappe(() => compile({ field: 'ref_name.x', operator: '=', value: 1 }, Order), 'DataError');
});

test('optional columns the table lacks are dropped, as Frappe does', () => {
  assert.equal(compile({ field: '_assign', operator: 'like', value: '%me%' }), null);
  assert.equal(compile({ doctype: 'Task Item', field: '_user_tags', operator: 'like', value: '%x%' }), null);
});
