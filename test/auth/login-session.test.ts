/**
 * Password login and sessions over HTTP (Fastify injection): Frappe's login bodies and cookies,
 * using a session by cookie or `sid` argument, idle and absolute expiry, logout,
 * deny_multiple_sessions, cortado's session management, login hours, forced password reset,
 * session hooks, the Activity Log, and Frappe pbkdf2 hashes upgraded at login.
 * Spec: ../shared/spec/frappe-auth-core.md §1.5, §3, §5.3-5.5, §10 items 1-8, 13-14, 16-22, 35.
 */
import assert from 'node:assert/strict';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser, setPassword } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { formatDatetime } from '../../src/core/clock.ts';
import { randomHex } from '../../src/core/crypto.ts';
import { ab64Encode, verifyPassword } from '../../src/core/passwords.ts';
import { calls } from '../fixtures/login-hooks-app/index.ts';
import { runAs } from '../helpers/run-as.ts';
import { ADMIN_PASSWORD, createTestSite, forEachDatabase, type TestDatabase, type TestSite } from '../helpers/test-site.ts';

const HOOKS_APP = fileURLToPath(new URL('../fixtures/login-hooks-app', import.meta.url));
const LOGIN = '/api/method/login';
const WHOAMI = '/api/method/frappe.auth.get_logged_user';
const AUTH_COOKIES = ['sid', 'system_user', 'full_name', 'user_id', 'user_image', 'user_lang'];
const SID = /^[0-9a-f]{56}$/;

interface SetCookie {
  name: string;
  value: string;
  /** Attribute names lower-cased; flags are `true`. */
  attrs: Record<string, string | true>;
}

/** Every Set-Cookie header of a response, parsed, in order. */
function setCookies(res: LightMyRequestResponse): SetCookie[] {
  const raw = res.headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  return lines.map((line) => {
    const [pair = '', ...rest] = line.split(';');
    const eq = pair.indexOf('=');
    const attrs: Record<string, string | true> = {};
    for (const part of rest) {
      const at = part.indexOf('=');
      if (at === -1) attrs[part.trim().toLowerCase()] = true;
      else attrs[part.slice(0, at).trim().toLowerCase()] = part.slice(at + 1).trim();
    }
    return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs };
  });
}

/** The last Set-Cookie for `name` (a later one wins in the browser). */
function cookieOf(res: LightMyRequestResponse, name: string): SetCookie | undefined {
  return setCookies(res).filter((c) => c.name === name).at(-1);
}

function isExpired(cookie: SetCookie | undefined): boolean {
  if (!cookie) return false;
  const expires = cookie.attrs.expires;
  const maxAge = cookie.attrs['max-age'];
  return (typeof expires === 'string' && Date.parse(expires) < Date.now()) || (typeof maxAge === 'string' && Number(maxAge) <= 0);
}

function assertAuthCookiesExpired(res: LightMyRequestResponse, what: string): void {
  for (const name of AUTH_COOKIES) {
    const cookie = cookieOf(res, name);
    assert.ok(cookie, `${what}: a Set-Cookie deleting ${name}`);
    assert.equal(cookie.value, '', `${what}: ${name} emptied`);
    assert.ok(isExpired(cookie), `${what}: ${name} expires in the past (${JSON.stringify(cookie.attrs)})`);
  }
}

function serverMessages(body: Record<string, unknown>): string {
  if (typeof body._server_messages !== 'string') return '';
  return (JSON.parse(body._server_messages) as string[]).map((m) => (JSON.parse(m) as { message: string }).message).join('\n');
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const ago = (ms: number) => formatDatetime(new Date(Date.now() - ms));
/** Milliseconds of a stored Frappe datetime (UTC). */
const timeOf = (text: string) => Date.parse(`${text.replace(' ', 'T').slice(0, 23)}Z`);

interface SessionRow {
  sid_hash: string;
  user: string;
  created: string;
  last_active: string;
  expires_at: string;
}

forEachDatabase('password login and sessions', (db: TestDatabase) => {
  let t: TestSite;
  let app: FastifyInstance;
  let adminToken: string;
  let counter = 0;
  /** Every password used in this suite, and every sid handed out: none may be stored in clear. */
  const secrets = new Set<string>();

  async function settings(patch: Record<string, unknown>): Promise<Record<string, unknown>> {
    return runAs(t.site, 'Administrator', async (api) => {
      const doc = await api.getDoc('System Settings', 'System Settings');
      const previous = Object.fromEntries(Object.keys(patch).map((key) => [key, doc[key] ?? null]));
      await api.save({ ...doc, ...patch });
      return previous;
    });
  }

  async function withSettings(patch: Record<string, unknown>, fn: () => Promise<void>): Promise<void> {
    const previous = await settings(patch);
    try {
      await fn();
    } finally {
      await settings(previous);
    }
  }

  interface TestUser {
    email: string;
    password: string;
  }

  async function makeUser(options: { first?: string; last?: string; userType?: 'System User' | 'Website User'; roles?: string[]; fields?: Record<string, unknown> } = {}): Promise<TestUser> {
    counter += 1;
    const email = `u${counter}.${db}@example.com`;
    const password = `Pw-${randomHex(12)}-${counter}`;
    secrets.add(password);
    await addUser(t.site, { email, password, firstName: options.first ?? 'Test', lastName: options.last ?? `User${counter}`, userType: options.userType, roles: options.roles });
    if (options.fields) await runAs(t.site, 'Administrator', (api) => api.setValue('User', email, options.fields ?? {}));
    return { email, password };
  }

  async function login(usr: string, pwd: string, extra: { headers?: Record<string, string>; remoteAddress?: string; app?: FastifyInstance } = {}) {
    const res = await (extra.app ?? app).inject({ method: 'POST', url: LOGIN, payload: { usr, pwd }, headers: extra.headers, remoteAddress: extra.remoteAddress });
    const sid = cookieOf(res, 'sid')?.value;
    if (sid && SID.test(sid)) secrets.add(sid);
    return { res, sid: sid && SID.test(sid) ? sid : undefined };
  }

  async function loginOk(user: TestUser, extra: Parameters<typeof login>[2] = {}): Promise<string> {
    const { res, sid } = await login(user.email, user.password, extra);
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(sid, `a sid cookie after logging in: ${JSON.stringify(res.headers['set-cookie'])}`);
    return sid;
  }

  async function whoami(sid: string, target: FastifyInstance = app): Promise<LightMyRequestResponse> {
    return target.inject({ url: WHOAMI, cookies: { sid } });
  }

  async function assertLoggedIn(sid: string, user: string, what: string, target?: FastifyInstance): Promise<void> {
    const res = await whoami(sid, target);
    assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
    assert.deepEqual(res.json(), { message: user }, what);
  }

  async function assertLoggedOut(sid: string, what: string, target?: FastifyInstance): Promise<void> {
    const res = await whoami(sid, target);
    assert.equal(res.statusCode, 403, `${what}: runs as Guest, so the method is refused with 403 (${res.body})`);
    assert.equal(res.json().session_expired, 1, `${what}: session_expired`);
  }

  const sessionRows = (user: string) => t.site.storage.all<SessionRow>('SELECT * FROM "__Sessions" WHERE "user" = ?', [user]);

  before(async () => {
    t = await createTestSite({ db, apps: [HOOKS_APP] });
    secrets.add(ADMIN_PASSWORD);
    // Many failures come from 127.0.0.1 in this file; lockout has its own tests.
    await settings({ allow_consecutive_login_attempts: 1000 });
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', apiSecretHashKey(t.site.config.encryption_key)));
    adminToken = `token ${keys.api_key}:${keys.api_secret}`;
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('success bodies: System User "Logged In" and Website User "No App", keys in Frappe\'s order', async () => {
    const ada = await makeUser({ first: 'Ada', last: 'Lovelace' });
    const { res } = await login(ada.email, ada.password);
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '{"message":"Logged In","home_page":"/app","full_name":"Ada Lovelace"}');
    assert.match(String(res.headers['content-type']), /application\/json/);

    const web = await makeUser({ first: 'Web', last: 'Visitor', userType: 'Website User' });
    const webRes = (await login(web.email, web.password)).res;
    assert.equal(webRes.statusCode, 200);
    assert.deepEqual(Object.keys(webRes.json()), ['message', 'home_page', 'full_name']);
    assert.equal(webRes.json().message, 'No App');
    assert.equal(webRes.json().full_name, 'Web Visitor');

    const admin = await login('Administrator', ADMIN_PASSWORD);
    assert.equal(admin.res.json().message, 'Logged In');
  });

  test('login by username only with allow_login_using_user_name, by mobile_no only with allow_login_using_mobile_number (checklist 1-4)', async () => {
    const user = await makeUser({ fields: { username: `uname${counter + 1}${db}`, mobile_no: `+1555000${counter + 1}${db === 'sqlite' ? 1 : 2}` } });
    const row = await t.site.storage.get<{ username: string; mobile_no: string }>('SELECT "username", "mobile_no" FROM "tabUser" WHERE "name" = ?', [user.email]);
    assert.ok(row?.username && row.mobile_no, 'username and mobile_no set');
    const tryAs = async (identifier: string) => (await login(identifier, user.password)).res.statusCode;
    const cases: [number, number, { email: number; username: number; mobile: number }][] = [
      [1, 0, { email: 200, username: 401, mobile: 200 }], // 1. mobile on, username off
      [0, 0, { email: 200, username: 401, mobile: 401 }], // 2. only email
      [0, 1, { email: 200, username: 200, mobile: 401 }], // 3. username on
      [1, 1, { email: 200, username: 200, mobile: 200 }], // 4. both
    ];
    for (const [mobile, username, expected] of cases) {
      await withSettings({ allow_login_using_mobile_number: mobile, allow_login_using_user_name: username }, async () => {
        const got = { email: await tryAs(user.email), username: await tryAs(row.username), mobile: await tryAs(row.mobile_no) };
        assert.deepEqual(got, expected, `mobile=${mobile} username=${username}`);
      });
    }
    // Logged in by username, the session is the user's name, not what was typed.
    await withSettings({ allow_login_using_user_name: 1 }, async () => {
      const { sid } = await login(row.username, user.password);
      assert.ok(sid);
      await assertLoggedIn(sid, user.email, 'session of a username login');
    });
  });

  test('disable_user_pass_login refuses password login with 401 and Frappe\'s message (checklist 6)', async () => {
    const user = await makeUser();
    await withSettings({ disable_user_pass_login: 1 }, async () => {
      const { res, sid } = await login(user.email, user.password);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().exc_type, 'AuthenticationError');
      assert.match(serverMessages(res.json()), /Login with username and password is not allowed\./);
      assert.equal(sid, undefined);
    });
    await loginOk(user);
  });

  test('failure bodies: bare 401 AuthenticationError with Frappe\'s messages; the auth cookies are deleted', async () => {
    const user = await makeUser();
    const exact = (message: string) => JSON.stringify({ message, exc_type: 'AuthenticationError' });

    const wrong = await login(user.email, `${user.password}-wrong`);
    secrets.add(`${user.password}-wrong`);
    assert.equal(wrong.res.statusCode, 401);
    assert.equal(wrong.res.body, exact('Invalid login credentials'));
    assertAuthCookiesExpired(wrong.res, 'failed login');

    const unknown = await login(`nobody-${counter}@example.com`, user.password);
    assert.equal(unknown.res.statusCode, 401);
    assert.equal(unknown.res.body, exact('Invalid login credentials'), 'an unknown user looks like a wrong password');

    for (const payload of [{ usr: user.email }, { pwd: user.password }, { usr: '', pwd: '' }, {}]) {
      const res = await app.inject({ method: 'POST', url: LOGIN, payload });
      assert.equal(res.statusCode, 401, JSON.stringify(payload));
      assert.equal(res.body, exact('Incomplete login details'), JSON.stringify(payload));
    }

    const long = `Pw-long-${randomHex(8)}`.padEnd(513, 'q');
    secrets.add(long);
    const tooLong = await login(user.email, long);
    assert.equal(tooLong.res.statusCode, 401);
    assert.equal(tooLong.res.body, exact('Password size exceeded the maximum allowed size'));
    const atLimit = await login(user.email, long.slice(0, 512));
    assert.equal(atLimit.res.body, exact('Invalid login credentials'), '512 characters is still checked');

    const disabled = await makeUser();
    await runAs(t.site, 'Administrator', (api) => api.setValue('User', disabled.email, 'enabled', 0));
    const refused = await login(disabled.email, disabled.password);
    assert.equal(refused.res.statusCode, 401);
    assert.equal(refused.res.body, exact('User disabled or missing'));
    assert.equal(refused.sid, undefined);
  });

  test('login works with query arguments on GET, a JSON body and a form body', async () => {
    const user = await makeUser();
    const viaGet = await app.inject({ url: `${LOGIN}?usr=${encodeURIComponent(user.email)}&pwd=${encodeURIComponent(user.password)}` });
    assert.equal(viaGet.statusCode, 200, viaGet.body);
    assert.equal(viaGet.json().message, 'Logged In');
    const getSid = cookieOf(viaGet, 'sid')?.value ?? '';
    assert.match(getSid, SID);
    secrets.add(getSid);
    await assertLoggedIn(getSid, user.email, 'GET login session (GET does not roll the session back)');

    const viaJson = await app.inject({ method: 'POST', url: LOGIN, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ usr: user.email, pwd: user.password }) });
    assert.equal(viaJson.statusCode, 200, viaJson.body);
    assert.match(cookieOf(viaJson, 'sid')?.value ?? '', SID);

    const form = new URLSearchParams({ usr: user.email, pwd: user.password }).toString();
    const viaForm = await app.inject({ method: 'POST', url: LOGIN, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form });
    assert.equal(viaForm.statusCode, 200, viaForm.body);
    const formSid = cookieOf(viaForm, 'sid')?.value ?? '';
    assert.match(formSid, SID);
    secrets.add(formSid);
    await assertLoggedIn(formSid, user.email, 'form login session');
  });

  test('cookies (§3.5, checklist 8): sid HttpOnly, SameSite=Lax, Path=/, Max-Age = session expiry; readable user cookies', async () => {
    const ada = await makeUser({ first: 'Ada', last: 'Lovelace' });
    await withSettings({ session_expiry: '01:00' }, async () => {
      const { res, sid } = await login(ada.email, ada.password);
      assert.ok(sid);
      const cookie = cookieOf(res, 'sid');
      assert.ok(cookie);
      assert.match(cookie.value, SID, '56 lowercase hex characters');
      assert.equal(cookie.attrs.httponly, true);
      assert.equal(String(cookie.attrs.samesite).toLowerCase(), 'lax');
      assert.equal(cookie.attrs.path, '/');
      assert.equal(cookie.attrs['max-age'], '3600');
      const expires = Date.parse(String(cookie.attrs.expires));
      assert.ok(Math.abs(expires - (Date.now() + 3600_000)) < 60_000, `Expires ≈ now + 1 h (${String(cookie.attrs.expires)})`);
      assert.ok(!('secure' in cookie.attrs), 'no Secure over plain http');

      const expected: Record<string, string> = { system_user: 'yes', full_name: 'Ada%20Lovelace', user_id: ada.email.replace('@', '%40'), user_image: '', user_lang: 'en' };
      for (const [name, value] of Object.entries(expected)) {
        const c = cookieOf(res, name);
        assert.ok(c, `cookie ${name} set`);
        assert.equal(c.value, value, `cookie ${name}`);
        assert.ok(!('httponly' in c.attrs), `${name} is readable by scripts`);
        assert.equal(c.attrs.path, '/', `${name} Path`);
        assert.ok(!('secure' in c.attrs), `${name} not Secure over http`);
      }
      // A resumed session re-sends the sid cookie with the full expiry (sliding).
      const later = await whoami(sid);
      assert.equal(later.statusCode, 200);
      const resent = cookieOf(later, 'sid');
      assert.equal(resent?.value, sid);
      assert.equal(resent?.attrs['max-age'], '3600');
      assert.equal(resent?.attrs.httponly, true);
      // Exactly one sid cookie per response, each attribute once, however often it is re-sent.
      for (const response of [later, await whoami(sid), await whoami(sid)]) {
        const raw = [response.headers['set-cookie'] ?? []].flat().filter((header) => header.startsWith('sid='));
        assert.equal(raw.length, 1);
        assert.match(String(raw[0]), new RegExp(`^sid=${sid}; Max-Age=3600; Path=/; Expires=\\w{3}, \\d{2} \\w{3} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT; HttpOnly; SameSite=Lax$`));
      }
    });

    const web = await makeUser({ userType: 'Website User' });
    const webRes = (await login(web.email, web.password)).res;
    assert.equal(cookieOf(webRes, 'system_user')?.value, 'no');

    // Behind a trusted proxy (loopback by default) that says https: every cookie is Secure.
    const proxied = await login(ada.email, ada.password, { remoteAddress: '127.0.0.1', headers: { 'x-forwarded-proto': 'https' } });
    for (const name of AUTH_COOKIES) assert.equal(cookieOf(proxied.res, name)?.attrs.secure, true, `${name} Secure over https`);
    // The same header from an untrusted peer is not believed.
    const spoofed = await login(ada.email, ada.password, { remoteAddress: '203.0.113.7', headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(spoofed.res.statusCode, 200);
    assert.ok(!('secure' in (cookieOf(spoofed.res, 'sid')?.attrs ?? {})), 'X-Forwarded-Proto from an untrusted peer is ignored');
  });

  test('a new sid at every login; a planted sid never becomes a session (no fixation)', async () => {
    const user = await makeUser();
    const first = await loginOk(user);
    const second = await loginOk(user, { headers: { cookie: `sid=${first}` } });
    assert.notEqual(second, first, 'logging in with an old sid cookie yields a new sid');

    const planted = randomHex(56);
    const res = await app.inject({ method: 'POST', url: LOGIN, payload: { usr: user.email, pwd: user.password }, cookies: { sid: planted } });
    assert.equal(res.statusCode, 200);
    const issued = cookieOf(res, 'sid')?.value;
    assert.match(issued ?? '', SID);
    assert.notEqual(issued, planted);
    secrets.add(issued ?? '');
    await assertLoggedOut(planted, 'the planted sid');
    await assertLoggedIn(issued ?? '', user.email, 'the issued sid');

    const rows = await sessionRows(user.email);
    assert.equal(rows.length, 3);
    const stored = JSON.stringify(rows);
    for (const sid of [first, second, issued ?? '']) assert.ok(!stored.includes(sid), 'the sid is stored only as a hash');
  });

  test('a session authenticates by cookie and by sid in the query, a form field or a JSON body (checklist 20)', async () => {
    const user = await makeUser();
    const sid = await loginOk(user);
    await assertLoggedIn(sid, user.email, 'cookie');

    const query = await app.inject({ url: `${WHOAMI}?sid=${sid}` });
    assert.deepEqual(query.json(), { message: user.email }, 'query parameter');
    const form = await app.inject({ method: 'POST', url: WHOAMI, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `sid=${sid}` });
    assert.deepEqual(form.json(), { message: user.email }, 'form field');
    const json = await app.inject({ method: 'POST', url: WHOAMI, payload: { sid } });
    assert.deepEqual(json.json(), { message: user.email }, 'JSON body key');

    const list = await app.inject({ url: `/api/resource/ToDo?sid=${sid}` });
    assert.equal(list.statusCode, 200, list.body);
    assert.deepEqual(list.json(), { data: [] });

    const guest = await app.inject({ url: WHOAMI });
    assert.equal(guest.statusCode, 403, 'get_logged_user is not for Guests');
    assert.equal(guest.json().exc_type, 'PermissionError');
  });

  test('a session sid in a JSON body of a GET request authenticates (newer Frappe tests send it so)', async () => {
    const user = await makeUser();
    const sid = await loginOk(user);
    const res = await app.inject({ method: 'GET', url: WHOAMI, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ sid }) });
    assert.deepEqual(res.json(), { message: user.email });
  });

  test('an unknown or malformed sid runs as Guest with session_expired: 1 and deletes the auth cookies', async () => {
    const bogus = randomHex(56);
    const ping = await app.inject({ url: '/api/method/ping', cookies: { sid: bogus } });
    assert.equal(ping.statusCode, 200);
    assert.deepEqual(ping.json(), { message: 'pong', session_expired: 1 });
    assertAuthCookiesExpired(ping, 'unknown sid');

    const asArg = await app.inject({ url: `/api/method/ping?sid=${bogus}` });
    assert.deepEqual(asArg.json(), { message: 'pong', session_expired: 1 });

    const malformed = await app.inject({ url: '/api/method/ping', cookies: { sid: 'not-a-sid' } });
    assert.deepEqual(malformed.json(), { message: 'pong', session_expired: 1 });

    const needsLogin = await app.inject({ url: WHOAMI, cookies: { sid: bogus } });
    assert.equal(needsLogin.statusCode, 403, 'Guest, so 403 and not 401');
    assert.equal(needsLogin.json().session_expired, 1);

    const guest = await app.inject({ url: '/api/method/ping', cookies: { sid: 'Guest' } });
    assert.deepEqual(guest.json(), { message: 'pong' }, 'the Guest sid is not an expired session');
    const v2 = await app.inject({ url: '/api/v2/method/ping', cookies: { sid: bogus } });
    assert.equal(v2.statusCode, 200);
    assert.equal(v2.json().data, 'pong');
  });

  test('idle expiry (checklist 13): valid at 99 % of session_expiry, expired at 101 %; activity slides it', async () => {
    const user = await makeUser();
    await withSettings({ session_expiry: '00:01' }, async () => {
      const sid = await loginOk(user);
      const setLastActive = (ms: number) => t.site.storage.run('UPDATE "__Sessions" SET "last_active" = ? WHERE "user" = ?', [ago(ms), user.email]);

      await setLastActive(59_400);
      await assertLoggedIn(sid, user.email, 'idle for 99 % of the expiry');
      // That request slid the idle window: the row now says "active just now".
      await waitFor(async () => {
        const [row] = await sessionRows(user.email);
        return row !== undefined && timeOf(row.last_active) > Date.now() - 5_000;
      }, 'last_active refreshed by the request');
      await assertLoggedIn(sid, user.email, 'after sliding');

      await setLastActive(60_600);
      await assertLoggedOut(sid, 'idle for 101 % of the expiry');
      assert.equal((await sessionRows(user.email)).length, 0, 'the expired session is deleted');
    });
  });

  test('absolute lifetime: a session past expires_at is expired however active it is', async () => {
    const user = await makeUser();
    const sid = await loginOk(user);
    const [row] = await sessionRows(user.email);
    assert.ok(row);
    const lifetime = timeOf(row.expires_at) - timeOf(row.created);
    assert.equal(lifetime, t.site.config.session_lifetime_hours * 3_600_000, 'expires_at = created + session_lifetime_hours');
    await t.site.storage.run('UPDATE "__Sessions" SET "expires_at" = ?, "last_active" = ? WHERE "user" = ?', [ago(1000), ago(0), user.email]);
    await assertLoggedOut(sid, 'past its absolute lifetime');
  });

  test('logout (checklist 14): GET and POST end the session and expire the cookies; as Guest it is a no-op', async () => {
    const user = await makeUser();
    for (const method of ['GET', 'POST'] as const) {
      const sid = await loginOk(user);
      const res = await app.inject({ method, url: '/api/method/logout', cookies: { sid } });
      assert.equal(res.statusCode, 200, `${method}: ${res.body}`);
      assert.deepEqual(res.json(), {});
      assertAuthCookiesExpired(res, `${method} logout`);
      // The session's sid was re-sent when the request began, then expired by the logout: one
      // Set-Cookie per name, the last one set.
      for (const name of AUTH_COOKIES) assert.equal(setCookies(res).filter((c) => c.name === name).length, 1, `${method} logout: one Set-Cookie for ${name}`);
      await assertLoggedOut(sid, `after ${method} logout`);
    }
    assert.equal((await sessionRows(user.email)).length, 0);
    const viaArg = await loginOk(user);
    const res = await app.inject({ method: 'POST', url: '/api/method/logout', payload: { sid: viaArg } });
    assert.equal(res.statusCode, 200);
    await assertLoggedOut(viaArg, 'after logout with sid as an argument');

    const guest = await app.inject({ method: 'POST', url: '/api/method/logout' });
    assert.equal(guest.statusCode, 200);
    assert.deepEqual(guest.json(), {});
  });

  test('deny_multiple_sessions in System Settings keeps simultaneous_sessions sessions (checklist 5)', async () => {
    await withSettings({ deny_multiple_sessions: 1 }, async () => {
      const one = await makeUser({ fields: { simultaneous_sessions: 1 } });
      const a = await loginOk(one);
      const b = await loginOk(one);
      await assertLoggedOut(a, 'first session after a second login');
      await assertLoggedIn(b, one.email, 'second session');
      const c = await loginOk(one);
      await assertLoggedOut(a, 'first session after a third login');
      await assertLoggedOut(b, 'second session after a third login');
      await assertLoggedIn(c, one.email, 'newest session');

      const two = await makeUser({ fields: { simultaneous_sessions: 2 } });
      const d = await loginOk(two);
      const e = await loginOk(two);
      await assertLoggedIn(d, two.email, 'first of two allowed sessions');
      await assertLoggedIn(e, two.email, 'second of two allowed sessions');
      const f = await loginOk(two);
      await assertLoggedOut(d, 'oldest session once a third is made');
      await assertLoggedIn(e, two.email, 'second session survives');
      await assertLoggedIn(f, two.email, 'newest session');
    });
    // Off again: sessions accumulate.
    const free = await makeUser({ fields: { simultaneous_sessions: 1 } });
    const x = await loginOk(free);
    const y = await loginOk(free);
    await assertLoggedIn(x, free.email, 'without deny_multiple_sessions');
    await assertLoggedIn(y, free.email, 'without deny_multiple_sessions');
  });

  describe('with site config deny_multiple_sessions and session_lifetime_hours', () => {
    let t2: TestSite;
    let app2: FastifyInstance;
    before(async () => {
      t2 = await createTestSite({ db, config: { deny_multiple_sessions: true, session_lifetime_hours: 2 } });
      app2 = await createServer(t2.site);
    });
    after(async () => {
      await app2.close();
      await t2.cleanup();
    });

    test('a second login ends the first (site config); expires_at follows session_lifetime_hours', async () => {
      const email = `cfg.${db}@example.com`;
      const password = `Pw-${randomHex(12)}-cfg`;
      secrets.add(password);
      await addUser(t2.site, { email, password });
      await runAs(t2.site, 'Administrator', (api) => api.setValue('User', email, 'simultaneous_sessions', 1));
      const user = { email, password };
      const a = await loginOk(user, { app: app2 });
      const b = await loginOk(user, { app: app2 });
      await assertLoggedOut(a, 'first session', app2);
      await assertLoggedIn(b, email, 'second session', app2);
      const [row] = await t2.site.storage.all<SessionRow>('SELECT * FROM "__Sessions" WHERE "user" = ?', [email]);
      assert.ok(row);
      const lifetime = timeOf(row.expires_at) - timeOf(row.created);
      assert.equal(lifetime, 2 * 3_600_000);
    });
  });

  test('session management: list (no sid or hash), revoke one, revoke_others, end_all_for_user by a System Manager', async () => {
    const user = await makeUser();
    const phone = await loginOk(user, { remoteAddress: '10.9.8.7', headers: { 'user-agent': 'Mozilla/5.0 (iPhone) Mobile Safari' } });
    const laptop = await loginOk(user, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0' } });

    const listed = await app.inject({ url: '/api/method/cortado.sessions.list', cookies: { sid: laptop } });
    assert.equal(listed.statusCode, 200, listed.body);
    const sessions = listed.json().message as { id: string; ip: string; device: string; current: boolean }[];
    assert.equal(sessions.length, 2);
    const mine = sessions.find((s) => s.current);
    const other = sessions.find((s) => !s.current);
    assert.ok(mine && other, 'exactly one is the current session');
    assert.equal(sessions.filter((s) => s.current).length, 1);
    assert.equal(mine.device, 'desktop');
    assert.equal(mine.ip, '127.0.0.1');
    assert.equal(other.device, 'mobile');
    assert.equal(other.ip, '10.9.8.7');
    for (const s of sessions) for (const key of ['id', 'ip', 'device', 'current', 'last_active']) assert.ok(key in s, `session field ${key}`);
    const hashes = (await sessionRows(user.email)).map((r) => r.sid_hash);
    for (const secret of [phone, laptop, ...hashes]) assert.ok(!listed.body.includes(secret), 'neither the sid nor its full hash is shown');

    // Someone else cannot revoke these sessions by their ids.
    const stranger = await makeUser();
    const strangerSid = await loginOk(stranger);
    const foreign = await app.inject({ method: 'POST', url: '/api/method/cortado.sessions.revoke', cookies: { sid: strangerSid }, payload: { id: other.id } });
    assert.equal(foreign.statusCode, 404, foreign.body);
    await assertLoggedIn(phone, user.email, 'not revocable by another user');

    const revoke = await app.inject({ method: 'POST', url: '/api/method/cortado.sessions.revoke', cookies: { sid: laptop }, payload: { id: other.id } });
    assert.equal(revoke.statusCode, 200, revoke.body);
    await assertLoggedOut(phone, 'the revoked session');
    await assertLoggedIn(laptop, user.email, 'the revoking session');
    const viaGet = await app.inject({ url: `/api/method/cortado.sessions.revoke?id=${mine.id}`, cookies: { sid: laptop } });
    assert.equal(viaGet.statusCode, 403, 'revoke is POST only');

    const tablet = await loginOk(user);
    const desk = await loginOk(user);
    const others = await app.inject({ method: 'POST', url: '/api/method/cortado.sessions.revoke_others', cookies: { sid: tablet } });
    assert.equal(others.statusCode, 200, others.body);
    assert.deepEqual(others.json(), { message: 2 });
    await assertLoggedIn(tablet, user.email, 'revoke_others keeps the current session');
    await assertLoggedOut(laptop, 'revoke_others');
    await assertLoggedOut(desk, 'revoke_others');

    const guestList = await app.inject({ url: '/api/method/cortado.sessions.list' });
    assert.equal(guestList.statusCode, 403);

    const endByUser = await app.inject({ method: 'POST', url: '/api/method/cortado.sessions.end_all_for_user', cookies: { sid: strangerSid }, payload: { user: user.email } });
    assert.equal(endByUser.statusCode, 403, 'only a System Manager ends another user\'s sessions');
    await assertLoggedIn(tablet, user.email, 'after a refused end_all_for_user');

    const manager = await makeUser({ roles: ['System Manager'] });
    const managerSid = await loginOk(manager);
    const second = await loginOk(user);
    const ended = await app.inject({ method: 'POST', url: '/api/method/cortado.sessions.end_all_for_user', cookies: { sid: managerSid }, payload: { user: user.email } });
    assert.equal(ended.statusCode, 200, ended.body);
    assert.deepEqual(ended.json(), { message: 2 });
    await assertLoggedOut(tablet, 'end_all_for_user');
    await assertLoggedOut(second, 'end_all_for_user');
    await assertLoggedIn(managerSid, manager.email, 'the System Manager\'s own session');
  });

  test('disabling a user through PUT /api/resource/User ends their sessions at once; so does setPassword', async () => {
    const user = await makeUser();
    const a = await loginOk(user);
    const b = await loginOk(user);
    const put = await app.inject({ method: 'PUT', url: `/api/resource/User/${encodeURIComponent(user.email)}`, headers: { authorization: adminToken }, payload: { enabled: 0 } });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(put.json().data.enabled, 0);
    await assertLoggedOut(a, 'disabled user, first session');
    await assertLoggedOut(b, 'disabled user, second session');
    assert.equal((await sessionRows(user.email)).length, 0);
    assert.equal((await login(user.email, user.password)).res.json().message, 'User disabled or missing');

    const other = await makeUser();
    const sid = await loginOk(other);
    const newPassword = `Pw-${randomHex(12)}-new`;
    secrets.add(newPassword);
    await setPassword(t.site, other.email, newPassword);
    await assertLoggedOut(sid, 'after a password change');
    assert.equal((await login(other.email, other.password)).res.statusCode, 401, 'the old password stops working');
    await loginOk({ email: other.email, password: newPassword });
  });

  test('login hours (§5.3): outside login_before/login_after → 401 "Login not allowed at this time"', async () => {
    const user = await makeUser();
    const hour = new Date().getUTCHours();
    // Refuse: before `hour` means the current hour is too late; after `hour + 1` means too early.
    const refusing = hour >= 1 ? { login_before: hour, login_after: 0 } : { login_before: 0, login_after: 1 };
    await runAs(t.site, 'Administrator', (api) => api.setValue('User', user.email, refusing));
    const refused = await login(user.email, user.password);
    assert.equal(refused.res.statusCode, 401);
    assert.equal(refused.res.json().exc_type, 'AuthenticationError');
    assert.match(serverMessages(refused.res.json()) + String(refused.res.json().message ?? ''), /Login not allowed at this time/);
    assert.equal(refused.sid, undefined);
    assert.equal((await sessionRows(user.email)).length, 0, 'no session is made');

    await runAs(t.site, 'Administrator', (api) => api.setValue('User', user.email, { login_before: hour + 1, login_after: hour }));
    await loginOk(user);
  });

  test('forced password reset (§5.4): 200 "Password Reset" with an update-password link and no session', async () => {
    const user = await makeUser();
    const tenDaysAgo = formatDatetime(new Date(Date.now() - 10 * 86_400_000)).slice(0, 10);
    await t.site.storage.run('UPDATE "tabUser" SET "last_password_reset_date" = ? WHERE "name" = ?', [tenDaysAgo, user.email]);
    await withSettings({ force_user_to_reset_password: 1 }, async () => {
      const { res } = await login(user.email, user.password);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(Object.keys(res.json()), ['redirect_to', 'message']);
      assert.equal(res.json().message, 'Password Reset');
      const match = /\/update-password\?key=([0-9a-f]{56})&password_expired=true$/.exec(String(res.json().redirect_to));
      assert.ok(match, String(res.json().redirect_to));
      assert.equal(cookieOf(res, 'sid'), undefined, 'no sid cookie');
      assert.equal((await sessionRows(user.email)).length, 0, 'no session');
      const stored = await t.site.storage.get<{ password: string }>('SELECT "password" FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', ['User', user.email, 'reset_password_key']);
      assert.equal(stored?.password, createHash('sha256').update(match[1] ?? '').digest('hex'), 'the key is stored as its SHA-256');
      // Administrator is never forced.
      assert.equal((await login('Administrator', ADMIN_PASSWORD)).res.json().message, 'Logged In');
      // A recent reset date passes.
      const fresh = await makeUser();
      await t.site.storage.run('UPDATE "tabUser" SET "last_password_reset_date" = ? WHERE "name" = ?', [formatDatetime(new Date()).slice(0, 10), fresh.email]);
      await loginOk(fresh);
    });
  });

  test('hooks: on_login, on_session_creation at login, on_logout at logout; before_request before after_request (checklist 29)', async () => {
    const user = await makeUser();
    calls.length = 0;
    const sid = await loginOk(user);
    await waitFor(() => calls.some((c) => c.hook === 'after_request' && c.path === LOGIN), 'after_request of the login');
    const atLogin = calls.filter((c) => c.path === LOGIN).map((c) => c.hook);
    assert.ok(atLogin.indexOf('on_login') >= 0 && atLogin.indexOf('on_login') < atLogin.indexOf('on_session_creation'), atLogin.join(','));
    assert.ok(atLogin.indexOf('before_request') < atLogin.indexOf('after_request'), atLogin.join(','));
    assert.deepEqual(
      calls.filter((c) => c.hook === 'on_login' || c.hook === 'on_session_creation').map((c) => c.user),
      [user.email, user.email],
    );

    calls.length = 0;
    const wrong = await login(user.email, 'not-the-password');
    assert.equal(wrong.res.statusCode, 401);
    assert.ok(!calls.some((c) => c.hook === 'on_login' || c.hook === 'on_session_creation'), 'no session hooks for a failed login');

    calls.length = 0;
    await app.inject({ url: '/api/method/ping' });
    await waitFor(() => calls.some((c) => c.hook === 'after_request'), 'after_request of ping');
    assert.deepEqual(calls.map((c) => c.hook), ['before_request', 'after_request']);

    calls.length = 0;
    const out = await app.inject({ method: 'POST', url: '/api/method/logout', cookies: { sid } });
    assert.equal(out.statusCode, 200);
    assert.deepEqual(calls.filter((c) => c.hook === 'on_logout').map((c) => c.user), [user.email]);
    calls.length = 0;
    await app.inject({ method: 'POST', url: '/api/method/logout' });
    assert.ok(!calls.some((c) => c.hook === 'on_logout'), 'no on_logout for a Guest');
  });

  test('Activity Log (checklist 35): Login/Success, Login/Failed with the user name and no password, Logout/Success', async () => {
    const user = await makeUser({ first: 'Grace', last: 'Hopper' });
    const wrongPassword = `Wrong-${randomHex(12)}`;
    secrets.add(wrongPassword);
    const rowsOf = async (name: string) =>
      (await t.site.storage.all<Record<string, unknown>>('SELECT * FROM "tabActivity Log"')).filter((r) => r.user === name);

    assert.equal((await login(user.email, wrongPassword)).res.statusCode, 401);
    const sid = await loginOk(user);
    const out = await app.inject({ method: 'POST', url: '/api/method/logout', cookies: { sid } });
    assert.equal(out.statusCode, 200);
    const ghost = `ghost-${randomHex(6)}@example.com`;
    assert.equal((await login(ghost, wrongPassword)).res.statusCode, 401);

    const rows = await rowsOf(user.email);
    const ops = rows.map((r) => `${String(r.operation)}/${String(r.status)}`);
    assert.ok(ops.includes('Login/Failed'), ops.join(','));
    assert.ok(ops.includes('Login/Success'), ops.join(','));
    assert.ok(ops.includes('Logout/Success'), `a Logout/Success row: ${ops.join(',')}`);
    const failed = rows.find((r) => r.operation === 'Login' && r.status === 'Failed');
    assert.equal(failed?.subject, 'Invalid login credentials');
    assert.equal(failed?.ip_address, '127.0.0.1');
    assert.ok(String(rows.find((r) => r.operation === 'Login' && r.status === 'Success')?.subject).includes('Grace Hopper'));
    assert.deepEqual((await rowsOf(ghost)).map((r) => `${String(r.operation)}/${String(r.status)}`), ['Login/Failed'], 'the attempted name of an unknown user');
    const all = JSON.stringify(await t.site.storage.all('SELECT * FROM "tabActivity Log"'));
    for (const secret of [wrongPassword, user.password]) assert.ok(!all.includes(secret), 'no password in the Activity Log');
  });

  test('a Frappe pbkdf2-sha256 password hash logs in and is replaced by argon2id', async () => {
    counter += 1;
    const email = `imported${counter}.${db}@example.com`;
    const password = `Pw-${randomHex(12)}-frappe`;
    secrets.add(password);
    await addUser(t.site, { email, firstName: 'Imported' });
    const salt = randomBytes(16);
    const checksum = pbkdf2Sync(password, salt, 29000, 32, 'sha256');
    const frappeHash = `$pbkdf2-sha256$29000$${ab64Encode(salt)}$${ab64Encode(checksum)}`;
    await t.site.storage.run('DELETE FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', ['User', email, 'password']);
    await t.site.storage.run('INSERT INTO "__Auth" ("doctype", "name", "fieldname", "password", "encrypted") VALUES (?, ?, ?, ?, 0)', ['User', email, 'password', frappeHash]);
    const storedHash = async () =>
      (await t.site.storage.get<{ password: string }>('SELECT "password" FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', ['User', email, 'password']))?.password ?? '';

    assert.equal((await login(email, `${password}x`)).res.statusCode, 401);
    assert.equal(await storedHash(), frappeHash, 'a failed login keeps the stored hash');
    const sid = await loginOk({ email, password });
    await assertLoggedIn(sid, email, 'imported user');
    const upgraded = await storedHash();
    assert.match(upgraded, /^\$argon2id\$/);
    assert.equal((await verifyPassword(password, upgraded)).ok, true);
    await loginOk({ email, password });
  });

  test('no table holds a password or a sid used in this suite in clear', async () => {
    const found: string[] = [];
    for (const table of await t.site.storage.tableNames()) {
      const text = JSON.stringify(await t.site.storage.all(`SELECT * FROM "${table}"`));
      for (const secret of secrets) if (secret && text.includes(secret)) found.push(`${table}: ${secret.slice(0, 8)}…`);
    }
    assert.ok(secrets.size > 20, 'the suite collected its secrets');
    assert.deepEqual(found, []);
  });
});
