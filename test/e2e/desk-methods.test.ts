/**
 * The server methods the desk adds (src/app/desk-methods.ts), over a real socket: who may call
 * them, the DocTypes and rights they report, the API Request Log counts per bucket (and that
 * they follow the filters), and revoking an authorized application (the caller's grant only).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runAs } from '../helpers/run-as.ts';
import { ADMIN_PASSWORD, apiLogin, createUser, startDeskServer, type DeskServer } from './browser-harness.ts';

const JANE = { email: 'jane@example.com', password: 'jane-password-1', firstName: 'Jane', roles: ['Desk User'] };

describe('desk methods', () => {
  let server: DeskServer;
  let admin: string;
  let jane: string;

  async function call(sid: string, method: string, args: Record<string, unknown> = {}, verb: 'GET' | 'POST' = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { cookie: `sid=${sid}`, accept: 'application/json' };
    let url = `${server.url}/api/method/${method}`;
    let body: string | undefined;
    if (verb === 'GET') url += `?${new URLSearchParams(Object.entries(args).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString()}`;
    else {
      // The desk's CSRF token, as the page would have it.
      const page = await (await fetch(`${server.url}/app`, { headers: { cookie: `sid=${sid}` } })).text();
      headers['x-frappe-csrf-token'] = /window\.csrf_token="([^"]*)"/.exec(page)?.[1] ?? '';
      headers['content-type'] = 'application/json';
      body = JSON.stringify(args);
    }
    const res = await fetch(url, { method: verb, headers, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function bearerUser(token: string): Promise<string | number> {
    const res = await fetch(`${server.url}/api/method/frappe.auth.get_logged_user`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    return res.status === 200 ? ((await res.json()) as { message: string }).message : res.status;
  }

  async function clientToken(id: string, secret: string): Promise<string> {
    const res = await fetch(`${server.url}/api/method/frappe.integrations.oauth2.get_token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  function newClient(appName: string, user: string): Promise<{ id: string; secret: string }> {
    return runAs(server.site, 'Administrator', async (db) => {
      const doc = await db.insert({ doctype: 'OAuth Client', app_name: appName, user, grant_type: 'Client Credentials', redirect_uris: 'https://app.example.com/cb' });
      return { id: String(doc.name), secret: String(doc.client_secret) };
    });
  }

  let logRow = 0;
  function logRequest(creation: string, status: number, authMethod: string, path = '/api/resource/ToDo'): Promise<unknown> {
    logRow += 1;
    return server.site.storage.run(
      'INSERT INTO "tabAPI Request Log" ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", "path", "method", "user", "status", "auth_method", "ip", "duration_ms") VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?)',
      [`log${logRow}`, 'Administrator', creation, creation, 'Administrator', path, 'GET', 'Administrator', status, authMethod, '127.0.0.1', 1],
    );
  }

  before(async () => {
    server = await startDeskServer({ fakeDesk: true });
    await createUser(server.site, JANE);
    admin = await apiLogin(server.url, 'Administrator', ADMIN_PASSWORD);
    jane = await apiLogin(server.url, JANE.email, JANE.password);
  });

  after(async () => {
    await server?.close();
  });

  test('cortado.desk.doctypes: what the user may read, with their rights', async () => {
    const names = async (sid: string) => ((await call(sid, 'cortado.desk.doctypes')).body.message as { name: string; slug: string }[]).map((d) => d.name);
    const mine = await names(jane);
    assert.ok(mine.includes('ToDo'));
    assert.ok(mine.includes('API Key'), 'keys are readable by their owners');
    for (const hidden of ['User', 'API Request Log', 'OAuth Client', 'System Settings', 'Has Role', 'DocType']) assert.ok(!mine.includes(hidden), hidden);
    const all = await names(admin);
    for (const shown of ['User', 'API Request Log', 'OAuth Client', 'System Settings']) assert.ok(all.includes(shown), shown);
    assert.ok(!all.includes('Has Role'), 'child tables are not pages');
    const key = ((await call(jane, 'cortado.desk.doctypes')).body.message as { name: string; slug: string; rights: Record<string, unknown> }[]).find((d) => d.name === 'API Key');
    assert.deepEqual(key, { name: 'API Key', slug: 'api-key', module: 'Core', issingle: 0, rights: { read: 'own', write: 'own', create: 'own', delete: 'own' } });
  });

  test('cortado.desk.meta: by slug or name, with permlevels; unreadable DocTypes are not found', async () => {
    const user = (await call(admin, 'cortado.desk.meta', { slug: 'user' })).body.message as { doctype: string; write_levels: number[]; docs: { name: string }[] };
    assert.equal(user.doctype, 'User');
    assert.deepEqual(user.write_levels, [0, 1]);
    assert.deepEqual(user.docs.map((d) => d.name), ['User', 'Has Role']);
    const key = (await call(jane, 'cortado.desk.meta', { doctype: 'API Key' })).body.message as { read_levels: number[]; write_levels: number[] };
    assert.deepEqual(key.read_levels, [0, 1]);
    assert.deepEqual(key.write_levels, [0]);
    const refused = await call(jane, 'cortado.desk.meta', { slug: 'user' });
    assert.equal(refused.status, 404);
    assert.equal(refused.body.exc_type, 'DoesNotExistError');
  });

  test('cortado.sessions.list_for_user: System Managers only', async () => {
    assert.equal((await call(jane, 'cortado.sessions.list_for_user', { user: JANE.email })).status, 403);
    const sessions = (await call(admin, 'cortado.sessions.list_for_user', { user: JANE.email })).body.message as { current: boolean; ip: string }[];
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]?.current, false);
  });

  test('cortado.logs.request_stats: counts per hour or day, by status class and auth method, for the filters given', async () => {
    await logRequest('2025-01-01 10:05:00.000000', 200, 'token');
    await logRequest('2025-01-01 10:30:00.000000', 404, 'token');
    await logRequest('2025-01-01 12:59:59.000000', 200, 'session');
    await logRequest('2025-01-01 12:00:00.000000', 503, 'guest', '/api/method/ping');
    const filters = [['creation', '<', '2025-01-02 00:00:00']];
    const hourly = (await call(admin, 'cortado.logs.request_stats', { filters })).body.message;
    assert.deepEqual(hourly, {
      granularity: 'hour',
      labels: ['2025-01-01 10', '2025-01-01 11', '2025-01-01 12'],
      by_status: [
        { name: '2xx', values: [1, 0, 1] },
        { name: '4xx', values: [1, 0, 0] },
        { name: '5xx', values: [0, 0, 1] },
      ],
      by_auth_method: [
        { name: 'guest', values: [0, 0, 1] },
        { name: 'session', values: [0, 0, 1] },
        { name: 'token', values: [2, 0, 0] },
      ],
      total: 4,
    });
    const onlyTokens = (await call(admin, 'cortado.logs.request_stats', { filters: [...filters, ['auth_method', '=', 'token']] })).body.message as { labels: string[]; total: number };
    assert.deepEqual(onlyTokens.labels, ['2025-01-01 10']);
    assert.equal(onlyTokens.total, 2);

    await logRequest('2025-01-05 08:00:00.000000', 302, 'basic');
    const daily = (await call(admin, 'cortado.logs.request_stats', { filters: [['creation', '<', '2025-01-06 00:00:00']] })).body.message as { granularity: string; labels: string[]; by_status: { name: string; values: number[] }[] };
    assert.equal(daily.granularity, 'day');
    assert.deepEqual(daily.labels, ['2025-01-01', '2025-01-02', '2025-01-03', '2025-01-04', '2025-01-05']);
    assert.deepEqual(daily.by_status.find((s) => s.name === '3xx')?.values, [0, 0, 0, 0, 1]);

    const none = (await call(admin, 'cortado.logs.request_stats', { filters: [['path', 'like', '%nothing-here%']] })).body.message;
    assert.deepEqual(none, { granularity: 'hour', labels: [], by_status: [], by_auth_method: [], total: 0 });
    assert.equal((await call(admin, 'cortado.logs.request_stats', { filters: [['nope', '=', 1]] })).status, 417, 'unknown fields are refused, never run');
    assert.equal((await call(jane, 'cortado.logs.request_stats', { filters: [] })).status, 403);
  });

  test('cortado.oauth.authorized_applications and revoke_application: the caller\'s grants only', async () => {
    const janes = await newClient('Jane app', JANE.email);
    const admins = await newClient('Admin app', 'Administrator');
    const janeToken = await clientToken(janes.id, janes.secret);
    const adminToken = await clientToken(admins.id, admins.secret);

    const listed = (await call(jane, 'cortado.oauth.authorized_applications')).body.message as { client: string; app_name: string; tokens: number; scopes: string[] }[];
    assert.deepEqual(listed.map((a) => [a.client, a.app_name, a.tokens]), [[janes.id, 'Jane app', 1]]);

    assert.deepEqual((await call(jane, 'cortado.oauth.revoke_application', { client: admins.id }, 'POST')).body.message, { revoked: 0 });
    assert.equal(await bearerUser(adminToken), 'Administrator', "another user's grant is untouched");

    assert.deepEqual((await call(jane, 'cortado.oauth.revoke_application', { client: janes.id }, 'POST')).body.message, { revoked: 1 });
    assert.equal(await bearerUser(janeToken), 401);
    assert.deepEqual((await call(jane, 'cortado.oauth.authorized_applications')).body.message, []);
    assert.equal((await call(jane, 'cortado.oauth.revoke_application', { client: janes.id })).status, 403, 'POST only');
  });
});
