/**
 * API keys, custom key sources, auth hooks and the logs, over HTTP (Fastify's injection):
 * Frappe-compatible User keys (checklist 16-18), named keys (create, use, last use, expiry,
 * revoke, rotate), `Frappe-Authorization-Source`, `auth_hooks`, the API Request Log, and no
 * secret stored in clear anywhere in the database.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { formatDatetime } from '../../src/core/clock.ts';
import { randomToken } from '../../src/core/crypto.ts';
import { ADMIN_PASSWORD, createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const KEY_SOURCE_APP = fileURLToPath(new URL('../fixtures/key-source-app', import.meta.url));
const GATEWAY_APP = fileURLToPath(new URL('../fixtures/gateway-app', import.meta.url));

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const MANAGER = 'manager@example.com';
const DISABLED = 'disabled@example.com';
const BLOCKED = 'blocked@example.com';
const SERVICE = 'service@example.com';
const ALICE_PASSWORD = `alice-${randomToken(12)}`;
const MANAGER_PASSWORD = `manager-${randomToken(12)}`;

const WHOAMI = '/api/method/frappe.auth.get_logged_user';
const KEY_SOURCE_HEADER = 'Frappe-Authorization-Source';

interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  auth?: string;
  sid?: string;
  headers?: Record<string, string>;
  body?: Record<string, unknown>;
}

/** `Basic base64(key:secret)`. */
const basic = (key: string, secret: string) => `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`;
const token = (key: string, secret: string) => `token ${key}:${secret}`;

/** The `message` of the first entry of a v1 body's `_server_messages`, or ''. */
function serverMessage(body: Record<string, unknown>): string {
  if (typeof body._server_messages !== 'string') return '';
  const list = JSON.parse(body._server_messages) as string[];
  return (JSON.parse(list[0] ?? '{}') as { message?: string }).message ?? '';
}

forEachDatabase('API keys, key sources, auth hooks and logs over HTTP', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  /** Every secret, password and sid this suite issues or sends; none may be stored in clear. */
  const secrets = new Set<string>();
  let adminAuth = '';
  let managerAuth = '';
  let aliceSid = '';

  function call(url: string, options: CallOptions = {}): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth) headers.authorization = options.auth;
    if (options.sid) headers.cookie = `sid=${options.sid}`;
    return app.inject({ method: options.method ?? (options.body ? 'POST' : 'GET'), url, headers, ...(options.body ? { payload: options.body } : {}) });
  }

  /** The user a request with these credentials runs as, or its status when refused. */
  async function whoami(options: CallOptions): Promise<string | number> {
    const res = await call(WHOAMI, options);
    return res.statusCode === 200 ? (res.json() as { message: string }).message : res.statusCode;
  }

  async function login(usr: string, pwd: string): Promise<string> {
    secrets.add(pwd);
    const res = await call('/api/method/login', { body: { usr, pwd } });
    assert.equal(res.statusCode, 200, res.body);
    const sid = res.cookies.find((c) => c.name === 'sid')?.value;
    assert.ok(sid && sid !== 'Guest', 'a session cookie');
    secrets.add(sid);
    return sid;
  }

  async function generateKeys(auth: CallOptions, user: string): Promise<{ key: string; secret: string }> {
    const res = await call('/api/method/frappe.core.doctype.user.user.generate_keys', { ...auth, body: { user } });
    assert.equal(res.statusCode, 200, res.body);
    const secret = (res.json() as { message: { api_secret: string } }).message.api_secret;
    secrets.add(secret);
    const row = await t.site.storage.get<{ api_key: string }>('SELECT "api_key" FROM "tabUser" WHERE "name" = ?', [user]);
    assert.ok(row?.api_key, 'the key is the User record\'s api_key');
    return { key: row.api_key, secret };
  }

  async function createNamedKey(auth: CallOptions, body: Record<string, unknown>): Promise<{ name: string; api_key: string; api_secret: string }> {
    const res = await call('/api/method/cortado.api_keys.create', { ...auth, body });
    assert.equal(res.statusCode, 200, res.body);
    const created = (res.json() as { message: { name: string; api_key: string; api_secret: string } }).message;
    secrets.add(created.api_secret);
    return created;
  }

  async function setUserEnabled(user: string, enabled: 0 | 1): Promise<void> {
    await runAs(t.site, 'Administrator', (api) => api.setValue('User', user, 'enabled', enabled));
  }

  async function setLogApiRequests(on: 0 | 1): Promise<void> {
    const res = await call('/api/resource/System%20Settings/System%20Settings', { method: 'PUT', auth: adminAuth, body: { log_api_requests: on } });
    assert.equal(res.statusCode, 200, res.body);
    // The save already dropped the cached settings; a request read in between (none here) could
    // have cached the old value for up to a second. Drop it again so the test never depends on that.
    authServicesFor(t.site).settings.invalidate();
  }

  before(async () => {
    t = await createTestSite({ db, apps: [KEY_SOURCE_APP, GATEWAY_APP] });
    await addUser(t.site, { email: ALICE, password: ALICE_PASSWORD });
    await addUser(t.site, { email: BOB });
    await addUser(t.site, { email: MANAGER, password: MANAGER_PASSWORD, roles: ['System Manager'] });
    await addUser(t.site, { email: DISABLED });
    await addUser(t.site, { email: BLOCKED });
    await addUser(t.site, { email: SERVICE });
    secrets.add(ALICE_PASSWORD).add(MANAGER_PASSWORD).add(ADMIN_PASSWORD);
    // This suite sends many wrong secrets from one IP on purpose; lockout is tested elsewhere.
    await runAs(t.site, 'Administrator', (api) => api.setValue('System Settings', 'System Settings', 'allow_consecutive_login_attempts', 1000));
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('Frappe-compatible User keys: generate_keys, token (v1, v2), Basic, wrong and unknown keys, disabled user (checklist 16-18)', async () => {
    // Administrator logs in with a password and makes their own keys with the session cookie.
    const adminSid = await login('Administrator', ADMIN_PASSWORD);
    const admin = await generateKeys({ sid: adminSid }, 'Administrator');
    assert.ok(admin.secret.length >= 43, 'at least 256 bits of secret');
    adminAuth = token(admin.key, admin.secret);

    const v1 = await call(WHOAMI, { auth: adminAuth });
    assert.equal(v1.statusCode, 200);
    assert.deepEqual(v1.json(), { message: 'Administrator' });
    const v2 = await call('/api/v2/method/frappe.auth.get_logged_user', { auth: adminAuth });
    assert.equal(v2.statusCode, 200);
    assert.deepEqual(v2.json(), { data: 'Administrator' });
    assert.equal(await whoami({ auth: basic(admin.key, admin.secret) }), 'Administrator');
    assert.equal(await whoami({ auth: `TOKEN ${admin.key}:${admin.secret}` }), 'Administrator', 'the scheme word is case-insensitive');

    for (const auth of [token(admin.key, 'INCORRECT'), token('NonExistentKey', 'INCORRECT'), basic(admin.key, 'INCORRECT')]) {
      const res = await call(WHOAMI, { auth });
      assert.equal(res.statusCode, 401, auth);
      assert.deepEqual(res.json(), { exc_type: 'AuthenticationError' }, auth);
    }

    // A System Manager's keys are made by Administrator; the manager then makes a user's keys.
    const manager = await generateKeys({ auth: adminAuth }, MANAGER);
    managerAuth = token(manager.key, manager.secret);
    const disabled = await generateKeys({ auth: managerAuth }, DISABLED);
    assert.equal(await whoami({ auth: token(disabled.key, disabled.secret) }), DISABLED);
    await setUserEnabled(DISABLED, 0);
    const refused = await call(WHOAMI, { auth: token(disabled.key, disabled.secret) });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().exc_type, 'AuthenticationError');
    assert.equal(await whoami({ auth: basic(disabled.key, disabled.secret) }), 401);
    await setUserEnabled(DISABLED, 1);
    assert.equal(await whoami({ auth: token(disabled.key, disabled.secret) }), DISABLED, 'enabled again, the same key works');

    // A user who is not System Manager cannot make keys, not even their own.
    const aliceKeys = await generateKeys({ auth: adminAuth }, ALICE);
    const denied = await call('/api/method/frappe.core.doctype.user.user.generate_keys', { auth: token(aliceKeys.key, aliceKeys.secret), body: { user: ALICE } });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().exc_type, 'PermissionError');
  });

  test('named keys: created by a user for themselves, used with token and Basic; last use recorded in batches', async () => {
    aliceSid = await login(ALICE, ALICE_PASSWORD);
    const key = await createNamedKey({ sid: aliceSid }, { label: 'CI', scopes: 'read:todo write:todo', restrict_ip: '127.0.0.1, ::1' });
    assert.match(key.api_key, /^ck_[0-9a-f]{24}$/);
    assert.ok(key.api_secret.length >= 43, 'at least 256 bits of secret');
    const stored = await t.site.storage.get<Record<string, unknown>>('SELECT * FROM "tabAPI Key" WHERE "name" = ?', [key.name]);
    assert.equal(stored?.user, ALICE);
    assert.equal(stored?.api_key, key.api_key);
    assert.equal(stored?.scopes, 'read:todo write:todo', 'scopes are stored');
    assert.notEqual(stored?.api_secret, key.api_secret);

    // The secret is shown once: reading the document back never returns it.
    const read = await call(`/api/resource/API%20Key/${encodeURIComponent(key.name)}`, { sid: aliceSid });
    assert.equal(read.statusCode, 200, read.body);
    assert.ok(!read.body.includes(key.api_secret));

    assert.equal(await whoami({ auth: token(key.api_key, key.api_secret) }), ALICE);
    const row = () => t.site.storage.get<{ last_used_at: unknown; last_used_ip: unknown }>('SELECT "last_used_at", "last_used_ip" FROM "tabAPI Key" WHERE "name" = ?', [key.name]);
    const afterUse = await row();
    assert.equal(afterUse?.last_used_at ?? null, null, 'not written on the request path');
    assert.equal(await whoami({ auth: basic(key.api_key, key.api_secret) }), ALICE);
    assert.equal(await whoami({ auth: token(key.api_key, 'wrong-secret') }), 401);

    // Uses are written by a timer (every 5 s), not per request.
    const deadline = Date.now() + 10_000;
    let used = await row();
    while (!used?.last_used_at && Date.now() < deadline) {
      await sleep(200);
      used = await row();
    }
    assert.ok(used?.last_used_at, 'last_used_at written by the batch');
    assert.equal(used?.last_used_ip, '127.0.0.1');
  });

  test('named keys: a key restricted to other IPs is refused; expiry, revoke, rotation with and without grace', async () => {
    const elsewhere = await createNamedKey({ sid: aliceSid }, { label: 'office only', restrict_ip: '10.0.0.1' });
    const refused = await call(WHOAMI, { auth: token(elsewhere.api_key, elsewhere.api_secret) });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().exc_type, 'AuthenticationError');
    assert.match(serverMessage(refused.json()), /Access not allowed from this IP Address/);

    // Expiry: valid until `expires_on`, refused once it has passed.
    const soon = formatDatetime(new Date(Date.now() + 3_600_000));
    const expiring = await createNamedKey({ sid: aliceSid }, { label: 'expiring', expires_on: soon });
    assert.equal(await whoami({ auth: token(expiring.api_key, expiring.api_secret) }), ALICE);
    await t.site.storage.run('UPDATE "tabAPI Key" SET "expires_on" = ? WHERE "name" = ?', [formatDatetime(new Date(Date.now() - 1000)), expiring.name]);
    assert.equal(await whoami({ auth: token(expiring.api_key, expiring.api_secret) }), 401);
    const past = await call('/api/method/cortado.api_keys.create', { sid: aliceSid, body: { label: 'already expired', expires_on: '2000-01-01 00:00:00' } });
    assert.equal(past.statusCode, 417);
    assert.equal(past.json().exc_type, 'ValidationError');

    // Revoke: refused at once.
    const revoked = await createNamedKey({ sid: aliceSid }, { label: 'to revoke' });
    assert.equal(await whoami({ auth: token(revoked.api_key, revoked.api_secret) }), ALICE);
    const revoke = await call('/api/method/cortado.api_keys.revoke', { sid: aliceSid, body: { name: revoked.name } });
    assert.equal(revoke.statusCode, 200, revoke.body);
    assert.equal(await whoami({ auth: token(revoked.api_key, revoked.api_secret) }), 401);
    assert.equal(await whoami({ auth: basic(revoked.api_key, revoked.api_secret) }), 401);

    // Rotation with a grace period: the old and the new secret both work.
    const rotating = await createNamedKey({ sid: aliceSid }, { label: 'rotating' });
    const graceful = await call('/api/method/cortado.api_keys.rotate', { sid: aliceSid, body: { name: rotating.name, grace_seconds: 60 } });
    assert.equal(graceful.statusCode, 200, graceful.body);
    const second = (graceful.json() as { message: { api_secret: string } }).message.api_secret;
    secrets.add(second);
    assert.notEqual(second, rotating.api_secret);
    assert.equal(await whoami({ auth: token(rotating.api_key, rotating.api_secret) }), ALICE, 'old secret within the grace period');
    assert.equal(await whoami({ auth: token(rotating.api_key, second) }), ALICE, 'new secret');

    // Rotation without grace: the secret in use stops at once (and the earlier one too).
    const abrupt = await call('/api/method/cortado.api_keys.rotate', { sid: aliceSid, body: { name: rotating.name, grace_seconds: 0 } });
    assert.equal(abrupt.statusCode, 200, abrupt.body);
    const third = (abrupt.json() as { message: { api_secret: string } }).message.api_secret;
    secrets.add(third);
    assert.equal(await whoami({ auth: token(rotating.api_key, second) }), 401);
    assert.equal(await whoami({ auth: token(rotating.api_key, rotating.api_secret) }), 401);
    assert.equal(await whoami({ auth: token(rotating.api_key, third) }), ALICE);
  });

  test('named keys: only for oneself unless System Manager; a disabled user\'s key is refused', async () => {
    const forBob = await call('/api/method/cortado.api_keys.create', { sid: aliceSid, body: { label: 'not mine', user: BOB } });
    assert.equal(forBob.statusCode, 403);
    assert.equal(forBob.json().exc_type, 'PermissionError');

    const bobKey = await createNamedKey({ auth: managerAuth }, { label: 'bob service', user: BOB });
    assert.equal(await whoami({ auth: token(bobKey.api_key, bobKey.api_secret) }), BOB);

    // Alice can neither rotate nor revoke Bob's key.
    for (const method of ['rotate', 'revoke']) {
      const res = await call(`/api/method/cortado.api_keys.${method}`, { sid: aliceSid, body: { name: bobKey.name } });
      assert.equal(res.statusCode, 403, method);
    }
    assert.equal(await whoami({ auth: token(bobKey.api_key, bobKey.api_secret) }), BOB);

    await setUserEnabled(BOB, 0);
    assert.equal(await whoami({ auth: token(bobKey.api_key, bobKey.api_secret) }), 401);
    await setUserEnabled(BOB, 1);
    assert.equal(await whoami({ auth: token(bobKey.api_key, bobKey.api_secret) }), BOB);
  });

  test('custom key source: Frappe-Authorization-Source runs as the record\'s user; disabled, unknown or unfit sources are 401, never 500', async () => {
    const apiKey = `svc-${randomToken(8)}`;
    const apiSecret = randomToken(24);
    secrets.add(apiSecret);
    const record = await runAs(t.site, 'Administrator', (api) =>
      api.insert({ doctype: 'Service Account', title: 'billing', api_key: apiKey, api_secret: apiSecret, user: SERVICE, enabled: 1 }),
    );
    const source = { [KEY_SOURCE_HEADER]: 'Service Account' };
    assert.equal(await whoami({ auth: token(apiKey, apiSecret), headers: source }), SERVICE);
    assert.equal(await whoami({ auth: basic(apiKey, apiSecret), headers: source }), SERVICE);
    assert.equal(await whoami({ auth: token(apiKey, 'wrong'), headers: source }), 401);
    assert.equal(await whoami({ auth: token(apiKey, apiSecret) }), 401, 'without the header the key is looked up on User');

    for (const [doctype, problem] of [
      ['No Such DocType', /does not exist/],
      ['Broken Source', /enabled \(Check\) is missing/],
      ['Mistyped Source', /api_secret must be Password/],
    ] as const) {
      const res = await call(WHOAMI, { auth: token(apiKey, apiSecret), headers: { [KEY_SOURCE_HEADER]: doctype } });
      assert.equal(res.statusCode, 401, doctype);
      assert.equal(res.json().exc_type, 'AuthenticationError', doctype);
      assert.match(serverMessage(res.json()), problem, doctype);
    }

    await setUserEnabled(SERVICE, 0);
    assert.equal(await whoami({ auth: token(apiKey, apiSecret), headers: source }), 401, 'the record\'s user is disabled');
    await setUserEnabled(SERVICE, 1);
    await runAs(t.site, 'Administrator', (api) => api.setValue('Service Account', record.name, 'enabled', 0));
    assert.equal(await whoami({ auth: token(apiKey, apiSecret), headers: source }), 401, 'the record is disabled');
  });

  test('auth hooks: the gateway app sets the user from a header; blocked, disabled and unknown users are 401', async () => {
    const gateway = (user: string) => ({ headers: { 'x-gateway-user': user } });
    assert.equal(await whoami(gateway(ALICE)), ALICE);
    const v2 = await call('/api/v2/method/frappe.auth.get_logged_user', gateway(MANAGER));
    assert.deepEqual(v2.json(), { data: MANAGER });

    const blocked = await call(WHOAMI, gateway(BLOCKED));
    assert.equal(blocked.statusCode, 401);
    assert.equal(blocked.json().exc_type, 'AuthenticationError');
    assert.match(serverMessage(blocked.json()), /Blocked by the gateway/);

    assert.equal(await whoami(gateway('nobody@example.com')), 401);
    await setUserEnabled(DISABLED, 0);
    assert.equal(await whoami(gateway(DISABLED)), 401);
    await setUserEnabled(DISABLED, 1);

    // Hooks run on every request, after the header: they may replace a key's user.
    const hooked = await call(WHOAMI, { auth: managerAuth, ...gateway(ALICE) });
    assert.deepEqual(hooked.json(), { message: ALICE });
    const ping = await call('/api/method/ping', gateway(BLOCKED));
    assert.equal(ping.statusCode, 401, 'a refusing hook refuses even Guest methods');
  });

  test('session hooks of apps run at login and logout', async () => {
    const events = async (sid: string) =>
      ((await call('/api/method/gateway.session_events', { sid })).json() as { message: { hook: string }[] }).message.map((e) => e.hook);
    const sid = await login(MANAGER, MANAGER_PASSWORD);
    const seen = await events(sid);
    assert.ok(seen.includes('on_login') && seen.includes('on_session_creation'), seen.join(','));
    const logout = await call('/api/method/logout', { method: 'POST', sid });
    assert.equal(logout.statusCode, 200);
    assert.equal(await whoami({ sid }), 403, 'the session ended');
    const again = await login(MANAGER, MANAGER_PASSWORD);
    assert.ok((await events(again)).includes('on_logout'));
  });

  test('API Request Log: path, method, user, status, auth method, key id, IP and duration of accepted, refused and Guest requests', async () => {
    const services = authServicesFor(t.site);
    const key = await createNamedKey({ sid: aliceSid }, { label: 'logged' });
    await setLogApiRequests(1);
    await services.requestLog.flush();

    const ok = await call(`${WHOAMI}?api_secret=${key.api_secret}&marker=1`, { auth: token(key.api_key, key.api_secret) });
    assert.equal(ok.statusCode, 200);
    const bad = await call('/api/resource/ToDo?filters=%5B%5D', { auth: token(key.api_key, 'not-the-secret') });
    assert.equal(bad.statusCode, 401);
    const guest = await call('/api/method/frappe.ping');
    assert.equal(guest.statusCode, 200);
    const basicCall = await call('/api/resource/ToDo', { auth: basic(key.api_key, key.api_secret) });
    assert.equal(basicCall.statusCode, 200);
    const hooked = await call('/api/resource/Note', { headers: { 'x-gateway-user': ALICE } });
    assert.notEqual(hooked.statusCode, 401);

    type LogRow = { path: string; method: string; user: string; status: number; auth_method: string; api_key: string | null; ip: string; duration_ms: number };
    const rows = async () => t.site.storage.all<LogRow>('SELECT * FROM "tabAPI Request Log" ORDER BY "creation"');
    // Rows are queued after the response is sent and written in batches.
    const deadline = Date.now() + 5000;
    let logged: LogRow[] = [];
    for (;;) {
      await services.requestLog.flush();
      logged = await rows();
      if (logged.some((r) => r.path === '/api/resource/Note') || Date.now() > deadline) break;
      await sleep(50);
    }
    const find = (path: string) => logged.find((r) => r.path === path);

    const accepted = find(WHOAMI);
    assert.ok(accepted, 'the accepted request is logged, without its query string');
    assert.equal(accepted.method, 'GET');
    assert.equal(accepted.user, ALICE);
    assert.equal(Number(accepted.status), 200);
    assert.equal(accepted.auth_method, 'token');
    assert.equal(accepted.api_key, key.api_key, 'the key id');
    assert.equal(accepted.ip, '127.0.0.1');
    assert.ok(Number.isFinite(Number(accepted.duration_ms)) && Number(accepted.duration_ms) >= 0);

    const rejected = logged.find((r) => r.path === '/api/resource/ToDo' && Number(r.status) === 401);
    assert.ok(rejected, 'the refused request is logged');
    assert.equal(rejected.user, 'Guest');
    assert.equal(Number(rejected.status), 401);
    assert.equal(rejected.auth_method, 'token', 'logged with the method it tried');
    assert.equal(rejected.ip, '127.0.0.1');

    const guestRow = find('/api/method/frappe.ping');
    assert.ok(guestRow, 'the Guest request is logged');
    assert.equal(guestRow.user, 'Guest');
    assert.equal(guestRow.auth_method, 'guest');
    assert.equal(Number(guestRow.status), 200);
    assert.equal(guestRow.api_key ?? null, null);

    const basicRow = logged.find((r) => r.path === '/api/resource/ToDo' && Number(r.status) === 200);
    assert.equal(basicRow?.auth_method, 'basic');
    assert.equal(basicRow?.api_key, key.api_key);
    assert.equal(find('/api/resource/Note')?.auth_method, 'hook');
    assert.equal(find('/api/resource/Note')?.user, ALICE);

    const dump = JSON.stringify(logged);
    for (const secret of secrets) assert.ok(!dump.includes(secret), 'no secret, password or sid in the log');

    // Readable by System Manager through the REST API; not by others.
    const url = `/api/resource/API%20Request%20Log?fields=${encodeURIComponent('["path","user","status","auth_method","api_key"]')}&limit_page_length=0`;
    const asManager = await call(url, { auth: managerAuth });
    assert.equal(asManager.statusCode, 200, asManager.body);
    const listed = (asManager.json() as { data: { path: string; auth_method: string }[] }).data;
    assert.ok(listed.some((r) => r.path === WHOAMI && r.auth_method === 'token'));
    const asAlice = await call(url, { sid: aliceSid });
    assert.equal(asAlice.statusCode, 403);
    assert.equal(asAlice.json().exc_type, 'PermissionError');

    // Off: nothing is recorded.
    await setLogApiRequests(0);
    await services.requestLog.flush();
    const before = (await rows()).length;
    for (let i = 0; i < 3; i++) await call('/api/v2/method/ping');
    await call(WHOAMI, { auth: token(key.api_key, 'wrong') });
    await sleep(100);
    await services.requestLog.flush();
    const afterOff = await rows();
    assert.equal(afterOff.length, before, 'no rows while log_api_requests is off');
    assert.ok(!afterOff.some((r) => r.path === '/api/v2/method/ping'));
  });

  test('secrets at rest: no API secret, password or sid issued here appears anywhere in the database', async () => {
    // A failed login with a password that must not be kept either.
    const wrongPassword = `wrong-${randomToken(12)}`;
    secrets.add(wrongPassword);
    const failed = await call('/api/method/login', { body: { usr: ALICE, pwd: wrongPassword } });
    assert.equal(failed.statusCode, 401);
    assert.equal(failed.json().message, 'Invalid login credentials');
    const activity = await t.site.storage.all<{ user: string; operation: string; status: string; subject: string }>(
      'SELECT "user", "operation", "status", "subject" FROM "tabActivity Log" WHERE "user" = ?',
      [ALICE],
    );
    assert.ok(activity.some((r) => r.operation === 'Login' && r.status === 'Failed'), 'the failed login is in the Activity Log');
    assert.ok(activity.some((r) => r.operation === 'Login' && r.status === 'Success'), 'the successful login is in the Activity Log');

    await authServicesFor(t.site).requestLog.flush();
    assert.ok(secrets.size >= 12, `the flows issued secrets (${secrets.size})`);
    const tables = await t.site.storage.tableNames();
    assert.ok(tables.includes('__Auth') && tables.includes('tabAPI Key') && tables.includes('__Sessions'), tables.join(', '));
    for (const table of tables) {
      const rows = await t.site.storage.all(`SELECT * FROM "${table.replaceAll('"', '""')}"`);
      const text = JSON.stringify(rows);
      for (const secret of secrets) {
        assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 4)}…) is stored in clear in ${table}`);
      }
    }
  });
});
