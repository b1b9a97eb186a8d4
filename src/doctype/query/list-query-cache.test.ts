import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { quoteIdentifier, type Dialect } from '../../storage/types.ts';
import { buildListQuery, type ListQueryInput, type QueryContext } from './build-list-query.ts';
import { makeContext } from './fixtures.test.ts';
import { ListQueryCache } from './list-query-cache.ts';

const sqlite: Dialect = { name: 'sqlite', quote: quoteIdentifier, likeOperator: 'like', columnType: () => 'TEXT' };
const postgres: Dialect = { name: 'postgres', quote: quoteIdentifier, likeOperator: 'ilike', columnType: () => 'TEXT' };

const LIST: ListQueryInput = {
  doctype: 'Task',
  fields: '["name","status","qty"]',
  filters: '[["status","=","Open"]]',
  order_by: 'modified desc',
  limit: '20',
  limit_start: 0,
};

const context = (extra: Partial<QueryContext> = {}) => makeContext({ dialect: sqlite }, extra);

describe('ListQueryCache', () => {
  test('the same list twice is compiled once, frozen, and equal to a fresh compilation', () => {
    const cache = new ListQueryCache();
    const first = cache.build(LIST, context());
    assert.equal(cache.build({ ...LIST }, context()), first, 'the second answer is the remembered one');
    assert.deepEqual(first, buildListQuery(LIST, context()));
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.params) && Object.isFrozen(first.columns));
  });

  test('every argument, the permission condition and the dialect are part of the key', () => {
    const cache = new ListQueryCache();
    const base = cache.build(LIST, context());
    const variants: [ListQueryInput, Partial<QueryContext>][] = [
      [{ ...LIST, fields: '["name"]' }, {}],
      [{ ...LIST, filters: '[["status","=","Closed"]]' }, {}],
      [{ ...LIST, or_filters: '[["qty",">",1]]' }, {}],
      [{ ...LIST, order_by: 'modified asc' }, {}],
      [{ ...LIST, fields: '["status","count(name) as n"]', group_by: 'status', order_by: undefined }, {}],
      [{ ...LIST, limit: 50 }, {}],
      [{ ...LIST, limit_start: '40' }, {}],
      [{ ...LIST, extraWhere: { sql: '"tabTask"."owner" = ?', params: ['ada@example.com'] } }, {}],
      [{ ...LIST, extraWhere: { sql: '"tabTask"."owner" = ?', params: ['bob@example.com'] } }, {}],
      [LIST, { dialect: postgres }],
    ];
    for (const [input, extra] of variants) {
      const built = cache.build(input, context(extra));
      assert.notEqual(built, base, JSON.stringify(input));
      assert.deepEqual(built, buildListQuery(input, context(extra)), JSON.stringify(input));
    }
  });

  test('a timespan filter is compiled again on another day', () => {
    const cache = new ListQueryCache();
    const input = { ...LIST, filters: '[["due_date","Timespan","today"]]' };
    const monday = cache.build(input, context({ now: () => new Date('2026-11-30T10:00:00Z') }));
    const tuesday = cache.build(input, context({ now: () => new Date('2026-12-01T10:00:00Z') }));
    assert.notDeepEqual(tuesday.params, monday.params);
    assert.deepEqual(tuesday, buildListQuery(input, context({ now: () => new Date('2026-12-01T10:00:00Z') })));
  });

  test('a user who may read fewer fields never gets a query compiled for one who may read more', () => {
    const cache = new ListQueryCache();
    const everything = cache.build(LIST, context({ readableFields: () => undefined }));
    assert.deepEqual(everything.columns, ['name', 'status', 'qty']);
    const narrow = cache.build(LIST, context({ readableFields: (meta) => (meta.name === 'Task' ? new Set(['status']) : undefined) }));
    assert.deepEqual(narrow.columns, ['name', 'status']);
    const unrestricted = cache.build(LIST, context());
    assert.deepEqual(unrestricted.columns, ['name', 'status', 'qty']);
  });

  test('arguments parsed from JSON are remembered by their JSON; other objects are compiled every time', () => {
    const cache = new ListQueryCache();
    const parsed = { ...LIST, fields: ['name', 'status'], filters: [['status', '=', 'Open']] };
    const first = cache.build(parsed, context());
    assert.equal(cache.build(structuredClone(parsed), context()), first);
    assert.notEqual(cache.build({ ...parsed, filters: [['status', '=', 'Closed']] }, context()), first);
    // JSON would drop the undefined value and so share a key with `{ status: 'Open' }`.
    const undefinedValue = { ...LIST, filters: { status: 'Open', priority: undefined } };
    assert.notEqual(cache.build(undefinedValue, context()), cache.build(undefinedValue, context()));
    assert.deepEqual(cache.build(undefinedValue, context()), buildListQuery(undefinedValue, context()));
    assert.deepEqual(first, buildListQuery(parsed, context()));
  });

  test('refused arguments are refused every time, not remembered', () => {
    const cache = new ListQueryCache();
    const bad = { ...LIST, fields: '["name; DROP TABLE x"]' };
    for (let i = 0; i < 2; i++) assert.throws(() => cache.build(bad, context()), /name; DROP TABLE x|not|invalid/i);
  });
});
