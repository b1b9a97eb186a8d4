/**
 * Frappe's `frappe.client.*` and desk methods over HTTP: valid calls in the shapes the real
 * clients send (frappe-js-sdk query strings and JSON bodies, frappe-ui native JSON), permission
 * refusals, wrong verbs, and malformed input (417, never 500).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { LightMyRequestResponse } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));

type Verb = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Body = Record<string, unknown>;

function serverMessage(body: Body): string {
  const list = JSON.parse(String(body._server_messages ?? '[]')) as string[];
  return (JSON.parse(list[0] ?? '{}') as { message?: string }).message ?? '';
}

forEachDatabase('frappe.client methods', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  const auth: Record<'admin' | 'lib' | 'member' | 'sm' | 'outsider', string> = { admin: '', lib: '', member: '', sm: '', outsider: '' };
  let memberName: string;

  /** A method call as the clients make it: GET/DELETE with query-string values (objects as JSON), else a JSON body. */
  async function call(who: keyof typeof auth | undefined, method: string, args: Body = {}, verb: Verb = 'GET'): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = who ? { authorization: auth[who] } : {};
    if (verb === 'GET' || verb === 'DELETE') {
      const qs = new URLSearchParams();
      for (const [key, value] of Object.entries(args)) {
        if (value === undefined || value === null) continue;
        qs.set(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
      }
      const query = qs.toString();
      return app.inject({ method: verb, url: `/api/method/${method}${query ? `?${query}` : ''}`, headers });
    }
    return app.inject({ method: verb, url: `/api/method/${method}`, headers, payload: args });
  }

  function expectError(res: LightMyRequestResponse, status: number, excType: string, message?: RegExp): Body {
    assert.equal(res.statusCode, status, `expected ${status}, got ${res.statusCode}: ${res.body}`);
    const body = res.json() as Body;
    assert.equal(body.exc_type, excType, res.body);
    if (message) assert.match(serverMessage(body), message);
    return body;
  }

  function ok(res: LightMyRequestResponse): Body {
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Body;
  }

  async function newArticle(name: string, extra: Body = {}): Promise<Body> {
    return runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Article', article_name: name, ...extra }));
  }

  async function newLoan(items: Body[] = [{ article: 'Dune', quantity: 1 }]): Promise<Body> {
    return runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Loan', member: memberName, items }));
  }

  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    for (const role of ['Librarian', 'Library Member']) await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Role', role_name: role }));
    await addUser(t.site, { email: 'lib@example.com', roles: ['Librarian'] });
    await addUser(t.site, { email: 'member@example.com', roles: ['Library Member'] });
    await addUser(t.site, { email: 'sm@example.com', roles: ['System Manager'] });
    await addUser(t.site, { email: 'outsider@example.com', roles: [] });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const users = { admin: 'Administrator', lib: 'lib@example.com', member: 'member@example.com', sm: 'sm@example.com', outsider: 'outsider@example.com' } as const;
    for (const [key, user] of Object.entries(users) as [keyof typeof auth, string][]) {
      const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, user, hashKey));
      auth[key] = `token ${keys.api_key}:${keys.api_secret}`;
    }
    await newArticle('Dune', { pages: 412, author: 'Frank Herbert', internal_cost: 9.5, vendor_password: 's3cret' });
    await newArticle('Dune Messiah', { pages: 256, author: 'Frank Herbert' });
    await newArticle('Children of Dune', { pages: 444, author: 'Frank Herbert' });
    await newArticle('Emma', { pages: 474, author: 'Jane Austen' });
    const member = await runAs(t.site, 'Administrator', (api) =>
      api.insert({ doctype: 'Library Member', first_name: 'Ann', last_name: 'Smith', full_name: 'Ann Smith' }),
    );
    memberName = String(member.name);
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  describe('reading', () => {
    test('get_list: fields and filters as JSON text (GET) or native JSON (POST), paging, as_dict, or_filters', async () => {
      const viaGet = ok(
        await call('lib', 'frappe.client.get_list', {
          doctype: 'Article',
          fields: ['name', 'pages'],
          filters: [['author', '=', 'Frank Herbert']],
          order_by: 'pages asc',
        }),
      );
      assert.deepEqual(viaGet.message, [
        { name: 'Dune Messiah', pages: 256 },
        { name: 'Dune', pages: 412 },
        { name: 'Children of Dune', pages: 444 },
      ]);
      const viaPost = ok(
        await call('lib', 'frappe.client.get_list', { doctype: 'Article', fields: ['name'], filters: { pages: ['>', 400] }, order_by: 'name asc', limit_page_length: 2, limit_start: 1 }, 'POST'),
      );
      assert.deepEqual(viaPost.message, [{ name: 'Dune' }, { name: 'Emma' }]);
      const lists = ok(await call('lib', 'frappe.client.get_list', { doctype: 'Article', fields: ['name', 'pages'], filters: { name: 'Emma' }, as_dict: 'false' }));
      assert.deepEqual(lists.message, [['Emma', 474]]);
      const either = ok(
        await call('lib', 'frappe.client.get_list', { doctype: 'Article', or_filters: [['pages', '<', 300], ['author', 'like', 'Jane%']], order_by: 'name asc' }),
      );
      assert.deepEqual(either.message, [{ name: 'Dune Messiah' }, { name: 'Emma' }], 'default fields are ["name"]');
      const star = ok(await call('lib', 'frappe.client.get_list', { doctype: 'Article', fields: '*', filters: { name: 'Dune' } }, 'POST'));
      assert.equal((star.message as Body[])[0]?.pages, 412);
    });

    test('get_list: default page of 20, 0 = all; unknown arguments such as limit are dropped', async () => {
      await runAs(t.site, 'Administrator', async (api) => {
        for (let i = 0; i < 22; i++) await api.insert({ doctype: 'Visit Log', visitor: `v${i}` });
      });
      const page = ok(await call('admin', 'frappe.client.get_list', { doctype: 'Visit Log', limit: 3 }));
      assert.equal((page.message as unknown[]).length, 20);
      const all = ok(await call('admin', 'frappe.client.get_list', { doctype: 'Visit Log', limit_page_length: 0 }));
      assert.equal((all.message as unknown[]).length, 22);
    });

    test('get_list: permlevel columns are dropped for readers without the level; no access → 403', async () => {
      const lib = ok(await call('lib', 'frappe.client.get_list', { doctype: 'Article', fields: ['name', 'internal_cost'], filters: { name: 'Dune' } }));
      assert.deepEqual(lib.message, [{ name: 'Dune', internal_cost: 9.5 }]);
      const member = ok(await call('member', 'frappe.client.get_list', { doctype: 'Article', fields: ['name', 'internal_cost'], filters: { name: 'Dune' } }));
      assert.deepEqual(member.message, [{ name: 'Dune' }]);
      const refused = expectError(await call('outsider', 'frappe.client.get_list', { doctype: 'Article' }), 403, 'PermissionError');
      assert.equal(refused._error_message, 'No permission for Article');
      expectError(await call(undefined, 'frappe.client.get_list', { doctype: 'Article' }), 403, 'PermissionError');
    });

    test('get_list: child tables need their parent DocType; debug is echoed to System Managers only', async () => {
      const loan = await newLoan([{ article: 'Emma', quantity: 3 }]);
      const rows = ok(await call('admin', 'frappe.client.get_list', { doctype: 'Loan Item', parent: 'Loan', fields: ['article', 'quantity'], filters: { parent: loan.name } }));
      assert.deepEqual(rows.message, [{ article: 'Emma', quantity: 3 }]);
      expectError(await call('admin', 'frappe.client.get_list', { doctype: 'Loan Item' }), 403, 'PermissionError');
      expectError(await call('admin', 'frappe.client.get_list', { doctype: 'Loan Item', parent: 'Library Member' }), 403, 'PermissionError');

      const debugged = ok(await call('sm', 'frappe.client.get_list', { doctype: 'Article', filters: { name: 'Emma' }, debug: 'true' }));
      assert.deepEqual(debugged.message, [{ name: 'Emma' }]);
      const log = JSON.parse(String(debugged._debug_messages)) as string[];
      assert.ok(log.some((line) => /SELECT/.test(line)), 'the SQL is echoed');
      assert.ok(log.some((line) => /Execution time/.test(line)));
      const ignored = ok(await call('lib', 'frappe.client.get_list', { doctype: 'Article', filters: { name: 'Emma' }, debug: true }, 'POST'));
      assert.ok(!('_debug_messages' in ignored), 'debug is ignored for other users');
      assert.deepEqual(ignored.message, [{ name: 'Emma' }]);
    });

    test('get_list: malformed or hostile arguments are 417, never 500', async () => {
      const bad: Body[] = [
        { fields: '["name"' },
        { filters: '[["name", "=", "Dune"]' },
        { filters: '{"name": ' },
        { or_filters: '[[' },
        { fields: ['name from tabUser --'] },
        { fields: ['(select password from __Auth)'] },
        { filters: [['name', 'regexp', 'x']] },
        { order_by: 'name; drop table "tabArticle"' },
        { limit_page_length: 'ten' },
        { filters: 42 },
      ];
      for (const args of bad) {
        const res = await call('lib', 'frappe.client.get_list', { doctype: 'Article', ...args }, 'POST');
        assert.equal(res.statusCode, 417, `${JSON.stringify(args)} → ${res.statusCode} ${res.body}`);
        assert.match(String(res.json().exc_type), /ValidationError|DataError/);
      }
      expectError(await call('lib', 'frappe.client.get_list', {}), 417, 'ValidationError', /doctype is required/);
      expectError(await call('lib', 'frappe.client.get_list', { doctype: 'No Such Type' }), 404, 'DoesNotExistError');
    });

    test('get_count: filters as the js-sdk sends them; no access → 403; bad filters → 417', async () => {
      assert.deepEqual(ok(await call('lib', 'frappe.client.get_count', { doctype: 'Article', filters: [['author', '=', 'Frank Herbert']], debug: 'false' })), { message: 3 });
      assert.deepEqual(ok(await call('lib', 'frappe.client.get_count', { doctype: 'Article', filters: { pages: ['>', 1000] } }, 'POST')), { message: 0 });
      const all = ok(await call('lib', 'frappe.client.get_count', { doctype: 'Article' }));
      assert.ok(Number(all.message) >= 4);
      expectError(await call('outsider', 'frappe.client.get_count', { doctype: 'Article' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.get_count', { doctype: 'Article', filters: '{"author": ' }), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.get_count', { doctype: 'Article', filters: 'Dune' }), 417, 'ValidationError');
    });

    test('get: by name with nulls, by filters (first match), a Single, permlevels; refusals and 404s', async () => {
      const byName = ok(await call('lib', 'frappe.client.get', { doctype: 'Article', name: 'Dune' }));
      const doc = byName.message as Body;
      assert.equal(doc.doctype, 'Article');
      assert.equal(doc.pages, 412);
      assert.ok('isbn' in doc && doc.isbn === null, 'frappe.client.get answers as_dict(): null fields included');
      assert.equal(doc.internal_cost, 9.5);
      const asMember = ok(await call('member', 'frappe.client.get', { doctype: 'Article', name: 'Dune' })).message as Body;
      assert.ok(!('internal_cost' in asMember), 'fields above the reader’s permlevel are removed');
      const byFilters = ok(await call('lib', 'frappe.client.get', { doctype: 'Article', filters: { author: 'Jane Austen' } }, 'POST')).message as Body;
      assert.equal(byFilters.name, 'Emma');
      const byFilterText = ok(await call('lib', 'frappe.client.get', { doctype: 'Article', filters: [['pages', '=', 256]] })).message as Body;
      assert.equal(byFilterText.name, 'Dune Messiah');
      const single = ok(await call('admin', 'frappe.client.get', { doctype: 'System Settings' })).message as Body;
      assert.equal(single.doctype, 'System Settings');
      assert.equal(single.name, 'System Settings');

      expectError(await call('lib', 'frappe.client.get', { doctype: 'Article', name: 'Nope' }), 404, 'DoesNotExistError');
      expectError(await call('lib', 'frappe.client.get', { doctype: 'Article', filters: { author: 'Nobody' } }), 404, 'DoesNotExistError');
      expectError(await call('outsider', 'frappe.client.get', { doctype: 'Article', name: 'Dune' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.get', { doctype: 'System Settings' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.get', { doctype: 'Article', filters: '{"author":' }), 417, 'ValidationError');
    });

    test('get: a child row through its parent DocType, with the parent document’s read permission', async () => {
      const loan = await newLoan([{ article: 'Dune', quantity: 2, note: 'gift' }]);
      const rowName = String((loan.items as Body[])[0]?.name);
      const row = ok(await call('admin', 'frappe.client.get', { doctype: 'Loan Item', name: rowName, parent: 'Loan' })).message as Body;
      assert.equal(row.doctype, 'Loan Item');
      assert.equal(row.parent, loan.name);
      assert.equal(row.quantity, 2);
      expectError(await call('admin', 'frappe.client.get', { doctype: 'Loan Item', name: rowName }), 403, 'PermissionError');
      expectError(await call('member', 'frappe.client.get', { doctype: 'Loan Item', name: rowName, parent: 'Loan' }), 403, 'PermissionError');
      expectError(await call('admin', 'frappe.client.get', { doctype: 'Loan Item', name: 'missing', parent: 'Loan' }), 404, 'DoesNotExistError');
    });

    test('get_value: the js-sdk’s forms, as_dict true/false, name/dict/list filters, Singles', async () => {
      assert.deepEqual(ok(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: 'pages', filters: 'Dune', as_dict: 'true', debug: 'false' })), {
        message: { pages: 412 },
      });
      assert.deepEqual(ok(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: 'pages', filters: 'Dune', as_dict: 'false' })), { message: 412 });
      assert.deepEqual(
        ok(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: ['name', 'author'], filters: { pages: 474 }, as_dict: false }, 'POST')),
        { message: ['Emma', 'Jane Austen'] },
      );
      assert.deepEqual(
        ok(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: '["pages"]', filters: [['author', '=', 'Jane Austen']] })),
        { message: { pages: 474 } },
      );
      // The js-sdk sends the literal `[]` when getValue is called without a fieldname.
      assert.deepEqual(ok(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: '[]', filters: { pages: 256 } })), {
        message: { name: 'Dune Messiah' },
      });
      assert.deepEqual(ok(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: 'pages', filters: 'Nope' })), { message: {} });
      assert.deepEqual(ok(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: 'pages', filters: 'Nope', as_dict: 0 })), {}, 'None: no message key');
      const single = ok(await call('admin', 'frappe.client.get_value', { doctype: 'System Settings', fieldname: ['session_expiry'] }));
      assert.equal(typeof (single.message as Body).session_expiry, 'string');
      const v2 = await app.inject({ url: '/api/v2/method/frappe.client.get_value?doctype=Article&fieldname=pages&filters=Emma&as_dict=false', headers: { authorization: auth.lib } });
      assert.deepEqual(v2.json(), { data: 474 });
    });

    test('get_value: refusals and malformed input', async () => {
      expectError(await call('outsider', 'frappe.client.get_value', { doctype: 'Article', fieldname: 'pages', filters: 'Dune' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.get_value', { doctype: 'Loan Item', fieldname: 'quantity' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: '["pages"', filters: 'Dune' }), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: 'pages', filters: '{"name": "Dune"' }), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: [1, 2] }, 'POST'), 417, 'ValidationError');
      const injected = await call('lib', 'frappe.client.get_value', { doctype: 'Article', fieldname: 'pages) from "tabUser" --', filters: 'Dune' });
      assert.equal(injected.statusCode, 417, injected.body);
    });

    test('get_single_value: value of a Single field; permission; unknown field 404; not a Single 417', async () => {
      await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'System Settings', name: 'System Settings', time_zone: 'Asia/Kolkata' }));
      assert.deepEqual(ok(await call('admin', 'frappe.client.get_single_value', { doctype: 'System Settings', field: 'time_zone' })), { message: 'Asia/Kolkata' });
      assert.deepEqual(ok(await call('sm', 'frappe.client.get_single_value', { doctype: 'System Settings', field: 'time_zone' }, 'POST')), { message: 'Asia/Kolkata' });
      expectError(await call('lib', 'frappe.client.get_single_value', { doctype: 'System Settings', field: 'time_zone' }), 403, 'PermissionError');
      expectError(await call('admin', 'frappe.client.get_single_value', { doctype: 'System Settings', field: 'nope' }), 404, 'DoesNotExistError');
      expectError(await call('admin', 'frappe.client.get_single_value', { doctype: 'Article', field: 'pages' }), 417, 'ValidationError');
      expectError(await call('admin', 'frappe.client.get_single_value', { doctype: 'System Settings' }), 417, 'ValidationError', /field is required/);
    });
  });

  describe('writing', () => {
    test('every write method refuses GET (and delete refuses PUT) with 403 "Not permitted"', async () => {
      const writes = ['set_value', 'insert', 'insert_many', 'save', 'rename_doc', 'submit', 'cancel', 'delete', 'bulk_update'];
      for (const name of writes) {
        const res = await call('admin', `frappe.client.${name}`, { doctype: 'Article', name: 'Dune' });
        expectError(res, 403, 'PermissionError', /^Not permitted$/);
      }
      expectError(await call('admin', 'frappe.client.delete', { doctype: 'Article', name: 'Dune' }, 'PUT'), 403, 'PermissionError', /^Not permitted$/);
      expectError(await call('admin', 'frappe.client.insert', { doc: { doctype: 'Article', article_name: 'X' } }, 'DELETE'), 403, 'PermissionError');
      assert.equal((await runAs(t.site, 'Administrator', (api) => api.exists('Article', 'Dune'))), true, 'nothing was deleted');
    });

    test('set_value: one field, an object of fields (js-sdk), a falsy value sets ""; full doc answered', async () => {
      await newArticle('SV One', { pages: 10, author: 'A' });
      const one = ok(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'SV One', fieldname: 'pages', value: 11 }, 'POST')).message as Body;
      assert.equal(one.pages, 11);
      assert.equal(one.doctype, 'Article');
      assert.ok('isbn' in one, 'full document with nulls');
      const many = ok(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'SV One', fieldname: { pages: 12, publisher: 'P' } }, 'PUT')).message as Body;
      assert.deepEqual([many.pages, many.publisher], [12, 'P']);
      const cleared = ok(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'SV One', fieldname: 'author', value: null }, 'POST')).message as Body;
      assert.equal(cleared.author, '');
      const asJsonText = ok(
        await app.inject({
          method: 'POST',
          url: '/api/method/frappe.client.set_value',
          headers: { authorization: auth.lib, 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ doctype: 'Article', name: 'SV One', fieldname: '{"isbn": "978-0"}' }).toString(),
        }),
      ).message as Body;
      assert.equal(asJsonText.isbn, '978-0');
      // A whole document sent back as `fieldname` (frappe-ui's document resource): standard keys are ignored.
      const whole = { ...asJsonText, pages: 13, owner: 'someone@else', creation: '2000-01-01 00:00:00', modified: '2000-01-01 00:00:00' };
      const saved = ok(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'SV One', fieldname: whole }, 'POST')).message as Body;
      assert.equal(saved.pages, 13);
      assert.equal(saved.owner, 'Administrator');
    });

    test('set_value: standard fields, permissions, missing documents, malformed fieldname', async () => {
      await newArticle('SV Two', { pages: 1 });
      for (const field of ['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx', 'parent', 'parenttype', 'parentfield', 'doctype']) {
        expectError(
          await call('admin', 'frappe.client.set_value', { doctype: 'Article', name: 'SV Two', fieldname: field, value: 'x' }, 'POST'),
          417,
          'ValidationError',
          /Cannot edit standard fields/,
        );
      }
      expectError(await call('member', 'frappe.client.set_value', { doctype: 'Article', name: 'SV Two', fieldname: 'pages', value: 2 }, 'POST'), 403, 'PermissionError');
      expectError(
        await call('member', 'frappe.client.set_value', { doctype: 'Article', name: 'SV Two', fieldname: 'pages', value: 2, ignore_permissions: 1, flags: { ignore_permissions: true } }, 'POST'),
        403,
        'PermissionError',
      );
      expectError(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'Nope', fieldname: 'pages', value: 2 }, 'POST'), 404, 'DoesNotExistError');
      expectError(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'SV Two', fieldname: '{"pages": ' }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'SV Two', fieldname: ['pages'], value: 3 }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.set_value', { doctype: 'Article', name: 'SV Two', fieldname: 'pages', value: 'many' }, 'POST'), 417, 'ValidationError');
      const unchanged = await runAs(t.site, 'Administrator', (api) => api.getDoc('Article', 'SV Two'));
      assert.equal(unchanged.pages, 1);
    });

    test('set_value on a child row edits it through its parent, which is answered', async () => {
      const loan = await newLoan([{ article: 'Dune', quantity: 1 }, { article: 'Emma', quantity: 2 }]);
      const second = (loan.items as Body[])[1] as Body;
      const parent = ok(await call('admin', 'frappe.client.set_value', { doctype: 'Loan Item', name: second.name, fieldname: 'quantity', value: 5 }, 'POST')).message as Body;
      assert.equal(parent.doctype, 'Loan');
      assert.equal(parent.name, loan.name);
      const items = parent.items as Body[];
      assert.deepEqual(items.map((row) => [row.name, row.article, row.quantity]), [
        [(loan.items as Body[])[0]?.name, 'Dune', 1],
        [second.name, 'Emma', 5],
      ]);
      expectError(await call('member', 'frappe.client.set_value', { doctype: 'Loan Item', name: second.name, fieldname: 'quantity', value: 6 }, 'POST'), 403, 'PermissionError');
      expectError(await call('admin', 'frappe.client.set_value', { doctype: 'Loan Item', name: 'missing', fieldname: 'quantity', value: 6 }, 'POST'), 404, 'DoesNotExistError');
    });

    test('a User gets its full_name from first and last name on every save, as in Frappe', async () => {
      const user = ok(await call('admin', 'frappe.client.insert', { doc: { doctype: 'User', email: 'named@example.com', first_name: 'Ada', last_name: 'Lovelace' } }, 'POST')).message as Body;
      assert.equal(user.full_name, 'Ada Lovelace');
      const renamed = ok(await call('admin', 'frappe.client.set_value', { doctype: 'User', name: user.name, fieldname: 'last_name', value: 'King' }, 'POST')).message as Body;
      assert.equal(renamed.full_name, 'Ada King');
    });

    test('insert: native JSON or JSON text; answered with nulls; flags and ignore_permissions never help', async () => {
      const native = ok(await call('lib', 'frappe.client.insert', { doc: { doctype: 'Article', article_name: 'Ins One', pages: 5 } }, 'POST')).message as Body;
      assert.equal(native.name, 'Ins One');
      assert.equal(native.owner, 'lib@example.com');
      assert.ok('author' in native && native.author === null);
      const text = ok(await call('lib', 'frappe.client.insert', { doc: JSON.stringify({ doctype: 'Article', article_name: 'Ins Two' }) }, 'PUT')).message as Body;
      assert.equal(text.name, 'Ins Two');
      const form = ok(
        await app.inject({
          method: 'POST',
          url: '/api/method/frappe.client.insert',
          headers: { authorization: auth.lib, 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ doc: JSON.stringify({ doctype: 'Article', article_name: 'Ins Three' }) }).toString(),
        }),
      ).message as Body;
      assert.equal(form.name, 'Ins Three');

      expectError(
        await call('member', 'frappe.client.insert', { doc: { doctype: 'Article', article_name: 'Sneaky', flags: { ignore_permissions: true } }, ignore_permissions: 1, flags: { ignore_permissions: 1 } }, 'POST'),
        403,
        'PermissionError',
      );
      assert.equal(await runAs(t.site, 'Administrator', (api) => api.exists('Article', 'Sneaky')), false);
      expectError(await call('lib', 'frappe.client.insert', { doc: '{"doctype": "Article", ' }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.insert', { doc: ['Article'] }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.insert', { doc: { article_name: 'No Type' } }, 'POST'), 417, 'ValidationError', /doctype is required/);
      expectError(await call('lib', 'frappe.client.insert', {}, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.insert', { doc: { doctype: 'Article' } }, 'POST'), 417, 'MandatoryError');
      expectError(await call('lib', 'frappe.client.insert', { doc: { doctype: 'Article', article_name: 'Ins One' } }, 'POST'), 409, 'DuplicateEntryError');
    });

    test('insert: a child row is appended to its parent, and the parent is answered', async () => {
      const loan = await newLoan([{ article: 'Dune', quantity: 1 }]);
      const parent = ok(
        await call('admin', 'frappe.client.insert', { doc: { doctype: 'Loan Item', parenttype: 'Loan', parent: loan.name, parentfield: 'items', article: 'Emma', quantity: 4 } }, 'POST'),
      ).message as Body;
      assert.equal(parent.doctype, 'Loan');
      assert.deepEqual((parent.items as Body[]).map((row) => [row.article, row.quantity, row.idx]), [
        ['Dune', 1, 1],
        ['Emma', 4, 2],
      ]);
      expectError(
        await call('admin', 'frappe.client.insert', { doc: { doctype: 'Loan Item', parenttype: 'Loan', parent: loan.name, article: 'Emma', quantity: 1 } }, 'POST'),
        417,
        'ValidationError',
        /Parenttype, Parent and Parentfield are required/,
      );
      expectError(
        await call('admin', 'frappe.client.insert', { doc: { doctype: 'Loan Item', parenttype: 'Loan', parent: loan.name, parentfield: 'remarks', quantity: 1 } }, 'POST'),
        417,
        'ValidationError',
      );
      expectError(
        await call('member', 'frappe.client.insert', { doc: { doctype: 'Loan Item', parenttype: 'Loan', parent: loan.name, parentfield: 'items', article: 'Emma', quantity: 1 } }, 'POST'),
        403,
        'PermissionError',
      );
    });

    test('insert_many: list of names; more than 200 → 417; not a list → 417; one failure fails the request', async () => {
      const names = ok(
        await call('lib', 'frappe.client.insert_many', { docs: JSON.stringify([{ doctype: 'Article', article_name: 'IM One' }, { doctype: 'Article', article_name: 'IM Two' }]) }, 'POST'),
      );
      assert.deepEqual(names, { message: ['IM One', 'IM Two'] });
      const tooMany = Array.from({ length: 201 }, (_, i) => ({ doctype: 'Article', article_name: `Bulk ${i}` }));
      expectError(await call('lib', 'frappe.client.insert_many', { docs: tooMany }, 'POST'), 417, 'ValidationError', /Only 200 inserts allowed/);
      expectError(await call('lib', 'frappe.client.insert_many', { docs: { doctype: 'Article' } }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.insert_many', { docs: '[{"doctype": "Article"' }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.insert_many', { docs: ['IM Three'] }, 'POST'), 417, 'ValidationError');
      const failed = await call('lib', 'frappe.client.insert_many', { docs: [{ doctype: 'Article', article_name: 'IM Three' }, { doctype: 'Article' }] }, 'POST');
      expectError(failed, 417, 'MandatoryError');
      assert.equal(await runAs(t.site, 'Administrator', (api) => api.exists('Article', 'IM Three')), false, 'the request is all or nothing');
      expectError(await call('member', 'frappe.client.insert_many', { docs: [{ doctype: 'Article', article_name: 'IM Four' }] }, 'POST'), 403, 'PermissionError');
    });

    test('save: an existing document (stale modified → 417), a new one without a name is inserted', async () => {
      const doc = await newArticle('Save One', { pages: 1 });
      const saved = ok(await call('lib', 'frappe.client.save', { doc: { ...doc, pages: 2 } }, 'POST')).message as Body;
      assert.equal(saved.pages, 2);
      expectError(await call('lib', 'frappe.client.save', { doc: { ...doc, pages: 3 } }, 'POST'), 417, 'TimestampMismatchError');
      const inserted = ok(await call('lib', 'frappe.client.save', { doc: JSON.stringify({ doctype: 'Article', article_name: 'Save Two' }) }, 'PUT')).message as Body;
      assert.equal(inserted.name, 'Save Two');
      expectError(await call('member', 'frappe.client.save', { doc: { doctype: 'Article', name: 'Save One', pages: 9 } }, 'POST'), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.save', { doc: { doctype: 'Article', name: 'Nope', pages: 9 } }, 'POST'), 404, 'DoesNotExistError');
      expectError(await call('lib', 'frappe.client.save', { doc: 'not json' }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.save', { doc: { name: 'Save One' } }, 'POST'), 417, 'ValidationError');
    });

    test('rename_doc: new name answered; merge refused; permission', async () => {
      await newArticle('Old Title');
      assert.deepEqual(ok(await call('lib', 'frappe.client.rename_doc', { doctype: 'Article', old_name: 'Old Title', new_name: 'New Title', merge: false }, 'POST')), {
        message: 'New Title',
      });
      assert.equal(await runAs(t.site, 'Administrator', (api) => api.exists('Article', 'New Title')), true);
      expectError(await call('lib', 'frappe.client.rename_doc', { doctype: 'Article', old_name: 'New Title', new_name: 'Dune', merge: 'true' }, 'POST'), 417, 'ValidationError', /not supported/);
      expectError(await call('lib', 'frappe.client.rename_doc', { doctype: 'Article', old_name: 'New Title', new_name: 'Dune' }, 'POST'), 409, 'DuplicateEntryError');
      expectError(await call('member', 'frappe.client.rename_doc', { doctype: 'Article', old_name: 'New Title', new_name: 'Other' }, 'POST'), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.rename_doc', { doctype: 'Article', old_name: 'New Title' }, 'POST'), 417, 'ValidationError', /new_name is required/);
    });

    test('submit (the js-sdk sends the whole doc) and cancel; permissions per right', async () => {
      const loan = await newLoan();
      const submitted = ok(await call('lib', 'frappe.client.submit', { doc: loan }, 'POST')).message as Body;
      assert.equal(submitted.docstatus, 1);
      assert.equal((submitted.items as Body[])[0]?.docstatus, 1);
      expectError(await call('lib', 'frappe.client.cancel', { doctype: 'Loan', name: loan.name }, 'POST'), 403, 'PermissionError');
      const cancelled = ok(await call('admin', 'frappe.client.cancel', { doctype: 'Loan', name: loan.name }, 'PUT')).message as Body;
      assert.equal(cancelled.docstatus, 2);
      expectError(await call('admin', 'frappe.client.submit', { doc: { doctype: 'Article', name: 'Dune' } }, 'POST'), 417, 'ValidationError', /not submittable/);
      expectError(await call('lib', 'frappe.client.submit', { doc: { doctype: 'Article', name: 'Dune' } }, 'POST'), 417, 'ValidationError', /not submittable/);
      expectError(await call('member', 'frappe.client.submit', { doc: { doctype: 'Loan', name: loan.name } }, 'POST'), 403, 'PermissionError');
      expectError(await call('admin', 'frappe.client.submit', { doc: '{"doctype": "Loan"' }, 'POST'), 417, 'ValidationError');
      expectError(await call('admin', 'frappe.client.cancel', { doctype: 'Loan', name: 'missing' }, 'POST'), 404, 'DoesNotExistError');
    });

    test('is_document_amended: the amending document’s name, else nothing; no read access → false', async () => {
      const loan = await newLoan();
      await runAs(t.site, 'Administrator', async (api) => {
        await api.submit('Loan', loan.name);
        await api.cancel('Loan', loan.name);
      });
      assert.deepEqual(ok(await call('lib', 'frappe.client.is_document_amended', { doctype: 'Loan', docname: loan.name })), {});
      const amended = await runAs(t.site, 'Administrator', (api) => api.amend('Loan', loan.name));
      assert.deepEqual(ok(await call('lib', 'frappe.client.is_document_amended', { doctype: 'Loan', docname: loan.name })), { message: amended.name });
      assert.deepEqual(ok(await call('outsider', 'frappe.client.is_document_amended', { doctype: 'Loan', docname: loan.name })), { message: false });
      assert.deepEqual(ok(await call('lib', 'frappe.client.is_document_amended', { doctype: 'Article', docname: 'Dune' })), { message: false });
    });

    test('delete: DELETE or POST; child rows through the parent; permission; 404', async () => {
      await newArticle('Del One');
      await newArticle('Del Two');
      assert.deepEqual(ok(await call('lib', 'frappe.client.delete', { doctype: 'Article', name: 'Del One' }, 'DELETE')), {});
      assert.deepEqual(ok(await call('lib', 'frappe.client.delete', { doctype: 'Article', name: 'Del Two' }, 'POST')), {});
      assert.equal(await runAs(t.site, 'Administrator', (api) => api.exists('Article', 'Del One')), false);
      expectError(await call('lib', 'frappe.client.delete', { doctype: 'Article', name: 'Del One' }, 'DELETE'), 404, 'DoesNotExistError');
      expectError(await call('member', 'frappe.client.delete', { doctype: 'Article', name: 'Emma' }, 'DELETE'), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.delete', { doctype: 'Library Member', name: memberName }, 'POST'), 403, 'PermissionError');

      const loan = await newLoan([{ article: 'Dune', quantity: 1 }, { article: 'Emma', quantity: 1 }]);
      const first = (loan.items as Body[])[0] as Body;
      assert.deepEqual(ok(await call('admin', 'frappe.client.delete', { doctype: 'Loan Item', name: first.name }, 'DELETE')), {});
      const after = await runAs(t.site, 'Administrator', (api) => api.getDoc('Loan', loan.name));
      assert.deepEqual((after.items as Body[]).map((row) => [row.article, row.idx]), [['Emma', 1]]);
      expectError(await call('admin', 'frappe.client.delete', { doctype: 'Loan Item', name: first.name }, 'DELETE'), 404, 'DoesNotExistError');
    });

    test('bulk_update: failures are collected; the other entries apply', async () => {
      await newArticle('BU One', { pages: 1 });
      await newArticle('BU Three', { pages: 1 });
      const docs = [
        { doctype: 'Article', docname: 'BU One', pages: 2 },
        { doctype: 'Article', docname: 'Missing', pages: 3 },
        { doctype: 'Article', docname: 'BU Three', pages: 'lots' },
        { doctype: 'Article', docname: 'BU Three', article_name: 'forbidden' },
        'not an object',
        { doctype: 'Article', docname: 'BU Three', pages: 4, flags: { ignore_permissions: true } },
      ];
      const result = ok(await call('lib', 'frappe.client.bulk_update', { docs: JSON.stringify(docs) }, 'POST')).message as { failed_docs: { doc: unknown; exc: string }[] };
      assert.deepEqual(result.failed_docs.map((f) => f.exc.split(':')[0]), [
        'frappe.exceptions.DoesNotExistError',
        'frappe.exceptions.ValidationError',
        'frappe.exceptions.ValidationError',
        'frappe.exceptions.ValidationError',
      ]);
      assert.deepEqual(result.failed_docs[0]?.doc, docs[1]);
      assert.match(result.failed_docs[2]?.exc ?? '', /This title is not allowed/);
      const [one, three] = await runAs(t.site, 'Administrator', (api) => Promise.all(['BU One', 'BU Three'].map((name) => api.getDoc('Article', name))));
      assert.equal(one?.pages, 2);
      assert.deepEqual([three?.pages, three?.article_name], [4, 'BU Three']);

      const denied = ok(await call('member', 'frappe.client.bulk_update', { docs: [{ doctype: 'Article', docname: 'BU One', pages: 7 }] }, 'POST')).message as {
        failed_docs: { exc: string }[];
      };
      assert.match(denied.failed_docs[0]?.exc ?? '', /PermissionError/);
      expectError(await call('lib', 'frappe.client.bulk_update', { docs: '[{"doctype":' }, 'POST'), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.client.bulk_update', { docs: { doctype: 'Article' } }, 'POST'), 417, 'ValidationError');
    });

    test('bulk_update: a failed SQL statement never leaves a half-applied entry', async () => {
      await newArticle('BU Four', { pages: 1 });
      await newArticle('BU Five', { pages: 1 });
      const docs = [
        { doctype: 'Article', docname: 'BU Four', pages: 2 },
        // A unique violation raised by the database itself.
        { doctype: 'Article', docname: 'BU Five', pages: 99, article_name: 'BU Four' },
      ];
      const res = await call('lib', 'frappe.client.bulk_update', { docs }, 'PUT');
      const [four, five] = await runAs(t.site, 'Administrator', (api) => Promise.all(['BU Four', 'BU Five'].map((name) => api.getDoc('Article', name))));
      assert.deepEqual([five?.pages, five?.article_name], [1, 'BU Five'], 'the failed entry left nothing behind');
      // Each entry runs in a savepoint: the database refuses the entry and the rest goes on,
      // on SQLite and PostgreSQL alike (as Frappe on MariaDB does).
      const failed = (ok(res).message as { failed_docs: { exc: string }[] }).failed_docs;
      assert.deepEqual(failed.map((f) => f.exc.split(':')[0]), ['frappe.exceptions.DuplicateEntryError']);
      assert.equal(four?.pages, 2);
    });
  });

  describe('permissions, passwords, settings', () => {
    test('has_permission and get_doc_permissions evaluate the user’s rights on the document', async () => {
      assert.deepEqual(ok(await call('lib', 'frappe.client.has_permission', { doctype: 'Article', docname: 'Dune', perm_type: 'write' })), { message: { has_permission: true } });
      assert.deepEqual(ok(await call('member', 'frappe.client.has_permission', { doctype: 'Article', docname: 'Dune', perm_type: 'WRITE' })), { message: { has_permission: false } });
      assert.deepEqual(ok(await call('member', 'frappe.client.has_permission', { doctype: 'Article', docname: 'Dune' })), { message: { has_permission: true } });
      expectError(await call('outsider', 'frappe.client.has_permission', { doctype: 'Article', docname: 'Nope' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.client.has_permission', { doctype: 'Article', docname: 'Nope' }), 404, 'DoesNotExistError');
      expectError(await call('lib', 'frappe.client.has_permission', { doctype: 'Article', docname: 'Dune', perm_type: 'destroy' }), 417, 'ValidationError');
      expectError(await call(undefined, 'frappe.client.has_permission', { doctype: 'Article', docname: 'Dune' }), 403, 'PermissionError');

      const lib = ok(await call('lib', 'frappe.client.get_doc_permissions', { doctype: 'Article', docname: 'Dune' })).message as { permissions: Record<string, number> };
      assert.equal(lib.permissions.read, 1);
      assert.equal(lib.permissions.write, 1);
      assert.equal(lib.permissions.delete, 1);
      assert.equal(lib.permissions.submit, 0);
      const member = ok(await call('member', 'frappe.client.get_doc_permissions', { doctype: 'Article', docname: 'Dune' })).message as { permissions: Record<string, number> };
      assert.deepEqual([member.permissions.read, member.permissions.write, member.permissions.create], [1, 0, 0]);
      const outsider = ok(await call('outsider', 'frappe.client.get_doc_permissions', { doctype: 'Article', docname: 'Dune' })).message as { permissions: Record<string, number> };
      assert.ok(Object.values(outsider.permissions).every((v) => v === 0));
      expectError(await call('lib', 'frappe.client.get_doc_permissions', { doctype: 'Article' }), 417, 'ValidationError');
    });

    test('get_password: System Managers only, Password fields only, never login or API-secret hashes', async () => {
      assert.deepEqual(ok(await call('sm', 'frappe.client.get_password', { doctype: 'Article', name: 'Dune', fieldname: 'vendor_password' })), { message: 's3cret' });
      assert.deepEqual(ok(await call('admin', 'frappe.client.get_password', { doctype: 'Article', name: 'Dune', fieldname: 'vendor_password' }, 'POST')), { message: 's3cret' });
      expectError(await call('lib', 'frappe.client.get_password', { doctype: 'Article', name: 'Dune', fieldname: 'vendor_password' }), 403, 'PermissionError');
      expectError(await call('sm', 'frappe.client.get_password', { doctype: 'User', name: 'lib@example.com', fieldname: 'api_secret' }), 404, 'DoesNotExistError');
      expectError(await call('sm', 'frappe.client.get_password', { doctype: 'User', name: 'lib@example.com', fieldname: 'password' }), 417, 'ValidationError');
      expectError(await call('sm', 'frappe.client.get_password', { doctype: 'Article', name: 'Dune', fieldname: 'author' }), 417, 'ValidationError');
      expectError(await call('sm', 'frappe.client.get_password', { doctype: 'Article', name: 'Emma', fieldname: 'vendor_password' }), 404, 'DoesNotExistError');
      expectError(await call('sm', 'frappe.client.get_password', { doctype: 'Article', name: 'Nope', fieldname: 'vendor_password' }), 404, 'DoesNotExistError');
    });

    test('get_time_zone: Guests may ask; System Settings time_zone, else UTC', async () => {
      await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'System Settings', name: 'System Settings', time_zone: '' }));
      assert.deepEqual(ok(await call(undefined, 'frappe.client.get_time_zone')), { message: { time_zone: 'UTC' } });
      await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'System Settings', name: 'System Settings', time_zone: 'Europe/Berlin' }));
      assert.deepEqual(ok(await call(undefined, 'frappe.client.get_time_zone', {}, 'POST')), { message: { time_zone: 'Europe/Berlin' } });
    });
  });

  describe('desk methods', () => {
    test('search_link: name and title matches, prefix matches first, description from the title', async () => {
      const dune = ok(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'dune' })).message as Body[];
      assert.deepEqual(dune, [
        { value: 'Dune', description: '' },
        { value: 'Dune Messiah', description: '' },
        { value: 'Children of Dune', description: '' },
      ]);
      const paged = ok(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'dune', page_length: 1 }, 'POST')).message as Body[];
      assert.equal(paged.length, 1);
      assert.match(String(paged[0]?.value), /^Dune/, 'a name starting with the text comes first');
      const filtered = ok(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'dune', filters: { pages: ['>', 400] } })).message as Body[];
      assert.deepEqual(filtered.map((r) => r.value), ['Dune', 'Children of Dune']);
      const withField = ok(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'Emma', searchfield: 'author' })).message as Body[];
      assert.deepEqual(withField, [{ value: 'Emma', description: 'Jane Austen' }]);
      const members = ok(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Library Member', txt: 'smith' })).message as Body[];
      assert.deepEqual(members, [{ value: memberName, description: 'Ann Smith' }]);
      const doctypes = ok(await call('lib', 'frappe.desk.search.search_link', { doctype: 'DocType', txt: 'loan', filters: { istable: 0 } })).message as Body[];
      assert.deepEqual(doctypes.map((r) => r.value), ['Loan']);
    });

    test('search_link: permission, bad searchfield and filters', async () => {
      expectError(await call('outsider', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'dune' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'x', searchfield: 'name; drop' }), 417, 'DataError');
      expectError(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'x', searchfield: 'nofield' }), 417, 'DataError');
      expectError(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'x', filters: '{"pages": ' }), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'x', page_length: 'all' }), 417, 'ValidationError');
      expectError(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'x', query: 'no.such.method' }), 404, 'DoesNotExistError');
      // A registered method as the search query: called with Frappe's query arguments, within its verbs.
      assert.deepEqual(ok(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'x', query: 'library.api.count_articles' })), { message: [] });
      expectError(await call('lib', 'frappe.desk.search.search_link', { doctype: 'Article', txt: 'x', query: 'library.api.count_articles' }, 'POST'), 403, 'PermissionError');
    });

    test('reportview.get_count: an integer, capped by limit; permission; bad filters', async () => {
      assert.deepEqual(ok(await call('lib', 'frappe.desk.reportview.get_count', { doctype: 'Article', filters: [['author', '=', 'Frank Herbert']] })), { message: 3 });
      assert.deepEqual(ok(await call('lib', 'frappe.desk.reportview.get_count', { doctype: 'Article', filters: { author: 'Frank Herbert' }, limit: 2 }, 'POST')), { message: 2 });
      expectError(await call('outsider', 'frappe.desk.reportview.get_count', { doctype: 'Article' }), 403, 'PermissionError');
      expectError(await call('lib', 'frappe.desk.reportview.get_count', { doctype: 'Article', filters: '[[' }), 417, 'ValidationError');
    });

    test('form.load.getdoctype: the DocType and its child tables in the top-level docs', async () => {
      const body = ok(await call('member', 'frappe.desk.form.load.getdoctype', { doctype: 'Loan' }));
      assert.equal(body.user_settings, '{}');
      assert.ok(!('message' in body));
      const docs = body.docs as Body[];
      assert.deepEqual(docs.map((d) => d.name), ['Loan', 'Loan Item']);
      assert.equal(docs[0]?.doctype, 'DocType');
      assert.equal(docs[0]?.is_submittable, 1);
      assert.ok((docs[0]?.fields as Body[]).some((f) => f.fieldname === 'items' && f.options === 'Loan Item'));
      // Loan Item is the child table of Loan (items) and of Article (tags): Frappe picks one parent.
      const withParent = ok(await call('member', 'frappe.desk.form.load.getdoctype', { doctype: 'Loan Item', with_parent: 1 }));
      assert.ok(['Loan', 'Article'].includes(String(withParent.parent_dt)));
      assert.deepEqual((withParent.docs as Body[]).map((d) => d.name), [withParent.parent_dt, 'Loan Item']);
      const alone = ok(await call('member', 'frappe.desk.form.load.getdoctype', { doctype: 'Loan Item' }));
      assert.ok(!('parent_dt' in alone));
      assert.deepEqual((alone.docs as Body[]).map((d) => d.name), ['Loan Item']);
      expectError(await call('member', 'frappe.desk.form.load.getdoctype', { doctype: 'Nope' }), 404, 'DoesNotExistError');
      expectError(await call(undefined, 'frappe.desk.form.load.getdoctype', { doctype: 'Loan' }), 403, 'PermissionError');
    });
  });
});
