/**
 * The unmodified frappe-js-sdk 1.14.1 (a devDependency) drives a site served over a real socket
 * (`serve()` on 127.0.0.1, an OS-chosen free port) with the library fixture app installed.
 *
 * - Token auth (`Authorization: token key:secret`): every `db()` call (getDocList with fields,
 *   filters, orFilters, orderBy, groupBy, limit, limit_start and asDict false; getDoc, createDoc,
 *   updateDoc, deleteDoc, getCount, getValue, setValue, getSingleValue, renameDoc, getLastDoc,
 *   submit, cancel), `call().get/post/put/delete` of the app's methods, `file().uploadFile`
 *   (public and private, attached to a document, then fetched over HTTP) and
 *   `auth().getLoggedInUser`; failures surface as the SDK's error object (`httpStatus`,
 *   `exc_type`, `exception`).
 * - Cookie sessions (`auth().loginWithUsernamePassword` / `logout`): axios in Node has no cookie
 *   jar, so the session is lost after login (shown); with an interceptor on the SDK's own axios
 *   instance (`app.axios`) that keeps the `sid` from Set-Cookie and sends it back as a Cookie
 *   header — the SDK itself unmodified — the session works until logout ends it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AxiosResponse } from 'axios';
import { FrappeApp } from 'frappe-js-sdk';
import { serve, type RunningServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const LIB = 'lib@example.com';
const SM = 'sm@example.com';
const LIB_PASSWORD = 'lib-password-for-sdk-tests';

type Body = Record<string, unknown>;

/** The SDK rejects with the error body spread plus `httpStatus` and `exception`; checks them. */
async function sdkRejects(promise: Promise<unknown>, httpStatus: number, excType: string, message?: RegExp): Promise<Body> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  assert.ok(error && typeof error === 'object', 'expected the SDK call to reject');
  const body = error as Body;
  assert.equal(body.httpStatus, httpStatus, JSON.stringify(body));
  assert.equal(body.exc_type, excType, JSON.stringify(body));
  // The SDK's `exception`: the body's `exception` (System Users, tracebacks on) or `exc_type`.
  assert.match(String(body.exception), new RegExp(`${excType}`));
  if (message) {
    const messages = (JSON.parse(String(body._server_messages ?? '[]')) as string[]).map((m) => (JSON.parse(m) as { message: string }).message);
    assert.ok(messages.some((m) => message.test(m)), `no server message matches ${message}: ${JSON.stringify(messages)}`);
  }
  return body;
}

/** No value of a document returned directly is null (v1 omits null fields, as Frappe). */
function assertNoNulls(doc: Body): void {
  for (const [key, value] of Object.entries(doc)) assert.notEqual(value, null, `field ${key} is null`);
}

function pick(doc: Body, keys: string[]): Body {
  return Object.fromEntries(keys.map((key) => [key, doc[key]]));
}

/**
 * A minimal cookie jar on the SDK's own axios instance: keeps the cookies of every Set-Cookie
 * (dropping expired ones) and sends them back as a Cookie header.
 */
function attachCookieJar(app: FrappeApp): Map<string, string> {
  const jar = new Map<string, string>();
  const capture = (response: AxiosResponse | undefined) => {
    const header = response?.headers['set-cookie'];
    for (const line of Array.isArray(header) ? header : header ? [String(header)] : []) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const expires = attributes.find((a) => /^expires=/i.test(a));
      const maxAge = attributes.find((a) => /^max-age=/i.test(a));
      const expired = (maxAge !== undefined && Number(maxAge.split('=')[1]) <= 0) || (expires !== undefined && Date.parse(expires.slice(8)) < Date.now());
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
  };
  app.axios.interceptors.request.use((config) => {
    if (jar.size > 0) config.headers.set('Cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    return config;
  });
  app.axios.interceptors.response.use(
    (response) => {
      capture(response);
      return response;
    },
    (error: { response?: AxiosResponse }) => {
      capture(error.response);
      return Promise.reject(error);
    },
  );
  return jar;
}

forEachDatabase('frappe-js-sdk 1.14.1 against a served site', (db) => {
  let t: TestSite;
  let server: RunningServer | undefined;
  let url = '';
  const tokens: Record<'lib' | 'sm', string> = { lib: '', sm: '' };
  let memberName = '';

  /** A FrappeApp exactly as an application would make it, with `token` auth. */
  const tokenApp = (who: keyof typeof tokens) => new FrappeApp(url, { useToken: true, token: () => tokens[who], type: 'token' });

  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Role', role_name: 'Librarian' }));
    await addUser(t.site, { email: LIB, firstName: 'Libby', lastName: 'Rarian', roles: ['Librarian'], password: LIB_PASSWORD });
    await addUser(t.site, { email: SM, firstName: 'Sam', roles: ['System Manager'] });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    for (const [who, user] of [['lib', LIB], ['sm', SM]] as const) {
      const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, user, hashKey));
      tokens[who] = `${keys.api_key}:${keys.api_secret}`;
    }
    await runAs(t.site, 'Administrator', async (api) => {
      for (const [name, pages, author] of [
        ['Dune', 412, 'Frank Herbert'],
        ['Dune Messiah', 256, 'Frank Herbert'],
        ['Children of Dune', 444, 'Frank Herbert'],
        ['Emma', 474, 'Jane Austen'],
        ['Persuasion', 249, 'Jane Austen'],
      ] as const) {
        await api.insert({ doctype: 'Article', article_name: name, pages, author });
      }
      memberName = String((await api.insert({ doctype: 'Library Member', first_name: 'Ann', last_name: 'Smith' })).name);
    });
    server = await serve(t.site, { port: 0, host: '127.0.0.1' });
    url = server.url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  describe('token auth', () => {
    test('auth.getLoggedInUser → the key owner; a wrong secret → 401 AuthenticationError', async () => {
      assert.equal(await tokenApp('lib').auth().getLoggedInUser(), LIB);
      assert.equal(await tokenApp('sm').auth().getLoggedInUser(), SM);
      const wrong = new FrappeApp(url, { useToken: true, token: () => `${tokens.lib.split(':')[0]}:not-the-secret`, type: 'token' });
      await sdkRejects(wrong.auth().getLoggedInUser(), 401, 'AuthenticationError');
      // No credentials at all: Guest, who may not ask who is logged in.
      await sdkRejects(new FrappeApp(url).auth().getLoggedInUser(), 403, 'PermissionError');
    });

    test('db.getDocList: fields, filters, orderBy, limit, limit_start, asDict false, orFilters, groupBy', async () => {
      const sdk = tokenApp('lib').db();
      const herbert = (extra: { limit?: number; limit_start?: number; asDict?: boolean }) =>
        sdk.getDocList('Article', { fields: ['name', 'pages'], filters: [['author', '=', 'Frank Herbert']], orderBy: { field: 'pages', order: 'desc' }, ...extra });
      assert.deepEqual(await herbert({ limit: 2 }), [
        { name: 'Children of Dune', pages: 444 },
        { name: 'Dune', pages: 412 },
      ]);
      assert.deepEqual(await herbert({ limit: 2, limit_start: 1 }), [
        { name: 'Dune', pages: 412 },
        { name: 'Dune Messiah', pages: 256 },
      ]);
      assert.deepEqual(await herbert({ asDict: false }), [
        ['Children of Dune', 444],
        ['Dune', 412],
        ['Dune Messiah', 256],
      ]);
      // orderBy without an order: the SDK sends "<field> asc".
      assert.deepEqual(
        await sdk.getDocList('Article', { fields: ['name'], orFilters: [['pages', '<', 260], ['author', 'like', 'Jane%']], orderBy: { field: 'name' } }),
        [{ name: 'Dune Messiah' }, { name: 'Emma' }, { name: 'Persuasion' }],
      );
      // The operators the SDK's types offer.
      const names = async (filters: unknown) =>
        (await sdk.getDocList<{ name: string }>('Article', { fields: ['name'], filters: filters as never, orderBy: { field: 'name' }, limit: 0 })).map((r) => r.name);
      assert.deepEqual(await names([['name', 'in', ['Emma', 'Dune', 'Nope']]]), ['Dune', 'Emma']);
      assert.deepEqual(await names([['pages', 'between', [250, 420]]]), ['Dune', 'Dune Messiah']);
      assert.deepEqual(await names([['author', '!=', 'Frank Herbert'], ['pages', '>=', 249], ['pages', '<=', 474]]), ['Emma', 'Persuasion']);
      assert.deepEqual(await names([['name', 'like', '%Dune%'], ['pages', '>', 300]]), ['Children of Dune', 'Dune']);
      assert.deepEqual(await names([['creation', 'Timespan', 'today']]), ['Children of Dune', 'Dune', 'Dune Messiah', 'Emma', 'Persuasion']);
      // `<>` is in the SDK's operator type. Frappe refuses it (417 "Operator must be one of …");
      // cortado reads it as `!=` (src/doctype/query/parse-filters.ts OPERATORS).
      assert.deepEqual(await names([['author', '<>', 'Frank Herbert']]), ['Emma', 'Persuasion']);
      // group_by with an aggregate, as Frappe accepts it.
      assert.deepEqual(
        await sdk.getDocList('Article', { fields: ['author', 'count(name) as count'] as never, groupBy: 'author', orderBy: { field: 'author' } }),
        [
          { author: 'Frank Herbert', count: 3 },
          { author: 'Jane Austen', count: 2 },
        ],
      );
      // No arguments at all: no query string; default fields ["name"], default page of 20.
      const all = await sdk.getDocList<{ name: string }>('Article');
      assert.deepEqual(all.map((row) => Object.keys(row)), all.map(() => ['name']));
      assert.ok(all.length >= 5 && all.length <= 20);
      // An unknown field is refused, never executed.
      await sdkRejects(sdk.getDocList('Article', { fields: ['name', 'no_such_field'] as never }), 417, 'DataError');
    });

    test('db.createDoc / getDoc / updateDoc / deleteDoc, with exact documents back', async () => {
      const sdk = tokenApp('lib').db();
      const created = (await sdk.createDoc('Article', { article_name: '  Neuromancer ', author: 'William Gibson', pages: 271, is_reference: 1, price: 9.99 })) as unknown as Body;
      assertNoNulls(created);
      assert.deepEqual(pick(created, ['doctype', 'name', 'article_name', 'author', 'pages', 'is_reference', 'price', 'status', 'owner', 'modified_by', 'docstatus', 'tags']), {
        doctype: 'Article',
        name: 'Neuromancer', // the app's validate hook trims the title before naming
        article_name: 'Neuromancer',
        author: 'William Gibson',
        pages: 271,
        is_reference: 1,
        price: 9.99,
        status: 'Available',
        owner: LIB,
        modified_by: LIB,
        docstatus: 0,
        tags: [],
      });
      assert.equal('isbn' in created, false, 'null fields are omitted');
      assert.match(String(created.creation), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$/);

      const read = (await sdk.getDoc('Article', 'Neuromancer')) as unknown as Body;
      assert.deepEqual(read, created);

      const updated = (await sdk.updateDoc('Article', 'Neuromancer', { pages: 300, status: 'Issued' })) as unknown as Body;
      assert.deepEqual(pick(updated, ['name', 'pages', 'status', 'author', 'modified_by']), {
        name: 'Neuromancer',
        pages: 300,
        status: 'Issued',
        author: 'William Gibson',
        modified_by: LIB,
      });
      assert.deepEqual(await sdk.getDoc('Article', 'Neuromancer'), updated);
      // A stale `modified` is refused.
      await sdkRejects(sdk.updateDoc('Article', 'Neuromancer', { pages: 1, modified: created.modified }), 417, 'TimestampMismatchError');
      // A validation hook of the app refuses: 417 with its message.
      await sdkRejects(sdk.updateDoc('Article', 'Neuromancer', { article_name: 'forbidden' }), 417, 'ValidationError', /This title is not allowed/);

      assert.deepEqual(await sdk.deleteDoc('Article', 'Neuromancer'), { data: 'ok' });
      const gone = await sdkRejects(sdk.getDoc('Article', 'Neuromancer'), 404, 'DoesNotExistError');
      assert.equal(gone.exception, 'DoesNotExistError', 'no traceback for 404s: the SDK falls back to exc_type');
      await sdkRejects(sdk.deleteDoc('Article', 'Neuromancer'), 404, 'DoesNotExistError');
    });

    test('db.getDoc of names with "/", "+", spaces and unicode (the SDK encodes the name)', async () => {
      const sdk = tokenApp('lib').db();
      for (const title of ['Dune / Part 1 + 2', 'Ünïcödé & "quotes" 100%', 'a?b#c']) {
        const created = (await sdk.createDoc('Article', { article_name: title, pages: 1 })) as unknown as Body;
        assert.equal(created.name, title);
        const read = (await sdk.getDoc('Article', title)) as unknown as Body;
        assert.equal(read.name, title);
        assert.deepEqual((await sdk.updateDoc('Article', title, { pages: 2 })).pages, 2);
        assert.deepEqual(await sdk.deleteDoc('Article', title), { data: 'ok' });
      }
    });

    test('db.getCount, getValue, setValue, getSingleValue, getLastDoc', async () => {
      const lib = tokenApp('lib').db();
      const sm = tokenApp('sm').db();
      assert.equal(await lib.getCount('Article', [['author', '=', 'Frank Herbert']]), 3);
      assert.equal(await lib.getCount('Article', [['pages', '>', 400], ['author', 'like', '%Austen']]), 1);
      assert.equal(await lib.getCount('Article'), 5);

      // getValue resolves to the whole body.
      assert.deepEqual(await lib.getValue('Article', 'pages', [['name', '=', 'Dune']]), { message: { pages: 412 } });
      assert.deepEqual(await lib.getValue('Article', ['author', 'pages'], [['name', '=', 'Emma']]), { message: { author: 'Jane Austen', pages: 474 } });
      assert.deepEqual(await lib.getValue('Article', ['author', 'pages'], [['name', '=', 'Emma']], false), { message: ['Jane Austen', 474] });
      assert.deepEqual(await lib.getValue('Article', 'pages', [['name', '=', 'Emma']], false), { message: 474 });
      // Without a fieldname the SDK sends the literal "[]": the name.
      assert.deepEqual(await lib.getValue('Article', undefined, [['pages', '=', 249]]), { message: { name: 'Persuasion' } });
      // Nothing matches: {} as a dict; no `message` at all otherwise (Frappe's None).
      assert.deepEqual(await lib.getValue('Article', 'pages', [['name', '=', 'Nope']]), { message: {} });
      assert.deepEqual(await lib.getValue('Article', 'pages', [['name', '=', 'Nope']], false), {});

      // setValue: one field with a value, or an object of fields; the whole body, full doc.
      await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Article', article_name: 'Solaris', pages: 204, author: 'Stanislaw Lem' }));
      const one = (await lib.setValue('Article', 'Solaris', 'pages', 205)) as unknown as { message: Body };
      assert.deepEqual(pick(one.message, ['doctype', 'name', 'pages', 'author', 'modified_by']), { doctype: 'Article', name: 'Solaris', pages: 205, author: 'Stanislaw Lem', modified_by: LIB });
      const many = (await lib.setValue('Article', 'Solaris', { author: 'Stanisław Lem', publisher: 'Walker' })) as unknown as { message: Body };
      assert.deepEqual(pick(many.message, ['pages', 'author', 'publisher']), { pages: 205, author: 'Stanisław Lem', publisher: 'Walker' });
      // Documents from frappe.client.* keep their null fields (Frappe's as_dict()).
      assert.equal(many.message.isbn, null);
      await sdkRejects(lib.setValue('Article', 'Solaris', 'owner', 'x@example.com'), 417, 'ValidationError', /Cannot edit standard fields/);
      assert.deepEqual(await lib.getValue('Article', ['pages', 'publisher'], [['name', '=', 'Solaris']]), { message: { pages: 205, publisher: 'Walker' } });

      // getSingleValue: a System Settings value, readable by System Managers only.
      assert.deepEqual(await sm.getSingleValue('System Settings', 'language'), { message: 'en' });
      assert.deepEqual(await sm.getSingleValue('System Settings', 'allow_consecutive_login_attempts'), { message: 10 });
      await sdkRejects(lib.getSingleValue('System Settings', 'language'), 403, 'PermissionError');

      // getLastDoc: the newest document (getDocList with creation desc, then getDoc).
      const last = (await lib.getLastDoc('Article')) as unknown as Body;
      assert.equal(last.name, 'Solaris');
      assert.equal(last.pages, 205);
      assert.deepEqual(await lib.getLastDoc('Article', { filters: [['name', '=', 'Nope']] }), {});
      assert.deepEqual(await lib.deleteDoc('Article', 'Solaris'), { data: 'ok' });
    });

    test('db.renameDoc', async () => {
      const sdk = tokenApp('lib').db();
      await sdk.createDoc('Article', { article_name: 'Old Title', pages: 10 });
      assert.deepEqual(await sdk.renameDoc('Article', 'Old Title', 'New Title'), { message: 'New Title' });
      assert.equal(((await sdk.getDoc('Article', 'New Title')) as unknown as Body).pages, 10);
      await sdkRejects(sdk.getDoc('Article', 'Old Title'), 404, 'DoesNotExistError');
      // Renaming onto an existing name without merge is refused.
      await sdkRejects(sdk.renameDoc('Article', 'New Title', 'Dune'), 409, 'DuplicateEntryError');
      assert.deepEqual(await sdk.deleteDoc('Article', 'New Title'), { data: 'ok' });
    });

    test('db.submit / cancel of a submittable Loan (with its child table)', async () => {
      const lib = tokenApp('lib').db();
      const sm = tokenApp('sm').db();
      const draft = (await lib.createDoc('Loan', { member: memberName, remarks: 'first', items: [{ article: 'Dune', quantity: 2 }, { article: 'Emma', quantity: 1 }] })) as unknown as Body;
      assert.match(String(draft.name), /^LOAN-\d{4}-\d{4}$/);
      assert.equal(draft.docstatus, 0);
      const items = draft.items as Body[];
      assert.deepEqual(
        items.map((row) => pick(row, ['doctype', 'article', 'quantity', 'idx', 'parent', 'parentfield', 'parenttype'])),
        [
          { doctype: 'Loan Item', article: 'Dune', quantity: 2, idx: 1, parent: draft.name, parentfield: 'items', parenttype: 'Loan' },
          { doctype: 'Loan Item', article: 'Emma', quantity: 1, idx: 2, parent: draft.name, parentfield: 'items', parenttype: 'Loan' },
        ],
      );

      // submit resolves to `message`: the submitted document.
      const submitted = (await lib.submit(draft)) as Body;
      assert.deepEqual(pick(submitted, ['name', 'docstatus', 'member', 'remarks']), { name: draft.name, docstatus: 1, member: memberName, remarks: 'first' });
      assert.equal((submitted.items as Body[]).length, 2);
      // After submit only "allow on submit" fields change.
      assert.equal((await lib.updateDoc('Loan', String(draft.name), { remarks: 'returned late' })).remarks, 'returned late');
      await sdkRejects(lib.updateDoc('Loan', String(draft.name), { member: 'LIB-MEM-99999' }), 417, 'UpdateAfterSubmitError');

      // cancel resolves to the whole body. A Librarian may submit but not cancel.
      await sdkRejects(lib.cancel('Loan', String(draft.name)), 403, 'PermissionError');
      const cancelled = (await sm.cancel('Loan', String(draft.name))) as unknown as { message: Body };
      assert.deepEqual(pick(cancelled.message, ['name', 'docstatus', 'remarks']), { name: draft.name, docstatus: 2, remarks: 'returned late' });
      assert.equal(((await lib.getDoc('Loan', String(draft.name))) as unknown as Body).docstatus, 2);
      // A submitted document cannot be submitted twice (its docstatus is not 0).
      await sdkRejects(lib.submit({ ...draft, modified: cancelled.message.modified }), 417, 'DocstatusTransitionError');
    });

    test('call.get / post / put / delete of app methods', async () => {
      const call = tokenApp('lib').call();
      // Each resolves to the whole body.
      assert.deepEqual(await call.get('library.api.hello', { name: 'Ada' }), { message: 'hello Ada' });
      assert.deepEqual(await call.get('ping'), { message: 'pong' });
      // GET: objects are sent as JSON text and arrive as text; arguments the method does not take are dropped.
      assert.deepEqual(await call.get('library.api.echo', { a: { x: 1 }, b: 2 }), { message: { a: '{"x":1}' } });
      assert.deepEqual(await call.get('library.api.echo', { a: true, data: 3 }), { message: { a: 'true', data: '3' } });
      // POST and PUT: a JSON body; values arrive as JSON.
      assert.deepEqual(await call.post('library.api.echo', { a: { x: 1 }, b: 2, data: [1, 'two'] }), { message: { a: { x: 1 }, data: [1, 'two'] } });
      assert.deepEqual(await call.put('library.api.echo', { a: null }), { message: { a: null } });
      // DELETE: the parameters in the query string.
      assert.deepEqual(await call.delete('library.api.echo', { a: 'gone' }), { message: { a: 'gone' } });
      // ignore_permissions / flags never reach a method.
      assert.deepEqual(await call.post('library.api.echo', { a: 1, ignore_permissions: 1, flags: { x: 1 } }), { message: { a: 1 } });

      assert.deepEqual(await call.get('library.api.count_articles'), { message: 5 });
      // count_articles takes GET only: any other verb → 403 "Not permitted".
      await sdkRejects(call.post('library.api.count_articles', {}), 403, 'PermissionError', /^Not permitted$/);
      await sdkRejects(call.delete('library.api.count_articles'), 403, 'PermissionError');
      // frappe.client methods through call: get_list with native JSON in a POST body.
      assert.deepEqual(
        await call.post('frappe.client.get_list', { doctype: 'Article', fields: ['name', 'pages'], filters: { author: 'Jane Austen' }, order_by: 'pages asc' }),
        { message: [{ name: 'Persuasion', pages: 249 }, { name: 'Emma', pages: 474 }] },
      );
      // set_value takes POST/PUT only.
      await sdkRejects(call.get('frappe.client.set_value', { doctype: 'Article', name: 'Dune', fieldname: 'pages', value: 1 }), 403, 'PermissionError');
      // A method that does not exist.
      await sdkRejects(call.get('library.api.no_such_method'), 417, 'ValidationError', /Failed to get method/);
      // A method raising an error of the app.
      await sdkRejects(call.get('library.api.notify_then_fail'), 417, 'ValidationError', /Shelf is empty/);
      // A Guest FrappeApp: guest methods only.
      const guest = new FrappeApp(url).call();
      assert.deepEqual(await guest.get('library.api.hello'), { message: 'hello world' });
      await sdkRejects(guest.get('library.api.echo', { a: 1 }), 403, 'PermissionError');
    });

    test('file.uploadFile: public and private files, attached to a document, then fetched', async () => {
      const app = tokenApp('lib');
      const content = Buffer.from('hello cortado\n', 'utf8');
      const response = await app.file().uploadFile(new File([content], 'notes.txt', { type: 'text/plain' }), { isPrivate: false, folder: 'Home' });
      assert.equal(response.status, 200);
      const file = (response.data as { message: Body }).message;
      assertNoNulls(file);
      assert.deepEqual(pick(file, ['doctype', 'file_name', 'file_url', 'is_private', 'file_size', 'folder', 'owner', 'content_hash']), {
        doctype: 'File',
        file_name: 'notes.txt',
        file_url: '/files/notes.txt',
        is_private: 0,
        file_size: content.length,
        folder: 'Home',
        owner: LIB,
        content_hash: createHash('sha256').update(content).digest('hex'),
      });
      const fetched = await fetch(`${url}/files/notes.txt`);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(await fetched.text(), 'hello cortado\n');
      // The File document is there for the SDK to read.
      assert.equal(((await app.db().getDoc('File', String(file.name))) as unknown as Body).file_url, '/files/notes.txt');

      // The same name again gets a suffix rather than replacing the first file.
      const again = ((await app.file().uploadFile(new File([Buffer.from('second')], 'notes.txt'), {})).data as { message: Body }).message;
      assert.match(String(again.file_url), /^\/files\/notes-[0-9a-f]{6}\.txt$/);
      assert.equal(await (await fetch(`${url}/files/notes.txt`)).text(), 'hello cortado\n');

      // Private, attached to an Attach field of a document: the field is set to the URL.
      const secret = Buffer.from('%PDF-1.4 not really a pdf', 'utf8');
      const privateResponse = await app
        .file()
        .uploadFile(new File([secret], '../../cover letter.pdf', { type: 'application/pdf' }), { isPrivate: true, doctype: 'Article', docname: 'Emma', fieldname: 'attachment', otherData: { ignored: 'x' } });
      const privateFile = (privateResponse.data as { message: Body }).message;
      assert.deepEqual(pick(privateFile, ['file_name', 'file_url', 'is_private', 'attached_to_doctype', 'attached_to_name', 'attached_to_field', 'file_size']), {
        file_name: 'cover letter.pdf', // only the last path component: no traversal
        file_url: '/private/files/cover letter.pdf',
        is_private: 1,
        attached_to_doctype: 'Article',
        attached_to_name: 'Emma',
        attached_to_field: 'attachment',
        file_size: secret.length,
      });
      assert.equal(((await app.db().getDoc('Article', 'Emma')) as unknown as Body).attachment, '/private/files/cover letter.pdf');
      const privateUrl = `${url}/private/files/cover%20letter.pdf`;
      assert.equal((await fetch(privateUrl)).status, 403, 'Guests never get private files');
      const asLib = await fetch(privateUrl, { headers: { Authorization: `token ${tokens.lib}` } });
      assert.equal(asLib.status, 200);
      assert.deepEqual(Buffer.from(await asLib.arrayBuffer()), secret);
      // Not found on the public side.
      assert.equal((await fetch(`${url}/files/cover%20letter.pdf`)).status, 404);

      // Nothing to upload → 417; attaching to a document that does not exist → 404.
      await sdkRejects(app.file().uploadFile(undefined as unknown as File, {}), 417, 'ValidationError');
      await sdkRejects(app.file().uploadFile(new File([content], 'x.txt'), { doctype: 'Article', docname: 'Nope' }), 404, 'DoesNotExistError');
      // A Guest may not upload (System Settings allow_guests_to_upload_files is off).
      await sdkRejects(new FrappeApp(url).file().uploadFile(new File([content], 'g.txt'), {}), 403, 'PermissionError');
    });
  });

  describe('cookie session (loginWithUsernamePassword / logout)', () => {
    test('without a cookie jar (axios in Node) the session is not carried: the next call is Guest', async () => {
      const app = new FrappeApp(url);
      assert.deepEqual(await app.auth().loginWithUsernamePassword({ username: LIB, password: LIB_PASSWORD }), {
        message: 'Logged In',
        home_page: '/app',
        full_name: 'Libby Rarian',
      });
      await sdkRejects(app.auth().getLoggedInUser(), 403, 'PermissionError');
    });

    test('with the sid carried by an interceptor on app.axios: login, work, logout', async () => {
      const app = new FrappeApp(url);
      const jar = attachCookieJar(app);
      const auth = app.auth();
      await sdkRejects(auth.loginWithUsernamePassword({ username: LIB, password: 'wrong password' }), 401, 'AuthenticationError');
      assert.equal(jar.has('sid'), false);
      assert.deepEqual(await auth.loginWithUsernamePassword({ username: LIB, password: LIB_PASSWORD }), {
        message: 'Logged In',
        home_page: '/app',
        full_name: 'Libby Rarian',
      });
      const sid = jar.get('sid');
      assert.ok(sid && sid !== 'Guest', 'the login set a sid cookie');
      assert.equal(jar.get('user_id'), encodeURIComponent(LIB));
      assert.equal(jar.get('system_user'), 'yes');
      assert.equal(await auth.getLoggedInUser(), LIB);

      // Reads and writes on the session (no CSRF token: the session never loaded a page).
      const sdk = app.db();
      const todo = (await sdk.createDoc('ToDo', { description: 'Return Dune', priority: 'High' })) as unknown as Body;
      assert.deepEqual(pick(todo, ['doctype', 'description', 'priority', 'status', 'owner']), {
        doctype: 'ToDo',
        description: 'Return Dune',
        priority: 'High',
        status: 'Open',
        owner: LIB,
      });
      assert.deepEqual(await sdk.getDocList('ToDo', { fields: ['description', 'status'], filters: [['owner', '=', LIB]] }), [{ description: 'Return Dune', status: 'Open' }]);
      assert.equal((await sdk.updateDoc('ToDo', String(todo.name), { status: 'Closed' })).status, 'Closed');
      assert.equal(await sdk.getCount('ToDo', [['status', '=', 'Closed']]), 1);
      assert.deepEqual(await app.call().post('library.api.echo', { a: 'session' }), { message: { a: 'session' } });
      assert.deepEqual(await sdk.deleteDoc('ToDo', String(todo.name)), { data: 'ok' });

      // logout resolves to nothing, expires the cookies, and ends the session on the server.
      assert.equal(await auth.logout(), undefined);
      assert.equal(jar.has('sid'), false, 'logout expired the sid cookie');
      await sdkRejects(auth.getLoggedInUser(), 403, 'PermissionError');
      // The old sid, sent again by hand, is dead.
      jar.set('sid', sid);
      await sdkRejects(auth.getLoggedInUser(), 403, 'PermissionError');
      assert.equal(jar.has('sid'), false, 'the server expired the stale sid cookie');
    });
  });
});
