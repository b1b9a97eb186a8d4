import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrappeError, type ExcType } from '../../core/errors.ts';
import { FIELD_TYPES, NO_VALUE_TYPES, TABLE_TYPES, type DocField, type FieldType } from '../meta/types.ts';
import { coerceFieldValue, defaultValue, fromDatabase, isEmptyValue, type CoerceContext } from './field-values.ts';

function field(fieldtype: FieldType, extra: Partial<DocField> = {}): DocField {
  return {
    fieldname: 'my_field',
    fieldtype,
    label: 'My Field',
    options: '',
    reqd: false,
    unique: false,
    default: undefined,
    read_only: false,
    hidden: false,
    permlevel: 0,
    length: 0,
    in_list_view: false,
    allow_on_submit: false,
    set_only_once: false,
    search_index: false,
    no_copy: false,
    ...extra,
  };
}

const ctx: CoerceContext = { doctype: 'ToDo' };
const coerce = (f: DocField, value: unknown, c: CoerceContext = ctx) => coerceFieldValue(f, value, c);

/** Asserts a FrappeError of `excType` (417, ValidationError family) whose message matches. */
function refuses(f: DocField, value: unknown, excType: ExcType = 'ValidationError', message?: RegExp, c: CoerceContext = ctx): FrappeError {
  let caught: unknown;
  try {
    coerce(f, value, c);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof FrappeError, `${f.fieldtype} accepted ${typeof value === 'string' ? value.slice(0, 40) : typeof value}`);
  assert.equal(caught.excType, excType);
  assert.equal(caught.status, 417);
  assert.ok(caught.is('ValidationError'));
  if (message) assert.match(caught.message, message);
  return caught;
}

const VALUE_TYPES = FIELD_TYPES.filter((t) => !NO_VALUE_TYPES.has(t) && !TABLE_TYPES.has(t));
const TEXT_TYPES: FieldType[] = [
  'Data', 'Small Text', 'Text', 'Long Text', 'Text Editor', 'Markdown Editor', 'HTML Editor', 'Code', 'Read Only',
  'Link', 'Dynamic Link', 'Attach', 'Attach Image', 'Color', 'Phone', 'Autocomplete', 'Signature', 'Barcode', 'Icon', 'Password',
];
const VARCHAR_TYPES: FieldType[] = ['Data', 'Link', 'Dynamic Link', 'Read Only', 'Color', 'Icon', 'Phone', 'Autocomplete'];
const UNLIMITED_TYPES: FieldType[] = [
  'Small Text', 'Text', 'Long Text', 'Text Editor', 'Markdown Editor', 'HTML Editor', 'Code', 'Attach', 'Attach Image', 'Signature', 'Barcode', 'Password',
];

describe('coerceFieldValue: text types', () => {
  it('keeps strings, converts numbers and booleans, keeps empty strings', () => {
    for (const type of TEXT_TYPES) {
      const f = field(type);
      assert.equal(coerce(f, 'hello'), 'hello', type);
      assert.equal(coerce(f, '  padded  '), '  padded  ', type);
      assert.equal(coerce(f, 'ünïcödé ✓ 🔑'), 'ünïcödé ✓ 🔑', type);
      assert.equal(coerce(f, 42), '42', type);
      assert.equal(coerce(f, 1.5), '1.5', type);
      assert.equal(coerce(f, -0.25), '-0.25', type);
      assert.equal(coerce(f, true), '1', type);
      assert.equal(coerce(f, false), '0', type);
      assert.equal(coerce(f, ''), '', type);
      assert.equal(coerce(f, null), null, type);
      assert.equal(coerce(f, undefined), null, type);
    }
  });

  it('refuses lists, objects, dates, NaN, Infinity and NUL characters', () => {
    for (const type of TEXT_TYPES) {
      const f = field(type);
      refuses(f, ['a'], 'ValidationError', /^Value for My Field cannot be a list$/);
      refuses(f, { a: 1 }, 'ValidationError', /cannot be an object/);
      refuses(f, new Date(), 'ValidationError', /cannot be a date object/);
      refuses(f, NaN);
      refuses(f, Infinity);
      refuses(f, -Infinity);
      refuses(f, 'nul\u0000byte', 'ValidationError', /NUL/);
    }
  });

  it('checks varchar lengths (default 140, field.length otherwise) in code points', () => {
    for (const type of VARCHAR_TYPES) {
      const f = field(type);
      assert.equal(coerce(f, 'x'.repeat(140)), 'x'.repeat(140));
      assert.equal(coerce(f, '🔑'.repeat(140)), '🔑'.repeat(140), 'astral characters count once');
      const error = refuses(f, 'x'.repeat(141), 'CharacterLengthExceededError');
      assert.equal(error.title, 'Value too big');
      assert.equal(
        error.message,
        `ToDo: '<strong>My Field</strong>' (${'x'.repeat(60)}…) will get truncated, as max characters allowed is 140`,
      );
      const short = field(type, { length: 5 });
      assert.equal(coerce(short, 'abcde'), 'abcde');
      refuses(short, 'abcdef', 'CharacterLengthExceededError', /max characters allowed is 5$/);
      refuses(short, 123456, 'CharacterLengthExceededError');
      const long = field(type, { length: 1000 });
      assert.equal(coerce(long, 'y'.repeat(1000)), 'y'.repeat(1000));
    }
  });

  it('names the document or the child row in length errors', () => {
    const f = field('Data', { length: 3 });
    refuses(f, 'abcd', 'CharacterLengthExceededError', /^ToDo TD-0001: '<strong>My Field<\/strong>' \(abcd\)/, { doctype: 'ToDo', name: 'TD-0001' });
    refuses(f, 'abcd', 'CharacterLengthExceededError', /^ToDo Item, Row 3: /, { doctype: 'ToDo Item', rowIdx: 3 });
  });

  it('does not limit long text types', () => {
    const huge = 'z'.repeat(1_000_000);
    for (const type of UNLIMITED_TYPES) assert.equal(coerce(field(type), huge), huge, type);
  });

  it('escapes HTML in echoed values and shortens huge ones', () => {
    const error = refuses(field('Data', { length: 3 }), '<img src=x onerror=alert(1)>', 'CharacterLengthExceededError');
    assert.ok(!error.message.includes('<img'));
    assert.match(error.message, /&#60;img src=x onerror=alert\(1\)&#62;/);
    const big = refuses(field('Data'), 'q'.repeat(5_000_000), 'CharacterLengthExceededError');
    assert.ok(big.message.length < 300);
  });

  it('stores blank values of unique fields as NULL', () => {
    const f = field('Data', { unique: true });
    assert.equal(coerce(f, ''), null);
    assert.equal(coerce(f, '   '), null);
    assert.equal(coerce(f, 'x'), 'x');
  });
});

describe('coerceFieldValue: Select', () => {
  const status = field('Select', { label: 'Status', fieldname: 'status', options: 'Open\nClosed\nCancelled' });

  it('accepts one of the options, trimmed, and empty values', () => {
    assert.equal(coerce(status, 'Open'), 'Open');
    assert.equal(coerce(status, '  Closed '), 'Closed');
    assert.equal(coerce(status, ''), '');
    assert.equal(coerce(status, null), null);
    assert.equal(coerce(field('Select', { options: '1\n2\n3' }), 2), '2');
  });

  it("refuses other values with Frappe's message", () => {
    const error = refuses(status, 'open');
    assert.equal(error.message, 'Status cannot be "open". It should be one of "Open", "Closed", "Cancelled"');
    refuses(field('Select', { label: 'Priority', options: '\nLow\nHigh' }), 'Mid', 'ValidationError', /^Priority cannot be "Mid"\. It should be one of "", "Low", "High"$/);
    refuses(status, 'Nope', 'ValidationError', /^Row #2: Status cannot be/, { doctype: 'ToDo Item', rowIdx: 2 });
    refuses(status, ['Open']);
    refuses(status, { value: 'Open' });
    const escaped = refuses(status, '<script>alert(1)</script>');
    assert.ok(!escaped.message.includes('<script>'));
  });

  it('accepts options written with CRLF line ends', () => {
    assert.equal(coerce(field('Select', { options: 'A\r\nB' }), 'A'), 'A');
  });

  it('does not check naming_series or Selects without options', () => {
    assert.equal(coerce(field('Select', { fieldname: 'naming_series', options: 'TD-.####' }), 'X-.##'), 'X-.##');
    assert.equal(coerce(field('Select', { options: '' }), 'anything'), 'anything');
    assert.equal(coerce(field('Select', { options: '\n\n' }), 'anything'), 'anything');
  });
});

describe('coerceFieldValue: Int', () => {
  const qty = field('Int', { label: 'Qty' });

  it('accepts numbers, numeric strings and booleans, truncating like int(float(s))', () => {
    assert.equal(coerce(qty, 5), 5);
    assert.equal(coerce(qty, -5), -5);
    assert.equal(coerce(qty, '42'), 42);
    assert.equal(coerce(qty, ' 42 '), 42);
    assert.equal(coerce(qty, '+7'), 7);
    assert.equal(coerce(qty, '3.9'), 3);
    assert.equal(coerce(qty, -3.9), -3);
    assert.equal(coerce(qty, '-0.5'), 0);
    assert.ok(Object.is(coerce(qty, -0.5), 0), 'never -0');
    assert.equal(coerce(qty, '1e3'), 1000);
    assert.equal(coerce(qty, '.5'), 0);
    assert.equal(coerce(qty, true), 1);
    assert.equal(coerce(qty, false), 0);
    assert.equal(coerce(qty, 2147483647), 2147483647);
  });

  it('stores 0 for empty values, or null on mandatory fields (so the mandatory check fires)', () => {
    for (const empty of [undefined, null, '', '  ']) {
      assert.equal(coerce(qty, empty), 0);
      assert.equal(coerce(field('Int', { reqd: true }), empty), null);
    }
  });

  it('refuses non-numbers naming the field', () => {
    for (const bad of ['abc', '1,000', '0x10', '1_000', 'NaN', 'Infinity', 'inf', '12abc', '--1', '1e', '.', NaN, Infinity, -Infinity]) {
      refuses(qty, bad, 'ValidationError', /Qty/);
    }
    refuses(qty, [1], 'ValidationError', /^Value for Qty cannot be a list$/);
    refuses(qty, { n: 1 }, 'ValidationError', /cannot be an object/);
    refuses(qty, '9'.repeat(100_000), 'ValidationError', /Qty/);
  });

  it('refuses values beyond the column like Frappe (int, or bigint when length > 11)', () => {
    const error = refuses(qty, 2147483648, 'CharacterLengthExceededError', /max characters allowed is 2147483647$/);
    assert.equal(error.title, 'Value too big');
    refuses(qty, '-2147483648', 'CharacterLengthExceededError');
    refuses(qty, '1e30', 'CharacterLengthExceededError');
    const big = field('Int', { length: 20 });
    assert.equal(coerce(big, 2 ** 40), 2 ** 40);
    refuses(big, 2 ** 60, 'CharacterLengthExceededError');
  });
});

describe('coerceFieldValue: Float, Currency, Percent, Rating', () => {
  it('accepts numbers and numeric strings (flt drops thousands commas)', () => {
    for (const type of ['Float', 'Currency', 'Percent'] as const) {
      const f = field(type);
      assert.equal(coerce(f, 1.5), 1.5);
      assert.equal(coerce(f, '2.25'), 2.25);
      assert.equal(coerce(f, '1,234.5'), 1234.5);
      assert.equal(coerce(f, '-1e-3'), -0.001);
      assert.equal(coerce(f, 0.1 + 0.2), 0.3, 'rounded to the 9 decimals of decimal(21,9)');
      assert.equal(coerce(f, 1.0000000004), 1);
      assert.equal(coerce(f, true), 1);
      assert.equal(coerce(f, 1e20), 1e20);
      assert.ok(Object.is(coerce(f, -1e-12), 0));
      assert.equal(coerce(f, null), 0);
      assert.equal(coerce(f, ''), 0);
      assert.equal(coerce(field(type, { reqd: true }), null), null);
    }
  });

  it('refuses invalid text, NaN and Infinity', () => {
    for (const type of ['Float', 'Currency', 'Percent', 'Rating'] as const) {
      const f = field(type, { label: 'Amount' });
      for (const bad of ['abc', 'NaN', 'Infinity', '1.2.3', NaN, Infinity, -Infinity, '1e999']) {
        refuses(f, bad, 'ValidationError', /Amount/);
      }
      refuses(f, [1.5], 'ValidationError', /cannot be a list/);
      refuses(f, {}, 'ValidationError', /cannot be an object/);
    }
  });

  it('keeps Rating a fraction between 0 and 1 (Frappe v14+)', () => {
    const rating = field('Rating');
    assert.equal(coerce(rating, 0.6), 0.6);
    assert.equal(coerce(rating, '0.8'), 0.8);
    assert.equal(coerce(rating, 3), 1);
    assert.equal(coerce(rating, -1), 0);
    assert.equal(coerce(rating, 3 / 7), 0.43);
    assert.equal(coerce(rating, null), 0);
  });
});

describe('coerceFieldValue: Check', () => {
  const check = field('Check', { label: 'Enabled' });

  it('accepts the usual spellings of true and false', () => {
    for (const yes of [true, 1, '1', 'true', 'TRUE', ' True ']) assert.equal(coerce(check, yes), 1);
    for (const no of [false, 0, '0', 'false', 'False']) assert.equal(coerce(check, no), 0);
    for (const empty of [undefined, null, '']) assert.equal(coerce(check, empty), 0);
    assert.equal(coerce(field('Check', { reqd: true }), null), null);
  });

  it('refuses anything else', () => {
    for (const bad of [2, -1, 0.5, 'yes', 'on', 'x', NaN, Infinity]) refuses(check, bad, 'ValidationError', /Enabled/);
    refuses(check, [1], 'ValidationError', /cannot be a list/);
    refuses(check, { v: 1 }, 'ValidationError', /cannot be an object/);
  });
});

describe('coerceFieldValue: Date', () => {
  const date = field('Date', { label: 'Due Date' });

  it('accepts YYYY-MM-DD, datetime strings (their written date) and Date objects', () => {
    assert.equal(coerce(date, '2024-02-29'), '2024-02-29');
    assert.equal(coerce(date, ' 2024-01-15 '), '2024-01-15');
    assert.equal(coerce(date, '2024-01-15 10:30:00'), '2024-01-15');
    assert.equal(coerce(date, '2024-01-15T23:30:00.123Z'), '2024-01-15');
    assert.equal(coerce(date, '2024-01-15T23:30:00-05:00'), '2024-01-15');
    assert.equal(coerce(date, new Date(Date.UTC(2023, 11, 31, 23, 59))), '2023-12-31');
    assert.equal(coerce(date, '0001-01-01'), '0001-01-01');
    assert.equal(coerce(date, '9999-12-31'), '9999-12-31');
  });

  it('stores empty values as NULL', () => {
    for (const empty of [undefined, null, '', '   ']) assert.equal(coerce(date, empty), null);
  });

  it('refuses impossible and malformed dates naming the field', () => {
    for (const bad of [
      '2024-02-30', '2023-02-29', '2100-02-29', '2024-13-01', '2024-00-10', '2024-01-00', '2024-04-31', '0000-01-01',
      '2024-1-5', '15-01-2024', '01/15/2024', 'today', '2024-01-15T25:00', '2024-01-15Tgarbage', '2024-01-15 10:00 +99:00',
      '20240115', '2024-01-15x', 1705276800000, true, new Date('nope'),
    ]) {
      refuses(date, bad, 'ValidationError', /Due Date/);
    }
    refuses(date, ['2024-01-01'], 'ValidationError', /cannot be a list/);
    refuses(date, { y: 2024 }, 'ValidationError', /cannot be an object/);
    refuses(date, '2024-01-01'.repeat(100_000), 'ValidationError', /Due Date/);
  });
});

describe('coerceFieldValue: Datetime', () => {
  const dt = field('Datetime', { label: 'Starts On' });

  it('normalises the accepted forms to YYYY-MM-DD HH:MM:SS.ffffff', () => {
    const cases: [string, string][] = [
      ['2024-01-15', '2024-01-15 00:00:00.000000'],
      ['2024-01-15 10:30', '2024-01-15 10:30:00.000000'],
      ['2024-01-15 10:30:45', '2024-01-15 10:30:45.000000'],
      ['2024-01-15 10:30:45.5', '2024-01-15 10:30:45.500000'],
      ['2024-01-15 10:30:45.123456', '2024-01-15 10:30:45.123456'],
      ['2024-01-15 10:30:45.123456789', '2024-01-15 10:30:45.123456'],
      ['2024-01-15T10:30:45', '2024-01-15 10:30:45.000000'],
      ['2024-01-15T10:30:45Z', '2024-01-15 10:30:45.000000'],
      ['2024-01-15T10:30:45.250z', '2024-01-15 10:30:45.250000'],
      ['2024-01-15T10:30:45+05:30', '2024-01-15 05:00:45.000000'],
      ['2024-01-15T10:30:45.123456+0530', '2024-01-15 05:00:45.123456'],
      ['2024-01-15T22:00:00-05:00', '2024-01-16 03:00:00.000000'],
      ['2024-03-01T01:00:00+02', '2024-02-29 23:00:00.000000'],
      ['2024-12-31 23:59:59.999999', '2024-12-31 23:59:59.999999'],
    ];
    for (const [input, expected] of cases) assert.equal(coerce(dt, input), expected, input);
    assert.equal(coerce(dt, new Date(Date.UTC(2024, 0, 15, 10, 30, 45, 123))), '2024-01-15 10:30:45.123000');
  });

  it('stores empty values as NULL', () => {
    for (const empty of [undefined, null, '']) assert.equal(coerce(dt, empty), null);
  });

  it('refuses invalid datetimes naming the field', () => {
    for (const bad of [
      '2024-02-30 10:00', '2024-01-15 24:00:00', '2024-01-15 10:60', '2024-01-15 10:30:60', '2024-01-15 10',
      '2024-01-15 10:30:45+24:00', '2024-01-15 10:30:45+05:61', '0001-01-01T00:30:00+01:00', '9999-12-31T23:30:00-01:00',
      'now', '15/01/2024 10:30', '2024-01-15T10:30:45.', 1705276800, new Date(NaN),
    ]) {
      refuses(dt, bad, 'ValidationError', /Starts On/);
    }
    refuses(dt, [], 'ValidationError', /cannot be a list/);
  });
});

describe('coerceFieldValue: Time and Duration', () => {
  const time = field('Time', { label: 'At' });
  const duration = field('Duration', { label: 'Took' });

  it('normalises times to HH:MM:SS (microseconds only when present)', () => {
    assert.equal(coerce(time, '10:30'), '10:30:00');
    assert.equal(coerce(time, '9:05:07'), '09:05:07');
    assert.equal(coerce(time, '23:59:59'), '23:59:59');
    assert.equal(coerce(time, '00:00:00'), '00:00:00');
    assert.equal(coerce(time, '10:30:00.5'), '10:30:00.500000');
    assert.equal(coerce(time, '10:30:00.000'), '10:30:00');
    assert.equal(coerce(time, '2024-01-15 10:30:45'), '10:30:45');
    assert.equal(coerce(time, new Date(Date.UTC(2024, 0, 1, 8, 7, 6))), '08:07:06');
    assert.equal(coerce(time, ''), null);
    assert.equal(coerce(time, null), null);
  });

  it('refuses invalid times', () => {
    for (const bad of ['24:00', '10:60', '10:30:60', '10', '1030', 'noon', '10:30 PM', '-1:00', 36000, [], {}]) {
      refuses(time, bad, 'ValidationError', /At/);
    }
  });

  it('stores durations as whole seconds', () => {
    assert.equal(coerce(duration, 3600), 3600);
    assert.equal(coerce(duration, '90'), 90);
    assert.equal(coerce(duration, 90.9), 90);
    assert.equal(coerce(duration, 0), 0);
    assert.equal(coerce(duration, null), null);
    assert.equal(coerce(duration, ''), null);
    for (const bad of ['1h', 'abc', NaN, Infinity, 1e300, [], {}]) refuses(duration, bad, 'ValidationError', /Took/);
  });
});

describe('coerceFieldValue: JSON and Geolocation', () => {
  for (const type of ['JSON', 'Geolocation'] as const) {
    const f = field(type, { label: 'Data Blob' });

    it(`${type}: stores objects and arrays as compact JSON, keeps valid JSON text`, () => {
      assert.equal(coerce(f, { b: 1, a: [1, 2, { c: null }] }), '{"b":1,"a":[1,2,{"c":null}]}');
      assert.equal(coerce(f, [1, 'two']), '[1,"two"]');
      assert.equal(coerce(f, 5), '5');
      assert.equal(coerce(f, true), 'true');
      assert.equal(coerce(f, '{"a": 1}'), '{"a": 1}');
      assert.equal(coerce(f, '"text"'), '"text"');
      assert.equal(coerce(f, '[]'), '[]');
      assert.equal(coerce(f, null), null);
      assert.equal(coerce(f, ''), null);
    });

    it(`${type}: refuses invalid JSON`, () => {
      for (const bad of ['{a: 1}', 'text', '{"a":', "{'a':1}", NaN, Infinity]) refuses(f, bad, 'ValidationError', /Data Blob is not valid JSON/);
      let deep: unknown = [];
      for (let i = 0; i < 200_000; i++) deep = [deep];
      refuses(f, deep, 'ValidationError', /not valid JSON/);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      refuses(f, cyclic, 'ValidationError', /not valid JSON/);
      refuses(f, { big: 10n }, 'ValidationError', /not valid JSON/);
    });
  }
});

describe('coerceFieldValue: field types without values', () => {
  it('throws a TypeError for layout and table fields', () => {
    for (const type of [...NO_VALUE_TYPES, ...TABLE_TYPES]) {
      assert.throws(() => coerce(field(type as FieldType), 'x'), TypeError);
    }
  });
});

describe('isEmptyValue', () => {
  it('follows Frappe\'s mandatory check', () => {
    const data = field('Data');
    for (const empty of [null, undefined, '', '   ', '<p></p>', '<div><br></div>', []]) assert.equal(isEmptyValue(data, empty), true);
    for (const value of ['x', 0, 1, '0', 0.5, '<b>x</b>']) assert.equal(isEmptyValue(data, value), false);
    assert.equal(isEmptyValue(data, '<img src="a.png">'), true);
    assert.equal(isEmptyValue(field('Text Editor'), '<p><img src="a.png"></p>'), false);
    assert.equal(isEmptyValue(field('Code', { options: 'HTML' }), '<img src="a.png">'), false);
    assert.equal(isEmptyValue(field('Text Editor'), '<p> </p>'), true);
  });

  it('counts rows for table fields', () => {
    const table = field('Table', { options: 'ToDo Item' });
    assert.equal(isEmptyValue(table, []), true);
    assert.equal(isEmptyValue(table, null), true);
    assert.equal(isEmptyValue(table, 'rows'), true);
    assert.equal(isEmptyValue(table, [{}]), false);
    assert.equal(isEmptyValue(field('Table MultiSelect', { options: 'X' }), [{ role: 'a' }]), false);
  });

  it('treats the null a mandatory number gets as empty, and 0 as a value', () => {
    const reqdInt = field('Int', { reqd: true });
    assert.equal(isEmptyValue(reqdInt, coerce(reqdInt, null)), true);
    assert.equal(isEmptyValue(reqdInt, coerce(reqdInt, 0)), false);
  });
});

describe('fromDatabase', () => {
  it('returns numbers for numeric types, whatever the driver hands back', () => {
    assert.equal(fromDatabase(field('Int'), '42'), 42);
    assert.equal(fromDatabase(field('Int'), 42n), 42);
    assert.equal(fromDatabase(field('Int'), 7), 7);
    assert.equal(fromDatabase(field('Check'), '1'), 1);
    assert.equal(fromDatabase(field('Check'), true), 1);
    assert.equal(fromDatabase(field('Check'), 0), 0);
    assert.equal(fromDatabase(field('Duration'), '3600'), 3600);
    assert.equal(fromDatabase(field('Float'), '1.500000000'), 1.5);
    assert.equal(fromDatabase(field('Currency'), 2.25), 2.25);
    assert.equal(fromDatabase(field('Percent'), '12.5'), 12.5);
    assert.equal(fromDatabase(field('Rating'), '0.60'), 0.6);
  });

  it('keeps null as null', () => {
    for (const type of VALUE_TYPES) {
      assert.equal(fromDatabase(field(type), null), null, type);
      assert.equal(fromDatabase(field(type), undefined), null, type);
    }
  });

  it('parses JSON (raw text when it does not parse)', () => {
    assert.deepEqual(fromDatabase(field('JSON'), '{"a":[1,2]}'), { a: [1, 2] });
    assert.equal(fromDatabase(field('JSON'), '5'), 5);
    assert.equal(fromDatabase(field('JSON'), 'not json'), 'not json');
    assert.deepEqual(fromDatabase(field('JSON'), { already: 'parsed' }), { already: 'parsed' });
    assert.equal(fromDatabase(field('Geolocation'), '{"type":"FeatureCollection"}'), '{"type":"FeatureCollection"}');
  });

  it('shows dates and times as text, datetimes without zero microseconds like str(datetime)', () => {
    assert.equal(fromDatabase(field('Date'), '2024-01-15'), '2024-01-15');
    assert.equal(fromDatabase(field('Date'), new Date(Date.UTC(2024, 0, 15))), '2024-01-15');
    assert.equal(fromDatabase(field('Datetime'), '2024-01-15 10:30:00.000000'), '2024-01-15 10:30:00');
    assert.equal(fromDatabase(field('Datetime'), '2024-01-15 10:30:00.123456'), '2024-01-15 10:30:00.123456');
    assert.equal(fromDatabase(field('Datetime'), new Date(Date.UTC(2024, 0, 15, 10, 30, 0, 250))), '2024-01-15 10:30:00.250000');
    assert.equal(fromDatabase(field('Time'), '10:30:00'), '10:30:00');
  });

  it('returns text as stored', () => {
    for (const type of TEXT_TYPES) assert.equal(fromDatabase(field(type), 'stored'), 'stored', type);
    assert.equal(fromDatabase(field('Data'), ''), '');
  });

  it('round-trips every coerced value', () => {
    const samples: [DocField, unknown, unknown][] = [
      [field('Int'), '42', 42],
      [field('Float'), '1,234.5', 1234.5],
      [field('Check'), 'true', 1],
      [field('JSON'), { a: 1 }, { a: 1 }],
      [field('Date'), '2024-01-15T10:00:00Z', '2024-01-15'],
      [field('Datetime'), '2024-01-15T10:00:00+01:00', '2024-01-15 09:00:00'],
      [field('Time'), '9:05', '09:05:00'],
      [field('Data'), 7, '7'],
    ];
    for (const [f, input, shown] of samples) assert.deepEqual(fromDatabase(f, coerce(f, input)), shown, f.fieldtype);
  });
});

describe('defaultValue', () => {
  const now = new Date(Date.UTC(2024, 0, 15, 10, 30, 45, 123));
  const dctx = { user: 'jane@example.com', now };

  it('resolves Frappe\'s keywords', () => {
    assert.equal(defaultValue(field('Link', { options: 'User', default: '__user' }), dctx), 'jane@example.com');
    assert.equal(defaultValue(field('Data', { default: '__user' }), dctx), 'jane@example.com');
    assert.equal(defaultValue(field('Date', { default: 'Today' }), dctx), '2024-01-15');
    assert.equal(defaultValue(field('Date', { default: 'today' }), dctx), '2024-01-15');
    assert.equal(defaultValue(field('Datetime', { default: 'Now' }), dctx), '2024-01-15 10:30:45.123000');
    assert.equal(defaultValue(field('Datetime', { default: 'now' }), dctx), '2024-01-15 10:30:45.123000');
    assert.equal(defaultValue(field('Datetime', { default: 'Today' }), dctx), '2024-01-15 00:00:00.000000');
    assert.equal(defaultValue(field('Time', { default: 'Now' }), dctx), '10:30:45.123000');
  });

  it('coerces literal defaults to the field type', () => {
    assert.equal(defaultValue(field('Check', { default: '1' }), dctx), 1);
    assert.equal(defaultValue(field('Check', { default: '0' }), dctx), 0);
    assert.equal(defaultValue(field('Int', { default: '5' }), dctx), 5);
    assert.equal(defaultValue(field('Float', { default: '2.5' }), dctx), 2.5);
    assert.equal(defaultValue(field('Data', { default: 'hello' }), dctx), 'hello');
    assert.equal(defaultValue(field('Select', { options: 'Low\nMedium\nHigh', default: 'Medium' }), dctx), 'Medium');
    assert.equal(defaultValue(field('Date', { default: '2020-02-29' }), dctx), '2020-02-29');
    assert.equal(defaultValue(field('Time', { default: '09:00' }), dctx), '09:00:00');
    assert.equal(defaultValue(field('JSON', { default: '{"a":1}' }), dctx), '{"a":1}');
  });

  it('gives Check 0, numbers 0 unless mandatory, Select its first option', () => {
    assert.equal(defaultValue(field('Check'), dctx), 0);
    assert.equal(defaultValue(field('Check', { reqd: true }), dctx), 0);
    assert.equal(defaultValue(field('Int'), dctx), 0);
    assert.equal(defaultValue(field('Currency'), dctx), 0);
    assert.equal(defaultValue(field('Int', { reqd: true }), dctx), undefined);
    assert.equal(defaultValue(field('Select', { options: 'Open\nClosed' }), dctx), 'Open');
    assert.equal(defaultValue(field('Select', { options: 'Open\nClosed', reqd: true }), dctx), 'Open');
    assert.equal(defaultValue(field('Select', { options: '\nOpen\nClosed' }), dctx), '');
    assert.equal(defaultValue(field('Select', { options: '[Select]' }), dctx), undefined);
    assert.equal(defaultValue(field('Select'), dctx), undefined);
  });

  it('has no default otherwise', () => {
    for (const type of ['Data', 'Link', 'Date', 'Datetime', 'Time', 'Duration', 'JSON', 'Text'] as const) {
      assert.equal(defaultValue(field(type), dctx), undefined, type);
    }
    assert.equal(defaultValue(field('Link', { options: 'Company', default: ':Company' }), dctx), undefined);
    assert.equal(defaultValue(field('Table', { options: 'X', default: 'x' }), dctx), undefined);
    assert.equal(defaultValue(field('Section Break'), dctx), undefined);
  });
});

describe('coerceFieldValue: property', () => {
  const fieldArb = fc.record({
    fieldtype: fc.constantFrom(...VALUE_TYPES),
    options: fc.oneof(fc.constant(''), fc.constant('Open\nClosed'), fc.constant('\nA\nB'), fc.string()),
    reqd: fc.boolean(),
    unique: fc.boolean(),
    length: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 })),
  });
  const hostile = fc.oneof(
    fc.jsonValue(),
    fc.constantFrom(NaN, Infinity, -Infinity, -0, undefined, '', ' ', '\u0000', 2 ** 53, -(2 ** 63), 1e308),
    fc.string({ unit: 'binary' }),
    fc.date({ noInvalidDate: false }),
    fc.array(fc.anything(), { maxLength: 3 }),
  );

  it('never throws anything but a FrappeError, and returns a StoredValue', () => {
    fc.assert(
      fc.property(fieldArb, hostile, (spec, value) => {
        const f = field(spec.fieldtype, spec);
        try {
          const stored = coerce(f, value);
          assert.ok(stored === null || typeof stored === 'string' || (typeof stored === 'number' && Number.isFinite(stored)));
          // Coercion is idempotent: a stored value is accepted again unchanged.
          assert.deepEqual(coerce(f, stored), stored);
        } catch (error) {
          if (!(error instanceof FrappeError)) throw error;
          assert.equal(error.status, 417);
          assert.ok(error.is('ValidationError'));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with fromDatabase: what is stored reads back as the same value', () => {
    fc.assert(
      fc.property(fc.constantFrom<FieldType>('Int', 'Float', 'Check', 'Data', 'Date', 'Datetime', 'Time'), fc.jsonValue(), (type, value) => {
        const f = field(type);
        let stored: unknown;
        try {
          stored = coerce(f, value);
        } catch (error) {
          if (error instanceof FrappeError) return;
          throw error;
        }
        const shown = fromDatabase(f, stored);
        if (type === 'Datetime' && typeof stored === 'string') assert.equal(shown, stored.replace(/\.000000$/, ''));
        else assert.deepEqual(shown, stored);
      }),
      { numRuns: 1000 },
    );
  });
});
