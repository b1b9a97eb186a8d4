/**
 * Fuzzing list queries over HTTP against a real SQLite site: `filters`, `or_filters`, `fields`,
 * `order_by`, `group_by`, `limit_start`, `limit_page_length` (v1 `/api/resource/ToDo`), `start`
 * and `limit` (v2 `/api/v2/document/ToDo`, `/api/v2/doctype/ToDo/count`) and
 * `frappe.client.get_list` — as JSON text in the query string, as native JSON in a body, and as
 * garbage.
 *
 * Every answer is a 2xx or a 4xx with a known Frappe `exc_type` (never a 5xx, a crash or a hang).
 * And a real property: for random valid filters and or_filters built from ToDo's fields, in
 * every form Frappe accepts, the answer is 200 and holds exactly the rows the caller may read
 * that satisfy them (checked row by row against an independent evaluation of Frappe's filter
 * semantics).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { FALLBACK_DATE } from '../../src/doctype/query/timespan.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';
import { anyText, assertAnswer, fc, fuzzKit } from './fuzz-kit.ts';

const kit = fuzzKit('test/security/fuzz-list-queries.test.ts');

const USER = 'lists@example.com';
const OTHER = 'other@example.com';

const TEXT_FIELDS = ['status', 'priority', 'description', 'sender', 'color', 'name'] as const;
const FIELDS = [...TEXT_FIELDS, 'date', 'owner', 'creation', 'modified', 'docstatus', 'idx', 'allocated_to', 'reference_type', 'reference_name', 'role', 'assigned_by'];
const OPERATORS = ['=', '!=', '<>', '>', '<', '>=', '<=', 'like', 'not like', 'in', 'not in', 'is', 'between', 'timespan', 'previous', 'next', 'descendants of', 'ancestors of'];

/** Small alphabets, so filters often match; ASCII only, where SQLite's LIKE and ordering are plain. */
const WORDS = ['', 'a', 'ab', 'B', 'abc', 'a%', 'b_c', 'x\\y', 'zz', 'Open', 'Closed', 'High', 'Low', ' a', 'a '];
const SENDERS = [null, '', 'a', 'ab', 'B', 'b_c', 'x\\y', 'a%b'];
const DESCRIPTIONS = ['a', 'ab', 'abc', 'B', 'b_c', 'x\\y', 'zz', 'a b'];
const COLORS = [null, '', '#fff', '#ABC'];
const DATES = [null, '2024-01-01', '2024-02-29', '2023-12-31', '2024-06-15'];

interface Row {
  name: string;
  owner: string;
  status: string | null;
  priority: string | null;
  description: string | null;
  sender: string | null;
  color: string | null;
  date: string | null;
}

// ---------------------------------------------------------------------------------------------
// Garbage

const jsonish = fc.oneof(anyText, fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(null, true, Number.MAX_VALUE, '1e309', -1, 0.5, '', '[]', '{}', '[[]]', '[{}]'));
const fieldName = fc.oneof(fc.constantFrom(...FIELDS, 'tabToDo.status', '`tabToDo`.`name`', '"tabToDo"."name"', 'ToDo.status', 'tabUser.name', '*', 'tabToDo.*', 'roles.role', 'nope', ''), anyText);
const fieldExpr = fc.oneof(
  fieldName,
  fc.tuple(fc.constantFrom('count', 'sum', 'avg', 'min', 'max', 'COUNT', 'distinct', 'lower', 'sleep', 'group_concat'), fieldName).map(([fn, f]) => `${fn}(${f})`),
  fc.tuple(fieldName, fc.constantFrom(' as x', ' AS "y"', ' as ', ' as __proto__', ' z')).map(([f, a]) => `${f}${a}`),
  fc.constantFrom('count(*)', 'count(distinct name)', 'count(*) as count', 'name, status', 'DISTINCT name'),
);
const condition = fc.oneof(
  fc.tuple(fieldName, fc.oneof(fc.constantFrom(...OPERATORS), anyText), jsonish),
  fc.tuple(fieldName, jsonish),
  fc.tuple(fc.oneof(fc.constantFrom('ToDo', 'User', 'Has Role', 'DocType'), anyText), fieldName, fc.constantFrom(...OPERATORS), jsonish),
  fc.array(jsonish, { maxLength: 6 }),
);
const filtersValue = fc.oneof(
  fc.array(condition, { maxLength: 4 }),
  condition,
  fc.dictionary(fieldName, fc.oneof(jsonish, fc.tuple(fc.constantFrom(...OPERATORS), jsonish)), { maxKeys: 4 }),
  jsonish,
);
const orderBy = fc.oneof(
  fc.array(fc.tuple(fieldExpr, fc.constantFrom('', ' asc', ' DESC', ' desc nulls last', ' up', ' asc, ')), { maxLength: 3 }).map((items) => items.map(([f, d]) => `${f}${d}`).join(', ')),
  anyText,
  jsonish,
);
const count = fc.oneof(fc.constantFrom(0, 1, 5, -1, 1.5, 2 ** 53, Number.MAX_VALUE, '1e309', '0', '10', '-1', '1e3', ' 3 ', 'abc', '', null, true, '999999999999999999999'), fc.integer(), anyText);

const listParams = fc.record(
  {
    fields: fc.oneof(fc.array(fieldExpr, { maxLength: 4 }), fieldExpr, jsonish),
    filters: filtersValue,
    or_filters: filtersValue,
    order_by: orderBy,
    group_by: fc.oneof(fieldExpr, jsonish),
    limit_start: count,
    limit_page_length: count,
    start: count,
    limit: count,
    as_dict: fc.constantFrom(0, 1, 'false', 'true', ''),
    parent: fc.oneof(fc.constantFrom('ToDo', 'User'), anyText),
    debug: fc.constantFrom(0, 1, 'true'),
  },
  { requiredKeys: [] },
);

/** A query string: structured values as JSON text, strings as they are. */
function queryOf(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
    search.append(key, text.replace(/[\ud800-\udfff]/g, '?'));
  }
  return search.toString();
}

// ---------------------------------------------------------------------------------------------
// Valid filters and their meaning (frappe/model/db_query.py prepare_filter_condition)

type Condition = { field: string; op: string; value: unknown };

const textValue = fc.constantFrom(...WORDS);
const dateValue = fc.constantFrom('2023-12-31', '2024-01-01', '2024-02-29', '2024-03-01', '2024-06-15', '2025-01-01');

const textCondition: fc.Arbitrary<Condition> = fc.tuple(fc.constantFrom(...TEXT_FIELDS), fc.constantFrom('=', '!=', '<>', '>', '<', '>=', '<=', 'like', 'not like', 'in', 'not in', 'is', 'LIKE', ' in ')).chain(([field, op]) => {
  const norm = op.trim().toLowerCase();
  const value: fc.Arbitrary<unknown> =
    norm === 'is'
      ? fc.constantFrom('set', 'not set', 'Set', ' not set ')
      : norm === 'in' || norm === 'not in'
        ? fc.oneof(fc.array(textValue, { maxLength: 4 }), fc.array(textValue, { minLength: 1, maxLength: 3 }).map((items) => items.join(',')))
        : norm === 'like' || norm === 'not like'
          ? fc.oneof(textValue, fc.tuple(fc.constantFrom('', '%', '_'), textValue, fc.constantFrom('', '%', '_', '\\', '\\%')).map(([a, b, c]) => `${a}${b}${c}`))
          : fc.oneof(textValue, fc.constantFrom(null, 0, 1));
  return value.map((v) => ({ field, op, value: v }));
});

const dateCondition: fc.Arbitrary<Condition> = fc.constantFrom('=', '!=', '>', '<', '>=', '<=', 'between', 'is').chain((op) => {
  const value: fc.Arbitrary<unknown> =
    op === 'is' ? fc.constantFrom('set', 'not set') : op === 'between' ? fc.tuple(dateValue, dateValue) : dateValue;
  return value.map((v) => ({ field: 'date', op, value: v }));
});

const validCondition = fc.oneof({ weight: 3, arbitrary: textCondition }, { weight: 1, arbitrary: dateCondition });

/** The forms Frappe accepts for a list of conditions. */
function encodeFilters(conditions: Condition[], form: number): unknown {
  switch (form) {
    case 0:
      return conditions.map((c) => [c.field, c.op, c.value]);
    case 1:
      return conditions.map((c) => ['ToDo', c.field, c.op, c.value]);
    case 2:
      // A dict: one condition per field (later ones win), `=` as a bare value.
      return Object.fromEntries(conditions.map((c) => [c.field, c.op === '=' && !Array.isArray(c.value) ? c.value : [c.op, c.value]]));
    default:
      return conditions.map((c) => ({ [c.field]: [c.op, c.value] }));
  }
}

function effective(conditions: Condition[], form: number): Condition[] {
  if (form !== 2) return conditions;
  const byField = new Map<string, Condition>();
  for (const c of conditions) {
    byField.delete(c.field);
    byField.set(c.field, c);
  }
  return [...byField.values()];
}

const truthy = (v: unknown) => (Array.isArray(v) ? v.length > 0 : Boolean(v));

/** SQLite's LIKE with ESCAPE '\': `%`, `_`, case-insensitive for ASCII letters. */
function likeMatches(text: string, pattern: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) source += escapeRegex(pattern[++i] as string);
    else if (c === '%') source += '[\\s\\S]*';
    else if (c === '_') source += '[\\s\\S]';
    else source += escapeRegex(c);
  }
  return new RegExp(`^${source}$`, 'i').test(text);
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Whether `row` satisfies one condition, as Frappe (and so cortado) defines it. */
function satisfies(row: Row, c: Condition): boolean {
  const op = c.op.trim().toLowerCase();
  const isDate = c.field === 'date';
  const raw = row[c.field as keyof Row];
  const fallback = isDate ? FALLBACK_DATE : '';
  const nullable = c.field !== 'name';
  const coalesced = raw ?? fallback;
  const coerce = (v: unknown): string => (v === null || v === undefined || v === '' ? fallback : String(v));
  const compare = (left: string, right: string) => (left < right ? -1 : left > right ? 1 : 0);
  switch (op) {
    case 'is': {
      const set = (raw ?? '') !== '';
      return String(c.value).trim().toLowerCase() === 'set' ? set : !set;
    }
    case 'in':
    case 'not in': {
      const items = Array.isArray(c.value) ? c.value : typeof c.value === 'string' && c.value !== '' ? c.value.split(',') : [];
      const values = items.map((item) => (typeof item === 'string' ? coerce(item.trim()) : coerce(item)));
      const canBeNull = op === 'not in' || items.length === 0 || items.some((item) => item === null || item === '');
      if (values.length === 0) values.push(fallback);
      const left = canBeNull || !nullable ? coalesced : raw;
      if (left === null) return false;
      return op === 'in' ? values.includes(left) : !values.includes(left);
    }
    case 'like':
    case 'not like': {
      const text = c.value === null || c.value === undefined ? '' : String(c.value);
      const trailing = /\\+$/.exec(text)?.[0].length ?? 0;
      const pattern = trailing % 2 === 1 ? `${text}\\` : text;
      const canBeNull = !(op === 'like' && truthy(c.value));
      const left = canBeNull || !nullable ? coalesced : raw;
      if (left === null) return false;
      return op === 'like' ? likeMatches(left, pattern) : !likeMatches(left, pattern);
    }
    case 'between': {
      const [from, to] = c.value as [string, string];
      return raw !== null && raw >= from && raw <= to;
    }
    default: {
      const value = coerce(c.value);
      const canBeNull = !(op === '=' && truthy(c.value));
      const left = canBeNull || !nullable ? coalesced : raw;
      if (left === null) return false;
      const cmp = compare(left, value);
      if (op === '=') return cmp === 0;
      if (op === '!=' || op === '<>') return cmp !== 0;
      if (op === '>') return cmp > 0;
      if (op === '<') return cmp < 0;
      if (op === '>=') return cmp >= 0;
      return cmp <= 0;
    }
  }
}

describe('fuzz: list query parameters [sqlite]', () => {
  let t: TestSite;
  let app: FastifyInstance;
  let auth: string;
  let adminAuth: string;
  let rows: Row[];

  before(async () => {
    t = await createTestSite();
    await addUser(t.site, { email: USER, roles: [] });
    await addUser(t.site, { email: OTHER, roles: [] });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, USER, hashKey));
    auth = `token ${keys.api_key}:${keys.api_secret}`;
    const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', hashKey));
    adminAuth = `token ${admin.api_key}:${admin.api_secret}`;
    // 48 ToDos over the small alphabets, half of them the caller's.
    const statuses = ['Open', 'Closed', 'Cancelled'];
    const priorities = ['High', 'Medium', 'Low'];
    for (let i = 0; i < 48; i++) {
      const owner = i % 2 === 0 ? USER : OTHER;
      await runAs(t.site, owner, (db) =>
        db.insert({
          doctype: 'ToDo',
          status: statuses[i % 3],
          priority: priorities[Math.floor(i / 3) % 3],
          description: DESCRIPTIONS[i % DESCRIPTIONS.length],
          sender: SENDERS[Math.floor(i / 2) % SENDERS.length],
          color: COLORS[i % COLORS.length],
          date: DATES[Math.floor(i / 4) % DATES.length],
        }),
      );
    }
    app = await createServer(t.site);
    const all = await app.inject({
      url: `/api/resource/ToDo?${queryOf({ fields: ['name', 'owner', 'status', 'priority', 'description', 'sender', 'color', 'date'], limit_page_length: 0 })}`,
      headers: { authorization: adminAuth },
    });
    assert.equal(all.statusCode, 200, all.body);
    rows = (all.json() as { data: Row[] }).data;
    assert.equal(rows.length, 48);
  });
  after(async () => {
    await app?.close();
    await t?.cleanup();
  });

  test('garbage list parameters on v1, v2, count and get_list: 2xx or a known 4xx', async () => {
    const endpoint = fc.constantFrom('/api/resource/ToDo', '/api/v1/resource/ToDo', '/api/v2/document/ToDo', '/api/v2/doctype/ToDo/count', '/api/method/frappe.client.get_list', '/api/method/frappe.client.get_count', '/api/resource/Has%20Role', '/api/resource/User');
    const how = fc.constantFrom('query', 'query', 'get-json', 'post-json');
    await kit.check(
      fc.asyncProperty(endpoint, listParams, how, fc.boolean(), async (url, params, transport, asAdmin) => {
        const authorization = asAdmin ? adminAuth : auth;
        const args = url.includes('frappe.client') ? { doctype: 'ToDo', ...params } : params;
        let res;
        if (transport === 'query' || (transport === 'post-json' && !url.includes('frappe.client'))) {
          res = await kit.inject(app, { url: `${url}?${queryOf(args)}`, headers: { authorization } });
        } else {
          res = await kit.inject(app, { method: transport === 'get-json' ? 'GET' : 'POST', url, headers: { authorization, 'content-type': 'application/json' }, payload: JSON.stringify(args) });
        }
        assertAnswer(res);
        if (res.statusCode === 200 && !asAdmin && url.endsWith('/ToDo') && !('fields' in params) && !('group_by' in params)) {
          // Whatever else was asked, another user's rows never come back.
          const data = (res.json() as { data: unknown[] }).data;
          const names = new Set(rows.filter((r) => r.owner !== USER).map((r) => r.name));
          for (const row of data) {
            const name = Array.isArray(row) ? row[0] : (row as { name?: unknown }).name;
            assert.ok(!names.has(String(name)), `row ${String(name)} of another user returned`);
          }
        }
      }),
      700,
    );
  });

  test('random valid filters and or_filters: 200, exactly the readable rows that satisfy them', async () => {
    const filters = fc.record({
      and: fc.array(validCondition, { maxLength: 3 }),
      or: fc.array(validCondition, { maxLength: 3 }),
      form: fc.nat(3),
      orForm: fc.nat(3),
      version: fc.constantFrom('v1', 'v2', 'get_list'),
      asAdmin: fc.boolean(),
    });
    await kit.check(
      fc.asyncProperty(filters, async ({ and, or, form, orForm, version, asAdmin }) => {
        const params: Record<string, unknown> = { fields: ['name'], filters: encodeFilters(and, form) };
        if (or.length > 0) params.or_filters = encodeFilters(or, orForm);
        let res;
        if (version === 'v1') {
          res = await kit.inject(app, { url: `/api/resource/ToDo?${queryOf({ ...params, limit_page_length: 0 })}`, headers: { authorization: asAdmin ? adminAuth : auth } });
        } else if (version === 'v2') {
          res = await kit.inject(app, { url: `/api/v2/document/ToDo?${queryOf({ ...params, limit: 1000 })}`, headers: { authorization: asAdmin ? adminAuth : auth } });
        } else {
          res = await kit.inject(app, {
            method: 'POST',
            url: '/api/method/frappe.client.get_list',
            headers: { authorization: asAdmin ? adminAuth : auth, 'content-type': 'application/json' },
            payload: JSON.stringify({ doctype: 'ToDo', ...params, limit_page_length: 0 }),
          });
        }
        assert.equal(res.statusCode, 200, res.body.slice(0, 500));
        const body = res.json() as { data?: { name: string }[]; message?: { name: string }[] };
        const got = (body.data ?? body.message ?? []).map((r) => r.name).sort();
        const andAll = effective(and, form);
        const orAny = effective(or, orForm);
        const expected = rows
          .filter((row) => asAdmin || row.owner === USER)
          .filter((row) => andAll.every((c) => satisfies(row, c)) && (orAny.length === 0 || orAny.some((c) => satisfies(row, c))))
          .map((row) => row.name)
          .sort();
        if (JSON.stringify(got) !== JSON.stringify(expected)) {
          const wrong = [...got.filter((n) => !expected.includes(n)), ...expected.filter((n) => !got.includes(n))].map((n) => rows.find((r) => r.name === n));
          assert.fail(`filters ${JSON.stringify(params)}: ${got.length} rows, expected ${expected.length}; differing rows ${JSON.stringify(wrong.slice(0, 3))}`);
        }
      }),
      400,
    );
  });
});
