/**
 * API-key lockouts when the counters live in Redis (several nodes): a key and IP pair that just
 * authenticated cleanly is not asked about again for CLEAN_PAIR_MS, so a client's steady
 * requests cost no Redis round trip each; a wrong secret is still checked and counted, and a
 * lockout made on another node refuses the right secret once that time has passed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { selectCache } from '../../src/app/select-adapters.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { CLEAN_PAIR_MS } from '../../src/auth/authenticate.ts';
import { createLoginAttempts } from '../../src/auth/login-attempts.ts';
import type { Cache } from '../../src/cache/types.ts';
import { createTestSite, REDIS_URL, type TestSite } from '../helpers/test-site.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';

const WHOAMI = '/api/method/frappe.auth.get_logged_user';
/** System Settings defaults: 10 failures allowed in a 60-second window. */
const LOCKOUT = { allow_consecutive_login_attempts: 10, allow_login_after_fail: 60 };

if (!REDIS_URL) {
  test('API-key lockouts on shared counters', { skip: 'CORTADO_TEST_REDIS_URL is not set: Redis tests skipped' }, () => {});
} else {
  const target = new URL(REDIS_URL);
  const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
  let t: TestSite;
  let app: FastifyInstance;
  /** The counters as another node sees them: the same Redis and key prefix, not through the proxy. */
  let otherNode: Cache;

  before(async () => {
    await proxy.open();
    t = await createTestSite({ config: { redis_url: `redis://127.0.0.1:${proxy.port}${target.pathname}` } });
    app = await createServer(t.site);
    otherNode = selectCache({ ...t.site.config, redis_url: REDIS_URL });
  });
  after(async () => {
    await app.close();
    await otherNode.close();
    await t.cleanup();
    await proxy.close();
  });

  let users = 0;
  /** A key of a user of its own: a user has one key, and each test locks its own. */
  const newKey = async () => {
    const user = await addUser(t.site, { email: `shared-counters-${++users}@example.com`, roles: ['System Manager'] });
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, user, authServicesFor(t.site).deps.hashKey));
    return { key: keys.api_key, right: `token ${keys.api_key}:${keys.api_secret}`, wrong: `token ${keys.api_key}:not-${keys.api_secret}` };
  };
  const status = async (authorization: string) => (await app.inject({ url: WHOAMI, headers: { authorization } })).statusCode;
  const lockOnOtherNode = async (key: string) => {
    const attempts = createLoginAttempts(otherNode);
    for (let i = 0; i <= LOCKOUT.allow_consecutive_login_attempts; i++) await attempts.recordFailure('user', `api-key:${key}`, LOCKOUT);
  };

  test('a pair that just authenticated cleanly asks Redis nothing: its next request works with Redis gone', async () => {
    const { right } = await newKey();
    assert.equal(await status(right), 200);
    await proxy.close();
    try {
      assert.equal(await status(right), 200);
    } finally {
      await proxy.open();
    }
    await sleep(CLEAN_PAIR_MS + 200);
    // Past its time the pair is asked about again; the cache reconnects by itself.
    const deadline = Date.now() + 10_000;
    let seen = 0;
    while (Date.now() < deadline && (seen = await status(right)) !== 200) await sleep(100);
    assert.equal(seen, 200);
  });

  test('a lockout made on another node refuses the right secret within CLEAN_PAIR_MS, however steady the requests', async () => {
    const { key, right } = await newKey();
    assert.equal(await status(right), 200);
    await lockOnOtherNode(key);
    const locked = Date.now();
    // Requests keep coming: a clean pair is trusted from when Redis was last asked, not from its last request.
    let seen = 200;
    while (seen === 200 && Date.now() - locked < CLEAN_PAIR_MS + 1000) {
      seen = await status(right);
      if (seen === 200) await sleep(100);
    }
    assert.equal(seen, 429);
    assert.ok(Date.now() - locked <= CLEAN_PAIR_MS + 300, `refused ${Date.now() - locked} ms after the lockout`);
  });

  test('a wrong secret from a clean pair is checked against the shared counters: 429 when locked, else counted', async () => {
    const locked = await newKey();
    assert.equal(await status(locked.right), 200);
    await lockOnOtherNode(locked.key);
    assert.equal(await status(locked.wrong), 429);

    const counted = await newKey();
    assert.equal(await status(counted.right), 200);
    assert.equal(await status(counted.wrong), 401);
    assert.equal((await createLoginAttempts(otherNode).isLocked('user', `api-key:${counted.key}`, LOCKOUT)).failures, 1);
    // The wrong secret ended the trust: the next success asks Redis, and forgets the failure.
    assert.equal(await status(counted.right), 200);
    assert.equal((await createLoginAttempts(otherNode).isLocked('user', `api-key:${counted.key}`, LOCKOUT)).failures, 0);
  });
}
