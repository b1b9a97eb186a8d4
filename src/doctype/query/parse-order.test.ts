import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrappeError, type ExcType } from '../../core/errors.ts';
import { quoteIdentifier, type Dialect } from '../../storage/types.ts';
import { Member, Order, Task, makeContext, makeMeta } from './fixtures.test.ts';
import { QueryScope } from './parse-fields.ts';
import {
  compileGroupBy,
  compileOrderBy,
  defaultOrder,
  parseGroupBy,
  parseOrderBy,
  type AliasTarget,
} from './parse-order.ts';

const dialect: Dialect = { name: 'sqlite', quote: quoteIdentifier, likeOperator: 'like', columnType: () => 'TEXT' };

function throwsFrappe(fn: () => unknown, excType: ExcType, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FrappeError, `expected FrappeError, got ${String(error)}`);
    assert.equal(error.excType, excType, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

function order(text: unknown, aliases = new Map<string, AliasTarget>()): string[] {
  const items = parseOrderBy(text);
  assert.ok(items !== undefined);
  return compileOrderBy(items, new QueryScope(makeContext({ dialect }), Task), aliases, quoteIdentifier);
}

test('parseOrderBy: absent means default, blank means none', () => {
  assert.equal(parseOrderBy(undefined), undefined);
  assert.equal(parseOrderBy(null), undefined);
  assert.deepEqual(parseOrderBy(''), []);
  assert.deepEqual(parseOrderBy('   '), []);
  throwsFrappe(() => parseOrderBy(5), 'ValidationError', /order_by must be a string/);
  throwsFrappe(() => parseOrderBy(['name']), 'ValidationError');
});

test('order items: columns, directions, qualified names, aggregates and aliases', () => {
  assert.deepEqual(order('modified desc'), ['"tabTask"."modified" DESC']);
  assert.deepEqual(order('idx ASC, name'), ['"tabTask"."idx" ASC', '"tabTask"."name"']);
  assert.deepEqual(order('`tabTask`.`modified`   Desc'), ['"tabTask"."modified" DESC']);
  assert.deepEqual(order('tabTask.qty asc'), ['"tabTask"."qty" ASC']);
  assert.deepEqual(order('items.idx asc'), ['"t1"."idx" ASC']);
  assert.deepEqual(order('count(name) desc'), ['COUNT("tabTask"."name") DESC']);
  const aliases = new Map<string, AliasTarget>([['total', { key: 'total', sql: 'SUM("tabTask"."qty")', aggregate: true }]]);
  assert.deepEqual(order('total desc, name', aliases), ['"total" DESC', '"tabTask"."name"']);
  // An alias wins over a column of the same name, as in MariaDB's ORDER BY.
  const shadow = new Map<string, AliasTarget>([['qty', { key: 'qty', sql: 'SUM("tabTask"."qty")', aggregate: true }]]);
  assert.deepEqual(order('qty desc', shadow), ['"qty" DESC']);
  // Optional columns the table lacks are dropped.
  assert.deepEqual(order('_assign desc, name'), ['"tabTask"."name"']);
});

test('order_by refuses everything but names', () => {
  const bad: [string, ExcType][] = [
    ['name;', 'DataError'],
    ['name desc desc', 'DataError'],
    ['name,,idx', 'DataError'],
    ['name,', 'DataError'],
    ['(select 1)', 'DataError'],
    ['rand()', 'DataError'],
    ['name nulls first', 'DataError'],
    ['1', 'DataError'],
    ['name -- x', 'DataError'],
    ['name/**/desc', 'DataError'],
    ['secretcol', 'DataError'],
    ['tabMember.full_name', 'DataError'],
    ['*', 'DataError'],
    ['items.*', 'DataError'],
    ['modified desc limit 1', 'DataError'],
    ["name = 'x'", 'DataError'],
    ['case when 1 then name end', 'DataError'],
  ];
  for (const [text, excType] of bad) throwsFrappe(() => order(text), excType);
  throwsFrappe(() => parseOrderBy(Array(51).fill('name').join(',')), 'DataError', /Too many items/);
});

test('defaultOrder: sort_field / sort_order, comma lists, else creation desc', () => {
  const compile = (meta = Task) =>
    compileOrderBy(defaultOrder(meta), new QueryScope(makeContext({ dialect }), meta), new Map(), quoteIdentifier, true);
  assert.deepEqual(compile(Task), ['"tabTask"."modified" DESC']);
  assert.deepEqual(compile(Member), ['"tabMember"."full_name" ASC']);
  assert.deepEqual(compile(Order), ['"tabSales Order"."idx" DESC', '"tabSales Order"."creation" ASC']);
  const bare = makeMeta('Bare', [], { sort_field: '' });
  assert.deepEqual(compile(bare), ['"tabBare"."creation" DESC']);
  // A sort field that does not exist is skipped rather than failing every list.
  const broken = makeMeta('Broken', [], { sort_field: 'gone; drop table x' });
  assert.deepEqual(compile(broken), []);
});

test('group_by: columns, then plain-field aliases', () => {
  const scope = new QueryScope(makeContext({ dialect }), Task);
  const aliases = new Map<string, AliasTarget>([
    ['s', { key: 's', sql: '"tabTask"."status"', aggregate: false }],
    ['n', { key: 'n', sql: 'COUNT(*)', aggregate: true }],
  ]);
  assert.deepEqual(parseGroupBy(undefined), []);
  assert.deepEqual(parseGroupBy(''), []);
  assert.deepEqual(compileGroupBy(parseGroupBy('status, `tabTask`.`priority`'), scope, aliases), [
    '"tabTask"."status"',
    '"tabTask"."priority"',
  ]);
  assert.deepEqual(compileGroupBy(parseGroupBy('items.item_code'), scope, aliases), ['"t1"."item_code"']);
  assert.deepEqual(compileGroupBy(parseGroupBy('s'), scope, aliases), ['"tabTask"."status"']);
  throwsFrappe(() => compileGroupBy(parseGroupBy('n'), scope, aliases), 'DataError');
  for (const bad of ['status desc', 'status;', '(select 1)', 'count(name)', 'status,', '1', 'nope']) {
    throwsFrappe(() => compileGroupBy(parseGroupBy(bad), scope, aliases), 'DataError');
  }
  throwsFrappe(() => parseGroupBy({}), 'ValidationError');
});
