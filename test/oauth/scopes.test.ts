/**
 * Scopes restrict (issue 5 item 6): what an OAuth token — or a named API key with `scopes` —
 * may do on the REST API, below its user's own rights. `all` = the user's full rights,
 * `read` = read-only, `<DocType>:read` / `<DocType>:write`, `method:<dotted.name>`, and the
 * identity scopes (`openid` …) reach nothing but userinfo. Refusals are 403 with
 * `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750 §3.1).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { randomToken } from '../../src/core/crypto.ts';
import { runAs } from '../helpers/run-as.ts';
import { forEachDatabase } from '../helpers/test-site.ts';
import { M, ORIGIN, basic, redirectParams, startKit, type CallOptions, type Client, type Kit, type Response, type TestUser } from './oauth-test-kit.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));

const USER: TestUser = { email: 'scoped@example.com', password: `scoped-${randomToken(12)}` };
const CB = 'http://localhost/cb';
const CLIENT_SCOPES = 'all openid read ToDo:read ToDo:write Note:read method:library.api.echo';

function assertInsufficientScope(res: Response, what = ''): void {
  assert.equal(res.statusCode, 403, `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['www-authenticate']), /^Bearer error="insufficient_scope"/, what);
}

forEachDatabase('OAuth scopes restrict what a token may do', (db) => {
  let k: Kit;
  let sid = '';
  let client: Client;
  let userTodo = '';
  let adminNote = '';

  /** A fresh access (and refresh) token for USER with exactly `scope`. */
  async function grant(scope: string) {
    const code = await k.obtainCode(sid, { client_id: client.client_id, response_type: 'code', redirect_uri: CB, scope, state: 'sc' });
    const tokens = k.tokens(await k.tokenAs(client, { grant_type: 'authorization_code', code, redirect_uri: CB }));
    assert.deepEqual(tokens.scope.split(' ').sort(), scope.split(' ').sort());
    return tokens;
  }

  const as = (token: string) => (url: string, options: CallOptions = {}) => k.bearer(url, token, options);

  before(async () => {
    k = await startKit(db, { users: [USER], apps: [LIBRARY_APP] });
    sid = await k.login(USER);
    client = await k.createClient({ app_name: 'Scoped App', redirect_uris: CB, scopes: CLIENT_SCOPES, skip_authorization: 1 });
    userTodo = String((await runAs(k.t.site, USER.email, (api) => api.insert({ doctype: 'ToDo', description: 'mine' }))).name);
    adminNote = String((await runAs(k.t.site, 'Administrator', (api) => api.insert({ doctype: 'Note', title: 'Admin only', content: 'secret plans' }))).name);
    await runAs(k.t.site, USER.email, (api) => api.insert({ doctype: 'Note', title: 'My note' }));
  });
  after(async () => {
    await k.close();
  });

  test('ToDo:read lists and reads ToDo; cannot create, update or delete it, nor read Note', async () => {
    const call = as((await grant('ToDo:read')).access_token);
    const list = await call('/api/resource/ToDo');
    assert.equal(list.statusCode, 200, list.body);
    assert.ok((list.json().data as { name: string }[]).some((d) => d.name === userTodo));
    assert.equal((await call(`/api/resource/ToDo/${userTodo}`)).json().data.description, 'mine');
    assert.equal((await call('/api/v2/document/ToDo')).statusCode, 200);
    const viaClient = await call(`/api/method/frappe.client.get_list?doctype=ToDo`);
    assert.equal(viaClient.statusCode, 200, viaClient.body);

    assertInsufficientScope(await call('/api/resource/ToDo', { json: { description: 'new' } }), 'create');
    assertInsufficientScope(await call(`/api/resource/ToDo/${userTodo}`, { method: 'PUT', json: { description: 'changed' } }), 'update');
    assertInsufficientScope(await call(`/api/resource/ToDo/${userTodo}`, { method: 'DELETE' }), 'delete');
    assertInsufficientScope(await call('/api/v2/document/ToDo', { json: { description: 'new' } }), 'v2 create');
    assertInsufficientScope(await call('/api/method/frappe.client.insert', { json: { doc: { doctype: 'ToDo', description: 'new' } } }), 'frappe.client.insert');
    assertInsufficientScope(await call('/api/method/frappe.client.set_value', { json: { doctype: 'ToDo', name: userTodo, fieldname: 'description', value: 'x' } }), 'set_value');
    assertInsufficientScope(await call('/api/resource/Note'), 'Note list');
    assertInsufficientScope(await call('/api/method/frappe.client.get_list?doctype=Note'), 'Note via get_list');
    assertInsufficientScope(await call('/api/method/library.api.count_articles'), 'an app method');
    const refused = await call('/api/resource/Note');
    assert.equal(refused.json().exc_type, 'PermissionError');

    const todo = await k.t.site.storage.get<{ description: string }>('SELECT "description" FROM "tabToDo" WHERE "name" = ?', [userTodo]);
    assert.equal(todo?.description, 'mine', 'nothing changed');
    assert.equal((await k.t.site.storage.all('SELECT "name" FROM "tabToDo"')).length, 1);
  });

  test('ToDo:write creates, updates and deletes ToDo (and reads it), and nothing else', async () => {
    const call = as((await grant('ToDo:write')).access_token);
    const created = await call('/api/resource/ToDo', { json: { description: 'by token' } });
    assert.equal(created.statusCode, 200, created.body);
    const name = String(created.json().data.name);
    assert.equal((await call(`/api/resource/ToDo/${name}`, { method: 'PUT', json: { description: 'edited' } })).json().data.description, 'edited');
    assert.equal((await call(`/api/resource/ToDo/${name}`)).statusCode, 200);
    assert.equal((await call(`/api/resource/ToDo/${name}`, { method: 'DELETE' })).statusCode, 202);
    assertInsufficientScope(await call('/api/resource/Note'), 'Note');
    assertInsufficientScope(await call('/api/resource/Note', { json: { title: 'nope' } }), 'Note create');
  });

  test('read reads everything the user can read and writes nothing', async () => {
    const call = as((await grant('read')).access_token);
    assert.equal((await call('/api/resource/ToDo')).statusCode, 200);
    const notes = await call('/api/resource/Note');
    assert.equal(notes.statusCode, 200);
    assert.deepEqual((notes.json().data as { name: string }[]).map((n) => n.name), ['My note']);
    assert.equal((await call('/api/method/frappe.client.get_list?doctype=Note')).statusCode, 200);
    assertInsufficientScope(await call('/api/resource/ToDo', { json: { description: 'x' } }), 'ToDo create');
    assertInsufficientScope(await call('/api/resource/Note/My%20note', { method: 'PUT', json: { content: 'x' } }), 'Note update');
    assertInsufficientScope(await call('/api/method/frappe.client.insert', { json: { doc: { doctype: 'Note', title: 'x' } } }), 'insert');
    assertInsufficientScope(await call('/api/method/library.api.log_visit', { json: { visitor: 'token' } }), 'a writing app method');
  });

  test('openid alone: userinfo works, documents and app methods are 403', async () => {
    const tokens = await grant('openid');
    const call = as(tokens.access_token);
    const profile = await call(`${M}openid_profile`);
    assert.equal(profile.statusCode, 200, profile.body);
    assert.equal(profile.json().email, USER.email);
    assert.equal(profile.json().iss, ORIGIN);
    assert.equal(typeof tokens.id_token, 'string');
    assert.equal((await call('/api/method/frappe.auth.get_logged_user')).json().message, USER.email);
    assertInsufficientScope(await call('/api/resource/ToDo'), 'ToDo');
    assertInsufficientScope(await call('/api/v2/document/ToDo'), 'v2 ToDo');
    assertInsufficientScope(await call('/api/method/frappe.client.get_list?doctype=ToDo'), 'get_list');
    assertInsufficientScope(await call('/api/method/library.api.echo?a=1'), 'app method');

    // Without openid, userinfo is refused.
    const noOpenid = await as((await grant('ToDo:read')).access_token)(`${M}openid_profile`);
    assertInsufficientScope(noOpenid, 'openid_profile without openid');
    assert.match(String(noOpenid.headers['www-authenticate']), /scope="openid"/);
  });

  test('method:<name> allows exactly that method', async () => {
    const call = as((await grant('method:library.api.echo')).access_token);
    const echo = await call('/api/method/library.api.echo?a=hi');
    assert.equal(echo.statusCode, 200, echo.body);
    assert.deepEqual(echo.json(), { message: { a: 'hi' } });
    assert.equal((await call('/api/v2/method/library.api.echo?a=hi')).statusCode, 200);
    const other = await call('/api/method/library.api.count_articles');
    assertInsufficientScope(other, 'another method');
    assert.match(String(other.headers['www-authenticate']), /scope="method:library\.api\.count_articles"/);
    assertInsufficientScope(await call('/api/method/library.api.hello'), 'even a Guest method');
    assertInsufficientScope(await call('/api/resource/ToDo'), 'documents');
    assertInsufficientScope(await call('/api/method/run_doc_method', { json: { dt: 'ToDo', dn: userTodo, method: 'x' } }), 'run_doc_method');
  });

  test('all is the user\'s full rights', async () => {
    const call = as((await grant('all')).access_token);
    assert.equal((await call('/api/resource/ToDo', { json: { description: 'full' } })).statusCode, 200);
    assert.equal((await call('/api/resource/Note', { json: { title: 'Full note' } })).statusCode, 200);
    assert.equal((await call('/api/method/library.api.echo?a=1')).statusCode, 200);
    assert.equal((await call('/api/method/library.api.hello')).statusCode, 200);
    assert.equal((await call(`/api/resource/ToDo/${userTodo}`, { method: 'PUT', json: { description: 'mine' } })).statusCode, 200);
  });

  test('a token never exceeds its user\'s permissions', async () => {
    const call = as((await grant('all openid')).access_token);
    const note = await call(`/api/resource/Note/${encodeURIComponent(adminNote)}`);
    assert.equal(note.statusCode, 403, note.body);
    assert.ok(!note.body.includes('secret plans'));
    const notes = await call('/api/resource/Note');
    assert.ok(!(notes.json().data as { name: string }[]).some((n) => n.name === adminNote), 'the list shows only what the user may read');
    assert.equal((await call('/api/resource/OAuth%20Client')).statusCode, 403);
    assert.equal((await call(`/api/resource/User/Administrator`)).statusCode, 403);
    const keys = await call('/api/method/frappe.core.doctype.user.user.generate_keys', { json: { user: 'Administrator' } });
    assert.equal(keys.statusCode, 403);
    // The method is in scope (`all`), the DocType it counts is not the user's.
    const articles = await call('/api/method/library.api.count_articles');
    assert.equal(articles.statusCode, 403);
    assert.doesNotMatch(String(articles.headers['www-authenticate'] ?? ''), /insufficient_scope/);
  });

  test('scopes beyond the client\'s are invalid_scope; malformed scopes too', async () => {
    for (const scope of ['Note:write', 'all Note:write', 'method:library.api.count_articles', 'ToDo:read\\x']) {
      const res = await k.authorize({ client_id: client.client_id, response_type: 'code', redirect_uri: CB, scope, state: 'wide' }, sid);
      const { params } = redirectParams(res);
      assert.equal(params.get('error'), 'invalid_scope', scope);
      assert.equal(params.get('state'), 'wide');
      assert.equal(params.get('code'), null);
    }
  });

  test('a refresh cannot widen the scope, and a refused widening keeps the refresh token usable', async () => {
    const tokens = await grant('openid ToDo:read');
    const refresh = (token: string | undefined, scope?: string) => k.tokenAs(client, { grant_type: 'refresh_token', refresh_token: token, scope });
    for (const scope of ['openid ToDo:read ToDo:write', 'all', 'read']) {
      const widened = await refresh(tokens.refresh_token, scope);
      assert.equal(widened.statusCode, 400, widened.body);
      assert.equal(widened.json().error, 'invalid_scope');
    }
    assert.equal(await k.whoami(tokens.access_token), USER.email, 'the refused requests revoked nothing');
    const narrowed = k.tokens(await refresh(tokens.refresh_token, 'ToDo:read'));
    assert.equal(narrowed.scope, 'ToDo:read');
    assert.equal(narrowed.id_token, undefined);
    assertInsufficientScope(await k.bearer(`${M}openid_profile`, narrowed.access_token), 'narrowed away from openid');
    // Narrowed stays narrowed: the next refresh cannot get openid back.
    assert.equal((await refresh(narrowed.refresh_token, 'openid ToDo:read')).json().error, 'invalid_scope');
    const same = k.tokens(await refresh(narrowed.refresh_token));
    assert.equal(same.scope, 'ToDo:read');
  });

  test('a scoped token cannot mint itself a wider grant through authorize, approve or the key methods', async () => {
    const narrow = (await grant('ToDo:read')).access_token;
    const wideCodes = async () =>
      Number((await k.t.site.storage.get<{ n: number }>('SELECT COUNT(*) AS "n" FROM "tabOAuth Authorization Code" WHERE "scopes" = \'all\''))?.n ?? 0);
    const before = await wideCodes();
    const wide = { client_id: client.client_id, response_type: 'code', redirect_uri: CB, scope: 'all', state: 'esc' };
    const authorize = await k.authorize(wide, undefined, { auth: `Bearer ${narrow}` });
    assert.ok(![302, 303].includes(authorize.statusCode) || !String(authorize.headers.location).includes('code='), `authorize: ${authorize.statusCode} ${String(authorize.headers.location)}`);
    const approve = await k.call(`${M}approve`, { auth: `Bearer ${narrow}`, form: { ...wide, decision: 'allow' } });
    assert.ok(!String(approve.headers.location ?? '').includes('code='), `approve: ${approve.statusCode} ${String(approve.headers.location)}`);
    assert.notEqual(approve.statusCode, 303);
    assertInsufficientScope(await k.bearer('/api/method/cortado.api_keys.create', narrow, { json: { label: 'escape' } }), 'api key');
    assertInsufficientScope(await k.bearer('/api/method/frappe.core.doctype.user.user.generate_keys', narrow, { json: { user: USER.email } }), 'generate_keys');
    assert.equal(await wideCodes(), before, 'no code with wider scopes was issued');
  });

  describe('named API keys with scopes are restricted the same way', () => {
    let keyAuth = '';

    before(async () => {
      const res = await k.call('/api/method/cortado.api_keys.create', { auth: k.adminAuth, json: { label: 'read todos', user: USER.email, scopes: 'ToDo:read' } });
      assert.equal(res.statusCode, 200, res.body);
      const created = res.json().message as { api_key: string; api_secret: string };
      k.remember(created.api_secret);
      keyAuth = `token ${created.api_key}:${created.api_secret}`;
    });

    test('ToDo:read key: lists ToDo, cannot write it or read Note', async () => {
      const call = (url: string, options: CallOptions = {}) => k.call(url, { ...options, auth: keyAuth });
      assert.equal((await call('/api/method/frappe.auth.get_logged_user')).json().message, USER.email);
      assert.equal((await call('/api/resource/ToDo')).statusCode, 200);
      assertInsufficientScope(await call('/api/resource/ToDo', { json: { description: 'by key' } }), 'key create');
      assertInsufficientScope(await call('/api/resource/Note'), 'key Note');
      assertInsufficientScope(await call('/api/method/library.api.count_articles'), 'key method');
      // A scoped key is no way into authorize either.
      const authorize = await k.authorize({ client_id: client.client_id, response_type: 'code', redirect_uri: CB, scope: 'all' }, undefined, { auth: keyAuth });
      assert.ok(!String(authorize.headers.location ?? '').includes('code='));
      const basicKey = keyAuth.slice('token '.length).split(':');
      const viaBasic = await k.call('/api/resource/Note', { auth: basic(String(basicKey[0]), String(basicKey[1])) });
      assertInsufficientScope(viaBasic, 'key as Basic');
    });

    test('a key without scopes keeps its user\'s full rights', async () => {
      const res = await k.call('/api/method/cortado.api_keys.create', { auth: k.adminAuth, json: { label: 'full', user: USER.email } });
      const created = res.json().message as { api_key: string; api_secret: string };
      k.remember(created.api_secret);
      const created2 = await k.call('/api/resource/Note', { auth: `token ${created.api_key}:${created.api_secret}`, json: { title: 'Key note' } });
      assert.equal(created2.statusCode, 200, created2.body);
    });
  });

  test('nothing obtained here is stored in clear', async () => {
    await k.assertNothingInClear();
  });
});
