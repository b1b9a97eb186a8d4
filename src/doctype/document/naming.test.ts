import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrappeError, type ExcType } from '../../core/errors.ts';
// Counters are advanced in a real SQLite table; tests may pick an adapter, the code may not.
import { SqliteStorage } from '../../storage/sqlite/sqlite-storage.ts';
import { normalizeDocType } from '../meta/load-meta.ts';
import type { DocTypeMeta } from '../meta/types.ts';
import { SYSTEM_TABLES } from '../schema.ts';
import { nameFromSeries, newName, nextSeriesValue, validateName, type NamingContext } from './naming.ts';

const storage = new SqliteStorage({ path: ':memory:' });
const now = new Date(Date.UTC(2024, 2, 5, 23, 30, 0)); // 2024-03-05, UTC
const ctx: NamingContext = { db: storage, now };

before(async () => {
  const series = SYSTEM_TABLES.find((t) => t.name === 'tabSeries');
  assert.ok(series, 'SYSTEM_TABLES has tabSeries');
  await storage.ensureTable(series);
});
after(async () => {
  await storage.close();
});

function meta(name: string, autoname: string, extra: Record<string, unknown> = {}): DocTypeMeta {
  return normalizeDocType(
    {
      name,
      autoname,
      fields: [
        { fieldname: 'title', fieldtype: 'Data', label: 'Title' },
        { fieldname: 'member', fieldtype: 'Data', label: 'Member' },
      ],
      ...extra,
    },
    'test',
  );
}

async function current(key: string): Promise<number | undefined> {
  const row = await storage.get<{ current: number }>('SELECT "current" FROM "tabSeries" WHERE "name" = ?', [key]);
  return row === undefined ? undefined : Number(row.current);
}

async function rejectsWith(promise: Promise<unknown>, excType: ExcType, message?: RegExp): Promise<FrappeError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof FrappeError, `expected FrappeError ${excType}, got ${String(caught)}`);
  assert.equal(caught.excType, excType);
  if (message) assert.match(caught.message, message);
  return caught;
}

function throwsWith(fn: () => unknown, excType: ExcType): void {
  assert.throws(fn, (error: unknown) => error instanceof FrappeError && error.excType === excType);
}

describe('hash naming', () => {
  it('gives 10 lower-case hex characters, different each time, for an empty autoname or "hash"', async () => {
    const names = new Set<string | number>();
    for (const rule of ['', 'hash', 'Hash']) {
      for (let i = 0; i < 20; i++) {
        const name = await newName(meta('Hashed', rule), {}, ctx);
        assert.equal(typeof name, 'string');
        assert.match(String(name), /^[0-9a-f]{10}$/);
        names.add(name);
      }
    }
    assert.equal(names.size, 60);
  });

  it('names a single DocType after itself', async () => {
    assert.equal(await newName(meta('Library Settings', 'hash', { issingle: 1 }), {}, ctx), 'Library Settings');
  });
});

describe('field: naming', () => {
  const byTitle = meta('Book', 'field:title');

  it("takes the field's value, trimmed", async () => {
    assert.equal(await newName(byTitle, { title: '  Dune ' }, ctx), 'Dune');
    assert.equal(await newName(byTitle, { title: 1984 }, ctx), '1984');
    assert.equal(await newName(meta('Book2', 'Field: title '), { title: 'X' }, ctx), 'X');
  });

  it('refuses a missing or blank value with MandatoryError naming the field', async () => {
    for (const title of [undefined, null, '', '   ']) {
      const error = await rejectsWith(newName(byTitle, { title }, ctx), 'MandatoryError', /title/);
      assert.match(error.errorMessage ?? '', /Value missing for Book: Title/);
    }
  });

  it('validates the resulting name', async () => {
    await rejectsWith(newName(byTitle, { title: 'bad\u0000name' }, ctx), 'InvalidNameError');
    await rejectsWith(newName(byTitle, { title: 'New Book 1' }, ctx), 'InvalidNameError');
  });
});

describe('prompt naming', () => {
  const prompted = meta('Prompted', 'Prompt');

  it('takes __newname, else name, trimmed', async () => {
    assert.equal(await newName(prompted, { __newname: ' chosen ' }, ctx), 'chosen');
    assert.equal(await newName(prompted, { name: 'given' }, ctx), 'given');
    assert.equal(await newName(prompted, { __newname: 'first', name: 'second' }, ctx), 'first');
  });

  it('refuses a missing name with ValidationError', async () => {
    for (const doc of [{}, { name: '' }, { name: '  ' }, { __newname: null }]) {
      const error = await rejectsWith(newName(prompted, doc, ctx), 'ValidationError', /set the document name/);
      assert.equal(error.status, 417);
    }
  });

  it('validates the prompted name', async () => {
    await rejectsWith(newName(prompted, { name: 'x'.repeat(141) }, ctx), 'InvalidNameError');
  });
});

describe('autoincrement naming', () => {
  it('counts 1, 2, 3 per DocType, as numbers', async () => {
    const a = meta('Counted A', 'autoincrement');
    const b = meta('Counted B', 'AutoIncrement');
    assert.equal(await newName(a, {}, ctx), 1);
    assert.equal(await newName(a, {}, ctx), 2);
    assert.equal(await newName(b, {}, ctx), 1);
    assert.equal(await newName(a, {}, ctx), 3);
    assert.equal(await current('__autoincrement:Counted A'), 3);
  });
});

describe('naming series', () => {
  it('counts TODO-.##### up from 1 with five digits, keyed by the prefix', async () => {
    const todo = meta('Series ToDo', 'TODO-.#####');
    assert.equal(await newName(todo, {}, ctx), 'TODO-00001');
    assert.equal(await newName(todo, {}, ctx), 'TODO-00002');
    assert.equal(await newName(todo, {}, ctx), 'TODO-00003');
    assert.equal(await current('TODO-'), 3);
  });

  it('continues from a counter already in tabSeries (a site imported from Frappe)', async () => {
    await storage.run('INSERT INTO "tabSeries" ("name", "current") VALUES (?, ?)', ['IMP-', 41]);
    assert.equal(await newName(meta('Imported', 'IMP-.###'), {}, ctx), 'IMP-042');
  });

  it('uses the number of hashes as the width, and five digits when there are none', async () => {
    assert.equal(await nameFromSeries('W-.###', {}, ctx), 'W-001');
    assert.equal(await nameFromSeries('W-.###', {}, ctx), 'W-002');
    assert.equal(await nameFromSeries('NOHASH-', {}, ctx), 'NOHASH-00001');
    // The counter outgrows its width rather than wrapping.
    await storage.run('INSERT INTO "tabSeries" ("name", "current") VALUES (?, ?)', ['BIG-', 99]);
    assert.equal(await nameFromSeries('BIG-.##', {}, ctx), 'BIG-100');
  });

  it('resolves .YYYY. .YY. .MM. .DD. (UTC) and counts per resolved prefix', async () => {
    const inv = meta('Invoice', 'INV-.YYYY.-.####');
    assert.equal(await newName(inv, {}, ctx), 'INV-2024-0001');
    assert.equal(await newName(inv, {}, ctx), 'INV-2024-0002');
    const nextYear = { db: storage, now: new Date(Date.UTC(2025, 0, 1)) };
    assert.equal(await newName(inv, {}, nextYear), 'INV-2025-0001');
    assert.equal(await newName(inv, {}, ctx), 'INV-2024-0003');
    assert.equal(await nameFromSeries('D-.YY.MM.DD.-.##', {}, ctx), 'D-240305-01');
  });

  it('fills .{fieldname}. parts from the document', async () => {
    assert.equal(await nameFromSeries('L-.{member}.-.###', { member: 'M7' }, ctx), 'L-M7-001');
    assert.equal(await nameFromSeries('L-.{member}.-.###', { member: 'M8' }, ctx), 'L-M8-001');
    assert.equal(await nameFromSeries('L-.{member}.-.###', { member: 'M7' }, ctx), 'L-M7-002');
  });

  it("naming_series: uses the doc's naming_series, else the field's default, else its first option", async () => {
    const withField = (extra: Record<string, unknown>) =>
      normalizeDocType(
        {
          name: 'Sales Order',
          autoname: 'naming_series:',
          fields: [{ fieldname: 'naming_series', fieldtype: 'Select', label: 'Series', options: 'SO-.####\nSQ-.YYYY.-.###', ...extra }],
        },
        'test',
      );
    const plain = withField({});
    assert.equal(await newName(plain, { naming_series: 'SQ-.YYYY.-.###' }, ctx), 'SQ-2024-001');
    assert.equal(await newName(plain, { naming_series: 'SQ-.YYYY.-.###' }, ctx), 'SQ-2024-002');
    assert.equal(await newName(plain, {}, ctx), 'SO-0001');
    assert.equal(await newName(withField({ default: 'SQ-.YYYY.-.###' }), {}, ctx), 'SQ-2024-003');
  });

  it('naming_series: without a series anywhere is a MandatoryError', async () => {
    const bare = normalizeDocType({ name: 'No Series', autoname: 'naming_series:', fields: [] }, 'test');
    await rejectsWith(newName(bare, {}, ctx), 'MandatoryError', /naming_series/);
  });
});

describe('format: naming', () => {
  const loan = meta('Loan', 'format:LN-{YYYY}-{member}-{###}');

  it('fills date parts and fields, counting per prefix', async () => {
    assert.equal(await newName(loan, { member: 'M1' }, ctx), 'LN-2024-M1-001');
    assert.equal(await newName(loan, { member: 'M1' }, ctx), 'LN-2024-M1-002');
    assert.equal(await newName(loan, { member: 'M2' }, ctx), 'LN-2024-M2-001');
    assert.equal(await current('LN-2024-M1-'), 2);
  });

  it('keeps text after the counter out of the counter key', async () => {
    const tail = meta('Tail', 'format:T{####}-{MM}{DD}');
    assert.equal(await newName(tail, {}, ctx), 'T0001-0305');
    assert.equal(await newName(tail, {}, { db: storage, now: new Date(Date.UTC(2024, 3, 1)) }), 'T0002-0401');
  });

  it('validates the formatted name', async () => {
    await rejectsWith(newName(loan, { member: 'x'.repeat(140) }, ctx), 'InvalidNameError');
  });
});

describe('nextSeriesValue', () => {
  it('creates the row at 1 and then increments it', async () => {
    assert.equal(await nextSeriesValue(storage, 'fresh'), 1);
    assert.equal(await nextSeriesValue(storage, 'fresh'), 2);
    assert.equal(await current('fresh'), 2);
  });
});

describe('validateName', () => {
  const todo = meta('ToDo', 'hash');

  it('accepts ordinary names, including 140 characters and unicode', () => {
    for (const name of ['TODO-0001', 'a', 'x'.repeat(140), 'Ünïcödé 名前', 'New Task', 'Renew ToDo']) {
      assert.equal(validateName(todo, name), name);
    }
  });

  it('refuses control characters', () => {
    for (const name of ['a\u0000b', 'line\nbreak', 'tab\there', 'esc\u001b[31m', 'del\u007f', '\r']) {
      throwsWith(() => validateName(todo, name), 'InvalidNameError');
    }
  });

  it('refuses empty names and names over 140 characters', () => {
    throwsWith(() => validateName(todo, ''), 'InvalidNameError');
    throwsWith(() => validateName(todo, 'x'.repeat(141)), 'InvalidNameError');
    throwsWith(() => validateName(todo, 'é'.repeat(141)), 'InvalidNameError');
  });

  it('refuses names starting with "New <DocType>"', () => {
    for (const name of ['New ToDo', 'New ToDo 1', 'New ToDo-abc']) {
      assert.throws(
        () => validateName(todo, name),
        (error: unknown) =>
          error instanceof FrappeError && error.excType === 'InvalidNameError' && /errors setting the name/.test(error.message),
      );
    }
  });
});
