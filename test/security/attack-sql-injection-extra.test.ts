/**
 * SQL injection over HTTP: the arguments test/security/sql-injection.test.ts does not reach.
 * That suite covers the list parameters of v1/v2 lists, `get_list`, `get_count`, `get_value`,
 * path segments and credentials; this one throws a corpus at everything else that ends up in
 * SQL — `frappe.desk.search.search_link` (`txt`, `searchfield`, `filters`, `page_length`,
 * `doctype`, `query`), `frappe.desk.reportview.get_count` (`filters`, `or_filters`, `distinct`,
 * `limit`), `get_single_value` (`field`), `has_permission` / `get_doc_permissions`,
 * `is_document_amended`, `get_password`, `getdoctype`, `frappe.client.get` with `filters`,
 * `v2 /doctype/<dt>/count` filters, `set_value` (`fieldname` as text and as dict keys, `value`),
 * `rename_doc` (`new_name`), document keys on insert and update (v1, v2, `frappe.client.insert`,
 * `save`, `bulk_update`), and v2 document method names.
 *
 * Every answer must be a 4xx with a Frappe exception type, or a 200 that treats the payload as
 * data; never a 5xx, never a row Alice may not read, never slow. Afterwards the schema (every
 * table and its columns), `__Auth`, the users and their roles, and every row that is not Alice's
 * are unchanged; a payload written as a value reads back exactly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { isExcType } from '../../src/core/errors.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const MAX_MS = 2000;

const PAYLOADS: readonly string[] = [
  "' OR 1=1 --",
  "' OR '1'='1",
  '" OR "1"="1',
  "') OR ('1'='1",
  '1 OR 1=1',
  "%' OR 1=1 --",
  '"; DROP TABLE "tabToDo"; --',
  "'; DROP TABLE tabToDo; --",
  'name; DELETE FROM "__Auth"',
  "' UNION SELECT name, password FROM __Auth --",
  '" UNION SELECT "name", "password" FROM "__Auth" --',
  'name UNION ALL SELECT sql FROM sqlite_master',
  '(select password from __Auth limit 1)',
  'name, (SELECT "password" FROM "__Auth")',
  'name /* c */',
  'name -- c',
  'sleep(5)',
  "'; SELECT pg_sleep(5); --",
  'randomblob(1000000000)',
  '`tabUser`.`api_key`',
  '"tabUser"."api_key"',
  '__Auth.password',
  "x'27'",
  "char(39)||'or 1=1'",
  'name) or (1=1',
  '\u2019 OR 1=1 --',
  "name\u0000' OR 1=1 --",
  'name\n; DROP TABLE tabToDo',
  '%',
  '_%',
  '\\',
  "'",
  '"',
  '`',
  '-1',
  '99999999999999999999999',
  `${'a'.repeat(2000)}' OR 1=1 --`,
];

interface Outcome {
  status: number;
  body: Record<string, unknown> | undefined;
  text: string;
}

function excTypeOf(body: Record<string, unknown> | undefined): string | undefined {
  if (!body) return undefined;
  if (typeof body.exc_type === 'string') return body.exc_type;
  const errors = body.errors as { type?: string }[] | undefined;
  return errors?.[0]?.type;
}

forEachDatabase('SQL injection over HTTP: the remaining arguments', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  let alice = '';
  let aliceTodo = '';
  let forbidden: string[] = [];
  let requests = 0;
  let slowest = 0;
  let renames = 0;
  let valuesStored = 0;

  async function protectedState() {
    const s = t.site.storage;
    const tables: Record<string, string[]> = {};
    for (const table of (await s.tableNames()).sort()) tables[table] = (await s.columns(table)).map((c) => c.name).sort();
    return {
      tables,
      auth: await s.all('SELECT * FROM "__Auth" ORDER BY "doctype", "name", "fieldname"'),
      users: await s.all('SELECT "name", "enabled", "user_type", "api_key" FROM "tabUser" ORDER BY "name"'),
      roles: await s.all('SELECT "parent", "role" FROM "tabHas Role" ORDER BY "parent", "role"'),
      others: await s.all('SELECT "name", "owner", "description", "status" FROM "tabToDo" WHERE "owner" <> ? ORDER BY "name"', [ALICE]),
    };
  }

  async function send(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, args?: Record<string, unknown>): Promise<Outcome> {
    requests++;
    const started = performance.now();
    const query = method === 'GET' && args ? `?${new URLSearchParams(Object.entries(args).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString()}` : '';
    const res = await app.inject({
      method,
      url: `${url}${query}`,
      headers: { authorization: alice, ...(method !== 'GET' && args ? { 'content-type': 'application/json' } : {}) },
      ...(method !== 'GET' && args ? { payload: JSON.stringify(args) } : {}),
    });
    slowest = Math.max(slowest, performance.now() - started);
    let body: Record<string, unknown> | undefined;
    try {
      body = res.json();
    } catch {
      body = undefined;
    }
    return { status: res.statusCode, body, text: res.body };
  }

  /** A refusal with a Frappe exception type, or a 200 without forbidden data. */
  function check(o: Outcome, what: string): void {
    assert.ok(o.status < 500, `${what}: ${o.status} ${o.text.slice(0, 200)}`);
    if (o.status >= 400) {
      const exc = excTypeOf(o.body);
      assert.ok(exc && isExcType(exc), `${what}: ${o.status} without a Frappe exception: ${o.text.slice(0, 200)}`);
    } else {
      assert.ok([200, 202].includes(o.status), `${what}: ${o.status}`);
    }
    for (const secret of forbidden) assert.ok(!o.text.includes(secret), `${what}: leaked ${secret.slice(0, 12)}…`);
  }

  before(async () => {
    t = await createTestSite({ db });
    await addUser(t.site, { email: ALICE, roles: [] });
    await addUser(t.site, { email: BOB, roles: [] });
    const hashKey = authServicesFor(t.site).deps.hashKey;
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, ALICE, hashKey));
    const bobKeys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, BOB, hashKey));
    alice = `token ${keys.api_key}:${keys.api_secret}`;
    aliceTodo = await runAs(t.site, ALICE, async (api) => String((await api.insert({ doctype: 'ToDo', description: 'alice row' })).name));
    await runAs(t.site, BOB, (api) => api.insert({ doctype: 'ToDo', description: 'BOBSECRET row' }));
    const hashes = (await t.site.storage.all<{ password: string }>('SELECT "password" FROM "__Auth"')).map((r) => String(r.password));
    forbidden = ['BOBSECRET', bobKeys.api_key, bobKeys.api_secret, keys.api_secret, ...hashes, 'CREATE TABLE'];
    // Lockout off: credential-looking payloads must reach the code under test.
    await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'System Settings', name: 'System Settings', allow_consecutive_login_attempts: 0 }));
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('read paths: search_link, reportview.get_count, get_single_value, permissions, get, getdoctype, v2 count', async () => {
    const before_ = await protectedState();
    const M = '/api/method/';
    for (const p of PAYLOADS) {
      const slots: [string, 'GET' | 'POST', string, Record<string, unknown>][] = [
        ['search_link txt', 'GET', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: p }],
        ['search_link txt (POST)', 'POST', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: p }],
        ['search_link searchfield', 'GET', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: 'a', searchfield: p }],
        ['search_link filters key', 'GET', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: '', filters: { [p]: 'x' } }],
        ['search_link filters value', 'GET', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: '', filters: { description: p } }],
        ['search_link filters list', 'POST', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: '', filters: [['description', p, 'x']] }],
        ['search_link page_length', 'GET', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: '', page_length: p }],
        ['search_link doctype', 'GET', `${M}frappe.desk.search.search_link`, { doctype: p, txt: 'a' }],
        ['search_link query', 'GET', `${M}frappe.desk.search.search_link`, { doctype: 'ToDo', txt: 'a', query: p }],
        ['search_link DocType txt', 'GET', `${M}frappe.desk.search.search_link`, { doctype: 'DocType', txt: p }],
        ['reportview filters key', 'GET', `${M}frappe.desk.reportview.get_count`, { doctype: 'ToDo', filters: { [p]: 'x' } }],
        ['reportview filters value', 'GET', `${M}frappe.desk.reportview.get_count`, { doctype: 'ToDo', filters: [['description', '=', p]] }],
        ['reportview or_filters', 'GET', `${M}frappe.desk.reportview.get_count`, { doctype: 'ToDo', or_filters: [[p, '=', 'x']] }],
        ['reportview distinct', 'GET', `${M}frappe.desk.reportview.get_count`, { doctype: 'ToDo', distinct: p }],
        ['reportview limit', 'GET', `${M}frappe.desk.reportview.get_count`, { doctype: 'ToDo', limit: p }],
        ['get_single_value field', 'GET', `${M}frappe.client.get_single_value`, { doctype: 'System Settings', field: p }],
        ['get_single_value doctype', 'GET', `${M}frappe.client.get_single_value`, { doctype: p, field: 'name' }],
        ['has_permission docname', 'GET', `${M}frappe.client.has_permission`, { doctype: 'ToDo', docname: p, perm_type: 'read' }],
        ['has_permission perm_type', 'GET', `${M}frappe.client.has_permission`, { doctype: 'ToDo', docname: aliceTodo, perm_type: p }],
        ['get_doc_permissions docname', 'GET', `${M}frappe.client.get_doc_permissions`, { doctype: 'ToDo', docname: p }],
        ['is_document_amended docname', 'GET', `${M}frappe.client.is_document_amended`, { doctype: 'ToDo', docname: p }],
        ['get_password fieldname', 'GET', `${M}frappe.client.get_password`, { doctype: 'User', name: BOB, fieldname: p }],
        ['get filters key', 'POST', `${M}frappe.client.get`, { doctype: 'ToDo', filters: { [p]: 'x' } }],
        ['get filters value', 'POST', `${M}frappe.client.get`, { doctype: 'ToDo', filters: { description: p } }],
        ['getdoctype', 'GET', `${M}frappe.desk.form.load.getdoctype`, { doctype: p }],
        ['v2 count filters key', 'GET', '/api/v2/doctype/ToDo/count', { filters: { [p]: 'x' } }],
        ['v2 count filters value', 'GET', '/api/v2/doctype/ToDo/count', { filters: [['description', 'like', p]] }],
      ];
      for (const [name, method, url, args] of slots) {
        const o = await send(method, url, args);
        const what = `${name} ${JSON.stringify(p.slice(0, 40))}`;
        check(o, what);
        // A value that matches nothing Alice owns returns nothing (`%` and `_` are LIKE
        // wildcards where the slot is a LIKE, as in Frappe: data, not SQL).
        const like = name.startsWith('search_link txt') || name === 'v2 count filters value';
        if (o.status === 200 && (name.endsWith('value') || like) && !(like && /[%_]/.test(p))) {
          const message = o.body?.message ?? o.body?.data;
          if (Array.isArray(message)) assert.equal(message.length, 0, `${what}: rows for a payload value: ${o.text.slice(0, 200)}`);
          else if (typeof message === 'number') assert.equal(message, 0, `${what}: count`);
        }
      }
    }
    assert.deepEqual(await protectedState(), before_);
  });

  test('write paths: set_value, rename_doc, document keys on insert and update, v2 method names', async (t_) => {
    const before_ = await protectedState();
    const M = '/api/method/';
    const todoUrl = `/api/resource/ToDo/${aliceTodo}`;
    for (const p of PAYLOADS) {
      const what = (slot: string) => `${slot} ${JSON.stringify(p.slice(0, 40))}`;
      check(await send('POST', `${M}frappe.client.set_value`, { doctype: 'ToDo', name: aliceTodo, fieldname: p, value: 'x' }), what('set_value fieldname'));
      check(await send('POST', `${M}frappe.client.set_value`, { doctype: 'ToDo', name: aliceTodo, fieldname: { [p]: 'x' } }), what('set_value dict key'));
      check(await send('POST', `${M}frappe.client.set_value`, { doctype: p, name: aliceTodo, fieldname: 'description', value: 'x' }), what('set_value doctype'));
      check(await send('POST', `${M}frappe.client.set_value`, { doctype: 'ToDo', name: p, fieldname: 'description', value: 'x' }), what('set_value name'));
      // A value is data: it reads back exactly (NULs are refused as unstorable).
      const stored = await send('POST', `${M}frappe.client.set_value`, { doctype: 'ToDo', name: aliceTodo, fieldname: 'description', value: p });
      check(stored, what('set_value value'));
      if (stored.status === 200) {
        valuesStored++;
        const row = await t.site.storage.get<{ description: string }>('SELECT "description" FROM "tabToDo" WHERE "name" = ?', [aliceTodo]);
        assert.equal(row?.description, p, what('the value reads back exactly'));
      }
      const renamed = await send('POST', `${M}frappe.client.rename_doc`, { doctype: 'ToDo', old_name: aliceTodo, new_name: p });
      check(renamed, what('rename_doc new_name'));
      if (renamed.status === 200) {
        // The payload became a name, as data: it reads back exactly; then the name is restored.
        assert.equal(renamed.body?.message, p, what('the new name'));
        assert.equal((await t.site.storage.all('SELECT "name" FROM "tabToDo" WHERE "name" = ?', [p])).length, 1, what('stored as the name'));
        renames++;
        const back = await send('POST', `${M}frappe.client.rename_doc`, { doctype: 'ToDo', old_name: p, new_name: aliceTodo });
        assert.equal(back.status, 200, what(`renamed back: ${back.text.slice(0, 200)}`));
      }
      check(await send('POST', `${M}frappe.client.rename_doc`, { doctype: 'ToDo', old_name: p, new_name: 'x' }), what('rename_doc old_name'));
      check(await send('POST', '/api/resource/ToDo', { description: 'k', [p]: 'x' }), what('v1 insert key'));
      check(await send('POST', '/api/v2/document/ToDo', { description: 'k', [p]: 'x' }), what('v2 insert key'));
      check(await send('POST', `${M}frappe.client.insert`, { doc: { doctype: 'ToDo', description: 'k', [p]: 'x' } }), what('client.insert key'));
      check(await send('PUT', todoUrl, { [p]: 'x' }), what('v1 update key'));
      check(await send('PATCH', `/api/v2/document/ToDo/${aliceTodo}`, { [p]: 'x' }), what('v2 update key'));
      check(await send('POST', `${M}frappe.client.save`, { doc: { doctype: 'ToDo', name: aliceTodo, [p]: 'x' } }), what('save key'));
      check(await send('POST', `${M}frappe.client.bulk_update`, { docs: [{ doctype: 'ToDo', docname: aliceTodo, [p]: 'x' }] }), what('bulk_update key'));
      check(await send('POST', `/api/v2/document/ToDo/${aliceTodo}/method/${encodeURIComponent(p)}`), what('v2 method name'));
      check(await send('POST', `${M}run_doc_method`, { dt: 'ToDo', dn: aliceTodo, method: p }), what('run_doc_method method'));
    }
    // Renames were refused or made the document take a payload as its name: either way the
    // schema, secrets, users and everybody else's rows are unchanged.
    assert.deepEqual(await protectedState(), before_);
    t_.diagnostic(`attack-sql-injection-extra: ${requests} requests, ${PAYLOADS.length} payloads`);
    assert.ok(requests >= PAYLOADS.length * (27 + 16), `${requests} requests (${renames} payloads accepted as names)`);
    assert.ok(valuesStored >= PAYLOADS.length - 2, `${valuesStored} payloads stored as values`);
    assert.ok(slowest < MAX_MS, `slowest request ${Math.round(slowest)} ms`);
  });
});
