/**
 * SQL injection over HTTP — Fastify's request injection, so every request goes through the whole
 * pipeline of `createServer` (routing, argument parsing, authentication, permissions, the list
 * engine, error rendering) without a socket. A corpus of 70 payloads (classic quote breaking,
 * stacked queries, comments, UNION SELECTs from `__Auth` and the catalogues, sub-queries,
 * `sleep`/`pg_sleep`/`benchmark`/recursive CTEs, backticks and qualified names, hex/char()
 * tricks, unicode quotes, NUL bytes and control characters, huge strings) is thrown at every list
 * parameter — `fields` (JSON list and bare text), `filters` (dict and list forms: field names,
 * DocType names, operators, values; bare text), `or_filters`, `order_by`, `group_by`,
 * `limit_start`/`start`, `limit_page_length`/`limit`, `parent` — of v1 `/api/resource/ToDo`,
 * v2 `/api/v2/document/ToDo` and `frappe.client.get_list` (query string, and native JSON in a
 * POST body), at the filters of `frappe.client.get_count`, at `fieldname`/`filters`/`parent` of
 * `frappe.client.get_value`, at `parent` and values of a child-table list, as 1 MiB strings in a
 * JSON body, at path segments (`/api/resource/<p>`, `/api/resource/ToDo/<p>` with GET, PUT and
 * DELETE, `/api/v2/document/<p>`, `/api/v2/document/ToDo/<p>` with GET, PATCH and DELETE,
 * `/api/v2/doctype/<p>/count|meta`, `frappe.client.get`), and at credentials (login `usr`, the
 * key of `token` and `Basic` headers, a `sid` argument).
 *
 * Each answer must be a refusal — a 4xx with a Frappe exception type (`exc_type`, or v2
 * `errors[0].type`) — or, where the payload is a value (or a legal identifier such as
 * `` `tabToDo`.`name` ``), a 200 that treats it as data: value filters return exactly the rows
 * whose text equals the payload. Never a 5xx; never a row the caller may not read (Alice has
 * only ToDo's `if_owner` access; other users' rows, `__Auth` hashes and API secrets must never
 * appear in an answer); no request slower than 2 s (timing payloads never run). Afterwards every
 * table, its columns and its row count, every ToDo row and `__Auth` are unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { isExcType } from '../../src/core/errors.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
/** No request may take longer than this (timing payloads must never run). */
const MAX_MS = 2000;
const CONCURRENCY = 8;
/** Fastify's default `maxParamLength`. */
const FASTIFY_MAX_PARAM_LENGTH = 100;

/** The corpus. Anything here may land in an identifier slot, a value slot or a path segment. */
const PAYLOADS: readonly string[] = [
  // Classic quote breaking
  "' OR 1=1 --",
  "' OR '1'='1",
  '" OR "1"="1',
  "') OR ('1'='1",
  "' OR 1=1#",
  '1 OR 1=1',
  "%' OR 1=1 --",
  "\\' OR 1=1 --",
  // Stacked queries
  '"; DROP TABLE "tabToDo"; --',
  "'; DROP TABLE tabToDo; --",
  '`; DROP TABLE `tabToDo`; --',
  'name; DELETE FROM "tabToDo"',
  "1; UPDATE \"tabToDo\" SET \"owner\" = 'alice@example.com'",
  "name; INSERT INTO \"tabToDo\" (\"name\") VALUES ('x')",
  'name; DELETE FROM "__Auth"; --',
  // UNION SELECT from __Auth and the catalogues
  "' UNION SELECT name, password FROM __Auth --",
  '" UNION SELECT "name", "password" FROM "__Auth" --',
  'name UNION ALL SELECT sql FROM sqlite_master',
  'name UNION SELECT table_name FROM information_schema.tables',
  '1 UNION SELECT NULL,NULL,NULL--',
  "' UNION SELECT api_key, api_secret FROM tabUser --",
  // Sub-queries
  '(select password from __Auth limit 1)',
  '(SELECT "password" FROM "__Auth")',
  'name, (select password from __Auth)',
  'exists(select 1 from __Auth)',
  'name in (select name from tabToDo)',
  // Comments
  'name /* comment */',
  'name -- comment',
  '/*!50000 name*/',
  'name/**/OR/**/1=1',
  // Timing
  'sleep(5)',
  'pg_sleep(5)',
  '1 AND (SELECT 1 FROM (SELECT SLEEP(5))x)',
  "'; SELECT pg_sleep(5); --",
  "' OR pg_sleep(5) IS NULL --",
  'benchmark(10000000, md5(1))',
  'randomblob(1000000000)',
  "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c)",
  // Backticks, quoting, qualified names
  '`name`',
  '`tabToDo`.`name`',
  '`tabToDo`.`name` FROM `tabToDo` --',
  '"tabToDo"."name"',
  '`tabUser`.`api_key`',
  '__Auth.password',
  // Hex / char() / functions
  '0x27206f7220313d31',
  "char(39)||char(32)||'or 1=1'",
  "x'27'",
  'concat(name, owner)',
  'sqlite_version()',
  '@@version',
  "load_extension('x')",
  'case when 1=1 then name else owner end',
  // Odd SQL shapes
  'name collate nocase',
  'name) or (1=1',
  'count(*)) from tabToDo --',
  'owner desc; --',
  '1 desc, (select 1)',
  // Unicode quotes, NUL bytes, control characters
  '\u2019 OR 1=1 --',
  '\u02bc OR \u02bc1\u02bc=\u02bc1',
  '\uff07 OR 1=1 --',
  "name\u0000' OR 1=1 --",
  '\u0000',
  'name\n; DROP TABLE tabToDo',
  // Numbers, JSON-ish and wildcards
  '-1',
  '99999999999999999999999',
  'null',
  '[]',
  '{}',
  '_%',
  // Huge (kept under the 16 KiB header limit once percent-encoded)
  `${'a'.repeat(3000)}' OR 1=1 --`,
];

/** What a slot holds: a name the server must check, a value it must bind, a number, or ignored text. */
type Kind = 'identifier' | 'value' | 'number' | 'ignored';

interface Slot {
  name: string;
  kind: Kind;
  /** The arguments carrying payload `p` (objects are sent as JSON text in query strings). */
  args(p: string): Record<string, unknown>;
  /** For value slots: the ToDo `description` values whose rows a correct answer holds (undefined: not checked). */
  expected?(p: string, descriptions: readonly string[]): readonly string[] | undefined;
}

const eqDescription = (p: string, descriptions: readonly string[]) => descriptions.filter((d) => d === p);

/** The list-parameter slots (v1 names; v2 renames the paging ones). */
function listSlots(paging: { start: string; limit: string }): Slot[] {
  return [
    { name: 'fields (JSON list)', kind: 'identifier', args: (p) => ({ fields: ['name', p] }) },
    { name: 'fields (bare text)', kind: 'identifier', args: (p) => ({ fields: p }) },
    { name: 'filters dict: field name', kind: 'identifier', args: (p) => ({ filters: { [p]: 'x' } }) },
    { name: 'filters dict: operator', kind: 'identifier', args: (p) => ({ filters: { name: [p, 'x'] } }) },
    { name: 'filters list: field name', kind: 'identifier', args: (p) => ({ filters: [[p, '=', 'x']] }) },
    { name: 'filters list: DocType', kind: 'identifier', args: (p) => ({ filters: [[p, 'name', '=', 'x']] }) },
    { name: 'filters list: operator', kind: 'identifier', args: (p) => ({ filters: [['name', p, 'x']] }) },
    { name: 'filters (bare text)', kind: 'identifier', args: (p) => ({ filters: p }) },
    { name: 'filters dict: value', kind: 'value', args: (p) => ({ filters: { description: p } }), expected: eqDescription },
    { name: 'filters list: = value', kind: 'value', args: (p) => ({ filters: [['description', '=', p]] }), expected: eqDescription },
    { name: 'filters list: like value', kind: 'value', args: (p) => ({ filters: [['description', 'like', p]] }) },
    { name: 'filters list: in value', kind: 'value', args: (p) => ({ filters: [['name', 'in', p]] }), expected: () => [] },
    { name: 'or_filters: field name', kind: 'identifier', args: (p) => ({ or_filters: [[p, '=', 'x'], ['name', '=', 'y']] }) },
    { name: 'or_filters: value', kind: 'value', args: (p) => ({ or_filters: [['description', '=', p]] }), expected: eqDescription },
    { name: 'order_by', kind: 'identifier', args: (p) => ({ order_by: p }) },
    { name: 'group_by', kind: 'identifier', args: (p) => ({ group_by: p }) },
    { name: paging.start, kind: 'number', args: (p) => ({ [paging.start]: p }) },
    { name: paging.limit, kind: 'number', args: (p) => ({ [paging.limit]: p }) },
    // ToDo is not a child table: `parent` is not used, whatever it holds.
    { name: 'parent', kind: 'ignored', args: (p) => ({ parent: p }) },
  ];
}

/**
 * Payloads that are legal in an identifier slot, as in Frappe: a backticked column and a
 * table-qualified one; and, where the argument itself is the payload, an empty JSON list or
 * object (no fields / no filters). A 200 is right for these (still checked for leaks).
 */
const LEGAL_IDENTIFIERS: ReadonlySet<string> = new Set(['`name`', '`tabToDo`.`name`']);
const LEGAL_BARE: ReadonlySet<string> = new Set([...LEGAL_IDENTIFIERS, '[]', '{}']);

function legal(slot: Slot, p: string): boolean {
  return (slot.name.includes('bare text') ? LEGAL_BARE : LEGAL_IDENTIFIERS).has(p);
}

interface Outcome {
  label: string;
  status: number;
  body: Record<string, unknown> | undefined;
  text: string;
  ms: number;
}

interface Request {
  label: string;
  method: string;
  path: string;
  /** Sent in the query string; objects as JSON text. */
  query?: Record<string, unknown>;
  /** Sent as a JSON body. */
  json?: unknown;
  auth: string;
  check(outcome: Outcome): string | undefined;
}

function queryString(args: Record<string, unknown>): string {
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(args)) qs.set(key, typeof value === 'string' ? value : JSON.stringify(value));
  const text = qs.toString();
  return text ? `?${text}` : '';
}

/** The Frappe exception type of an error answer (v1 `exc_type`, v2 `errors[0].type`), if any. */
function excTypeOf(body: Record<string, unknown> | undefined): string | undefined {
  if (!body) return undefined;
  if (typeof body.exc_type === 'string') return body.exc_type;
  const errors = body.errors;
  if (Array.isArray(errors) && errors[0] && typeof (errors[0] as { type?: unknown }).type === 'string') return (errors[0] as { type: string }).type;
  return undefined;
}

function show(payload: string): string {
  const text = JSON.stringify(payload);
  return text.length > 60 ? `${text.slice(0, 57)}…"` : text;
}

forEachDatabase('SQL injection over HTTP', (db) => {
  let t: TestSite;
  let app: FastifyInstance | undefined;
  const auth = { alice: '', admin: '' };
  /** Alice's ToDo descriptions (what her if_owner access lets her see). */
  let aliceDescriptions: string[] = [];
  let aliceNames: string[] = [];
  /** Strings that must never appear in an answer to Alice: other users' rows, secrets, the schema. */
  let forbidden: string[] = [];
  let before_: Snapshot;
  let slowest = { ms: 0, label: '' };
  let requests = 0;

  interface Snapshot {
    tables: Record<string, { columns: string[]; count: number }>;
    todo: unknown[];
    auth: unknown[];
  }

  async function snapshot(): Promise<Snapshot> {
    const storage = t.site.storage;
    const tables: Snapshot['tables'] = {};
    for (const table of (await storage.tableNames()).sort()) {
      const columns = (await storage.columns(table)).map((c) => c.name).sort();
      const row = await storage.get<{ n: number | string }>(`SELECT count(*) AS n FROM "${table.replace(/"/g, '""')}"`);
      tables[table] = { columns, count: Number(row?.n) };
    }
    const todo = await storage.all('SELECT "name", "owner", "description", "status", "priority", "modified" FROM "tabToDo" ORDER BY "name"');
    const authRows = await storage.all('SELECT * FROM "__Auth" ORDER BY "doctype", "name", "fieldname"');
    return { tables, todo, auth: authRows };
  }

  before(async () => {
    t = await createTestSite({ db });
    await addUser(t.site, { email: ALICE, roles: [] });
    await addUser(t.site, { email: BOB, roles: [], password: 'bob-password-never-leaks' });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const aliceKeys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, ALICE, hashKey));
    const adminKeys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', hashKey));
    auth.alice = `token ${aliceKeys.api_key}:${aliceKeys.api_secret}`;
    auth.admin = `token ${adminKeys.api_key}:${adminKeys.api_secret}`;

    // Alice's rows: one holds a payload as its text, to show values are matched as data.
    const aliceTodos = await runAs(t.site, ALICE, async (api) => [
      await api.insert({ doctype: 'ToDo', description: 'alice first' }),
      await api.insert({ doctype: 'ToDo', description: "' OR '1'='1" }),
      await api.insert({ doctype: 'ToDo', description: 'pg_sleep(5)' }),
    ]);
    aliceNames = aliceTodos.map((d) => String(d.name));
    aliceDescriptions = aliceTodos.map((d) => String(d.description));
    const others = [
      ...(await runAs(t.site, BOB, async (api) => [
        await api.insert({ doctype: 'ToDo', description: 'BOBSECRET-1 x' }),
        await api.insert({ doctype: 'ToDo', description: 'BOBSECRET-2 x', status: 'Closed' }),
      ])),
      ...(await runAs(t.site, 'Administrator', async (api) => [await api.insert({ doctype: 'ToDo', description: 'ADMINSECRET-1 x' })])),
    ];
    const authValues = (await t.site.storage.all<{ password: string }>('SELECT "password" FROM "__Auth"')).map((r) => String(r.password));
    forbidden = [...others.map((d) => String(d.name)), 'BOBSECRET', 'ADMINSECRET', ...authValues, 'CREATE TABLE', aliceKeys.api_secret, adminKeys.api_secret];
    // Lockout off, so that every credential payload below reaches the lookups (and is not
    // turned away by the per-IP counter after ten failures).
    await runAs(t.site, 'Administrator', (api) => api.setValue('System Settings', 'System Settings', 'allow_consecutive_login_attempts', 0));
    before_ = await snapshot();
    app = await createServer(t.site);
  });

  after(async () => {
    await app?.close();
    await t?.cleanup();
  });

  async function send(request: Request): Promise<Outcome> {
    const headers: Record<string, string> = { Accept: 'application/json', ...(request.auth ? { Authorization: request.auth } : {}) };
    if (request.json !== undefined) headers['Content-Type'] = 'application/json';
    const started = performance.now();
    const res = await (app as FastifyInstance).inject({
      method: request.method as 'GET',
      url: `${request.path}${request.query ? queryString(request.query) : ''}`,
      headers,
      ...(request.json === undefined ? {} : { payload: JSON.stringify(request.json) }),
    });
    const text = res.body;
    const ms = performance.now() - started;
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    requests += 1;
    if (ms > slowest.ms) slowest = { ms, label: request.label };
    return { label: request.label, status: res.statusCode, body, text, ms };
  }

  /** Sends every request (a few at a time) and fails with every broken rule found. */
  async function runAll(list: Request[]): Promise<void> {
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const request = list[next++] as Request;
        const outcome = await send(request);
        const problem = generalProblem(outcome) ?? request.check(outcome);
        if (problem) failures.push(`${request.label}: ${problem}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.deepEqual(failures.slice(0, 25), [], `${failures.length} of ${list.length} requests broke a rule`);
  }

  /** Rules for every answer: no 5xx, an error is a Frappe error, nothing forbidden, fast. */
  function generalProblem(o: Outcome): string | undefined {
    if (o.ms > MAX_MS) return `took ${Math.round(o.ms)} ms`;
    if (o.status >= 500) return `status ${o.status}: ${o.text.slice(0, 300)}`;
    for (const secret of forbidden) if (o.text.includes(secret)) return `the answer leaks ${JSON.stringify(secret.slice(0, 30))}: ${o.text.slice(0, 300)}`;
    if (o.status >= 400) {
      const type = excTypeOf(o.body);
      if (!type || !isExcType(type) || type === 'Exception') return `status ${o.status} without a Frappe exception type: ${o.text.slice(0, 200)}`;
      if (o.status >= 400 && o.status < 500) return undefined;
    }
    if (o.status !== 200) return `status ${o.status}`;
    return undefined;
  }

  /** The rows of a 200 list answer (`data` or `message`). */
  function rowsOf(o: Outcome): unknown[] | undefined {
    const value = o.body?.data ?? o.body?.message;
    return Array.isArray(value) ? value : undefined;
  }

  /** Checks a list answer for slot `slot` and payload `p`. */
  function listCheck(slot: Slot, p: string, key: string) {
    return (o: Outcome): string | undefined => {
      if (o.status !== 200) return undefined; // a refusal: fine (generalProblem checked its shape)
      if (slot.kind === 'identifier' && !legal(slot, p)) return `accepted an identifier payload: 200 ${o.text.slice(0, 200)}`;
      const rows = rowsOf(o);
      if (!rows) return `no rows in ${o.text.slice(0, 200)}`;
      if (rows.length > aliceNames.length) return `${rows.length} rows, Alice owns ${aliceNames.length}`;
      const want = slot.expected?.(p, aliceDescriptions);
      if (want) {
        const names = rows.map((row) => (Array.isArray(row) ? row[0] : (row as Record<string, unknown>)[key]));
        const wantNames = want.map((d) => aliceNames[aliceDescriptions.indexOf(d)]);
        if (JSON.stringify([...names].sort()) !== JSON.stringify([...wantNames].sort())) return `rows ${JSON.stringify(names)}, expected ${JSON.stringify(wantNames)}`;
      }
      return undefined;
    };
  }

  function listRequests(endpoint: string, method: 'GET' | 'POST', path: string, slots: Slot[], extra: Record<string, unknown> = {}): Request[] {
    const out: Request[] = [];
    for (const slot of slots) {
      for (const p of PAYLOADS) {
        const args = { ...extra, ...slot.args(p) };
        out.push({
          label: `${endpoint} ${slot.name} ${show(p)}`,
          method,
          path,
          auth: auth.alice,
          ...(method === 'GET' ? { query: args } : { json: args }),
          check: listCheck(slot, p, 'name'),
        });
      }
    }
    return out;
  }

  describe('list parameters', () => {
    test('baseline: Alice sees exactly her own ToDos', async () => {
      assert.ok(PAYLOADS.length >= 60, `${PAYLOADS.length} payloads`);
      const res = await send({ label: 'baseline', method: 'GET', path: '/api/resource/ToDo', query: { fields: ['name'], limit_page_length: 0 }, auth: auth.alice, check: () => undefined });
      assert.equal(res.status, 200);
      assert.deepEqual((rowsOf(res) as { name: string }[]).map((r) => r.name).sort(), [...aliceNames].sort());
      const count = await send({ label: 'count', method: 'GET', path: '/api/method/frappe.client.get_count', query: { doctype: 'ToDo' }, auth: auth.alice, check: () => undefined });
      assert.deepEqual(count.body, { message: aliceNames.length });
    });

    test('v1 GET /api/resource/ToDo', async () => {
      await runAll(listRequests('v1', 'GET', '/api/resource/ToDo', listSlots({ start: 'limit_start', limit: 'limit_page_length' })));
    });

    test('v2 GET /api/v2/document/ToDo', async () => {
      await runAll(listRequests('v2', 'GET', '/api/v2/document/ToDo', listSlots({ start: 'start', limit: 'limit' })));
    });

    test('frappe.client.get_list: query string (GET) and native JSON (POST)', async () => {
      const slots = listSlots({ start: 'limit_start', limit: 'limit_page_length' });
      // POST: the slots whose arguments are JSON lists/objects, now sent as native JSON.
      const native = slots.filter((s) => /^(fields \(JSON|filters (dict|list)|or_filters)/.test(s.name));
      await runAll([
        ...listRequests('get_list GET', 'GET', '/api/method/frappe.client.get_list', slots, { doctype: 'ToDo' }),
        ...listRequests('get_list POST', 'POST', '/api/method/frappe.client.get_list', native, { doctype: 'ToDo' }),
      ]);
    });

    test('frappe.client.get_count: filters', async () => {
      const slots = listSlots({ start: 'limit_start', limit: 'limit_page_length' }).filter((s) => s.name.startsWith('filters'));
      const list: Request[] = [];
      for (const slot of slots) {
        for (const p of PAYLOADS) {
          list.push({
            label: `get_count ${slot.name} ${show(p)}`,
            method: 'GET',
            path: '/api/method/frappe.client.get_count',
            query: { doctype: 'ToDo', ...slot.args(p) },
            auth: auth.alice,
            check: (o) => {
              if (o.status !== 200) return undefined;
              if (slot.kind === 'identifier' && !legal(slot, p)) return `accepted an identifier payload: 200 ${o.text.slice(0, 200)}`;
              const count = o.body?.message;
              if (typeof count !== 'number' || count > aliceNames.length) return `count ${JSON.stringify(count)}`;
              const want = slot.expected?.(p, aliceDescriptions);
              if (want && count !== want.length) return `count ${count}, expected ${want.length}`;
              return undefined;
            },
          });
        }
      }
      await runAll(list);
    });

    test('frappe.client.get_value: fieldname, filters, parent', async () => {
      const slots: Slot[] = [
        { name: 'fieldname (bare text)', kind: 'identifier', args: (p) => ({ fieldname: p }) },
        { name: 'fieldname (JSON list)', kind: 'identifier', args: (p) => ({ fieldname: ['name', p] }) },
        // get_value reads a text `filters` as a document name (Frappe's `{"name": filters}`): a value.
        { name: 'filters (a name)', kind: 'value', args: (p) => ({ filters: p }), expected: (p) => (p === '[]' || p === '{}' ? undefined : []) },
        ...listSlots({ start: 'limit_start', limit: 'limit_page_length' }).filter((s) => (s.name.startsWith('filters') && !s.name.includes('bare text')) || s.name === 'parent'),
      ];
      const list: Request[] = [];
      for (const slot of slots) {
        for (const p of PAYLOADS) {
          list.push({
            label: `get_value ${slot.name} ${show(p)}`,
            method: 'GET',
            path: '/api/method/frappe.client.get_value',
            query: { doctype: 'ToDo', fieldname: 'name', ...slot.args(p) },
            auth: auth.alice,
            check: (o) => {
              if (o.status !== 200) return undefined;
              if (slot.kind === 'identifier' && !legal(slot, p)) return `accepted an identifier payload: 200 ${o.text.slice(0, 200)}`;
              const value = o.body?.message as Record<string, unknown> | undefined;
              if (value === undefined || typeof value !== 'object') return `message ${JSON.stringify(value)}`;
              if (value.name !== undefined && !aliceNames.includes(String(value.name))) return `row ${JSON.stringify(value)} is not Alice's`;
              const want = slot.expected?.(p, aliceDescriptions);
              if (want) {
                const wanted = want.length > 0 ? aliceNames[aliceDescriptions.indexOf(want[0] as string)] : undefined;
                if (value.name !== wanted) return `got ${JSON.stringify(value)}, expected ${JSON.stringify(wanted)}`;
              }
              return undefined;
            },
          });
        }
      }
      await runAll(list);
    });

    test('a child table: `parent` and the filters of Has Role are checked too', async () => {
      const list: Request[] = [];
      for (const p of PAYLOADS) {
        for (const [endpoint, path, args] of [
          ['v1', '/api/resource/Has Role', { parent: p }],
          ['v2', '/api/v2/document/Has Role', { parent: p }],
          ['get_list', '/api/method/frappe.client.get_list', { doctype: 'Has Role', parent: p }],
          ['get_value', '/api/method/frappe.client.get_value', { doctype: 'Has Role', fieldname: 'role', parent: p }],
          ['v1 (Admin)', '/api/resource/Has Role', { parent: 'User', filters: [['role', '=', p]], fields: ['name', 'role'] }],
        ] as const) {
          list.push({
            label: `${endpoint} Has Role ${show(p)}`,
            method: 'GET',
            path: encodeURI(path),
            query: args,
            auth: endpoint.includes('Admin') ? auth.admin : auth.alice,
            // Alice cannot read User, whatever parent she names; Administrator's value filter is data.
            check: (o) => {
              if (o.status !== 200) return undefined; // refused (its shape checked by generalProblem)
              if (!endpoint.includes('Admin')) return `accepted: ${o.text.slice(0, 200)}`;
              return rowsOf(o)?.length === 0 ? undefined : `rows for a role named by the payload: ${o.text.slice(0, 200)}`;
            },
          });
        }
      }
      await runAll(list);
    });

    test('huge payloads in a JSON body (1 MiB strings) are refused or treated as data', async () => {
      const huge = `${"' OR 1=1 --".repeat(100_000)}`;
      const list: Request[] = [];
      for (const slot of listSlots({ start: 'limit_start', limit: 'limit_page_length' })) {
        list.push({
          label: `get_list POST huge ${slot.name}`,
          method: 'POST',
          path: '/api/method/frappe.client.get_list',
          json: { doctype: 'ToDo', ...slot.args(huge) },
          auth: auth.alice,
          check: listCheck(slot, huge, 'name'),
        });
      }
      await runAll(list);
    });
  });

  describe('path segments', () => {
    test('/api/resource/<p>, /api/resource/ToDo/<p>, /api/v2/document/ToDo/<p>, /api/v2/document/<p>, /api/v2/doctype/<p>/…', async () => {
      const list: Request[] = [];
      const refused = (o: Outcome) => (o.status === 200 || o.status === 202 ? `accepted: ${o.status} ${o.text.slice(0, 200)}` : undefined);
      for (const p of PAYLOADS) {
        const e = encodeURIComponent(p);
        const routes: [string, string, string, unknown][] = [
          ['alice', 'GET', `/api/resource/${e}`, undefined],
          ['alice', 'GET', `/api/v1/resource/${e}/x`, undefined],
          ['alice', 'GET', `/api/resource/ToDo/${e}`, undefined],
          ['alice', 'PUT', `/api/resource/ToDo/${e}`, { description: 'changed' }],
          ['alice', 'DELETE', `/api/resource/ToDo/${e}`, undefined],
          ['admin', 'DELETE', `/api/resource/ToDo/${e}`, undefined],
          ['alice', 'GET', `/api/v2/document/${e}`, undefined],
          ['alice', 'GET', `/api/v2/document/ToDo/${e}`, undefined],
          ['alice', 'PATCH', `/api/v2/document/ToDo/${e}`, { description: 'changed' }],
          ['alice', 'DELETE', `/api/v2/document/ToDo/${e}`, undefined],
          ['admin', 'DELETE', `/api/v2/document/ToDo/${e}`, undefined],
          ['alice', 'GET', `/api/v2/doctype/${e}/count`, undefined],
          ['alice', 'GET', `/api/v2/doctype/${e}/meta`, undefined],
          ['alice', 'GET', `/api/method/frappe.client.get`, undefined],
        ];
        for (const [who, method, path, json] of routes) {
          // Fastify's router refuses a `:doctype` segment over 100 characters itself: see the todo test below.
          if (e.length > FASTIFY_MAX_PARAM_LENGTH && (path.startsWith('/api/resource/' + e) || path.startsWith('/api/v1/resource/' + e) || path.startsWith('/api/v2/document/' + e) || path.startsWith('/api/v2/doctype/'))) continue;
          const query = path === '/api/method/frappe.client.get' ? { doctype: 'ToDo', name: p } : undefined;
          list.push({ label: `${who} ${method} ${path.slice(0, 40)} ${show(p)}`, method, path, json, query, auth: auth[who as 'alice' | 'admin'], check: refused });
        }
      }
      await runAll(list);
    });

    test(
      'a DocType segment over 100 characters is refused in Frappe\'s error body',
      async () => {
        const list: Request[] = [];
        for (const p of PAYLOADS.filter((payload) => encodeURIComponent(payload).length > FASTIFY_MAX_PARAM_LENGTH)) {
          const e = encodeURIComponent(p);
          for (const path of [`/api/resource/${e}`, `/api/v2/document/${e}`, `/api/v2/doctype/${e}/count`]) {
            list.push({ label: `GET ${path.slice(0, 30)} ${show(p)}`, method: 'GET', path, auth: auth.alice, check: (o) => (o.status === 404 ? undefined : `status ${o.status}, not 404`) });
          }
        }
        assert.ok(list.length > 0);
        await runAll(list);
      },
    );
  });

  describe('afterwards', () => {
    test('every table, its columns and row count, every ToDo row and __Auth are unchanged; nothing was slow', async () => {
      const now = await snapshot();
      assert.deepEqual(Object.keys(now.tables), Object.keys(before_.tables), 'the same tables');
      for (const [table, info] of Object.entries(before_.tables)) assert.deepEqual(now.tables[table], info, `table ${table}`);
      assert.deepEqual(now.todo, before_.todo, 'tabToDo rows');
      assert.deepEqual(now.auth, before_.auth, '__Auth rows');
      assert.ok(requests >= PAYLOADS.length * 60, `${requests} requests sent`);
      assert.ok(slowest.ms < MAX_MS, `slowest request: ${Math.round(slowest.ms)} ms (${slowest.label})`);
    });
  });

  // Last: failed logins write Activity Log rows, so these run after the table comparison above.
  describe('credentials', () => {
    /** The corpus as login `usr`, as the key of a `Basic` and a `token` header, and as a `sid` argument. */
    function credentialRequests(payloads: readonly string[]): Request[] {
      const list: Request[] = [];
      const refused = (o: Outcome) => (o.status >= 400 ? undefined : `accepted: ${o.status} ${o.text.slice(0, 200)}`);
      for (const p of payloads) {
        list.push({ label: `login usr ${show(p)}`, method: 'POST', path: '/api/method/login', json: { usr: p, pwd: 'wrong' }, auth: '', check: refused });
        const basic = `Basic ${Buffer.from(`${p}:secret`).toString('base64')}`;
        list.push({ label: `Basic key ${show(p)}`, method: 'GET', path: '/api/method/frappe.auth.get_logged_user', auth: basic, check: refused });
        // Header values cannot carry control characters or non-Latin-1 text.
        if (/^[\x20-\x7e]*$/.test(p)) {
          list.push({ label: `token key ${show(p)}`, method: 'GET', path: '/api/method/frappe.auth.get_logged_user', auth: `token ${p}:secret`, check: refused });
        }
        list.push({ label: `sid argument ${show(p)}`, method: 'GET', path: '/api/method/frappe.auth.get_logged_user', query: { sid: p }, auth: '', check: refused });
      }
      return list;
    }

    test('payloads in credentials are refused (401/403), never a server error', async () => {
      const authBefore = await t.site.storage.all('SELECT * FROM "__Auth" ORDER BY "doctype", "name", "fieldname"');
      await runAll(credentialRequests(PAYLOADS.filter((p) => !p.includes('\u0000'))));
      assert.deepEqual(await t.site.storage.all('SELECT * FROM "__Auth" ORDER BY "doctype", "name", "fieldname"'), authBefore);
    });

    test(
      'NUL bytes in credentials are refused, never a server error',
      async () => {
        await runAll(credentialRequests(PAYLOADS.filter((p) => p.includes('\u0000'))));
      },
    );
  });
});
