import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrappeError, type ExcType } from '../../core/errors.ts';
import { quoteIdentifier, type Dialect } from '../../storage/types.ts';
import { Member, Task, TaskItem, makeContext } from './fixtures.test.ts';
import {
  allColumns,
  columnInfo,
  compileFields,
  normalizeFieldsParam,
  parseColumnRef,
  parseFieldSpec,
  QueryScope,
} from './parse-fields.ts';

const dialect: Dialect = { name: 'sqlite', quote: quoteIdentifier, likeOperator: 'like', columnType: () => 'TEXT' };

function throwsFrappe(fn: () => unknown, excType: ExcType, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FrappeError, `expected FrappeError, got ${String(error)}`);
    assert.equal(error.excType, excType);
    assert.equal(error.status, 417);
    if (message) assert.match(error.message, message);
    return true;
  });
}

test('parseColumnRef: plain, backticked and dotted names', () => {
  assert.deepEqual(parseColumnRef('status'), { column: 'status', text: 'status' });
  assert.deepEqual(parseColumnRef(' `status` '), { column: 'status', text: '`status`' });
  assert.deepEqual(parseColumnRef('tabTask.status'), { prefix: 'tabTask', column: 'status', text: 'tabTask.status' });
  assert.deepEqual(parseColumnRef('`tabTask Item`.`item_code`'), {
    prefix: 'tabTask Item',
    column: 'item_code',
    text: '`tabTask Item`.`item_code`',
  });
  assert.deepEqual(parseColumnRef('items.qty'), { prefix: 'items', column: 'qty', text: 'items.qty' });
  assert.deepEqual(parseColumnRef('items.*', { allowStar: true }), { prefix: 'items', column: '*', text: 'items.*' });
});

test('parseColumnRef refuses anything but names', () => {
  const bad = [
    '', ' ', 'a.b.c', 'a b', '`a`b', '``', '`a', 'a`', "a'b", 'a"b', '"a"', 'a;', 'a--', 'a/*', 'a)', '(a)', 'a,b',
    'items.*', '*', '.a', 'a.', '`a.b`', 'a\nb', 'a\u0000', '`tab`Task`.x', '`a;b`', '`a`.`b`.`c`', 'x'.repeat(400),
  ];
  for (const text of bad) throwsFrappe(() => parseColumnRef(text), 'DataError', /Invalid field name/);
});

test('parseFieldSpec: columns, aliases, star and the allowed aggregates', () => {
  assert.deepEqual(parseFieldSpec('name'), { kind: 'column', ref: { column: 'name', text: 'name' }, text: 'name' });
  assert.deepEqual(parseFieldSpec('*'), { kind: 'star', text: '*' });
  assert.equal(parseFieldSpec('items.*').kind, 'star');
  assert.deepEqual(parseFieldSpec('status as s'), {
    kind: 'column',
    ref: { column: 'status', text: 'status' },
    text: 'status',
    alias: 's',
  });
  assert.equal(parseFieldSpec('status AS `s`').alias, 's');
  assert.deepEqual(parseFieldSpec('count(*)'), { kind: 'aggregate', fn: 'count', distinct: false, arg: '*', text: 'count(*)' });
  assert.deepEqual(parseFieldSpec(' COUNT( name ) AS c '), {
    kind: 'aggregate',
    fn: 'count',
    distinct: false,
    arg: { column: 'name', text: 'name' },
    text: 'COUNT( name )',
    alias: 'c',
  });
  const distinct = parseFieldSpec('count(DISTINCT status) as n');
  assert.ok(distinct.kind === 'aggregate' && distinct.distinct && distinct.alias === 'n');
  for (const fn of ['sum', 'avg', 'min', 'max', 'Sum', 'MAX']) {
    const spec = parseFieldSpec(`${fn}(\`tabTask\`.\`qty\`) as v`);
    assert.ok(spec.kind === 'aggregate' && spec.fn === fn.toLowerCase());
  }
});

test('parseFieldSpec refuses functions, sub-queries and bad aliases', () => {
  const bad: [string, RegExp][] = [
    ['concat(name, status)', /restricted/],
    ['ifnull(name, 1)', /restricted/],
    ['version()', /restricted/],
    ['sleep(5)', /restricted/],
    ['count(name, status)', /Invalid field name/],
    ['count((name))', /Invalid field name/],
    ['count(select 1)', /Invalid field name/],
    ['sum(*)', /Invalid field name/],
    ['sum(distinct qty)', /Invalid field name/],
    ['count(distinct *)', /Invalid field name/],
    ['count(*) + 1', /Invalid field name/],
    ['name as 1x', /Invalid alias/],
    ['name as "x"', /Invalid alias/],
    ["name as 'x'", /Invalid alias/],
    ['name as x;', /Invalid alias/],
    ['name as x y', /Invalid field name/],
    ['* as everything', /Invalid field name/],
    ['name as', /Invalid field name/],
    ['distinct name', /Invalid field name/],
    ['name from tabTask', /Invalid field name/],
    ['name; drop table x', /Invalid field name/],
  ];
  for (const [text, message] of bad) throwsFrappe(() => parseFieldSpec(text), 'DataError', message);
});

test('normalizeFieldsParam accepts JSON text, native lists, "*" and comma lists', () => {
  assert.deepEqual(normalizeFieldsParam(undefined), ['name']);
  assert.deepEqual(normalizeFieldsParam(null), ['name']);
  assert.deepEqual(normalizeFieldsParam(''), ['name']);
  assert.deepEqual(normalizeFieldsParam('[]'), ['name']);
  assert.deepEqual(normalizeFieldsParam([]), ['name']);
  assert.deepEqual(normalizeFieldsParam('*'), ['*']);
  assert.deepEqual(normalizeFieldsParam('["name", "status"]'), ['name', 'status']);
  assert.deepEqual(normalizeFieldsParam(['name', 'count(name) as c']), ['name', 'count(name) as c']);
  assert.deepEqual(normalizeFieldsParam('"status"'), ['status']);
  assert.deepEqual(normalizeFieldsParam('name, status'), ['name', 'status']);
  throwsFrappe(() => normalizeFieldsParam({ name: 1 }), 'DataError');
  throwsFrappe(() => normalizeFieldsParam('{"name": 1}'), 'DataError');
  throwsFrappe(() => normalizeFieldsParam(42), 'DataError');
  throwsFrappe(() => normalizeFieldsParam([1]), 'DataError');
  throwsFrappe(() => normalizeFieldsParam([['name']]), 'DataError');
  throwsFrappe(() => normalizeFieldsParam(Array(501).fill('name')), 'DataError', /Too many fields/);
});

test('columnInfo knows standard, child and value columns with their kinds', () => {
  assert.deepEqual(columnInfo(Task, 'name'), { field: undefined, kind: 'text', nullable: false, standard: true });
  assert.equal(columnInfo(Task, 'modified')?.kind, 'datetime');
  assert.equal(columnInfo(Task, 'modified')?.nullable, false);
  assert.equal(columnInfo(Task, 'docstatus')?.kind, 'number');
  assert.equal(columnInfo(Task, 'owner')?.nullable, true);
  assert.equal(columnInfo(Task, 'parent'), undefined);
  assert.equal(columnInfo(TaskItem, 'parentfield')?.kind, 'text');
  assert.equal(columnInfo(Task, 'due_date')?.kind, 'date');
  assert.equal(columnInfo(Task, 'reminder_at')?.kind, 'datetime');
  assert.equal(columnInfo(Task, 'start_time')?.kind, 'time');
  assert.equal(columnInfo(Task, 'qty')?.nullable, false);
  assert.equal(columnInfo(Task, 'done')?.kind, 'check');
  assert.equal(columnInfo(Task, 'rating')?.kind, 'number');
  assert.equal(columnInfo(Task, 'rating')?.nullable, true, 'Frappe compares Rating through ifnull(col, 0)');
  assert.equal(columnInfo(Task, 'status')?.nullable, true);
  assert.equal(columnInfo(Task, 'sb1'), undefined, 'layout fields have no column');
  assert.equal(columnInfo(Task, 'items'), undefined, 'table fields have no column');
  assert.equal(columnInfo(Task, 'nope'), undefined);
  assert.deepEqual(allColumns(TaskItem).slice(0, 10), [
    'name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx', 'parent', 'parentfield', 'parenttype',
  ]);
});

test('QueryScope resolves references to tables, joining each once', () => {
  const scope = new QueryScope(makeContext({ dialect }), Task);
  assert.equal(scope.resolve(parseColumnRef('status'))?.sql, '"tabTask"."status"');
  assert.equal(scope.resolve(parseColumnRef('`tabTask`.`status`'))?.sql, '"tabTask"."status"');
  assert.equal(scope.resolve(parseColumnRef('items.qty'))?.sql, '"t1"."qty"');
  assert.equal(scope.resolve(parseColumnRef('`tabTask Item`.item_code'))?.sql, '"t1"."item_code"');
  assert.equal(scope.resolve(parseColumnRef('assigned_to.full_name'))?.sql, '"t2"."full_name"');
  assert.equal(scope.resolve(parseColumnRef('items.parent'))?.sql, '"t1"."parent"');
  assert.equal(scope.joinCount, 2);
  const joins = scope.joinSql();
  assert.equal(
    joins.sql,
    'LEFT JOIN "tabTask Item" AS "t1" ON "t1"."parent" = "tabTask"."name" AND "t1"."parenttype" = ? AND "t1"."parentfield" = ? ' +
      'LEFT JOIN "tabMember" AS "t2" ON "t2"."name" = "tabTask"."assigned_to"',
  );
  assert.deepEqual(joins.params, ['Task', 'items']);
  // Optional columns the table lacks resolve to null (dropped by callers).
  assert.equal(scope.resolve(parseColumnRef('_assign')), null);
  assert.equal(scope.resolve(parseColumnRef('tabTask._liked_by')), null);
  // Child-table lookup for filters only.
  throwsFrappe(() => scope.resolve(parseColumnRef('item_code')), 'DataError', /Field not permitted in query: item_code/);
  assert.equal(scope.resolve(parseColumnRef('item_code'), { searchChildTables: true })?.sql, '"t1"."item_code"');
});

test('QueryScope refuses names that are not in metadata', () => {
  const scope = new QueryScope(makeContext({ dialect }), Task);
  const bad = [
    'nope', 'sb1', 'items', 'parent', 'items.nope', 'assigned_to.nope', 'subject.name', 'tabMember.full_name',
    '`tabTask Settings`.x', 'tabNope.name', 'sqlite_master.name', 'tabTask.nope', 'tab.name', 'status.x',
  ];
  for (const text of bad) throwsFrappe(() => scope.resolve(parseColumnRef(text)), 'DataError');
});

test('compileFields keeps readable fields and names output columns like Frappe', () => {
  const ctx = makeContext(
    { dialect },
    {
      readableFields: (meta) =>
        meta === Task ? new Set(['subject', 'status', 'qty', 'assigned_to', 'items']) : meta === Member ? new Set(['full_name']) : undefined,
    },
  );
  const scope = new QueryScope(ctx, Task);
  const items = compileFields(
    ['name', 'secret', 'status as s', 'count(name)', 'sum(secret) as hidden', 'assigned_to.full_name', 'assigned_to.salary', 'items.rate', '_assign'],
    scope,
  );
  assert.deepEqual(
    items.map((i) => [i.name, i.sql, i.aggregate]),
    [
      ['name', '"tabTask"."name"', false],
      ['s', '"tabTask"."status"', false],
      ['count(name)', 'COUNT("tabTask"."name")', true],
      ['full_name', '"t1"."full_name"', false],
      ['rate', '"t2"."rate"', false],
    ],
  );
  const star = compileFields(['*'], new QueryScope(ctx, Task)).map((i) => i.name);
  assert.ok(star.includes('subject') && star.includes('modified') && !star.includes('secret') && !star.includes('amount'));
});
