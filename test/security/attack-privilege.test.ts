/**
 * Privilege escalation over HTTP by users with low-privilege accounts (the library fixture app):
 * Mallory is a Contributor (Article: create/read/write/delete, `if_owner`), Lena a Librarian
 * (Article at permlevel 0, read-only at permlevel 1), Max a Library Member (Article read-only).
 * Each attack is a request a real client could send — v1, v2, `frappe.client.*`, the legacy
 * `cmd` form, `run_doc_method` — with the answer asserted exactly (status and `exc_type`) and
 * the stored state compared before and after: the User row, roles, `__Auth`, System Settings,
 * every Article.
 *
 * - her own User: `roles`, `api_key`/`api_secret`, `user_type`, `enabled`, `restrict_ip`, through
 *   every write path, and child rows of `Has Role` directly;
 * - keys for others: `generate_keys`, named keys for Administrator;
 * - permlevel > 0 fields (dropped as in Frappe: the write succeeds, the field keeps its value);
 * - another user's document through `if_owner`: read, write, delete, rename, `owner` in the body,
 *   a `name` in the body, a rename of her own document onto theirs, an insert under their name;
 * - `ignore_permissions` / `flags` in the arguments of every `frappe.client.*` method (query
 *   string, JSON, text and native forms);
 * - `run_doc_method` and v2 document methods: names that are not whitelisted (`save`, `delete`,
 *   `db_set`, `__proto__`, `constructor`, …), a document sent with a forged `owner`, a read-only
 *   user calling a writing method;
 * - a scoped key (`ToDo:read`) naming another method as search_link's `query`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { createNamedApiKey } from '../../src/auth/named-api-keys.ts';
import { randomToken } from '../../src/core/crypto.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const MALLORY = 'mallory@example.com';
const VICTIM = 'victim@example.com';
const LENA = 'lena@example.com';
const MAX = 'max@example.com';
const MALLORY_PASSWORD = `mallory-${randomToken(12)}`;

type Who = 'mallory' | 'lena' | 'max';

interface Attack {
  label: string;
  who: Who;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** JSON body. */
  json?: unknown;
  status: number;
  exc: string | undefined;
}

function excTypeOf(res: LightMyRequestResponse): string | undefined {
  try {
    const body = res.json() as { exc_type?: string; errors?: { type?: string }[] };
    return body.exc_type ?? body.errors?.[0]?.type;
  } catch {
    return undefined;
  }
}

forEachDatabase('privilege escalation', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  const auth: Record<Who, string> = { mallory: '', lena: '', max: '' };
  let attempts = 0;
  const VICTIM_BOOK = 'Victim Book';
  const MALLORY_BOOK = 'Mallory Book';
  const COSTLY = 'Costly Book';

  async function snapshot() {
    const s = t.site.storage;
    return {
      users: await s.all('SELECT "name", "enabled", "user_type", "api_key", "api_secret", "restrict_ip", "modified" FROM "tabUser" ORDER BY "name"'),
      roles: await s.all('SELECT "parent", "role" FROM "tabHas Role" ORDER BY "parent", "role"'),
      auth: await s.all('SELECT * FROM "__Auth" ORDER BY "doctype", "name", "fieldname"'),
      settings: await s.all('SELECT * FROM "tabSingles" WHERE "doctype" = ? ORDER BY "field"', ['System Settings']),
      articles: await s.all('SELECT "name", "owner", "status", "internal_cost", "pages", "author", "modified" FROM "tabArticle" ORDER BY "name"'),
      keys: await s.all('SELECT "name", "user" FROM "tabAPI Key" ORDER BY "name"'),
    };
  }

  async function send(a: Omit<Attack, 'status' | 'exc'>): Promise<LightMyRequestResponse> {
    attempts++;
    return app.inject({
      method: a.method,
      url: a.url,
      headers: { authorization: auth[a.who], ...(a.json !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(a.json !== undefined ? { payload: JSON.stringify(a.json) } : {}),
    });
  }

  /** Runs the attacks, each asserted exactly; the state must not change. */
  async function refusedAll(attacks: readonly Attack[]): Promise<void> {
    const before_ = await snapshot();
    for (const a of attacks) {
      const res = await send(a);
      const what = `${a.label} (${a.who}: ${a.method} ${a.url})`;
      assert.equal(res.statusCode, a.status, `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
      assert.equal(excTypeOf(res), a.exc, `${what}: ${res.body.slice(0, 300)}`);
    }
    assert.deepEqual(await snapshot(), before_, 'nothing changed');
  }

  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    await runAs(t.site, 'Administrator', async (api) => {
      for (const role of ['Librarian', 'Library Member', 'Contributor']) await api.insert({ doctype: 'Role', role_name: role });
    });
    await addUser(t.site, { email: MALLORY, roles: ['Contributor'], password: MALLORY_PASSWORD });
    await addUser(t.site, { email: VICTIM, roles: ['Contributor'] });
    await addUser(t.site, { email: LENA, roles: ['Librarian'] });
    await addUser(t.site, { email: MAX, roles: ['Library Member'] });
    const hashKey = authServicesFor(t.site).deps.hashKey;
    for (const [who, user] of [['mallory', MALLORY], ['lena', LENA], ['max', MAX]] as const) {
      const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, user, hashKey));
      auth[who] = `token ${keys.api_key}:${keys.api_secret}`;
    }
    await runAs(t.site, VICTIM, (api) => api.insert({ doctype: 'Article', article_name: VICTIM_BOOK, pages: 10, status: 'Available' }));
    await runAs(t.site, MALLORY, (api) => api.insert({ doctype: 'Article', article_name: MALLORY_BOOK, pages: 20, status: 'Available' }));
    await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Article', article_name: COSTLY, internal_cost: 99, status: 'Available' }));
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  const M = '/api/method/';
  const me = encodeURIComponent(MALLORY);
  const SM_ROLE = [{ role: 'System Manager' }, { role: 'Contributor' }];

  test('her own User: roles, keys, user_type, enabled, restrict_ip, by every write path', async () => {
    const escalations: [string, Record<string, unknown>][] = [
      ['roles', { roles: SM_ROLE }],
      ['api_key and api_secret', { api_key: 'chosen-key', api_secret: 'chosen-secret-0123456789' }],
      ['user_type', { user_type: 'System User' }],
      ['enabled', { enabled: 0 }],
      ['restrict_ip', { restrict_ip: '0.0.0.0/0' }],
      ['bypass', { bypass_restrict_ip_check_if_2fa_enabled: 1 }],
    ];
    const attacks: Attack[] = [];
    for (const [field, values] of escalations) {
      const denied = { status: 403, exc: 'PermissionError' } as const;
      attacks.push(
        { label: `v1 PUT ${field}`, who: 'mallory', method: 'PUT', url: `/api/resource/User/${me}`, json: values, ...denied },
        { label: `v2 PATCH ${field}`, who: 'mallory', method: 'PATCH', url: `/api/v2/document/User/${me}`, json: values, ...denied },
        { label: `v2 PUT ${field}`, who: 'mallory', method: 'PUT', url: `/api/v2/document/User/${me}`, json: values, ...denied },
        { label: `save ${field}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.save`, json: { doc: { doctype: 'User', name: MALLORY, ...values } }, ...denied },
        // bulk_update answers 200 listing the failed documents (Frappe); nothing is written.
        { label: `bulk_update ${field}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.bulk_update`, json: { docs: [{ doctype: 'User', docname: MALLORY, ...values }] }, status: 200, exc: undefined },
        { label: `cmd set_value ${field}`, who: 'mallory', method: 'POST', url: `${M}ping`, json: { cmd: 'frappe.client.set_value', doctype: 'User', name: MALLORY, fieldname: values }, ...denied },
      );
      for (const [fieldname, value] of Object.entries(values)) {
        attacks.push({ label: `set_value ${fieldname}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.set_value`, json: { doctype: 'User', name: MALLORY, fieldname, value: typeof value === 'object' ? JSON.stringify(value) : value }, ...denied });
      }
    }
    attacks.push(
      { label: 'insert Has Role for herself', who: 'mallory', method: 'POST', url: `${M}frappe.client.insert`, json: { doc: { doctype: 'Has Role', parent: MALLORY, parenttype: 'User', parentfield: 'roles', role: 'System Manager' } }, status: 403, exc: 'PermissionError' },
      // A child table is written only through its parent.
      { label: 'v1 POST Has Role', who: 'mallory', method: 'POST', url: '/api/resource/Has%20Role', json: { parent: MALLORY, parenttype: 'User', parentfield: 'roles', role: 'System Manager' }, status: 417, exc: 'ValidationError' },
      { label: 'a new System Manager user', who: 'mallory', method: 'POST', url: '/api/resource/User', json: { email: 'sock@example.com', first_name: 'Sock', roles: SM_ROLE }, status: 403, exc: 'PermissionError' },
      { label: 'System Settings', who: 'mallory', method: 'PUT', url: '/api/resource/System%20Settings/System%20Settings', json: { allow_consecutive_login_attempts: 0 }, status: 403, exc: 'PermissionError' },
      { label: 'generate_keys for herself', who: 'mallory', method: 'POST', url: `${M}frappe.core.doctype.user.user.generate_keys`, json: { user: MALLORY }, status: 403, exc: 'PermissionError' },
      { label: 'generate_keys for Administrator', who: 'mallory', method: 'POST', url: `${M}frappe.core.doctype.user.user.generate_keys`, json: { user: 'Administrator' }, status: 403, exc: 'PermissionError' },
      { label: 'a named key for Administrator', who: 'mallory', method: 'POST', url: `${M}cortado.api_keys.create`, json: { label: 'mine now', user: 'Administrator' }, status: 403, exc: 'PermissionError' },
      { label: 'a reset link for Administrator', who: 'mallory', method: 'POST', url: `${M}cortado.users.make_reset_link`, json: { user: 'Administrator' }, status: 403, exc: 'PermissionError' },
      { label: 'impersonate', who: 'mallory', method: 'POST', url: `${M}frappe.core.doctype.user.user.impersonate`, json: { user: VICTIM, reason: 'because' }, status: 403, exc: 'PermissionError' },
      { label: "end the victim's sessions", who: 'mallory', method: 'POST', url: `${M}cortado.sessions.end_all_for_user`, json: { user: VICTIM }, status: 403, exc: 'PermissionError' },
    );
    await refusedAll(attacks);
  });

  test('permlevel 1: a Librarian writing internal_cost keeps the stored value (dropped, as in Frappe)', async () => {
    const costOf = async () => Number((await t.site.storage.get<{ internal_cost: number }>('SELECT "internal_cost" FROM "tabArticle" WHERE "name" = ?', [COSTLY]))?.internal_cost);
    const cases: Omit<Attack, 'status' | 'exc'>[] = [
      { label: 'v1 PUT', who: 'lena', method: 'PUT', url: `/api/resource/Article/${encodeURIComponent(COSTLY)}`, json: { internal_cost: 1, author: 'v1' } },
      { label: 'v2 PATCH', who: 'lena', method: 'PATCH', url: `/api/v2/document/Article/${encodeURIComponent(COSTLY)}`, json: { internal_cost: 2, author: 'v2' } },
      { label: 'save', who: 'lena', method: 'POST', url: `${M}frappe.client.save`, json: { doc: { doctype: 'Article', name: COSTLY, internal_cost: 3, author: 'save' } } },
      { label: 'bulk_update', who: 'lena', method: 'POST', url: `${M}frappe.client.bulk_update`, json: { docs: [{ doctype: 'Article', docname: COSTLY, internal_cost: 4 }] } },
      { label: 'set_value dict', who: 'lena', method: 'POST', url: `${M}frappe.client.set_value`, json: { doctype: 'Article', name: COSTLY, fieldname: { internal_cost: 5, author: 'dict' } } },
    ];
    for (const c of cases) {
      const res = await send(c);
      assert.equal(res.statusCode, 200, `${c.label}: ${res.body.slice(0, 300)}`);
      assert.equal(await costOf(), 99, `${c.label}: internal_cost kept`);
    }
    const single = await send({ label: 'set_value internal_cost', who: 'lena', method: 'POST', url: `${M}frappe.client.set_value`, json: { doctype: 'Article', name: COSTLY, fieldname: 'internal_cost', value: 6 } });
    assert.equal(single.statusCode, 200, single.body);
    assert.equal(await costOf(), 99, 'set_value of the one field: kept');
    const inserted = await send({ label: 'insert with internal_cost', who: 'lena', method: 'POST', url: '/api/resource/Article', json: { article_name: 'Cheap Book', internal_cost: 7 } });
    assert.equal(inserted.statusCode, 200, inserted.body);
    const cheap = await t.site.storage.get<{ internal_cost: number | string | null }>('SELECT "internal_cost" FROM "tabArticle" WHERE "name" = ?', ['Cheap Book']);
    assert.equal(Number(cheap?.internal_cost ?? 0), 0, 'not set on insert: the default');
    await refusedAll([
      { label: 'a read-only Member writes', who: 'max', method: 'PUT', url: `/api/resource/Article/${encodeURIComponent(COSTLY)}`, json: { author: 'max' }, status: 403, exc: 'PermissionError' },
      { label: 'a read-only Member deletes', who: 'max', method: 'DELETE', url: `/api/resource/Article/${encodeURIComponent(COSTLY)}`, status: 403, exc: 'PermissionError' },
    ]);
  });

  test("another user's document through if_owner: read, write, delete, rename, forged owner and name", async () => {
    const victim = encodeURIComponent(VICTIM_BOOK);
    const own = encodeURIComponent(MALLORY_BOOK);
    const denied = { status: 403, exc: 'PermissionError' } as const;
    await refusedAll([
      { label: 'v1 GET', who: 'mallory', method: 'GET', url: `/api/resource/Article/${victim}`, ...denied },
      { label: 'v2 GET', who: 'mallory', method: 'GET', url: `/api/v2/document/Article/${victim}`, ...denied },
      { label: 'frappe.client.get', who: 'mallory', method: 'GET', url: `${M}frappe.client.get?doctype=Article&name=${victim}`, ...denied },
      { label: 'v1 PUT', who: 'mallory', method: 'PUT', url: `/api/resource/Article/${victim}`, json: { pages: 1 }, ...denied },
      { label: 'v1 PUT claiming ownership', who: 'mallory', method: 'PUT', url: `/api/resource/Article/${victim}`, json: { owner: MALLORY, pages: 1 }, ...denied },
      { label: 'v2 PATCH', who: 'mallory', method: 'PATCH', url: `/api/v2/document/Article/${victim}`, json: { pages: 1 }, ...denied },
      { label: 'v1 DELETE', who: 'mallory', method: 'DELETE', url: `/api/resource/Article/${victim}`, ...denied },
      { label: 'v2 DELETE', who: 'mallory', method: 'DELETE', url: `/api/v2/document/Article/${victim}`, ...denied },
      { label: 'frappe.client.delete', who: 'mallory', method: 'POST', url: `${M}frappe.client.delete`, json: { doctype: 'Article', name: VICTIM_BOOK }, ...denied },
      { label: 'set_value', who: 'mallory', method: 'POST', url: `${M}frappe.client.set_value`, json: { doctype: 'Article', name: VICTIM_BOOK, fieldname: 'pages', value: 1 }, ...denied },
      { label: 'save with a forged owner', who: 'mallory', method: 'POST', url: `${M}frappe.client.save`, json: { doc: { doctype: 'Article', name: VICTIM_BOOK, owner: MALLORY, pages: 1 } }, ...denied },
      { label: 'rename theirs', who: 'mallory', method: 'POST', url: `${M}frappe.client.rename_doc`, json: { doctype: 'Article', old_name: VICTIM_BOOK, new_name: 'Stolen' }, ...denied },
      { label: 'rename hers onto theirs', who: 'mallory', method: 'POST', url: `${M}frappe.client.rename_doc`, json: { doctype: 'Article', old_name: MALLORY_BOOK, new_name: VICTIM_BOOK }, status: 409, exc: 'DuplicateEntryError' },
      { label: 'insert under their name', who: 'mallory', method: 'POST', url: '/api/resource/Article', json: { article_name: VICTIM_BOOK, pages: 1 }, status: 409, exc: 'DuplicateEntryError' },
      { label: 'insert under their name with name', who: 'mallory', method: 'POST', url: '/api/resource/Article', json: { name: VICTIM_BOOK, article_name: VICTIM_BOOK, pages: 1 }, status: 409, exc: 'DuplicateEntryError' },
      { label: 'get_password of theirs', who: 'mallory', method: 'GET', url: `${M}frappe.client.get_password?doctype=Article&name=${victim}&fieldname=vendor_password`, ...denied },
      { label: 'run_doc_method on theirs', who: 'mallory', method: 'POST', url: `${M}run_doc_method`, json: { dt: 'Article', dn: VICTIM_BOOK, method: 'mark_issued' }, ...denied },
      { label: 'run_doc_method with their document sent as hers', who: 'mallory', method: 'POST', url: `${M}run_doc_method`, json: { docs: JSON.stringify({ doctype: 'Article', name: VICTIM_BOOK, owner: MALLORY }), method: 'mark_issued' }, ...denied },
      { label: 'v2 document method on theirs', who: 'mallory', method: 'POST', url: `/api/v2/document/Article/${victim}/method/mark_issued`, ...denied },
    ]);
    // Her own document: a `name` or `owner` in the body renames nothing and gives nothing away.
    const before_ = await snapshot();
    const renamed = await send({ label: 'PUT her own with name', who: 'mallory', method: 'PUT', url: `/api/resource/Article/${own}`, json: { name: VICTIM_BOOK, owner: VICTIM, pages: 21 } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    const after_ = await snapshot();
    assert.deepEqual(after_.articles.filter((a) => (a as { name: string }).name !== MALLORY_BOOK), before_.articles.filter((a) => (a as { name: string }).name !== MALLORY_BOOK), 'the other articles are untouched');
    const mine = after_.articles.find((a) => (a as { name: string }).name === MALLORY_BOOK) as { owner: string; pages: number } | undefined;
    assert.ok(mine, 'her document keeps its name');
    assert.equal(mine.owner, MALLORY, 'and its owner');
    assert.equal(Number(mine.pages), 21);
  });

  test('ignore_permissions and flags in the arguments of frappe.client.* change nothing', async () => {
    const bypass = [
      { ignore_permissions: 1 },
      { ignore_permissions: '1' },
      { ignore_permissions: true },
      { flags: { ignore_permissions: true } },
      { flags: '{"ignore_permissions": 1}' },
    ];
    const attacks: Attack[] = [];
    const denied = { status: 403, exc: 'PermissionError' } as const;
    for (const extra of bypass) {
      const tag = JSON.stringify(extra);
      const q = new URLSearchParams(Object.entries(extra).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();
      attacks.push(
        { label: `get_list User ${tag}`, who: 'mallory', method: 'GET', url: `${M}frappe.client.get_list?doctype=User&${q}`, ...denied },
        { label: `get_count User ${tag}`, who: 'mallory', method: 'GET', url: `${M}frappe.client.get_count?doctype=User&${q}`, ...denied },
        { label: `get_value User ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.get_value`, json: { doctype: 'User', fieldname: 'api_key', filters: { name: 'Administrator' }, ...extra }, ...denied },
        { label: `get ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.get`, json: { doctype: 'Article', name: VICTIM_BOOK, ...extra }, ...denied },
        { label: `set_value ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.set_value`, json: { doctype: 'Article', name: VICTIM_BOOK, fieldname: 'pages', value: 2, ...extra }, ...denied },
        { label: `save ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.save`, json: { doc: { doctype: 'Article', name: VICTIM_BOOK, pages: 2, ...extra }, ...extra }, ...denied },
        { label: `insert User ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.insert`, json: { doc: { doctype: 'User', email: 'x@example.com', first_name: 'X', roles: SM_ROLE, ...extra }, ...extra }, ...denied },
        { label: `delete ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.delete`, json: { doctype: 'Article', name: VICTIM_BOOK, ...extra }, ...denied },
        { label: `rename ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.rename_doc`, json: { doctype: 'Article', old_name: VICTIM_BOOK, new_name: 'Stolen', ...extra }, ...denied },
        { label: `v1 PUT ${tag}`, who: 'mallory', method: 'PUT', url: `/api/resource/Article/${encodeURIComponent(VICTIM_BOOK)}`, json: { pages: 2, ...extra }, ...denied },
        { label: `v1 list User ${tag}`, who: 'mallory', method: 'GET', url: `/api/resource/User?${q}`, ...denied },
        { label: `get_password ${tag}`, who: 'mallory', method: 'POST', url: `${M}frappe.client.get_password`, json: { doctype: 'Article', name: VICTIM_BOOK, fieldname: 'vendor_password', ...extra }, ...denied },
      );
    }
    await refusedAll(attacks);
  });

  test('run_doc_method and v2 document methods: only whitelisted methods, with the verb and permissions they declare', async () => {
    const own = encodeURIComponent(MALLORY_BOOK);
    const attacks: Attack[] = [];
    const notFound = { status: 404, exc: 'DoesNotExistError' } as const;
    for (const method of ['save', 'delete', 'db_set', 'insert', 'submit', 'cancel', 'rename', 'run_method', 'get_password', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype', '../mark_issued', 'mark_issued ', 'MARK_ISSUED']) {
      attacks.push(
        { label: `v1 run_doc_method ${method}`, who: 'mallory', method: 'POST', url: `${M}run_doc_method`, json: { dt: 'Article', dn: MALLORY_BOOK, method }, ...notFound },
        { label: `runserverobj ${method}`, who: 'mallory', method: 'POST', url: `${M}runserverobj`, json: { docs: JSON.stringify({ doctype: 'Article', name: MALLORY_BOOK }), method }, ...notFound },
        // A method name with a slash is another route shape: refused before any lookup.
        { label: `v2 ${method}`, who: 'mallory', method: 'POST', url: `/api/v2/document/Article/${own}/method/${encodeURIComponent(method)}`, ...(method.includes('/') ? { status: 405, exc: 'MethodNotAllowed' } : notFound) },
      );
    }
    attacks.push(
      // A read-only Member may call a method (Frappe checks read), but its writes are still checked.
      { label: 'a Member calls a writing method', who: 'max', method: 'POST', url: `${M}run_doc_method`, json: { dt: 'Article', dn: COSTLY, method: 'mark_issued' }, status: 403, exc: 'PermissionError' },
      { label: 'a Member on v2', who: 'max', method: 'POST', url: `/api/v2/document/Article/${encodeURIComponent(COSTLY)}/method/mark_issued`, status: 403, exc: 'PermissionError' },
      { label: 'a POST-only method by GET', who: 'lena', method: 'GET', url: `${M}run_doc_method?dt=Article&dn=${encodeURIComponent(COSTLY)}&method=mark_issued`, status: 403, exc: 'PermissionError' },
    );
    await refusedAll(attacks);
  });

  test("a scoped key cannot call other methods through search_link's `query` (bug fixed: it could)", async () => {
    const narrow = await t.site.asAdministrator((ctx) => createNamedApiKey(ctx, { label: 'narrow', user: MALLORY, scopes: 'ToDo:read' }, authServicesFor(t.site).deps.hashKey));
    const login = await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr: MALLORY, pwd: MALLORY_PASSWORD } });
    const sid = String(login.cookies.find((c) => c.name === 'sid')?.value);
    const headers = { authorization: `token ${narrow.api_key}:${narrow.api_secret}`, 'content-type': 'application/json' };
    const before_ = await snapshot();
    for (const query of ['cortado.sessions.revoke_others', 'cortado.api_keys.create', 'frappe.core.doctype.user.user.generate_keys', 'cortado.sessions.list', 'library.api.log_visit']) {
      for (const method of ['GET', 'POST'] as const) {
        attempts++;
        const res = await app.inject({ method, url: `${M}frappe.desk.search.search_link`, headers, ...(method === 'POST' ? { payload: JSON.stringify({ doctype: 'ToDo', txt: '', query }) } : { query: { doctype: 'ToDo', txt: '', query } }) });
        assert.equal(res.statusCode, 403, `${method} ${query}: ${res.body.slice(0, 200)}`);
        assert.equal(excTypeOf(res), 'PermissionError', query);
      }
    }
    assert.deepEqual(await snapshot(), before_, 'nothing changed');
    const still = await app.inject({ url: `${M}frappe.auth.get_logged_user`, cookies: { sid } });
    assert.equal(still.json().message, MALLORY, "the user's session was not ended");
    const direct = await app.inject({ method: 'GET', url: `${M}frappe.desk.search.search_link`, headers, query: { doctype: 'ToDo', txt: '' } });
    assert.equal(direct.statusCode, 200, 'search_link itself is within the scope');
  });

  test('attempt count', (t) => {
    t.diagnostic(`attack-privilege: ${attempts} requests`);
    assert.ok(attempts >= 150, `${attempts} attacks`);
  });
});
