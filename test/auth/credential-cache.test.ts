/**
 * The per-process cache of verified credentials (docs/performance.md) never outlives a change:
 * every test first makes a request that fills the cache, checks the entry is held, changes what
 * it was built from — through the REST API, cortado's own functions, raw SQL, another process —
 * and expects the very next request to see the change. The cache's entries live 30 s, so each
 * of these would fail without the invalidation.
 *
 * On PostgreSQL the cache needs Redis to tell other nodes (without it nothing is cached): the
 * PostgreSQL run uses CORTADO_TEST_REDIS_URL and is skipped without it. The last test runs two
 * nodes sharing PostgreSQL and Redis: a change on one is refused on the other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer, openServingSite } from '../../src/app/create-server.ts';
import type { Site } from '../../src/app/site.ts';
import { addUser, setPassword } from '../../src/app/user-admin.ts';
import { randomToken } from '../../src/core/crypto.ts';
import { createLogger } from '../../src/core/logger.ts';
import { ADMIN_PASSWORD, createTestSite, PG_URL, REDIS_URL, testDatabases, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const WHOAMI = '/api/method/frappe.auth.get_logged_user';
const PASSWORD = `cache-${randomToken(12)}`;

interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  auth?: string;
  sid?: string;
  body?: Record<string, unknown>;
  /** The client's address (default 127.0.0.1). */
  ip?: string;
}

function client(app: () => FastifyInstance) {
  const call = (url: string, options: CallOptions = {}): Promise<LightMyRequestResponse> => {
    const headers: Record<string, string> = {};
    if (options.auth) headers.authorization = options.auth;
    if (options.sid) headers.cookie = `sid=${options.sid}`;
    return app().inject({
      method: options.method ?? (options.body ? 'POST' : 'GET'),
      url,
      headers,
      ...(options.ip ? { remoteAddress: options.ip } : {}),
      ...(options.body ? { payload: options.body } : {}),
    });
  };
  const whoami = async (options: CallOptions): Promise<string | number> => {
    const res = await call(WHOAMI, options);
    return res.statusCode === 200 ? String((res.json() as { message: string }).message) : res.statusCode;
  };
  const login = async (usr: string, pwd: string): Promise<string> => {
    const res = await call('/api/method/login', { body: { usr, pwd } });
    assert.equal(res.statusCode, 200, res.body);
    const sid = res.cookies.find((c) => c.name === 'sid')?.value;
    assert.ok(sid && sid !== 'Guest');
    return sid;
  };
  return { call, whoami, login };
}

const token = (key: string, secret: string) => `token ${key}:${secret}`;

for (const db of testDatabases()) {
  const skip = db === 'postgres' && !REDIS_URL ? 'PostgreSQL caches credentials only with Redis: CORTADO_TEST_REDIS_URL is not set' : undefined;
  describe(`verified credentials are cached and dropped on change [${db}]`, { skip }, () => {
    let t: TestSite;
    let app: FastifyInstance;
    const { call, whoami, login } = client(() => app);
    let adminAuth = '';
    let n = 0;

    /** A fresh user with a password and an API key: `token key:secret`. */
    async function freshUser(roles: string[] = []): Promise<{ email: string; auth: string }> {
      const email = `cache${(n += 1)}.${db}@example.com`;
      await addUser(t.site, { email, password: PASSWORD, roles });
      const res = await call('/api/method/frappe.core.doctype.user.user.generate_keys', { auth: adminAuth, body: { user: email } });
      assert.equal(res.statusCode, 200, res.body);
      const secret = (res.json() as { message: { api_secret: string } }).message.api_secret;
      const row = await t.site.storage.get<{ api_key: string }>('SELECT "api_key" FROM "tabUser" WHERE "name" = ?', [email]);
      return { email, auth: token(String(row?.api_key), secret) };
    }

    const cached = () => authServicesFor(t.site).credentials.size();

    /** A request that fills the cache, then proof that the entry is held. */
    async function warm(options: CallOptions, user: string): Promise<void> {
      assert.equal(await whoami(options), user);
      assert.equal(await whoami(options), user, 'served again (from the cache)');
      const size = cached();
      assert.ok(size.access > 0 && size.credentials + size.sessions > 0, `the cache holds the credential (${JSON.stringify(size)})`);
    }

    before(async () => {
      t = await createTestSite({ db, config: db === 'postgres' ? { redis_url: REDIS_URL } : {} });
      // Refused attempts are expected here; lockout is tested elsewhere.
      await runAs(t.site, 'Administrator', (api) => api.setValue('System Settings', 'System Settings', 'allow_consecutive_login_attempts', 1000));
      app = await createServer(t.site);
      const adminSid = await login('Administrator', ADMIN_PASSWORD);
      const res = await call('/api/method/frappe.core.doctype.user.user.generate_keys', { sid: adminSid, body: { user: 'Administrator' } });
      const secret = (res.json() as { message: { api_secret: string } }).message.api_secret;
      const row = await t.site.storage.get<{ api_key: string }>('SELECT "api_key" FROM "tabUser" WHERE "name" = ?', ['Administrator']);
      adminAuth = token(String(row?.api_key), secret);
    });
    after(async () => {
      await app?.close();
      await t?.cleanup();
    });

    test('a user disabled through the REST API is refused on the very next request (key and session)', async () => {
      const user = await freshUser();
      const sid = await login(user.email, PASSWORD);
      await warm({ auth: user.auth }, user.email);
      await warm({ sid }, user.email);
      const res = await call(`/api/resource/User/${encodeURIComponent(user.email)}`, { method: 'PUT', auth: adminAuth, body: { enabled: 0 } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await whoami({ auth: user.auth }), 401);
      assert.notEqual(await whoami({ sid }), user.email);
    });

    test('a role taken away through the REST API is gone on the very next request', async () => {
      const user = await freshUser(['System Manager']);
      const admins = `/api/resource/User/${encodeURIComponent('Administrator')}`;
      assert.equal((await call(admins, { auth: user.auth })).statusCode, 200, 'a System Manager reads any user');
      assert.equal((await call(admins, { auth: user.auth })).statusCode, 200);
      const res = await call(`/api/resource/User/${encodeURIComponent(user.email)}`, { method: 'PUT', auth: adminAuth, body: { roles: [] } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await call(admins, { auth: user.auth })).statusCode, 403);
    });

    test('a regenerated API secret: the old one is refused at once', async () => {
      const user = await freshUser();
      await warm({ auth: user.auth }, user.email);
      const res = await call('/api/method/frappe.core.doctype.user.user.generate_keys', { auth: adminAuth, body: { user: user.email } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await whoami({ auth: user.auth }), 401);
    });

    test('named keys: revoked, rotated without grace, reassigned — each refused at once', async () => {
      const user = await freshUser();
      const create = async () => {
        const res = await call('/api/method/cortado.api_keys.create', { auth: user.auth, body: { label: 'cache test' } });
        assert.equal(res.statusCode, 200, res.body);
        return (res.json() as { message: { name: string; api_key: string; api_secret: string } }).message;
      };
      const revoked = await create();
      await warm({ auth: token(revoked.api_key, revoked.api_secret) }, user.email);
      assert.equal((await call('/api/method/cortado.api_keys.revoke', { auth: user.auth, body: { name: revoked.name } })).statusCode, 200);
      assert.equal(await whoami({ auth: token(revoked.api_key, revoked.api_secret) }), 401);

      const rotated = await create();
      await warm({ auth: token(rotated.api_key, rotated.api_secret) }, user.email);
      const res = await call('/api/method/cortado.api_keys.rotate', { auth: user.auth, body: { name: rotated.name, grace_seconds: 0 } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await whoami({ auth: token(rotated.api_key, rotated.api_secret) }), 401);
      const fresh = (res.json() as { message: { api_secret: string } }).message.api_secret;
      assert.equal(await whoami({ auth: token(rotated.api_key, fresh) }), user.email);

      // A key given to another user: its secret was bound to the first user and stops working.
      const other = await freshUser();
      const given = await create();
      await warm({ auth: token(given.api_key, given.api_secret) }, user.email);
      const moved = await call(`/api/resource/API%20Key/${encodeURIComponent(given.name)}`, { method: 'PUT', auth: adminAuth, body: { user: other.email } });
      assert.equal(moved.statusCode, 200, moved.body);
      assert.equal(await whoami({ auth: token(given.api_key, given.api_secret) }), 401);
    });

    test('sessions: logout, a password change and destroy-all end cached sessions at once', async () => {
      const user = await freshUser();
      const first = await login(user.email, PASSWORD);
      await warm({ sid: first }, user.email);
      assert.equal((await call('/api/method/logout', { method: 'POST', sid: first })).statusCode, 200);
      assert.notEqual(await whoami({ sid: first }), user.email);

      const second = await login(user.email, PASSWORD);
      await warm({ sid: second }, user.email);
      await setPassword(t.site, user.email, `${PASSWORD}-2`);
      assert.notEqual(await whoami({ sid: second }), user.email);

      const third = await login(user.email, `${PASSWORD}-2`);
      await warm({ sid: third }, user.email);
      await t.site.storage.run('DELETE FROM "__Sessions"');
      assert.notEqual(await whoami({ sid: third }), user.email);
    });

    test('an OAuth bearer token revoked (or its grant) is refused at once', async () => {
      const user = await freshUser();
      const auth = authServicesFor(t.site);
      const client = await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'OAuth Client', app_name: `cache ${n}`, scopes: 'all', redirect_uris: 'http://127.0.0.1/cb' }));
      const settings = { accessTokenLifetime: 3600, refreshTokenLifetimeDays: 1 };
      const issue = () => auth.oauth.provider.tokens.issue({ client: String(client.name), user: user.email, scopes: ['all'], withRefresh: true, settings });
      const one = await issue();
      await warm({ auth: `Bearer ${one.access_token}` }, user.email);
      const found = await auth.oauth.provider.tokens.lookup(one.access_token);
      assert.ok(found);
      await auth.oauth.provider.tokens.revoke(found.row, 'access');
      assert.equal(await whoami({ auth: `Bearer ${one.access_token}` }), 401);

      const two = await issue();
      await warm({ auth: `Bearer ${two.access_token}` }, user.email);
      const refresh = await auth.oauth.provider.tokens.lookup(String(two.refresh_token), 'refresh_token');
      assert.ok(refresh);
      await auth.oauth.provider.tokens.revoke(refresh.row, 'refresh');
      assert.equal(await whoami({ auth: `Bearer ${two.access_token}` }), 401, 'revoking the refresh token revokes its grant');
    });

    test('raw SQL by an app (or a test) drops what it changed', async () => {
      const user = await freshUser();
      await warm({ auth: user.auth }, user.email);
      await t.site.storage.run('UPDATE "tabUser" SET "enabled" = 0 WHERE "name" = ?', [user.email]);
      assert.equal(await whoami({ auth: user.auth }), 401);
    });

    test('a request in flight while a change commits does not put the old state back', async () => {
      const user = await freshUser();
      const auth = authServicesFor(t.site);
      auth.credentials.drop('*');
      // The fill starts (reads the enabled user), the change commits, then the fill ends.
      const epoch = auth.credentials.epoch;
      await t.site.storage.run('UPDATE "tabUser" SET "enabled" = 0 WHERE "name" = ?', [user.email]);
      auth.credentials.setAccess(user.email, { principal: { user: user.email, roles: new Set(['All']), userType: 'System User' }, restrictIp: null, bypass: null }, epoch);
      assert.equal(auth.credentials.access(user.email), undefined);
      assert.equal(await whoami({ auth: user.auth }), 401);
    });

    test('IP rules: a new rule applies at once, and a cached rule is checked on every request', async () => {
      const user = await freshUser();
      await warm({ auth: user.auth }, user.email);
      const res = await call(`/api/resource/User/${encodeURIComponent(user.email)}`, { method: 'PUT', auth: adminAuth, body: { restrict_ip: '203.0.113.7' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.notEqual(await whoami({ auth: user.auth }), user.email, 'from 127.0.0.1: refused');
      assert.equal(await whoami({ auth: user.auth, ip: '203.0.113.7' }), user.email, 'from the allowed address');
      assert.equal(await whoami({ auth: user.auth, ip: '203.0.113.7' }), user.email);
      assert.notEqual(await whoami({ auth: user.auth }), user.email, 'the cached rule, decided for this request again');
    });

    test('session activity is written in batches, and on close', async () => {
      const user = await freshUser();
      const sid = await login(user.email, PASSWORD);
      const old = '2000-01-01 00:00:00.000000';
      // Idle for a while (the default expiry is 240 h): the next request moves last_active.
      await t.site.storage.run('UPDATE "__Sessions" SET "last_active" = ? WHERE "user" = ?', [formatAgo(3_600_000), user.email]);
      assert.equal(await whoami({ sid }), user.email);
      await authServicesFor(t.site).sessions.flushTouches();
      const row = await t.site.storage.get<{ last_active: string }>('SELECT "last_active" FROM "__Sessions" WHERE "user" = ?', [user.email]);
      assert.ok(row && row.last_active > formatAgo(60_000), `last_active moved (${row?.last_active})`);
      assert.ok(row.last_active > old);
    });

    if (db === 'sqlite') {
      test('a change made by another process (another connection to the file) is seen within the poll interval', async () => {
        const user = await freshUser();
        await warm({ auth: user.auth }, user.email);
        const other = await openServingSite(t.path, { logger: createLogger({ quiet: true }) });
        try {
          await other.storage.run('UPDATE "tabUser" SET "enabled" = 0 WHERE "name" = ?', [user.email]);
        } finally {
          await other.close();
        }
        // The writer's data_version is polled every 250 ms; entries would otherwise live 30 s.
        const deadline = Date.now() + 3000;
        let seen: string | number = user.email;
        while (Date.now() < deadline && seen !== 401) {
          seen = await whoami({ auth: user.auth });
          if (seen !== 401) await sleep(50);
        }
        assert.equal(seen, 401);
      });
    }
  });
}

function formatAgo(ms: number): string {
  const d = new Date(Date.now() - ms);
  const pad = (x: number, w = 2) => String(x).padStart(w, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}000`;
}

if (!PG_URL || !REDIS_URL) {
  test('two nodes sharing PostgreSQL and Redis drop each other’s cached credentials', { skip: 'CORTADO_TEST_PG_URL and CORTADO_TEST_REDIS_URL are needed' }, () => {});
} else {
  describe('two nodes sharing PostgreSQL and Redis', () => {
    let t: TestSite;
    let other: Site;
    let appA: FastifyInstance;
    let appB: FastifyInstance;
    const a = client(() => appA);
    const b = client(() => appB);

    before(async () => {
      t = await createTestSite({ db: 'postgres', config: { redis_url: REDIS_URL } });
      // A second node: the same site opened again, with its own caches and Redis connections.
      other = await openServingSite(t.path, { logger: createLogger({ quiet: true }) });
      appA = await createServer(t.site);
      appB = await createServer(other);
      // Both subscriptions active before anything is cached.
      await sleep(200);
    });
    after(async () => {
      await appA?.close();
      await appB?.close();
      await other?.close();
      await t?.cleanup();
    });

    /** B refuses within 2 s (its entries would live 30 s without the message). */
    async function refusedOnB(options: CallOptions, user: string): Promise<void> {
      const deadline = Date.now() + 2000;
      let seen: string | number = user;
      while (Date.now() < deadline && seen === user) {
        seen = await b.whoami(options);
        if (seen === user) await sleep(20);
      }
      assert.notEqual(seen, user, 'node B stopped accepting the credential');
    }

    test('a named key revoked on node A is refused on node B; a logout on A ends the session on B', async () => {
      const email = 'two.nodes@example.com';
      await addUser(t.site, { email, password: PASSWORD });
      const sid = await a.login(email, PASSWORD);
      const created = await a.call('/api/method/cortado.api_keys.create', { sid, body: { label: 'two nodes' } });
      assert.equal(created.statusCode, 200, created.body);
      const key = (created.json() as { message: { name: string; api_key: string; api_secret: string } }).message;
      const keyAuth = { auth: token(key.api_key, key.api_secret) };
      assert.equal(await b.whoami(keyAuth), email);
      assert.equal(await b.whoami(keyAuth), email);
      assert.equal(await b.whoami({ sid }), email);
      assert.ok(authServicesFor(other).credentials.size().credentials > 0, 'B holds the key');

      assert.equal((await a.call('/api/method/cortado.api_keys.revoke', { sid, body: { name: key.name } })).statusCode, 200);
      await refusedOnB(keyAuth, email);

      assert.equal((await a.call('/api/method/logout', { method: 'POST', sid })).statusCode, 200);
      await refusedOnB({ sid }, email);
    });
  });
}
