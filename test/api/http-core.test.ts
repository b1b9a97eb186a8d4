/** The HTTP core through Fastify's in-process injection: pipeline, envelopes, errors, apps. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));

function serverMessage(body: Record<string, unknown>): string {
  const list = JSON.parse(String(body._server_messages)) as string[];
  return (JSON.parse(list[0] ?? '{}') as { message: string }).message;
}

forEachDatabase('HTTP core', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  let adminAuth: string;
  let librarianAuth: string;

  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Role', role_name: 'Librarian' }));
    await addUser(t.site, { email: 'lib@example.com', roles: ['Librarian'] });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', hashKey));
    adminAuth = `token ${admin.api_key}:${admin.api_secret}`;
    const lib = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'lib@example.com', hashKey));
    librarianAuth = `token ${lib.api_key}:${lib.api_secret}`;
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('ping answers pong to Guests as JSON, with no-store caching', async () => {
    for (const url of ['/api/method/ping', '/api/method/frappe.ping', '/api/v1/method/ping']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { message: 'pong' });
      assert.match(String(res.headers['content-type']), /application\/json/);
      assert.match(String(res.headers['cache-control']), /no-store/);
    }
    const v2 = await app.inject({ url: '/api/v2/method/ping' });
    assert.deepEqual(v2.json(), { data: 'pong' });
  });

  test('unknown /api paths are 404 DoesNotExistError in v1 and v2 shapes', async () => {
    const v1 = await app.inject({ url: '/api/nothing/here' });
    assert.equal(v1.statusCode, 404);
    assert.equal(v1.json().exc_type, 'DoesNotExistError');
    const v2 = await app.inject({ url: '/api/v2/nothing' });
    assert.equal(v2.statusCode, 404);
    assert.equal(v2.json().errors[0].type, 'DoesNotExistError');
    assert.ok(!('exc_type' in v2.json()));
  });

  test('errors are HTML pages when a browser asks for a page', async () => {
    const res = await app.inject({ url: '/api/resource/ToDo', headers: { accept: 'text/html' } });
    assert.equal(res.statusCode, 403);
    assert.match(String(res.headers['content-type']), /text\/html/);
    assert.match(res.body, /Not Permitted/);
    const xhr = await app.inject({ url: '/api/resource/ToDo', headers: { accept: 'text/html, application/json', 'x-requested-with': 'XMLHttpRequest' } });
    assert.equal(xhr.json().exc_type, 'PermissionError');
  });

  test('Guests get 403 on resources and on non-guest methods', async () => {
    const list = await app.inject({ url: '/api/resource/ToDo' });
    assert.equal(list.statusCode, 403);
    assert.equal(list.json().exc_type, 'PermissionError');
    assert.equal(list.json()._error_message, 'No permission for ToDo');
    const method = await app.inject({ url: '/api/method/library.api.count_articles' });
    assert.equal(method.statusCode, 403);
    assert.match(serverMessage(method.json()), /not whitelisted/);
    const guestOk = await app.inject({ url: '/api/method/library.api.hello?name=Ada' });
    assert.deepEqual(guestOk.json(), { message: 'hello Ada' });
  });

  test('API keys: token and Basic authenticate; wrong or malformed ones are refused', async () => {
    const me = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', headers: { authorization: librarianAuth } });
    assert.deepEqual(me.json(), { message: 'lib@example.com' });
    const [, pair] = librarianAuth.split(' ');
    const basic = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', headers: { authorization: `Basic ${Buffer.from(String(pair)).toString('base64')}` } });
    assert.deepEqual(basic.json(), { message: 'lib@example.com' });
    const wrong = await app.inject({ url: '/api/method/ping', headers: { authorization: `${librarianAuth}x` } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().exc_type, 'AuthenticationError');
    for (const header of ['token abc', 'token a:b:c', 'token unknown:secret', 'Foo bar', `Basic ${Buffer.from('nocolon').toString('base64')}`]) {
      const res = await app.inject({ url: '/api/method/ping', headers: { authorization: header } });
      assert.equal(res.statusCode, 401, header);
    }
    const bad64 = await app.inject({ url: '/api/method/ping', headers: { authorization: 'Basic abc' } });
    assert.equal(bad64.statusCode, 400);
    assert.equal(bad64.json().exc_type, 'InvalidAuthorizationToken');
    assert.equal(serverMessage(bad64.json()), 'Failed to decode token, please provide a valid base64-encoded token.');
    const ignored = await app.inject({ url: '/api/method/ping', headers: { authorization: 'token  two spaces' } });
    assert.equal(ignored.statusCode, 200, 'a header that is not two parts is ignored, as in Frappe');
  });

  test('generate_keys: System Manager only, POST only, new secret replaces the old one', async () => {
    const denied = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.generate_keys', headers: { authorization: librarianAuth }, payload: { user: 'lib@example.com' } });
    assert.equal(denied.statusCode, 403);
    const viaGet = await app.inject({ url: '/api/method/frappe.core.doctype.user.user.generate_keys?user=lib@example.com', headers: { authorization: adminAuth } });
    assert.equal(viaGet.statusCode, 403);
    const res = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.generate_keys', headers: { authorization: adminAuth }, payload: { user: 'lib@example.com' } });
    assert.equal(res.statusCode, 200);
    const secret = res.json().message.api_secret as string;
    assert.ok(secret.length >= 43, 'at least 256 bits');
    assert.deepEqual(Object.keys(res.json().message), ['api_secret']);
    const old = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', headers: { authorization: librarianAuth } });
    assert.equal(old.statusCode, 401, 'the previous secret stops working at once');
    const key = librarianAuth.split(' ')[1]?.split(':')[0];
    librarianAuth = `token ${key}:${secret}`;
    const fresh = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', headers: { authorization: librarianAuth } });
    assert.deepEqual(fresh.json(), { message: 'lib@example.com' });
    const stored = await t.site.storage.all<{ password: string }>('SELECT "password" FROM "__Auth" WHERE "fieldname" = ?', ['api_secret']);
    assert.ok(stored.every((row) => !row.password.includes(secret)), 'only a hash is stored');
  });

  describe('an app DocType from doctype JSON is served through /api/resource', () => {
    test('create, read, list, update, delete', async () => {
      const headers = { authorization: librarianAuth };
      const created = await app.inject({ method: 'POST', url: '/api/resource/Article', headers, payload: { article_name: 'Dune', pages: 412, author: null } });
      assert.equal(created.statusCode, 200);
      const doc = created.json().data;
      assert.equal(doc.name, 'Dune');
      assert.equal(doc.doctype, 'Article');
      assert.equal(doc.pages, 412);
      assert.ok(!('author' in doc), 'v1 documents omit null fields');
      const read = await app.inject({ url: '/api/resource/Article/Dune', headers });
      assert.equal(read.json().data.pages, 412);
      const list = await app.inject({ url: `/api/resource/Article?fields=${encodeURIComponent('["name","pages"]')}&filters=${encodeURIComponent('[["pages",">",400]]')}`, headers });
      assert.deepEqual(list.json(), { data: [{ name: 'Dune', pages: 412 }] });
      const updated = await app.inject({ method: 'PUT', url: '/api/resource/Article/Dune', headers, payload: { pages: 500 } });
      assert.equal(updated.json().data.pages, 500);
      const formCreate = await app.inject({
        method: 'POST',
        url: '/api/resource/Article',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `data=${encodeURIComponent(JSON.stringify({ article_name: 'Emma' }))}`,
      });
      assert.equal(formCreate.json().data.name, 'Emma');
      const removed = await app.inject({ method: 'DELETE', url: '/api/resource/Article/Dune', headers });
      assert.equal(removed.statusCode, 202);
      assert.deepEqual(removed.json(), { data: 'ok' });
      const gone = await app.inject({ url: '/api/resource/Article/Dune', headers });
      assert.equal(gone.statusCode, 404);
      assert.equal(gone.json().exc_type, 'DoesNotExistError');
    });

    test('validation errors answer with their exc_type and status and change nothing', async () => {
      const headers = { authorization: librarianAuth };
      const missing = await app.inject({ method: 'POST', url: '/api/resource/Article', headers, payload: { author: 'x' } });
      assert.equal(missing.statusCode, 417);
      assert.equal(missing.json().exc_type, 'MandatoryError');
      const hook = await app.inject({ method: 'POST', url: '/api/resource/Article', headers, payload: { article_name: 'forbidden' } });
      assert.equal(hook.statusCode, 417);
      assert.equal(serverMessage(hook.json()), 'This title is not allowed');
      const dup = await app.inject({ method: 'POST', url: '/api/resource/Article', headers, payload: { article_name: 'Emma' } });
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json().exc_type, 'DuplicateEntryError');
      const badJson = await app.inject({ method: 'POST', url: '/api/resource/Article', headers: { ...headers, 'content-type': 'application/json' }, payload: '{"article_name": ' });
      assert.equal(badJson.statusCode, 400);
      assert.equal(badJson.json().exc_type, 'ValidationError');
      const scalar = await app.inject({ method: 'POST', url: '/api/method/library.api.echo', headers: { ...headers, 'content-type': 'application/json' }, payload: '42' });
      assert.equal(scalar.statusCode, 417);
      const count = await app.inject({ url: '/api/method/library.api.count_articles', headers });
      assert.deepEqual(count.json(), { message: 1 });
    });
  });

  test('writes made while serving GET are rolled back; POST commits', async () => {
    const headers = { authorization: adminAuth };
    const viaGet = await app.inject({ url: '/api/method/library.api.log_visit?visitor=get', headers });
    assert.equal(viaGet.statusCode, 200);
    const viaPost = await app.inject({ method: 'POST', url: '/api/method/library.api.log_visit', headers, payload: { visitor: 'post' } });
    assert.equal(viaPost.statusCode, 200);
    const rows = await t.site.storage.all<{ visitor: string }>('SELECT "visitor" FROM "tabVisit Log"');
    assert.deepEqual(rows.map((r) => r.visitor), ['post']);
  });

  test('method arguments: JSON body replaces the query, arrays arrive as data, reserved args are dropped', async () => {
    const headers = { authorization: adminAuth, 'content-type': 'application/json' };
    const body = await app.inject({ method: 'POST', url: '/api/method/library.api.echo?a=query', headers, payload: { a: 'body', ignore_permissions: 1, b: 2 } });
    assert.deepEqual(body.json(), { message: { a: 'body' } });
    const array = await app.inject({ method: 'POST', url: '/api/method/library.api.echo', headers, payload: [0, 1, 2] });
    assert.deepEqual(array.json(), { message: { data: [0, 1, 2] } });
    const query = await app.inject({ url: '/api/method/library.api.echo?a=1&a=2&_=123', headers: { authorization: adminAuth } });
    assert.deepEqual(query.json(), { message: { a: '1' } });
    const emptyJson = await app.inject({ url: '/api/method/library.api.echo?a=q', headers });
    assert.deepEqual(emptyJson.json(), { message: { a: 'q' } }, 'an empty JSON body falls back to the query string');
  });

  test('app errors with an excType become that exception; others are 500 without details', async () => {
    const headers = { authorization: adminAuth };
    const refused = await app.inject({ url: '/api/method/library.api.refuse', headers });
    assert.equal(refused.statusCode, 403);
    assert.equal(serverMessage(refused.json()), 'Shelf is locked');
    const crash = await app.inject({ url: '/api/method/library.api.crash', headers });
    assert.equal(crash.statusCode, 500);
    assert.equal(crash.json().exc_type, 'Exception');
    assert.ok(!crash.body.includes('secret internal detail'));
    const wrongVerb = await app.inject({ method: 'POST', url: '/api/method/library.api.count_articles', headers });
    assert.equal(wrongVerb.statusCode, 403);
    assert.equal(serverMessage(wrongVerb.json()), 'Not permitted');
  });
});

describe('maintenance mode', () => {
  test('SessionStopped for everything; with reads allowed, writes get InReadOnlyMode', async () => {
    const stopped = await createTestSite({ config: { maintenance_mode: 1 } });
    const readOnly = await createTestSite({ config: { maintenance_mode: 1, allow_reads_during_maintenance: 1 } });
    try {
      const a = await createServer(stopped.site);
      const res = await a.inject({ url: '/api/method/ping' });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().exc_type, 'SessionStopped');
      await a.close();
      const b = await createServer(readOnly.site);
      assert.equal((await b.inject({ url: '/api/method/ping' })).statusCode, 200);
      const write = await b.inject({ method: 'POST', url: '/api/method/ping' });
      assert.equal(write.statusCode, 503);
      assert.equal(write.json().exc_type, 'InReadOnlyMode');
      await b.close();
    } finally {
      await stopped.cleanup();
      await readOnly.cleanup();
    }
  });
});
