/**
 * Hostile input: a corpus of SQL-injection payloads thrown at every list argument, and
 * property tests with random text. Each payload is refused with a DataError / ValidationError
 * (417), or — for filter values — bound as data; no extra rows come back and the tables are
 * unchanged afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { FrappeError } from '../../core/errors.ts';
import { buildListQuery, type ListQueryInput } from './build-list-query.ts';
import { makeContext, seed } from './fixtures.test.ts';

type Storage = Awaited<ReturnType<typeof seed>>;

/** Payloads aimed at identifiers (fields, filter field names, order_by, group_by). */
const IDENTIFIER_PAYLOADS = [
  'name; DROP TABLE "tabTask"',
  'name; DROP TABLE `tabTask`; --',
  'name --',
  'name -- comment',
  'name /* comment */',
  'name/**/',
  '(select name from tabMember)',
  '(SELECT group_concat(salary) FROM tabMember)',
  'name, (select 1)',
  'name,(secret)',
  'name UNION SELECT name FROM tabMember',
  'name union all select sql from sqlite_master',
  'name FROM tabMember --',
  'version()',
  'sqlite_version()',
  'sleep(5)',
  'pg_sleep(5)',
  'benchmark(1000000, md5(1))',
  'user()',
  'database()',
  'current_user',
  '@@version',
  'concat(name, secret)',
  'ifnull(name, 1)',
  'coalesce(secret, name)',
  'group_concat(name)',
  'substr(secret, 1, 1)',
  'load_extension("x")',
  'case when 1=1 then name end',
  "name' OR '1'='1",
  'name" OR "1"="1',
  '"name"',
  "'name'",
  '`name`; select 1',
  '`name` `',
  '`tabTask`.`name`; select 1',
  '`tabTask`.`name` FROM `tabMember` --',
  'tabMember.salary',
  '`tabMember`.`full_name`',
  'sqlite_master.sql',
  'tabTask.name.x',
  'name\u0000',
  'name\n--',
  'name\r\nunion select 1',
  '1',
  '1=1',
  'name or 1=1',
  'name = name',
  'name is not null',
  'count(select 1)',
  'count(*) , (name)',
  'sum(qty)) --',
  'count(distinct name)) x',
  'max(qty) as `x`;',
  'max(qty) as x; drop table tabTask',
  'avg(tabTask.qty; )',
  'count(name) over ()',
  'name collate nocase',
  'name as "x"',
  "name as 'x'",
  'items.`item_code`; --',
  'assigned_to.`name` FROM tabMember --',
  '`tab Task`.name',
  '$1',
  '?',
  'name ?',
  'x'.repeat(1000),
];

/** Payloads aimed at order_by in particular (directions, clauses). */
const ORDER_PAYLOADS = [
  ...IDENTIFIER_PAYLOADS,
  'name desc; drop table tabTask',
  'name desc, (select 1)',
  'name asc desc',
  'name desc nulls first',
  'modified desc limit 1',
  'name desc limit 1 offset 1',
  'rand()',
  'random()',
  '(case when (select 1)=1 then name else modified end)',
  'name desc --',
  'if(1=1, name, modified)',
];

const OPERATOR_PAYLOADS = [
  '= 1 OR 1=1 --',
  '=1 or 1=1',
  "= '' OR 1=1 --",
  'in (select name from tabMember)',
  "like' or 1=1",
  '!=; drop table tabTask',
  'regexp',
  'glob',
  'match',
  'is not',
  'is null or 1=1',
  '= ?',
  '<=>',
  '==',
  'not',
  'between 1 and 2 or 1=1',
  'like; --',
  '/* */ =',
  ')',
  ' ',
  '= =',
];

/** Values: always bound as parameters. None of them equals or contains a stored value. */
const VALUE_PAYLOADS = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "x' OR 'x'='x",
  "x'); DROP TABLE \"tabTask\"; --",
  '"; DROP TABLE tabTask; --',
  "' UNION SELECT name, salary FROM tabMember --",
  "1' AND sleep(5) --",
  "'; SELECT pg_sleep(5); --",
  '\\',
  "\\' OR 1=1 --",
  '?',
  '? OR 1=1',
  '$1',
  '$1 OR 1=1',
  "%' --",
  "\u0000' OR 1=1",
  'Open\u0000',
  "Open' --",
  '`status`',
  '"status"',
  '(select 1)',
  '0x4f70656e',
  "char(79,112,101,110)",
  "' || (select salary from tabMember limit 1) || '",
];

const LIMIT_PAYLOADS: unknown[] = [
  '1; DROP TABLE tabTask',
  '-1',
  '1 OR 1=1',
  '1e3',
  '0x10',
  '10 OFFSET 5',
  '1 --',
  '(select 1)',
  '1,2',
  '١٢',
  [1],
  { limit: 1 },
  true,
  -5,
  2.5,
  Number.POSITIVE_INFINITY,
];

function isRefusal(error: unknown): boolean {
  return error instanceof FrappeError && error.is('ValidationError') && error.status === 417;
}

describe('SQL injection corpus', () => {
  let storage: Storage;
  let snapshot: string;

  async function takeSnapshot(): Promise<string> {
    const tables = await storage.tableNames();
    const contents: Record<string, unknown> = {};
    for (const table of tables) contents[table] = await storage.all(`SELECT * FROM "${table}" ORDER BY "name"`);
    return JSON.stringify({ tables, contents });
  }

  before(async () => {
    storage = await seed();
    snapshot = await takeSnapshot();
  });

  after(async () => {
    await storage.close();
  });

  function compile(input: Omit<ListQueryInput, 'doctype'>): ReturnType<typeof buildListQuery> {
    return buildListQuery({ doctype: 'Task', ...input }, makeContext(storage));
  }

  function refused(input: Omit<ListQueryInput, 'doctype'>, label: string): void {
    assert.throws(() => compile(input), isRefusal, `${label} was not refused: ${JSON.stringify(input).slice(0, 200)}`);
  }

  async function run(input: Omit<ListQueryInput, 'doctype'>): Promise<Record<string, unknown>[]> {
    const query = compile(input);
    return storage.all(query.sql, query.params);
  }

  test('the corpus is large enough', () => {
    const total =
      IDENTIFIER_PAYLOADS.length + ORDER_PAYLOADS.length + OPERATOR_PAYLOADS.length + VALUE_PAYLOADS.length + LIMIT_PAYLOADS.length;
    assert.ok(IDENTIFIER_PAYLOADS.length >= 40, `only ${IDENTIFIER_PAYLOADS.length} identifier payloads`);
    assert.ok(total >= 150);
  });

  test('fields: every payload refused', () => {
    for (const payload of IDENTIFIER_PAYLOADS) {
      refused({ fields: [payload] }, 'fields entry');
      refused({ fields: ['name', payload] }, 'fields entry after name');
      refused({ fields: JSON.stringify([payload]) }, 'fields JSON');
      refused({ fields: [`${payload} as x`] }, 'aliased fields entry');
    }
    // `*` and the comma-list fallback do not open a door either.
    refused({ fields: '*, (select 1)' }, 'star with sub-query');
    refused({ fields: 'name, secret; drop table tabTask' }, 'comma list');
    refused({ fields: ['name as x; drop table tabTask'] }, 'alias');
    refused({ fields: [{ name: 1 }] }, 'object entry');
  });

  test('filter field names and DocTypes: every payload refused', () => {
    for (const payload of IDENTIFIER_PAYLOADS) {
      refused({ filters: [[payload, '=', 'x']] }, 'filter field');
      refused({ filters: { [payload]: 'x' } }, 'dict filter key');
      refused({ or_filters: [[payload, 'like', '%']] }, 'or_filters field');
      refused({ filters: [[payload, 'status', '=', 'x']] }, 'filter DocType');
      refused({ filters: [['Task', payload, '=', 'x']] }, 'field after DocType');
    }
  });

  test('operators: every payload refused with "Operator must be one of"', () => {
    for (const payload of OPERATOR_PAYLOADS) {
      assert.throws(
        () => compile({ filters: [['status', payload, 'Open']] }),
        (error: unknown) => isRefusal(error) && /^Operator must be one of/.test((error as Error).message),
        `operator ${JSON.stringify(payload)}`,
      );
    }
    refused({ filters: { status: [{ op: '=' }, 'x'] } }, 'non-string operator');
  });

  test('order_by and group_by: every payload refused', () => {
    for (const payload of ORDER_PAYLOADS) refused({ order_by: payload }, 'order_by');
    for (const payload of IDENTIFIER_PAYLOADS) {
      refused({ fields: ['status', 'count(*) as c'], group_by: payload }, 'group_by');
      refused({ group_by: `status, ${payload}` }, 'second group_by item');
    }
  });

  test('limit and limit_start: every payload refused', () => {
    for (const payload of LIMIT_PAYLOADS) {
      refused({ limit: payload }, 'limit');
      refused({ limit: 5, limit_start: payload }, 'limit_start');
    }
  });

  /** The rows, or 'refused' when the compiler answered 417 (e.g. a NUL character). */
  async function rowsOrRefused(input: Omit<ListQueryInput, 'doctype'>): Promise<Record<string, unknown>[] | 'refused'> {
    try {
      return await run(input);
    } catch (error) {
      assert.ok(isRefusal(error), `${JSON.stringify(input)}: ${String(error)}`);
      return 'refused';
    }
  }

  function noRows(result: Record<string, unknown>[] | 'refused', label: string): void {
    assert.ok(result === 'refused' || result.length === 0, `${label} returned ${JSON.stringify(result)}`);
  }

  test('filter values are data: they match nothing and add no rows', async () => {
    for (const payload of VALUE_PAYLOADS) {
      const label = JSON.stringify(payload);
      noRows(await rowsOrRefused({ filters: { name: payload } }), `name = ${label}`);
      noRows(await rowsOrRefused({ filters: [['status', '=', payload]] }), `status = ${label}`);
      noRows(await rowsOrRefused({ filters: [['subject', 'like', `%${payload}%`]] }), `subject like ${label}`);
      noRows(await rowsOrRefused({ filters: [['status', 'in', [payload, 'nothing']]] }), `status in ${label}`);
      noRows(await rowsOrRefused({ filters: [['assigned_to.full_name', '=', payload]] }), `link = ${label}`);
      noRows(await rowsOrRefused({ filters: [['Task Item', 'item_code', '=', payload]] }), `child = ${label}`);
      noRows(await rowsOrRefused({ or_filters: [['status', '=', payload], ['name', '=', payload]] }), `or ${label}`);
      noRows(await rowsOrRefused({ filters: [['due_date', '=', payload]] }), `due_date = ${label}`);
      const different = await rowsOrRefused({ filters: [['status', '!=', payload]] });
      assert.ok(different === 'refused' || different.length === 6, `status != ${label}`);
      // Numbers are coerced (frappe flt): text becomes 0 and matches only qty = 0.
      const numeric = await rowsOrRefused({ filters: [['qty', '=', payload]] });
      assert.ok(numeric === 'refused' || numeric.every((row) => row.name === 't3'), `qty = ${label}`);
      assert.equal(await rowsOrRefused({ filters: [['due_date', 'timespan', payload]] }), 'refused', `timespan ${label}`);
    }
  });

  test('NUL characters in values are refused', () => {
    refused({ filters: [['subject', 'like', '%\u0000%']] }, 'NUL in like');
    refused({ filters: { status: 'Open\u0000' } }, 'NUL in =');
    refused({ filters: [['status', 'in', ['a', '\u0000']]] }, 'NUL in in');
  });

  test('values never reach the SQL text', () => {
    const base = compile({ filters: [['status', '=', 'x'], ['subject', 'like', 'x'], ['name', 'in', ['x', 'y']]] }).sql;
    for (const payload of VALUE_PAYLOADS.filter((p) => !p.includes('\u0000'))) {
      const query = compile({ filters: [['status', '=', payload], ['subject', 'like', payload], ['name', 'in', [payload, 'y']]] });
      assert.equal(query.sql, base, JSON.stringify(payload));
      assert.ok(query.params.includes(payload));
    }
  });

  test('the tables are intact afterwards', async () => {
    assert.equal(await takeSnapshot(), snapshot);
  });
});

describe('property: random text never produces unsafe or broken SQL', () => {
  let storage: Storage;
  before(async () => {
    storage = await seed();
  });
  after(async () => {
    await storage.close();
  });

  const TOKENS = [
    'name', 'status', 'qty', 'secret', 'items', 'assigned_to', 'full_name', 'item_code', 'idx', 'creation', 'modified',
    'tabTask', '`tabTask`', '`tabTask Item`', 'tabMember', '`', '.', '(', ')', ',', ' ', '  ', '\t', '\n', '*',
    'count', 'sum', 'max', 'avg', 'distinct', 'as', 'AS', 'x', 'asc', 'desc', ';', '--', '/*', '*/', "'", '"',
    'select', 'from', 'union', 'drop table', 'or', '=', '1', '?', '$1', '\\', '%', '_assign', 'sqlite_master', 'n',
  ];
  const tokenText = fc.array(fc.constantFrom(...TOKENS), { maxLength: 8 }).map((parts) => parts.join(''));
  const text = fc.oneof(
    { weight: 4, arbitrary: tokenText },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  );

  const VALID_FIELDS = [
    'name', 'status', '*', 'count(name) as n', 'sum(qty)', 'items.item_code', 'assigned_to.full_name', '`tabTask`.`qty`',
    'tabTask.idx as i', 'count(distinct status)', 'items.*',
  ];
  const VALID_ORDER = ['name', 'modified desc', 'items.idx asc', 'count(name) desc', '`tabTask`.`qty` ASC', 'n desc'];
  /** Mostly-valid shapes with random holes, so that many inputs get past the parser. */
  const fieldEntry = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...VALID_FIELDS) },
    { weight: 3, arbitrary: text },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('count', 'sum', 'MAX', 'min', 'avg', 'concat', 'count(distinct', 'count(*'), text)
        .map(([fn, arg]) => `${fn}(${arg})`),
    },
    { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(...VALID_FIELDS), text), text).map(([a, b]) => `${a} as ${b}`) },
  );
  const orderText = fc.oneof(
    text,
    fc.array(fc.oneof(fc.constantFrom(...VALID_ORDER), text), { minLength: 1, maxLength: 3 }).map((items) => items.join(', ')),
  );

  /** Compiles; if that succeeds, the SQL must be safe-looking and run. */
  async function check(input: Omit<ListQueryInput, 'doctype'>): Promise<void> {
    let query;
    try {
      query = buildListQuery({ doctype: 'Task', ...input }, makeContext(storage));
    } catch (error) {
      assert.ok(isRefusal(error), `not a 417 FrappeError: ${String(error)} for ${JSON.stringify(input)}`);
      return;
    }
    assert.doesNotMatch(query.sql, /'|;|--|\/\*|`|\$/, query.sql);
    for (const identifier of query.sql.match(/"[^"]*"/g) ?? []) {
      assert.match(identifier, /^"[A-Za-z0-9_][A-Za-z0-9_ -]*"$/, `identifier ${identifier} in ${query.sql}`);
    }
    assert.equal((query.sql.match(/\?/g) ?? []).length, query.params.length);
    const rows = await storage.all(query.sql, query.params);
    assert.ok(rows.length <= 8, 'never more rows than the tables can produce');
  }

  test('fields', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fieldEntry, { minLength: 1, maxLength: 3 }), (fields) => check({ fields })),
      { numRuns: 500 },
    );
  });

  test('order_by', async () => {
    await fc.assert(
      fc.asyncProperty(orderText, fc.constantFrom(undefined, 'status'), (order_by, group_by) =>
        check({ fields: ['name', 'status', 'count(name) as n'], order_by, group_by }),
      ),
      { numRuns: 500 },
    );
  });

  test('group_by', async () => {
    await fc.assert(
      fc.asyncProperty(orderText, (group_by) => check({ fields: ['status', 'count(*) as n'], group_by })),
      { numRuns: 300 },
    );
  });

  test('filter field names and operators', async () => {
    await fc.assert(
      fc.asyncProperty(text, text, fc.constantFrom('=', 'like', 'in', 'is', '!=', 'between'), (field, op, knownOp) =>
        Promise.all([
          check({ filters: [[field, op, 'x']] }),
          check({ filters: [[field, knownOp, knownOp === 'is' ? 'set' : ['a', 'b']]] }),
        ]).then(() => undefined),
      ),
      { numRuns: 300 },
    );
  });

  test('filter values are always parameters', async () => {
    const value = fc.oneof(fc.string({ minLength: 1 }), fc.string({ unit: 'binary', minLength: 1 }));
    const base = buildListQuery({ doctype: 'Task', filters: [['status', '=', 'x']] }, makeContext(storage)).sql;
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        if (v.includes('\u0000')) {
          assert.throws(() => buildListQuery({ doctype: 'Task', filters: { status: v } }, makeContext(storage)), isRefusal);
          return;
        }
        const query = buildListQuery({ doctype: 'Task', filters: [['status', '=', v]] }, makeContext(storage));
        assert.equal(query.sql, base);
        const rows = await storage.all<{ name: string }>(query.sql, query.params);
        const expected = ['Open', 'Closed', 'Cancelled'].includes(v) ? 1 : 0;
        assert.ok(rows.length <= (expected ? 2 : 0), `${JSON.stringify(v)} matched ${rows.length} rows`);
      }),
      { numRuns: 300 },
    );
  });
});
