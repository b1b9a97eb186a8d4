/**
 * Request protection over HTTP (issue 3, items 6-9): CSRF token and origin checks, IP
 * restrictions on every way of authenticating, login lockout (429), the site rate limit and
 * the two-factor login flow. Spec: ../shared/spec/frappe-auth-core.md §4, §5, §9, §10.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { generate } from 'otplib';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import type { Site } from '../../src/app/site.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { attemptKey } from '../../src/auth/login-attempts.ts';
import { createNamedApiKey } from '../../src/auth/named-api-keys.ts';
import { rejectsWith, runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestDatabase, type TestSite } from '../helpers/test-site.ts';

const PASSWORD = 'Correct-Horse-7';
const ME = '/api/method/frappe.auth.get_logged_user';
const IP_REFUSED = 'Access not allowed from this IP Address';
const LOCKED = 'Your account has been locked and will resume after 2 seconds';

type Headers = Record<string, string>;

/** Frappe's v1 message: `message` (login failures) or the first of `_server_messages`. */
function messageOf(res: LightMyRequestResponse): string {
  const body = res.json<Record<string, unknown>>();
  if (typeof body.message === 'string') return body.message;
  if (typeof body._server_messages !== 'string') return '';
  const list = JSON.parse(body._server_messages) as string[];
  return (JSON.parse(list[0] ?? '{}') as { message?: string }).message ?? '';
}

function sidOf(res: LightMyRequestResponse): string | undefined {
  const value = res.cookies.find((c) => c.name === 'sid')?.value;
  return value ? value : undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An app whose auth hook authenticates whoever the `X-Hook-User` header names. */
function writeHookApp(folder: string): string {
  const dir = join(folder, 'guard-hook-app');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'index.mjs'),
    `export default {
  name: 'guard_hook',
  hooks: {
    auth_hooks: [({ request, setUser }) => {
      const user = request.headers['x-hook-user'];
      if (user) setUser(user);
    }],
  },
};
`,
  );
  return dir;
}

async function saveSettings(site: Site, values: Record<string, unknown>): Promise<void> {
  await runAs(site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', ...values }));
}

async function setUserField(site: Site, user: string, values: Record<string, unknown>): Promise<void> {
  await runAs(site, 'Administrator', (db) => db.setValue('User', user, values));
}

async function userToken(site: Site, user: string): Promise<string> {
  const keys = await site.asAdministrator((ctx) => generateUserKeys(ctx, user, authServicesFor(site).deps.hashKey));
  return `token ${keys.api_key}:${keys.api_secret}`;
}

/** HTTP helpers bound to one server. */
function client(app: FastifyInstance) {
  return {
    login(usr: string, pwd: string, remoteAddress = '127.0.0.1', headers: Headers = {}, extra: Record<string, unknown> = {}) {
      return app.inject({ method: 'POST', url: '/api/method/login', payload: { usr, pwd, ...extra }, remoteAddress, headers });
    },
    me(options: { method?: 'GET' | 'POST'; headers?: Headers; remoteAddress?: string; sid?: string; payload?: Record<string, unknown> | string } = {}) {
      const headers: Headers = { ...options.headers };
      if (options.sid) headers.cookie = `sid=${options.sid}`;
      return app.inject({ method: options.method ?? 'GET', url: ME, headers, remoteAddress: options.remoteAddress ?? '127.0.0.1', payload: options.payload });
    },
  };
}

async function loggedIn(app: FastifyInstance, user: string, remoteAddress = '127.0.0.1'): Promise<string> {
  const res = await client(app).login(user, PASSWORD, remoteAddress);
  assert.equal(res.statusCode, 200, res.body);
  const sid = sidOf(res);
  assert.ok(sid, 'login sets a sid cookie');
  return sid;
}

function assertCsrfRefused(res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
  assert.equal(res.json().exc_type, 'CSRFTokenError', what);
  assert.equal(messageOf(res), 'Invalid Request', what);
}

function assertMe(res: LightMyRequestResponse, user: string, what: string): void {
  assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
  assert.equal(res.json().message, user, what);
}

function assertIpRefused(res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 401, `${what}: ${res.body}`);
  assert.equal(res.json().exc_type, 'AuthenticationError', what);
  assert.equal(messageOf(res), IP_REFUSED, what);
}

function assertLocked(res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 429, `${what}: ${res.body}`);
  assert.equal(res.json().exc_type, 'SecurityException', what);
  assert.equal(messageOf(res), LOCKED, what);
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(retryAfter >= 1 && retryAfter <= 2, `${what}: Retry-After ${String(res.headers['retry-after'])}`);
}

function assertBadLogin(res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 401, `${what}: ${res.body}`);
  assert.equal(res.json().exc_type, 'AuthenticationError', what);
}

async function withServer(db: TestDatabase, config: Record<string, unknown>, apps: string[] = []) {
  const t = await createTestSite({ db, apps, config });
  const app = await createServer(t.site);
  return { t, app };
}

forEachDatabase('request protection', (db) => {
  let folder: string;
  let t: TestSite;
  let app: FastifyInstance;
  let http: ReturnType<typeof client>;

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'cortado-protection-'));
    ({ t, app } = await withServer(db, { allowed_referrers: ['https://example.com'], allow_cors: ['https://app.example.org'] }, [writeHookApp(folder)]));
    http = client(app);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  describe('CSRF', () => {
    const USER = 'csrf@example.com';
    const TOKEN = 'a'.repeat(40) + 'c5rf'.repeat(4);
    let tokenSid: string;
    let plainSid: string;
    let userAuth: string;

    before(async () => {
      await addUser(t.site, { email: USER, password: PASSWORD });
      userAuth = await userToken(t.site, USER);
      tokenSid = await loggedIn(app, USER);
      const sessions = authServicesFor(t.site).sessions;
      const resumed = await sessions.resume(tokenSid);
      assert.ok(resumed && 'session' in resumed);
      await sessions.setData(resumed.session, { csrf_token: TOKEN });
      plainSid = await loggedIn(app, USER);
    });

    test('a session holding a token: unsafe requests without it are refused 400 CSRFTokenError', async () => {
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid }), 'POST without token');
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid, headers: { 'x-frappe-csrf-token': 'wrong' } }), 'POST with a wrong token');
      const del = await app.inject({ method: 'DELETE', url: '/api/resource/ToDo/nothing', headers: { cookie: `sid=${tokenSid}` } });
      assertCsrfRefused(del, 'DELETE without token');
      const put = await app.inject({ method: 'PUT', url: '/api/resource/ToDo/nothing', headers: { cookie: `sid=${tokenSid}` }, payload: { description: 'x' } });
      assertCsrfRefused(put, 'PUT without token');
    });

    test('the token passes as X-Frappe-CSRF-Token, or as a form, JSON or query argument', async () => {
      assertMe(await http.me({ method: 'POST', sid: tokenSid, headers: { 'x-frappe-csrf-token': TOKEN } }), USER, 'header');
      const form = await http.me({ method: 'POST', sid: tokenSid, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `csrf_token=${TOKEN}` });
      assertMe(form, USER, 'form field');
      assertMe(await http.me({ method: 'POST', sid: tokenSid, payload: { csrf_token: TOKEN } }), USER, 'JSON key');
      const query = await app.inject({ method: 'POST', url: `${ME}?csrf_token=${TOKEN}`, headers: { cookie: `sid=${tokenSid}` } });
      assertMe(query, USER, 'query argument');
    });

    test('safe methods are never checked', async () => {
      assertMe(await http.me({ sid: tokenSid }), USER, 'GET without token');
      assertMe(await http.me({ sid: tokenSid, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } }), USER, 'cross-site GET');
      const head = await app.inject({ method: 'HEAD', url: ME, headers: { cookie: `sid=${tokenSid}` } });
      assert.notEqual(head.statusCode, 400);
    });

    test('a sid argument of a token-holding session still needs the token (Frappe checks every session)', async () => {
      assertCsrfRefused(await http.me({ method: 'POST', payload: { sid: tokenSid } }), 'sid in JSON body');
      assertMe(await http.me({ method: 'POST', payload: { sid: tokenSid, csrf_token: TOKEN } }), USER, 'sid and token in JSON body');
    });

    test('allowed_referrers: an exact Origin match skips the token; a look-alike host does not (checklist 42, strict)', async () => {
      assertMe(await http.me({ method: 'POST', sid: tokenSid, headers: { origin: 'https://example.com' } }), USER, 'exact Origin');
      assertMe(await http.me({ method: 'POST', sid: tokenSid, headers: { referer: 'https://example.com/app/todo' } }), USER, 'Referer on the origin');
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid, headers: { origin: 'https://example.com.evil.com' } }), 'look-alike Origin');
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid, headers: { referer: 'https://example.com.evil.com/page' } }), 'look-alike Referer (Frappe: prefix match)');
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid, headers: { origin: 'http://example.com' } }), 'other scheme');
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid, headers: { origin: 'https://example.com:8443' } }), 'other port');
    });

    test('allow_cors origins pass the origin check but still need the token (only allowed_referrers skips it)', async () => {
      assertMe(await http.me({ method: 'POST', sid: plainSid, headers: { origin: 'https://app.example.org' } }), USER, 'CORS origin, session without token');
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid, headers: { origin: 'https://app.example.org' } }), 'CORS origin, token missing');
      assertMe(await http.me({ method: 'POST', sid: tokenSid, headers: { origin: 'https://app.example.org', 'x-frappe-csrf-token': TOKEN } }), USER, 'CORS origin with token');
    });

    test('origin check: a cross-site cookie POST is refused even when the session has no token', async () => {
      assertCsrfRefused(await http.me({ method: 'POST', sid: plainSid, headers: { origin: 'https://evil.example' } }), 'evil Origin');
      assertCsrfRefused(await http.me({ method: 'POST', sid: plainSid, headers: { 'sec-fetch-site': 'cross-site' } }), 'Sec-Fetch-Site cross-site');
      assertCsrfRefused(await http.me({ method: 'POST', sid: plainSid, headers: { 'sec-fetch-site': 'same-site', origin: 'https://sub.evil.example' } }), 'same-site but other origin');
      assertCsrfRefused(await http.me({ method: 'POST', sid: plainSid, headers: { origin: 'null' } }), 'opaque "null" Origin');
      // Even a token does not make a cross-site cookie request acceptable.
      assertCsrfRefused(await http.me({ method: 'POST', sid: tokenSid, headers: { origin: 'https://evil.example', 'x-frappe-csrf-token': TOKEN } }), 'evil Origin with token');
    });

    test('origin check: same-origin requests and non-browser clients pass', async () => {
      const host = 'cortado.test';
      assertMe(await http.me({ method: 'POST', sid: plainSid, headers: { host, origin: `http://${host}` } }), USER, 'Origin equals http://<Host>');
      assertMe(await http.me({ method: 'POST', sid: plainSid, headers: { 'sec-fetch-site': 'same-origin' } }), USER, 'Sec-Fetch-Site same-origin');
      assertMe(await http.me({ method: 'POST', sid: plainSid, headers: { host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' } }), USER, 'both');
      assertMe(await http.me({ method: 'POST', sid: plainSid }), USER, 'neither header (curl)');
      assertCsrfRefused(await http.me({ method: 'POST', sid: plainSid, headers: { host, origin: `https://${host}` } }), 'same host, other scheme');
    });

    test('a sid passed as an argument (not a cookie) is not origin-checked', async () => {
      assertMe(await http.me({ method: 'POST', payload: { sid: plainSid }, headers: { origin: 'https://evil.example' } }), USER, 'sid in JSON body');
      const query = await app.inject({ method: 'POST', url: `${ME}?sid=${plainSid}`, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
      assertMe(query, USER, 'sid in the query');
    });

    test('token key:secret with a cookie attached is never CSRF-checked, neither token nor origin', async () => {
      const withCookie = await http.me({ method: 'POST', sid: tokenSid, headers: { authorization: userAuth } });
      assertMe(withCookie, USER, 'token + token-holding cookie, no CSRF token');
      const evil = await http.me({ method: 'POST', sid: tokenSid, headers: { authorization: userAuth, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
      assertMe(evil, USER, 'token + cookie + evil Origin');
      const pair = userAuth.slice('token '.length);
      const basic = await http.me({ method: 'POST', sid: tokenSid, headers: { authorization: `Basic ${Buffer.from(pair).toString('base64')}`, origin: 'https://evil.example' } });
      assertMe(basic, USER, 'Basic + cookie + evil Origin');
      const wrong = await http.me({ method: 'POST', sid: tokenSid, headers: { authorization: `${userAuth}x`, 'x-frappe-csrf-token': TOKEN } });
      assert.equal(wrong.statusCode, 401, 'a wrong key fails even with a valid cookie');
    });

    test('Guest POSTs and login itself are not refused by the origin check', async () => {
      const guest = await app.inject({ method: 'POST', url: '/api/method/ping', headers: { origin: 'https://evil.example' } });
      assert.equal(guest.statusCode, 200);
      const login = await http.login(USER, PASSWORD, '127.0.0.1', { origin: 'https://app.example.org' });
      assert.equal(login.statusCode, 200);
    });
  });

  describe('IP restriction', () => {
    const USER = 'ip@example.com';
    const FREE = 'free@example.com';
    const RANGES = 'ranges@example.com';
    let userAuth: string;
    let rangesAuth: string;
    let namedAuth: string;
    let keyRestrictedAuth: string;

    before(async () => {
      await addUser(t.site, { email: USER, password: PASSWORD });
      await addUser(t.site, { email: FREE, password: PASSWORD });
      await addUser(t.site, { email: RANGES, password: PASSWORD });
      await setUserField(t.site, USER, { restrict_ip: '10.0.0.1' });
      userAuth = await userToken(t.site, USER);
      rangesAuth = await userToken(t.site, RANGES);
      const hashKey = authServicesFor(t.site).deps.hashKey;
      const named = await t.site.asAdministrator((ctx) => createNamedApiKey(ctx, { label: 'ip user key', user: USER }, hashKey));
      namedAuth = `token ${named.api_key}:${named.api_secret}`;
      const own = await t.site.asAdministrator((ctx) => createNamedApiKey(ctx, { label: 'office only', user: FREE, restrict_ip: '192.168.1.0/24' }, hashKey));
      keyRestrictedAuth = `token ${own.api_key}:${own.api_secret}`;
    });

    test('password login: admitted from the listed IP, refused from another', async () => {
      const ok = await http.login(USER, PASSWORD, '10.0.0.1');
      assert.equal(ok.statusCode, 200, ok.body);
      assert.ok(sidOf(ok));
      const refused = await http.login(USER, PASSWORD, '10.0.0.123');
      assertIpRefused(refused, 'login from 10.0.0.123');
      assert.equal(sidOf(refused), undefined, 'no session cookie');
    });

    test('a resumed session is refused from another IP', async () => {
      const sid = await loggedIn(app, USER, '10.0.0.1');
      assertMe(await http.me({ sid, remoteAddress: '10.0.0.1' }), USER, 'same IP');
      const moved = await http.me({ sid, remoteAddress: '10.0.0.2' });
      assertIpRefused(moved, 'cookie from 10.0.0.2');
      assert.ok(moved.cookies.some((c) => c.name === 'sid' && c.value === ''), 'the auth cookies are cleared');
      assertIpRefused(await http.me({ payload: { sid }, method: 'POST', remoteAddress: '10.0.0.2' }), 'sid argument from 10.0.0.2');
    });

    test("the user's API key (token and Basic) is refused from another IP", async () => {
      assertMe(await http.me({ headers: { authorization: userAuth }, remoteAddress: '10.0.0.1' }), USER, 'token from 10.0.0.1');
      assertIpRefused(await http.me({ headers: { authorization: userAuth }, remoteAddress: '10.0.0.10' }), 'token from 10.0.0.10');
      const basic = `Basic ${Buffer.from(userAuth.slice('token '.length)).toString('base64')}`;
      assertIpRefused(await http.me({ headers: { authorization: basic }, remoteAddress: '192.0.2.1' }), 'Basic from 192.0.2.1');
    });

    test("a named API key follows its user's restrict_ip, and its own", async () => {
      assertMe(await http.me({ headers: { authorization: namedAuth }, remoteAddress: '10.0.0.1' }), USER, 'named key from 10.0.0.1');
      assertIpRefused(await http.me({ headers: { authorization: namedAuth }, remoteAddress: '10.0.0.11' }), 'named key from 10.0.0.11');
      assertMe(await http.me({ headers: { authorization: keyRestrictedAuth }, remoteAddress: '192.168.1.77' }), FREE, 'key restriction admits its range');
      assertIpRefused(await http.me({ headers: { authorization: keyRestrictedAuth }, remoteAddress: '192.168.2.1' }), 'key restriction refuses');
      const login = await http.login(FREE, PASSWORD, '192.168.2.1');
      assert.equal(login.statusCode, 200, "the key's restriction is not the user's");
    });

    test('a user set by an auth hook is refused from another IP', async () => {
      assertMe(await http.me({ headers: { 'x-hook-user': USER }, remoteAddress: '10.0.0.1' }), USER, 'hook from 10.0.0.1');
      assertIpRefused(await http.me({ headers: { 'x-hook-user': USER }, remoteAddress: '10.0.0.9' }), 'hook from 10.0.0.9');
      assertMe(await http.me({ headers: { 'x-hook-user': FREE }, remoteAddress: '10.0.0.9' }), FREE, 'hook for an unrestricted user');
    });

    test('entries: exact addresses are exact, partial forms match whole octets, CIDR for IPv4 and IPv6', async () => {
      const from = (remoteAddress: string) => http.me({ headers: { authorization: rangesAuth }, remoteAddress });
      await setUserField(t.site, RANGES, { restrict_ip: '10.0.0.1' });
      assertMe(await from('10.0.0.1'), RANGES, 'exact');
      assertIpRefused(await from('10.0.0.123'), '10.0.0.1 does not admit 10.0.0.123');
      assertIpRefused(await from('10.0.0.10'), '10.0.0.1 does not admit 10.0.0.10');

      await setUserField(t.site, RANGES, { restrict_ip: '10.0.0' });
      assertMe(await from('10.0.0.5'), RANGES, 'partial 10.0.0 admits 10.0.0.5');
      assertMe(await from('10.0.0.255'), RANGES, 'partial 10.0.0 admits 10.0.0.255');
      assertIpRefused(await from('10.0.1.5'), 'partial 10.0.0 refuses 10.0.1.5');
      assertIpRefused(await from('110.0.0.5'), 'partial 10.0.0 refuses 110.0.0.5');

      await setUserField(t.site, RANGES, { restrict_ip: '172.16.0.0/12, 2001:db8::/32' });
      assertMe(await from('172.20.1.1'), RANGES, 'IPv4 CIDR');
      assertIpRefused(await from('172.32.0.1'), 'outside the IPv4 CIDR');
      assertMe(await from('2001:db8::5'), RANGES, 'IPv6 CIDR');
      assertMe(await from('::ffff:172.16.0.9'), RANGES, 'IPv4-mapped IPv6 peer');
      assertIpRefused(await from('2001:db9::5'), 'outside the IPv6 CIDR');

      // A typo never silently widens or empties the allowlist: it is refused on save.
      await rejectsWith(runAs(t.site, 'Administrator', (api) => api.setValue('User', RANGES, { restrict_ip: '10.0.0.300' })), 'ValidationError', 417);
      assertIpRefused(await from('10.0.0.5'), 'the stored list is unchanged');
      await setUserField(t.site, RANGES, { restrict_ip: '' });
      assertMe(await from('198.51.100.200'), RANGES, 'empty means unrestricted');
    });

    test('X-Forwarded-For is ignored from an untrusted peer and believed from a trusted proxy', async () => {
      assertIpRefused(await http.me({ headers: { authorization: userAuth, 'x-forwarded-for': '10.0.0.1' }, remoteAddress: '203.0.113.9' }), 'XFF from untrusted peer');
      assertIpRefused(await http.login(USER, PASSWORD, '203.0.113.9', { 'x-forwarded-for': '10.0.0.1' }), 'login with XFF from untrusted peer');
      assertMe(await http.me({ headers: { authorization: userAuth, 'x-forwarded-for': '10.0.0.1' }, remoteAddress: '127.0.0.1' }), USER, 'XFF from loopback proxy');
      assertIpRefused(await http.me({ headers: { authorization: userAuth, 'x-forwarded-for': '10.0.0.1, 203.0.113.5' }, remoteAddress: '127.0.0.1' }), 'the hop nearest the proxy counts');
      const viaProxy = await http.login(USER, PASSWORD, '127.0.0.1', { 'x-forwarded-for': '10.0.0.1' });
      assert.equal(viaProxy.statusCode, 200, viaProxy.body);
    });

    test('bypass: System Settings bypass_restrict_ip_check_if_2fa_enabled; the user flag only with 2FA on (checklist 31)', async () => {
      assertIpRefused(await http.login(USER, PASSWORD, '198.51.100.7'), 'no bypass');
      await saveSettings(t.site, { bypass_restrict_ip_check_if_2fa_enabled: 1 });
      try {
        const login = await http.login(USER, PASSWORD, '198.51.100.7');
        assert.equal(login.statusCode, 200, login.body);
        assertMe(await http.me({ headers: { authorization: userAuth }, remoteAddress: '198.51.100.7' }), USER, 'API key with the bypass');
      } finally {
        await saveSettings(t.site, { bypass_restrict_ip_check_if_2fa_enabled: 0 });
      }
      assertIpRefused(await http.me({ headers: { authorization: userAuth }, remoteAddress: '198.51.100.7' }), 'bypass switched off');

      await setUserField(t.site, USER, { bypass_restrict_ip_check_if_2fa_enabled: 1 });
      try {
        assertIpRefused(await http.me({ headers: { authorization: userAuth }, remoteAddress: '198.51.100.7' }), 'user flag without 2FA');
        await saveSettings(t.site, { enable_two_factor_auth: 1 });
        assertMe(await http.me({ headers: { authorization: userAuth }, remoteAddress: '198.51.100.7' }), USER, 'user flag with 2FA on');
      } finally {
        await saveSettings(t.site, { enable_two_factor_auth: 0 });
        await setUserField(t.site, USER, { bypass_restrict_ip_check_if_2fa_enabled: 0 });
      }
    });
  });

  describe('lockout (checklist 9-11)', () => {
    const USER = 'lock@example.com';
    const OTHER = 'lock2@example.com';
    let otherAuth: string;

    before(async () => {
      await addUser(t.site, { email: USER, password: PASSWORD });
      await addUser(t.site, { email: OTHER, password: PASSWORD });
      otherAuth = await userToken(t.site, OTHER);
      await saveSettings(t.site, { allow_consecutive_login_attempts: 3, allow_login_after_fail: 2 });
    });
    after(async () => {
      await saveSettings(t.site, { allow_consecutive_login_attempts: 10, allow_login_after_fail: 60 });
    });

    test('a success resets the counter', async () => {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 3; i++) assertBadLogin(await http.login(OTHER, 'wrong', '198.51.100.90'), `round ${round} failure ${i + 1}`);
        const ok = await http.login(OTHER, PASSWORD, '198.51.100.90');
        assert.equal(ok.statusCode, 200, `round ${round}: ${ok.body}`);
      }
    });

    test('per user: four failures 401, the fifth even with the right password 429, lifted after the interval', async () => {
      // A new IP for every attempt: only the user counter can lock.
      for (let i = 1; i <= 4; i++) {
        const res = await http.login(USER, 'wrong-password', `198.51.100.${i}`);
        assertBadLogin(res, `failure ${i}`);
        assert.equal(messageOf(res), 'Invalid login credentials');
      }
      const locked = await http.login(USER, PASSWORD, '198.51.100.5');
      assertLocked(locked, 'fifth attempt, right password');
      assert.equal(sidOf(locked), undefined);
      await sleep(2100);
      assertBadLogin(await http.login(USER, 'wrong-password', '198.51.100.6'), 'after the interval a failure is a failure again');
      const ok = await http.login(USER, PASSWORD, '198.51.100.6');
      assert.equal(ok.statusCode, 200, ok.body);
      assert.ok(sidOf(ok));
    });

    test('per IP: failures on different unknown user names lock that IP, not the users', async () => {
      const ip = '198.51.100.20';
      for (let i = 1; i <= 4; i++) assertBadLogin(await http.login(`nobody${i}@example.com`, 'x', ip), `unknown user ${i}`);
      assertLocked(await http.login(OTHER, PASSWORD, ip), 'a real user from the locked IP');
      const elsewhere = await http.login(OTHER, PASSWORD, '198.51.100.21');
      assert.equal(elsewhere.statusCode, 200, 'the same user from another IP');
    });

    test('rotating X-Forwarded-For from an untrusted peer does not dodge the IP lock', async () => {
      const peer = '203.0.113.77';
      for (let i = 1; i <= 4; i++) {
        assertBadLogin(await http.login(`ghost${i}@example.com`, 'x', peer, { 'x-forwarded-for': `192.0.2.${i}` }), `rotated XFF ${i}`);
      }
      assertLocked(await http.login(OTHER, PASSWORD, peer, { 'x-forwarded-for': '192.0.2.200' }), 'fresh XFF, same peer');
    });

    test('wrong API-key secrets are counted per IP and per key', async () => {
      const ip = '198.51.100.30';
      for (let i = 1; i <= 4; i++) {
        const res = await http.me({ headers: { authorization: `token unknownkey${i}:wrong` }, remoteAddress: ip });
        assert.equal(res.statusCode, 401, `wrong key ${i}`);
      }
      assertLocked(await http.me({ headers: { authorization: otherAuth }, remoteAddress: ip }), 'a correct key from the locked IP');
      assertMe(await http.me({ headers: { authorization: otherAuth }, remoteAddress: '198.51.100.31' }), OTHER, 'the key from another IP');

      const [key] = otherAuth.slice('token '.length).split(':');
      for (let i = 1; i <= 4; i++) {
        const res = await http.me({ headers: { authorization: `token ${String(key)}:wrong-secret` }, remoteAddress: `198.51.100.${40 + i}` });
        assert.equal(res.statusCode, 401, `wrong secret ${i}`);
      }
      assertLocked(await http.me({ headers: { authorization: otherAuth }, remoteAddress: '198.51.100.49' }), 'the key itself is locked');
    });
  });

  describe('two-factor login (checklist 32-34, 12)', () => {
    const USER = 'otp@example.com';
    const RESTRICTED = 'otp-office@example.com';
    let secret: string;

    before(async () => {
      await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Role', role_name: 'OTP Role', two_factor_auth: 1 }));
      await addUser(t.site, { email: USER, password: PASSWORD, roles: ['OTP Role'] });
      await addUser(t.site, { email: RESTRICTED, password: PASSWORD, roles: ['OTP Role'] });
      await setUserField(t.site, RESTRICTED, { restrict_ip: '10.9.9.9' });
      await saveSettings(t.site, { enable_two_factor_auth: 1, allow_consecutive_login_attempts: 2, allow_login_after_fail: 2 });
    });
    after(async () => {
      await saveSettings(t.site, { enable_two_factor_auth: 0, bypass_2fa_for_retricted_ip_users: 0, allow_consecutive_login_attempts: 10, allow_login_after_fail: 60 });
    });

    const otpLogin = (tmpId: string, otp: string, remoteAddress: string) =>
      app.inject({ method: 'POST', url: '/api/method/login', payload: { otp, tmp_id: tmpId }, remoteAddress });

    test('step 1 returns verification and tmp_id without a session; enrolment shows the provisioning URI once', async () => {
      const first = await http.login(USER, PASSWORD, '198.51.100.60');
      assert.equal(first.statusCode, 200, first.body);
      const body = first.json();
      assert.equal(typeof body.tmp_id, 'string');
      assert.equal(body.verification.method, 'OTP App');
      assert.equal(body.verification.setup, false);
      assert.match(body.verification.totp_uri, /^otpauth:\/\/totp\//);
      assert.equal(sidOf(first), undefined, 'no sid cookie before the second factor');
      assert.ok(!first.cookies.some((c) => c.name === 'sid'), 'no sid cookie at all');
      secret = String(new URL(body.verification.totp_uri).searchParams.get('secret'));
      assert.match(secret, /^[A-Z2-7]+=*$/);

      const done = await otpLogin(body.tmp_id, await generate({ secret }), '198.51.100.60');
      assert.equal(done.statusCode, 200, done.body);
      assert.equal(done.json().message, 'Logged In');
      const sid = sidOf(done);
      assert.ok(sid, 'the second step sets the sid cookie');
      assertMe(await http.me({ sid }), USER, 'the new session');

      const replay = await otpLogin(body.tmp_id, await generate({ secret }), '198.51.100.61');
      assertBadLogin(replay, 'a replayed tmp_id');
      assert.equal(sidOf(replay), undefined);

      const again = await http.login(USER, PASSWORD, '198.51.100.61');
      assert.equal(again.statusCode, 200, again.body);
      assert.equal(again.json().verification.setup, true, 'enrolled');
      assert.equal(again.json().verification.totp_uri, undefined, 'the secret is shown only once');
    });

    test('wrong OTPs answer 401 and count toward lockout: three 401, the fourth 429 (checklist 12)', async () => {
      assert.ok(secret, 'needs the enrolment test');
      const ip = '198.51.100.70';
      const start = await http.login(USER, PASSWORD, ip);
      assert.equal(start.statusCode, 200, start.body);
      const tmpId = String(start.json().tmp_id);
      const right = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
      const wrong = String((Number(right) + 500_000) % 1_000_000).padStart(6, '0');
      for (let i = 1; i <= 3; i++) {
        const res = await otpLogin(tmpId, wrong, ip);
        assertBadLogin(res, `wrong OTP ${i}`);
        assert.equal(messageOf(res), 'Incorrect Verification code');
      }
      assert.equal(sidOf(await otpLogin(tmpId, wrong, ip)), undefined);
      const locked = await otpLogin(tmpId, right, ip);
      assertLocked(locked, 'right OTP while locked');
      // Frappe's test resets the trackers, then a correct OTP passes.
      await t.site.cache.delete(attemptKey('user', USER));
      await t.site.cache.delete(attemptKey('ip', ip));
      const ok = await otpLogin(tmpId, right, ip);
      assert.equal(ok.statusCode, 200, ok.body);
      assert.ok(sidOf(ok));
    });

    test('bypass_2fa_for_retricted_ip_users skips 2FA only from a matching restrict_ip (checklist 32)', async () => {
      const noBypass = await http.login(RESTRICTED, PASSWORD, '10.9.9.9');
      assert.equal(noBypass.statusCode, 200, noBypass.body);
      assert.equal(typeof noBypass.json().tmp_id, 'string', 'without the switch 2FA applies');
      await saveSettings(t.site, { bypass_2fa_for_retricted_ip_users: 1 });
      const bypassed = await http.login(RESTRICTED, PASSWORD, '10.9.9.9');
      assert.equal(bypassed.statusCode, 200, bypassed.body);
      assert.equal(bypassed.json().message, 'Logged In');
      assert.equal(bypassed.json().tmp_id, undefined);
      assert.ok(sidOf(bypassed));
      const elsewhere = await http.login(RESTRICTED, PASSWORD, '10.9.9.10');
      assert.equal(elsewhere.statusCode, 200, elsewhere.body);
      assert.equal(typeof elsewhere.json().tmp_id, 'string', 'from another IP 2FA still applies');
      const unrestricted = await http.login(USER, PASSWORD, '10.9.9.9');
      assert.equal(typeof unrestricted.json().tmp_id, 'string', 'a user without restrict_ip is not bypassed');
    });
  });
});

forEachDatabase('request protection: ignore_csrf', (db) => {
  let t: TestSite;
  let app: FastifyInstance;

  before(async () => {
    ({ t, app } = await withServer(db, { ignore_csrf: true }));
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('ignore_csrf: a token-holding session posts without the token', async () => {
    await addUser(t.site, { email: 'ignore@example.com', password: PASSWORD });
    const sid = await loggedIn(app, 'ignore@example.com');
    const sessions = authServicesFor(t.site).sessions;
    const resumed = await sessions.resume(sid);
    assert.ok(resumed && 'session' in resumed);
    await sessions.setData(resumed.session, { csrf_token: 'f'.repeat(56) });
    assertMe(await client(app).me({ method: 'POST', sid }), 'ignore@example.com', 'no token');
    assertMe(await client(app).me({ method: 'POST', sid, headers: { 'x-frappe-csrf-token': 'wrong' } }), 'ignore@example.com', 'wrong token');
  });
});

forEachDatabase('request protection: site rate limit (checklist 39-40)', (db) => {
  let t: TestSite;
  let app: FastifyInstance;

  before(async () => {
    ({ t, app } = await withServer(db, { rate_limit: { limit: 1, window: 86400 } }));
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('headers under the limit, then 429 TooManyRequestsError with Retry-After once the budget is spent', async () => {
    const under = await app.inject({ url: '/api/method/ping' });
    assert.equal(under.statusCode, 200);
    assert.equal(under.headers['x-ratelimit-limit'], '1000000');
    assert.equal(under.headers['x-ratelimit-remaining'], '1000000', 'nothing spent yet: remaining = limit');
    const reset = Number(under.headers['x-ratelimit-reset']);
    assert.ok(reset > 0 && reset <= 86400, `reset ${String(under.headers['x-ratelimit-reset'])}`);
    assert.equal(under.headers['retry-after'], undefined);

    const limiter = authServicesFor(t.site).siteRateLimiter;
    assert.ok(limiter, 'the site has a limiter');
    await limiter.record(2000);

    const over = await app.inject({ url: '/api/method/ping' });
    assert.equal(over.statusCode, 429, over.body);
    assert.equal(over.json().exc_type, 'TooManyRequestsError');
    assert.equal(over.headers['x-ratelimit-limit'], '1000000');
    assert.equal(over.headers['x-ratelimit-remaining'], '0');
    const retryAfter = Number(over.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 86400, `Retry-After ${String(over.headers['retry-after'])}`);
    assert.ok(Number(over.headers['x-ratelimit-reset']) <= 86400);

    // The site limiter runs before the Authorization header is looked at.
    const keyed = await app.inject({ url: '/api/method/ping', headers: { authorization: 'token nobody:wrong' } });
    assert.equal(keyed.statusCode, 429);
  });
});
