/**
 * REST API v2, document methods, the legacy `cmd` RPC and v1 additions over HTTP (Fastify
 * injection): lists with `has_next_page` and Frappe's quirks, create/read/copy/update/delete,
 * doc methods (v1 `run_method`, `run_doc_method`, v2 `/method/<m>`), meta and count, the
 * `/method/<DocType>/<m>` shorthand, 405s, tracebacks and `msgprint`.
 * Spec: ../shared/spec/frappe-rest-api.md A4, A5, A6 (v2), A7, A10, A14, A15 and Part C items
 * 1, 4, 8, 16-22, 25, 28-33; frappe-auth-core.md §7.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { runAs } from '../helpers/run-as.ts';
import { ADMIN_PASSWORD, createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const enc = encodeURIComponent;

type Body = Record<string, unknown>;

/** Decodes v1 `_server_messages`: a JSON string holding a list of JSON strings. */
function serverMessages(body: Body): Body[] {
  assert.equal(typeof body._server_messages, 'string', '_server_messages is a string');
  return (JSON.parse(String(body._server_messages)) as string[]).map((entry) => {
    assert.equal(typeof entry, 'string', 'each entry is a JSON string');
    return JSON.parse(entry) as Body;
  });
}

function v2Error(res: LightMyRequestResponse): Body {
  const body = res.json() as { errors: Body[] };
  assert.ok(Array.isArray(body.errors), `v2 error body: ${res.body}`);
  assert.ok(!('exc_type' in body) && !('_server_messages' in body), 'no v1 keys in v2 errors');
  return body.errors[0] as Body;
}

forEachDatabase('API v2, document methods and legacy RPC', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  const auth: Record<'admin' | 'librarian' | 'member' | 'website', string> = { admin: '', librarian: '', member: '', website: '' };
  let memberName = '';

  async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, who?: keyof typeof auth, payload?: unknown) {
    const headers: Record<string, string> = {};
    if (who) headers.authorization = auth[who];
    return app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as Body }) });
  }

  async function setTracebacks(on: boolean) {
    await runAs(t.site, 'Administrator', (api) => api.setValue('System Settings', 'System Settings', 'allow_error_traceback', on ? 1 : 0));
  }

  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    for (const role of ['Librarian', 'Library Member']) await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Role', role_name: role }));
    await addUser(t.site, { email: 'lib@example.com', roles: ['Librarian'], password: 'lib-password-123' });
    await addUser(t.site, { email: 'member@example.com', roles: ['Library Member'] });
    await addUser(t.site, { email: 'web@example.com', roles: ['Library Member'], userType: 'Website User' });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const users = { admin: 'Administrator', librarian: 'lib@example.com', member: 'member@example.com', website: 'web@example.com' } as const;
    for (const [who, user] of Object.entries(users)) {
      const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, user, hashKey));
      auth[who as keyof typeof auth] = `token ${keys.api_key}:${keys.api_secret}`;
    }
    await runAs(t.site, 'lib@example.com', async (api) => {
      for (const [name, pages] of [['Alpha', 100], ['Beta', 200], ['Gamma', 300], ['Delta', 400], ['Slash/Name', 50], ['Space Name', 60]] as const) {
        await api.insert({ doctype: 'Article', article_name: name, pages, author: pages >= 300 ? 'Herbert' : null });
      }
    });
    memberName = String((await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Library Member', first_name: 'Ada' }))).name);
    app = await createServer(t.site);
  });
  after(async () => {
    await app?.close();
    await t?.cleanup();
  });

  describe('v2 document lists', () => {
    test('data plus has_next_page; start and limit page through; default limit 20', async () => {
      const all = await call('GET', `/api/v2/document/Article?fields=${enc('["name","pages"]')}&order_by=${enc('pages asc')}`, 'librarian');
      assert.equal(all.statusCode, 200);
      assert.deepEqual(Object.keys(all.json()).sort(), ['data', 'has_next_page']);
      assert.equal(all.json().data.length, 6);
      assert.equal(all.json().has_next_page, false);
      const page1 = await call('GET', `/api/v2/document/Article?fields=${enc('["name"]')}&order_by=${enc('pages asc')}&limit=2`, 'librarian');
      assert.deepEqual(page1.json(), { data: [{ name: 'Slash/Name' }, { name: 'Space Name' }], has_next_page: true });
      const page3 = await call('GET', `/api/v2/document/Article?fields=${enc('["name"]')}&order_by=${enc('pages asc')}&limit=2&start=4`, 'librarian');
      assert.deepEqual(page3.json(), { data: [{ name: 'Gamma' }, { name: 'Delta' }], has_next_page: false });
      const defaults = await call('GET', '/api/v2/document/Article', 'librarian');
      assert.equal(defaults.json().data.length, 6);
      assert.deepEqual(Object.keys(defaults.json().data[0]), ['name'], 'default field set is name');
    });

    test('limit=0 is not "all" in v2: no rows, has_next_page says whether any exists', async () => {
      const some = await call('GET', '/api/v2/document/Article?limit=0', 'librarian');
      assert.deepEqual(some.json(), { data: [], has_next_page: true });
      const none = await call('GET', `/api/v2/document/Article?limit=0&filters=${enc('{"pages": 9999}')}`, 'librarian');
      assert.deepEqual(none.json(), { data: [], has_next_page: false });
    });

    test('as_dict uses Python truthiness: the string "false" means dicts, JSON false means lists', async () => {
      const base = `/api/v2/document/Article?fields=${enc('["name","pages"]')}&filters=${enc('[["pages","=",100]]')}`;
      assert.deepEqual((await call('GET', `${base}&as_dict=false`, 'librarian')).json().data, [{ name: 'Alpha', pages: 100 }]);
      assert.deepEqual((await call('GET', `${base}&as_dict=0`, 'librarian')).json().data, [{ name: 'Alpha', pages: 100 }]);
      assert.deepEqual((await call('GET', `${base}&as_dict=`, 'librarian')).json().data, [['Alpha', 100]], 'an empty string is falsy');
      const json = await call('POST', '/api/v2/method/ping', 'librarian');
      assert.equal(json.statusCode, 200);
      const asList = await app.inject({
        method: 'GET',
        url: '/api/v2/document/Article',
        headers: { authorization: auth.librarian, 'content-type': 'application/json' },
        payload: JSON.stringify({ fields: ['name', 'pages'], filters: { pages: 100 }, as_dict: false }),
      });
      assert.deepEqual(asList.json(), { data: [['Alpha', 100]], has_next_page: false }, 'a JSON body on GET with native lists and JSON false');
    });

    test('filters, or_filters, order_by, group_by with an aggregate', async () => {
      const or = await call(
        'GET',
        `/api/v2/document/Article?fields=${enc('["name"]')}&or_filters=${enc('[["pages","<",60],["pages",">",300]]')}&order_by=${enc('name asc')}`,
        'librarian',
      );
      assert.deepEqual(or.json().data, [{ name: 'Delta' }, { name: 'Slash/Name' }]);
      const grouped = await call('GET', `/api/v2/document/Article?fields=${enc('["author","count(name) as n"]')}&group_by=author&order_by=${enc('author asc')}`, 'librarian');
      const counts = Object.fromEntries((grouped.json().data as { author: string | null; n: number }[]).map((r) => [String(r.author), Number(r.n)]));
      assert.deepEqual(counts, { null: 4, Herbert: 2 });
      const nulls = await call('GET', `/api/v2/document/Article?fields=${enc('["name"]')}&filters=${enc('{"author": ["is", "not set"]}')}`, 'librarian');
      assert.equal(nulls.json().data.length, 4);
    });

    test('malformed list arguments are 417 with the v2 error body', async () => {
      for (const query of [`fields=${enc('{"a":1}')}`, 'fields=name', `filters=${enc('"x"')}`, `fields=${enc('["name", ')}`, `fields=${enc('["name; drop table x"]')}`, `order_by=${enc('(select 1)')}`]) {
        const res = await call('GET', `/api/v2/document/Article?${query}`, 'librarian');
        assert.equal(res.statusCode, 417, query);
        assert.match(String(v2Error(res).type), /ValidationError|DataError/);
      }
      const v2Array = await app.inject({
        method: 'GET',
        url: '/api/v2/document/Article',
        headers: { authorization: auth.librarian, 'content-type': 'application/json' },
        payload: JSON.stringify({ order_by: ['name'] }),
      });
      assert.equal(v2Array.statusCode, 417);
      assert.equal(v2Error(v2Array).message, "'order_by' must be a string");
    });

    test('debug: the SQL for System Managers (v2 `debug`, v1 `_debug_messages`), ignored for others', async () => {
      const admin = await call('GET', '/api/v2/document/Article?debug=1&limit=1', 'admin');
      assert.ok(Array.isArray(admin.json().debug));
      assert.match(admin.json().debug[0].message, /SELECT/i);
      const quirk = await call('GET', '/api/v2/document/Article?debug=false&limit=1', 'admin');
      assert.ok(Array.isArray(quirk.json().debug), 'the string "false" is truthy in v2');
      const librarian = await call('GET', '/api/v2/document/Article?debug=1&limit=1', 'librarian');
      assert.equal(librarian.statusCode, 200);
      assert.ok(!('debug' in librarian.json()));
      const v1 = await call('GET', '/api/resource/Article?debug=true&limit=1', 'admin');
      assert.equal(typeof v1.json()._debug_messages, 'string');
      assert.match((JSON.parse(v1.json()._debug_messages) as string[])[0] ?? '', /SELECT/i);
      assert.ok(!('_debug_messages' in (await call('GET', '/api/resource/Article?debug=false&limit=1', 'admin')).json()), 'v1 reads debug with sbool');
      assert.ok(!('_debug_messages' in (await call('GET', '/api/resource/Article?debug=true&limit=1', 'librarian')).json()));
    });

    test('Guests get 403; unknown DocTypes 404', async () => {
      const guest = await call('GET', '/api/v2/document/Article');
      assert.equal(guest.statusCode, 403);
      assert.equal(v2Error(guest).type, 'PermissionError');
      const unknown = await call('GET', '/api/v2/document/Nope', 'admin');
      assert.equal(unknown.statusCode, 404);
      assert.equal(v2Error(unknown).type, 'DoesNotExistError');
    });
  });

  describe('v2 documents', () => {
    test('create ignores a doctype key and answers the document with nulls', async () => {
      const res = await call('POST', '/api/v2/document/Article', 'librarian', { doctype: 'Library Member', article_name: 'Created V2', pages: 7 });
      assert.equal(res.statusCode, 200);
      const doc = res.json().data;
      assert.equal(doc.name, 'Created V2');
      assert.equal(doc.doctype, 'Article');
      assert.equal(doc.author, null, 'v2 keeps null fields');
      assert.ok('isbn' in doc);
      const named = await call('POST', '/api/v2/document/Article', 'librarian', { name: 'Chosen', article_name: 'By Field' });
      assert.equal(named.json().data.name, 'By Field', 'an explicit name yields to the naming rule (field:article_name)');
      const invalid = await call('POST', '/api/v2/document/Article', 'librarian', { author: 'x' });
      assert.equal(invalid.statusCode, 417);
      assert.equal(v2Error(invalid).type, 'MandatoryError');
      const dup = await call('POST', '/api/v2/document/Article', 'librarian', { article_name: 'Created V2' });
      assert.equal(dup.statusCode, 409);
      assert.equal(v2Error(dup).type, 'DuplicateEntryError');
      const denied = await call('POST', '/api/v2/document/Article', 'member', { article_name: 'Nope' });
      assert.equal(denied.statusCode, 403);
    });

    test('read keeps nulls; names with %2F and %20; trailing slashes; v1 omits nulls', async () => {
      const slash = await call('GET', '/api/v2/document/Article/Slash%2FName', 'librarian');
      assert.equal(slash.statusCode, 200);
      assert.equal(slash.json().data.name, 'Slash/Name');
      assert.equal(slash.json().data.author, null);
      const space = await call('GET', '/api/v2/document/Article/Space%20Name/', 'librarian');
      assert.equal(space.json().data.name, 'Space Name');
      const raw = await call('GET', '/api/v2/document/Article/Slash/Name', 'librarian');
      assert.equal(raw.json().data.name, 'Slash/Name', 'an unencoded / is part of the name');
      const v1 = await call('GET', '/api/resource/Article/Slash%2FName/', 'librarian');
      assert.equal(v1.json().data.name, 'Slash/Name');
      assert.ok(!('author' in v1.json().data));
      const listSlash = await call('GET', '/api/v2/document/Article/', 'librarian');
      assert.equal(listSlash.statusCode, 200, 'trailing slash on the list path');
      const childType = await call('GET', '/api/v2/document/Library%20Member/' + enc(memberName), 'admin');
      assert.equal(childType.json().data.first_name, 'Ada');
    });

    test('missing documents are 404 without a traceback, even for a System User when tracebacks are on', async () => {
      await setTracebacks(true);
      try {
        const res = await call('GET', '/api/v2/document/Article/Missing', 'admin');
        assert.equal(res.statusCode, 404);
        const error = v2Error(res);
        assert.equal(error.type, 'DoesNotExistError');
        assert.ok(!('exception' in error));
        const v1 = await call('GET', '/api/resource/Article/Missing', 'admin');
        assert.ok(!('exception' in v1.json()) && !('exc' in v1.json()));
      } finally {
        await setTracebacks(false);
      }
    });

    test('copy drops identity, timestamps, docstatus, no_copy fields, child names and nulls', async () => {
      const res = await call('GET', '/api/v2/document/Article/Gamma/copy', 'librarian');
      assert.equal(res.statusCode, 200);
      const copy = res.json().data;
      for (const key of ['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus']) assert.ok(!(key in copy), key);
      assert.equal(copy.article_name, 'Gamma');
      assert.equal(copy.doctype, 'Article');
      assert.ok(!Object.values(copy).includes(null), 'no nulls');
      const loan = await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Loan', member: memberName, items: [{ article: 'Alpha', quantity: 2 }] }));
      const loanCopy = (await call('GET', `/api/v2/document/Loan/${enc(String(loan.name))}/copy`, 'admin')).json().data;
      assert.equal(loanCopy.member, memberName);
      assert.equal(loanCopy.items.length, 1);
      assert.equal(loanCopy.items[0].article, 'Alpha');
      assert.ok(!('name' in loanCopy.items[0]) && !('amended_from' in loanCopy));
      const missing = await call('GET', '/api/v2/document/Article/Missing/copy', 'librarian');
      assert.equal(missing.statusCode, 404);
    });

    test('PATCH and PUT update partially; DELETE answers 202 {"data":"ok"}; then 404', async () => {
      const patched = await call('PATCH', '/api/v2/document/Article/Created%20V2', 'librarian', { pages: 70, flags: { ignore_permissions: 1 } });
      assert.equal(patched.statusCode, 200);
      assert.equal(patched.json().data.pages, 70);
      assert.equal(patched.json().data.author, null);
      const put = await call('PUT', '/api/v2/document/Article/Created%20V2', 'librarian', { author: 'Ann' });
      assert.equal(put.json().data.author, 'Ann');
      assert.equal(put.json().data.pages, 70);
      const readBack = await call('GET', '/api/v2/document/Article/Created%20V2', 'librarian');
      assert.equal(readBack.json().data.author, 'Ann');
      const stale = await call('PATCH', '/api/v2/document/Article/Created%20V2', 'librarian', { pages: 1, modified: '2000-01-01 00:00:00' });
      assert.equal(stale.statusCode, 417);
      assert.equal(v2Error(stale).type, 'TimestampMismatchError');
      const denied = await call('PATCH', '/api/v2/document/Article/Created%20V2', 'member', { pages: 1 });
      assert.equal(denied.statusCode, 403);
      const removed = await call('DELETE', '/api/v2/document/Article/Created%20V2', 'librarian');
      assert.equal(removed.statusCode, 202);
      assert.deepEqual(removed.json(), { data: 'ok' });
      const gone = await call('GET', '/api/v2/document/Article/Created%20V2', 'librarian');
      assert.equal(gone.statusCode, 404);
      const again = await call('DELETE', '/api/v2/document/Article/Created%20V2', 'librarian');
      assert.equal(again.statusCode, 404);
      assert.equal(v2Error(again).type, 'DoesNotExistError');
    });

    test('meta (any logged-in user) and count (filters → integer)', async () => {
      const meta = await call('GET', '/api/v2/doctype/Article/meta', 'member');
      assert.equal(meta.statusCode, 200);
      assert.equal(meta.json().data.name, 'Article');
      assert.ok((meta.json().data.fields as { fieldname: string }[]).some((f) => f.fieldname === 'article_name'));
      const space = await call('GET', '/api/v2/doctype/Library%20Member/meta', 'website');
      assert.equal(space.json().data.name, 'Library Member');
      assert.equal((await call('GET', '/api/v2/doctype/Article/meta')).statusCode, 403, 'Guests are refused');
      assert.equal((await call('GET', '/api/v2/doctype/Nope/meta', 'member')).statusCode, 404);
      const count = await call('GET', `/api/v2/doctype/Article/count?filters=${enc('[["pages",">=",200]]')}`, 'librarian');
      assert.deepEqual(count.json(), { data: 3 });
      const all = await call('GET', '/api/v2/doctype/Article/count', 'librarian');
      assert.equal(typeof all.json().data, 'number');
      assert.equal((await call('GET', '/api/v2/doctype/Article/count')).statusCode, 403);
    });
  });

  describe('document methods', () => {
    test('v2 GET (read) and POST (write): result in data, the document in docs (with nulls)', async () => {
      const get = await call('GET', '/api/v2/document/Article/Alpha/method/describe?prefix=Book:%20&other=dropped', 'member');
      assert.equal(get.statusCode, 200);
      assert.equal(get.json().data, 'Book: Alpha (100 pages)');
      assert.equal(get.json().docs[0].name, 'Alpha');
      assert.equal(get.json().docs[0].author, null, 'v2 docs keep nulls');
      const slash = await call('GET', '/api/v2/document/Article/Slash%2FName/method/describe', 'member');
      assert.equal(slash.json().data, 'Slash/Name (50 pages)');
      const post = await call('POST', '/api/v2/document/Article/Beta/method/mark_issued', 'librarian');
      assert.equal(post.statusCode, 200);
      assert.deepEqual(post.json().data, { previous: 'Available' });
      assert.equal(post.json().docs[0].status, 'Issued', 'docs holds the document as re-read after the method');
      assert.deepEqual(post.json().messages, [{ message: 'Beta is issued', title: 'Issued', indicator: 'green' }]);
      const stored = await runAs(t.site, 'Administrator', (api) => api.getValue('Article', 'Beta', 'status'));
      assert.equal(stored, 'Issued', 'a POST commits');
    });

    test('v2 refusals: wrong verb 403, write on read-only 403, unknown method 404, Guest 403, unknown doc 404', async () => {
      const verb = await call('GET', '/api/v2/document/Article/Alpha/method/mark_issued', 'librarian');
      assert.equal(verb.statusCode, 403);
      assert.equal(v2Error(verb).message, 'Not permitted');
      const readOnly = await call('POST', '/api/v2/document/Article/Alpha/method/describe', 'member');
      assert.equal(readOnly.statusCode, 403);
      assert.equal(v2Error(readOnly).type, 'PermissionError');
      const unknown = await call('GET', '/api/v2/document/Article/Alpha/method/nope', 'librarian');
      assert.equal(unknown.statusCode, 404);
      assert.equal((await call('GET', '/api/v2/document/Article/Alpha/method/describe')).statusCode, 403);
      assert.equal((await call('GET', '/api/v2/document/Article/Missing/method/describe', 'librarian')).statusCode, 404);
      const status = await runAs(t.site, 'Administrator', (api) => api.getValue('Article', 'Alpha', 'status'));
      assert.notEqual(status, 'Issued');
    });

    test('v1 run_method: GET needs read, POST needs write; answer in data', async () => {
      const get = await call('GET', '/api/resource/Article/Alpha?run_method=describe&prefix=v1:', 'member');
      assert.deepEqual(get.json(), { data: 'v1:Alpha (100 pages)' });
      const post = await call('POST', '/api/v1/resource/Article/Gamma', 'librarian', { run_method: 'mark_issued' });
      assert.equal(post.statusCode, 200);
      assert.deepEqual(post.json().data, { previous: 'Available' });
      assert.equal(serverMessages(post.json())[0]?.message, 'Gamma is issued');
      const denied = await call('POST', '/api/resource/Article/Delta', 'member', { run_method: 'describe' });
      assert.equal(denied.statusCode, 403);
      assert.equal(denied.json().exc_type, 'PermissionError');
      const missing = await call('POST', '/api/resource/Article/Delta', 'librarian', { pages: 1 });
      assert.equal(missing.statusCode, 417);
      const args = await call('GET', '/api/resource/Article/Alpha?run_method=args_seen&x=1&ignore_permissions=1', 'member');
      assert.deepEqual(args.json(), { data: { x: '1' } }, 'run_method and reserved arguments are not passed on');
    });

    test('v1 run_doc_method: dt/dn or docs, args as JSON; {"docs":[doc], "message": result}', async () => {
      const stored = await call('POST', '/api/method/run_doc_method', 'member', { method: 'describe', dt: 'Article', dn: 'Delta', args: JSON.stringify({ prefix: '> ' }) });
      assert.equal(stored.statusCode, 200);
      assert.deepEqual(Object.keys(stored.json()), ['docs', 'message']);
      assert.equal(stored.json().message, '> Delta (400 pages)');
      assert.equal(stored.json().docs[0].name, 'Delta');
      assert.ok(!Object.values(stored.json().docs[0]).includes(null), 'v1 docs omit nulls');
      const memory = await call('POST', '/api/method/runserverobj', 'member', {
        method: 'reprice',
        docs: JSON.stringify({ doctype: 'Article', article_name: 'Unsaved', pages: 10 }),
        args: { rate: 3 },
      });
      assert.equal(memory.statusCode, 200);
      assert.equal(memory.json().message, 30);
      assert.equal(memory.json().docs[0].price, 30, 'the document as the method left it');
      const unsaved = await runAs(t.site, 'Administrator', (api) => api.exists('Article', 'Unsaved'));
      assert.equal(unsaved, false);
      const guest = await call('POST', '/api/method/run_doc_method', undefined, { method: 'describe', dt: 'Article', dn: 'Delta' });
      assert.equal(guest.statusCode, 403);
    });

    test('v2 run_doc_method on an in-memory document: GET read, POST write, stale modified refused', async () => {
      const current = (await call('GET', '/api/v2/document/Article/Delta', 'librarian')).json().data;
      const get = await call('GET', `/api/v2/method/run_doc_method?method=reprice&document=${enc(JSON.stringify(current))}&kwargs=${enc('{"rate": 2}')}`, 'member');
      assert.equal(get.statusCode, 200);
      assert.equal(get.json().data, 800);
      assert.equal(get.json().docs[0].price, 800);
      assert.equal(get.json().docs[0].name, 'Delta');
      const post = await call('POST', '/api/v2/method/run_doc_method', 'member', { method: 'reprice', document: current, kwargs: { rate: 2 } });
      assert.equal(post.statusCode, 403, 'POST needs write permission');
      const stale = await call('POST', '/api/v2/method/run_doc_method', 'librarian', { method: 'reprice', document: { ...current, modified: '2000-01-01 00:00:00' } });
      assert.equal(stale.statusCode, 417);
      assert.equal(v2Error(stale).type, 'TimestampMismatchError');
      const verb = await call('PUT', '/api/v2/method/run_doc_method', 'librarian', { method: 'reprice', document: current });
      assert.equal(verb.statusCode, 405);
      const bad = await call('POST', '/api/v2/method/run_doc_method', 'librarian', { method: 'reprice', document: '[1]' });
      assert.equal(bad.statusCode, 417);
    });

    test('/api/v2/method/<DocType>/<method> resolves in the controller module', async () => {
      const short = await call('GET', '/api/v2/method/Article/shelf_count', 'librarian');
      const full = await call('GET', '/api/v2/method/library.library_management.doctype.article.article.shelf_count', 'librarian');
      assert.equal(short.statusCode, 200);
      assert.deepEqual(short.json(), full.json());
      assert.equal(typeof short.json().data.articles, 'number');
      const unknown = await call('GET', '/api/v2/method/Article/nope', 'librarian');
      assert.equal(unknown.statusCode, 417);
      assert.equal(v2Error(unknown).type, 'ValidationError');
      assert.equal((await call('GET', '/api/v2/method/Nope/x', 'librarian')).statusCode, 404);
    });
  });

  describe('methods, legacy cmd and verbs', () => {
    test('v1 ignores text after the method name; v2 does not', async () => {
      const v1 = await call('GET', '/api/method/library.api.hello/anything/else?name=Ada');
      assert.deepEqual(v1.json(), { message: 'hello Ada' });
      const v1b = await call('GET', '/api/v1/method/ping/x');
      assert.deepEqual(v1b.json(), { message: 'pong' });
      const trailing = await call('GET', '/api/method/ping/');
      assert.deepEqual(trailing.json(), { message: 'pong' });
      const v2 = await call('GET', '/api/v2/method/library.api.hello/anything/else');
      assert.equal(v2.statusCode, 404);
    });

    test('cmd runs the named method on any path with the v1 envelope; cmd=login logs in', async () => {
      const form = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'cmd=ping' });
      assert.equal(form.statusCode, 200);
      assert.deepEqual(form.json(), { message: 'pong' });
      const json = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload: { cmd: 'library.api.hello', name: 'Bo' } });
      assert.deepEqual(json.json(), { message: 'hello Bo' });
      const anyPath = await app.inject({ url: '/some/page?cmd=library.api.hello&name=Cy' });
      assert.deepEqual(anyPath.json(), { message: 'hello Cy' });
      const overApi = await app.inject({ url: '/api/resource/Article?cmd=ping' });
      assert.deepEqual(overApi.json(), { message: 'pong' }, 'cmd wins over the path, as in Frappe');
      const guest = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json', accept: 'application/json' }, payload: { cmd: 'library.api.count_articles' } });
      assert.equal(guest.statusCode, 403);
      assert.equal(guest.json().exc_type, 'PermissionError');
      const unknown = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json', accept: 'application/json' }, payload: { cmd: 'no.such.method' } });
      assert.equal(unknown.statusCode, 417);
      const login = await app.inject({
        method: 'POST',
        url: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `cmd=login&usr=${enc('lib@example.com')}&pwd=${enc('lib-password-123')}`,
      });
      assert.equal(login.statusCode, 200);
      assert.equal(login.json().message, 'Logged In');
      const sid = [login.headers['set-cookie']].flat().map(String).find((c) => c.startsWith('sid='));
      assert.ok(sid && !sid.startsWith('sid=Guest'), 'a session cookie is set');
      const me = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', headers: { cookie: String(sid).split(';')[0] ?? '' } });
      assert.deepEqual(me.json(), { message: 'lib@example.com' });
      const adminLogin = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload: { cmd: 'login', usr: 'Administrator', pwd: ADMIN_PASSWORD } });
      assert.equal(adminLogin.json().message, 'Logged In');
    });

    test('a known resource path with a verb it does not take is 405 MethodNotAllowed; unknown paths stay 404', async () => {
      const cases: [string, string, string][] = [
        ['PATCH', '/api/resource/Article/Alpha', 'GET, POST, PUT, DELETE'],
        ['PUT', '/api/resource/Article', 'GET, POST'],
        ['DELETE', '/api/v1/resource/Article', 'GET, POST'],
        ['PATCH', '/api/v2/document/Article', 'GET, POST'],
        ['DELETE', '/api/v2/document/Article/', 'GET, POST'],
        ['POST', '/api/v2/document/Article/Alpha', 'GET, PUT, PATCH, DELETE'],
        ['POST', '/api/v2/doctype/Article/meta', 'GET'],
        ['DELETE', '/api/v2/doctype/Article/count', 'GET'],
      ];
      for (const [method, url, allowed] of cases) {
        const res = await app.inject({ method: method as 'GET', url, headers: { authorization: auth.librarian } });
        assert.equal(res.statusCode, 405, `${method} ${url}`);
        assert.match(String(res.headers.allow), new RegExp(`^${allowed}`));
        if (url.startsWith('/api/v2/')) assert.equal(v2Error(res).type, 'MethodNotAllowed');
        else assert.equal(res.json().exc_type, 'MethodNotAllowed');
      }
      const html = await app.inject({ method: 'PUT', url: '/api/resource/Article', headers: { accept: 'text/html' } });
      assert.equal(html.statusCode, 405);
      assert.match(String(html.headers['content-type']), /text\/html/);
      for (const url of ['/api/rest', '/api/v2/documents/Article', '/api/v2/doctype/Article/other']) {
        const res = await call('GET', url, 'librarian');
        assert.equal(res.statusCode, 404, url);
      }
    });
  });

  describe('tracebacks', () => {
    test('System Users see exception/exc when allow_error_traceback is on; never stack frames', async () => {
      const before = await call('POST', '/api/resource/Article', 'admin', { author: 'x' });
      assert.equal(before.statusCode, 417);
      assert.ok(!('exception' in before.json()) && !('exc' in before.json()), 'off by default');
      await setTracebacks(true);
      try {
        const v1 = await call('GET', '/api/method/library.api.notify_then_fail', 'admin');
        assert.equal(v1.statusCode, 417);
        const body = v1.json();
        assert.equal(body.exception, 'frappe.exceptions.ValidationError: Shelf is empty');
        assert.equal(typeof body.exc, 'string');
        const exc = JSON.parse(body.exc) as string[];
        assert.equal(exc.length, 1);
        assert.equal(exc[0], 'Traceback (most recent call last):\n  <cortado>\nValidationError: Shelf is empty');
        assert.ok(!/\.ts|\/src\/|node_modules|at /.test(body.exc), 'no paths or frames');

        // Frappe's test: a 403 for a doc method carries exactly these keys.
        const refused = await call('GET', '/api/resource/Article/Alpha?run_method=mark_issued', 'librarian');
        assert.equal(refused.statusCode, 403);
        assert.deepEqual(Object.keys(refused.json()).sort(), ['_server_messages', 'exc', 'exc_type', 'exception']);
        assert.equal(refused.json().exception, 'frappe.exceptions.PermissionError: Not permitted');

        const v2 = await call('GET', '/api/v2/method/library.api.notify_then_fail', 'admin');
        const error = v2Error(v2);
        assert.equal(error.type, 'ValidationError');
        assert.equal(error.message, 'Shelf is empty');
        assert.match(String(error.exception), /^Traceback \(most recent call last\):\n {2}<cortado>\nValidationError: Shelf is empty$/);

        const crash = await call('GET', '/api/method/library.api.crash', 'admin');
        assert.equal(crash.statusCode, 500);
        assert.ok(!crash.body.includes('secret internal detail'), 'a 500 never shows its internal message');
        assert.equal(crash.json().exception, 'Exception: Internal Server Error');

        const website = await call('POST', '/api/resource/Article', 'website', { article_name: 'No' });
        assert.equal(website.statusCode, 403);
        assert.ok(!('exception' in website.json()) && !('exc' in website.json()), 'not for Website Users');
        const guest = await call('GET', '/api/method/library.api.count_articles');
        assert.equal(guest.statusCode, 403);
        assert.ok(!('exception' in guest.json()), 'not for Guests');
        const guestV2 = await call('GET', '/api/v2/document/Article');
        assert.ok(!('exception' in v2Error(guestV2)));
      } finally {
        await setTracebacks(false);
      }
      const off = await call('GET', '/api/method/library.api.notify_then_fail', 'admin');
      assert.ok(!('exception' in off.json()));
    });
  });

  describe('msgprint', () => {
    test('v1 _server_messages and v2 messages on success', async () => {
      const v1 = await call('GET', '/api/method/library.api.notify?who=Ada', 'librarian');
      assert.equal(v1.json().message, 'done');
      assert.deepEqual(serverMessages(v1.json()), [{ message: 'Hello Ada', title: 'Greeting', indicator: 'green' }, { message: 'Plain note' }]);
      const v2 = await call('GET', '/api/v2/method/library.api.notify?who=Bo', 'librarian');
      assert.deepEqual(v2.json(), { data: 'done', messages: [{ message: 'Hello Bo', title: 'Greeting', indicator: 'green' }, { message: 'Plain note' }] });
      const none = await call('GET', '/api/method/ping');
      assert.deepEqual(none.json(), { message: 'pong' }, 'no messages key without msgprint');
    });

    test('messages printed before an error are kept: v1 before the error message, v2 beside errors', async () => {
      const v1 = await call('GET', '/api/method/library.api.notify_then_fail', 'librarian');
      assert.equal(v1.statusCode, 417);
      const messages = serverMessages(v1.json());
      assert.deepEqual(messages.map((m) => m.message), ['Checked the shelf', 'Shelf is empty']);
      assert.equal(messages[1]?.indicator, 'red');
      const v2 = await call('GET', '/api/v2/method/library.api.notify_then_fail', 'librarian');
      assert.deepEqual(v2.json().messages, [{ message: 'Checked the shelf' }]);
      assert.equal(v2Error(v2).message, 'Shelf is empty');
    });
  });
});
