import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeDocType } from '../meta/load-meta.ts';
import { FIELD_TYPES, type DocField, type DocTypeMeta } from '../meta/types.ts';
import { fromDatabase, passesFromDatabase } from './field-values.ts';
import { rowToDoc } from './row-to-doc.ts';

function meta(name: string, fields: { fieldname: string; fieldtype: string }[], autoname = 'hash'): DocTypeMeta {
  return normalizeDocType({ name, module: 'Test', autoname, fields, permissions: [] }, 'test');
}

const KINDS = meta('Row Kinds', [
  { fieldname: 'title', fieldtype: 'Data' },
  { fieldname: 'count', fieldtype: 'Int' },
  { fieldname: 'done', fieldtype: 'Check' },
  { fieldname: 'price', fieldtype: 'Currency' },
  { fieldname: 'extra', fieldtype: 'JSON' },
  { fieldname: 'due', fieldtype: 'Date' },
  { fieldname: 'at', fieldtype: 'Datetime' },
  { fieldname: 'notes', fieldtype: 'Text' },
]);

const ROW = {
  name: 'r1',
  owner: 'a@example.com',
  docstatus: '1',
  idx: 2n,
  title: 'Hello',
  count: '42',
  done: 1,
  price: '12.5',
  extra: '{"a":[1,2]}',
  due: '2026-01-02',
  at: '2026-01-02 03:04:05.000000',
  notes: null,
  not_a_field: 'kept',
};

describe('rowToDoc', () => {
  it('shows stored values as the API does: numbers, parsed JSON, trimmed datetimes, nulls', () => {
    const doc = rowToDoc(KINDS, ROW);
    assert.deepEqual(doc, {
      name: 'r1',
      owner: 'a@example.com',
      docstatus: 1,
      idx: 2,
      title: 'Hello',
      count: 42,
      done: 1,
      price: 12.5,
      extra: { a: [1, 2] },
      due: '2026-01-02',
      at: '2026-01-02 03:04:05',
      notes: null,
      not_a_field: 'kept',
    });
    assert.deepEqual(Object.keys(doc), Object.keys(ROW), 'columns keep the row order');
  });

  it('gives every row of a shape its own object with the same values, and follows a new shape', () => {
    const first = rowToDoc(KINDS, ROW);
    const second = rowToDoc(KINDS, { ...ROW, title: 'Other', count: null });
    assert.notEqual(first, second);
    assert.equal(second.title, 'Other');
    assert.equal(second.count, null);
    assert.equal(first.title, 'Hello');
    // Another set of columns (a list's fields, a column added by a migration) in another order.
    const reordered = rowToDoc(KINDS, { count: '7', name: 'r2', added_later: 'x' });
    assert.deepEqual(reordered, { count: 7, name: 'r2', added_later: 'x' });
    assert.deepEqual(Object.keys(reordered), ['count', 'name', 'added_later']);
  });

  it('keeps a `__proto__` column as a property, never as the prototype', () => {
    const row = JSON.parse('{"name": "r3", "__proto__": "value"}') as Record<string, unknown>;
    const doc = rowToDoc(KINDS, row);
    assert.equal(Object.getPrototypeOf(doc), Object.prototype);
    assert.deepEqual(Object.keys(doc), ['name', '__proto__']);
    assert.equal(Object.getOwnPropertyDescriptor(doc, '__proto__')?.value, 'value');
  });

  it('converts shapes beyond the compiled ones in the same way', () => {
    const many = meta('Many Shapes', [{ fieldname: 'count', fieldtype: 'Int' }]);
    for (let i = 0; i < 100; i++) {
      const doc = rowToDoc(many, { name: `n${i}`, [`alias_${i}`]: 'v', count: String(i), idx: '0' });
      assert.deepEqual(doc, { name: `n${i}`, [`alias_${i}`]: 'v', count: i, idx: 0 });
    }
  });

  it('shows an autoincrement name as a number', () => {
    const numbered = meta('Numbered', [], 'autoincrement');
    assert.deepEqual(rowToDoc(numbered, { name: '17', idx: 0 }), { name: 17, idx: 0 });
    assert.deepEqual(rowToDoc(numbered, { name: 'not-a-number', idx: 0 }), { name: 'not-a-number', idx: 0 });
  });
});

describe('passesFromDatabase', () => {
  it('holds only for types fromDatabase returns unchanged', () => {
    const samples: unknown[] = ['12', '2026-01-02 03:04:05.000000', '{"a":1}', 7, 3n, new Date(0)];
    let passing = 0;
    for (const fieldtype of FIELD_TYPES) {
      const field = { fieldname: 'f', fieldtype } as DocField;
      assert.equal(fromDatabase(field, undefined), null, fieldtype);
      if (!passesFromDatabase(field)) continue;
      passing += 1;
      for (const value of samples) assert.equal(fromDatabase(field, value), value, `${fieldtype} ${String(value)}`);
    }
    assert.ok(passing > 10, 'most types pass through');
  });
});
