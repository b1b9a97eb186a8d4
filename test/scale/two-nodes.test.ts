/**
 * Two cortado nodes on one site (issue 7, proof 1): two separate `cortado serve` processes on
 * different ports, one site_config.json whose `db_url` is a fresh PostgreSQL schema and whose
 * `redis_url` is the shared Redis. Node A runs as a cluster (`--workers 2`), node B as a single
 * process. Any node serves any request:
 *
 * - a session made on A works on B; logging out on B ends it on A;
 * - a regenerated API secret (generate_keys on A) is refused on B within one second;
 * - a user disabled on B (PUT /api/resource/User) is refused on A, by key and by session;
 * - failed logins alternately on A and B add up to one lockout: 429 on either;
 * - a `method_rate_limits` budget is spent by requests spread over both nodes.
 *
 * Each scenario uses its own client IP (X-Forwarded-For from the loopback peer, which the
 * default trusted_proxies believe), so the per-IP counters of one do not lock out another.
 *
 * Needs PostgreSQL and Redis (CORTADO_TEST_PG_URL, CORTADO_TEST_REDIS_URL); without them a
 * visibly skipped test says so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addUser } from '../../src/app/user-admin.ts';
import { ADMIN_PASSWORD, createTestSite, PG_URL, REDIS_URL, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';
import { call, freePort, killAll, ServeProcess, sidOf, WHOAMI, type CallOptions } from './scale-helpers.ts';

const ALICE = 'alice@example.com';
const CAROL = 'carol@example.com';
const LOCKED = 'locked@example.com';
const PASSWORD = 'node-test-password-31c7';
const GENERATE_KEYS = '/api/method/frappe.core.doctype.user.user.generate_keys';
const PING_LIMIT = 5;

if (!PG_URL || !REDIS_URL) {
  test('two nodes on one site [postgres + redis]', { skip: 'CORTADO_TEST_PG_URL and CORTADO_TEST_REDIS_URL are needed: two-node tests skipped' }, () => {});
} else {
  describe('two nodes on one site share sessions, keys, lockouts and rate limits', () => {
    let t: TestSite;
    let nodeA: ServeProcess;
    let nodeB: ServeProcess;

    const on = (node: ServeProcess, ip: string) => (path: string, init: CallOptions = {}) =>
      call(node.url, path, { ...init, headers: { 'x-forwarded-for': ip, ...init.headers } });

    async function whoami(node: ServeProcess, ip: string, init: CallOptions): Promise<string | number> {
      const res = await on(node, ip)(WHOAMI, init);
      return res.status === 200 ? String(res.body.message) : res.status;
    }

    async function login(node: ServeProcess, ip: string, usr: string, pwd: string): Promise<string> {
      const res = await on(node, ip)('/api/method/login', { json: { usr, pwd } });
      assert.equal(res.status, 200, res.text);
      const sid = sidOf(res);
      assert.ok(sid, 'a sid cookie');
      return sid;
    }

    /** generate_keys as Administrator on `node`; the `token key:secret` header value. */
    async function generateKeys(node: ServeProcess, ip: string, adminSid: string, user: string): Promise<string> {
      const res = await on(node, ip)(GENERATE_KEYS, { sid: adminSid, json: { user } });
      assert.equal(res.status, 200, res.text);
      const secret = String((res.body.message as { api_secret: string }).api_secret);
      const doc = await on(node, ip)(`/api/resource/User/${user}`, { sid: adminSid });
      return `token ${String((doc.body.data as { api_key: string }).api_key)}:${secret}`;
    }

    before(async () => {
      t = await createTestSite({
        db: 'postgres',
        config: { redis_url: REDIS_URL, method_rate_limits: { ping: { limit: PING_LIMIT, seconds: 120, per: 'ip' } } },
      });
      for (const email of [ALICE, CAROL, LOCKED]) await addUser(t.site, { email, password: PASSWORD });
      await runAs(t.site, 'Administrator', (db) =>
        db.save({ doctype: 'System Settings', name: 'System Settings', allow_consecutive_login_attempts: 3, allow_login_after_fail: 120 }),
      );
      // The nodes own the site from here on.
      await t.site.close();
      const [portA, portB] = [await freePort(), await freePort()];
      [nodeA, nodeB] = await Promise.all([ServeProcess.start(t.path, portA, ['--workers', '2']), ServeProcess.start(t.path, portB, ['--workers', '1'])]);
      assert.notEqual(nodeA.url, nodeB.url);
    });

    after(async () => {
      const codes = await Promise.all([nodeA?.stop(), nodeB?.stop()]);
      killAll();
      await t?.cleanup();
      assert.deepEqual(codes, [0, 0], `both nodes drain and exit 0 on SIGTERM\nA ${nodeA?.output}\nB ${nodeB?.output}`);
    });

    test('both nodes are ready, on PostgreSQL and Redis', async () => {
      for (const node of [nodeA, nodeB]) {
        const ready = await call(node.url, '/readyz');
        assert.equal(ready.status, 200, ready.text);
        assert.deepEqual(ready.body, { status: 'ready', database: 'ok', cache: 'ok' });
        assert.deepEqual((await call(node.url, '/healthz')).body, { status: 'ok' });
      }
      assert.match(nodeA.stdout, /^2 workers \(pids \d+, \d+\)$/m, nodeA.output);
    });

    test('a session made on A works on B; logging out on B ends it on A', async () => {
      const ip = '198.51.100.10';
      const sid = await login(nodeA, ip, ALICE, PASSWORD);
      assert.equal(await whoami(nodeB, ip, { sid }), ALICE, 'B knows the session');
      assert.equal(await whoami(nodeA, ip, { sid }), ALICE);
      const out = await on(nodeB, ip)('/api/method/logout', { method: 'POST', sid });
      assert.equal(out.status, 200, out.text);
      assert.equal(await whoami(nodeA, ip, { sid }), 403, 'A refuses the ended session');
      assert.equal(await whoami(nodeB, ip, { sid }), 403);
    });

    test('a secret regenerated on A is refused on B within one second', async () => {
      const ip = '198.51.100.20';
      const adminSid = await login(nodeA, ip, 'Administrator', ADMIN_PASSWORD);
      const first = await generateKeys(nodeA, ip, adminSid, ALICE);
      assert.equal(await whoami(nodeB, ip, { auth: first }), ALICE, 'B accepts the key made on A');
      const second = await generateKeys(nodeA, ip, adminSid, ALICE);
      const regenerated = Date.now();
      // Each refusal counts toward the key's lockout: stop at the first one.
      let answer: string | number = ALICE;
      while (answer === ALICE && Date.now() - regenerated < 1000) {
        answer = await whoami(nodeB, ip, { auth: first });
        if (answer === ALICE) await sleep(100);
      }
      assert.equal(answer, 401, `B still accepted the old secret ${Date.now() - regenerated} ms after it was replaced`);
      assert.equal(await whoami(nodeB, ip, { auth: second }), ALICE, 'B accepts the new secret');
      assert.equal(await whoami(nodeA, ip, { auth: second }), ALICE);
    });

    test('a user disabled on B is refused on A, by key and by session', async () => {
      const ip = '198.51.100.30';
      const adminSid = await login(nodeB, ip, 'Administrator', ADMIN_PASSWORD);
      const carolKey = await generateKeys(nodeB, ip, adminSid, CAROL);
      const carolSid = await login(nodeA, ip, CAROL, PASSWORD);
      assert.equal(await whoami(nodeA, ip, { auth: carolKey }), CAROL);
      assert.equal(await whoami(nodeA, ip, { sid: carolSid }), CAROL);
      const disabled = await on(nodeB, ip)(`/api/resource/User/${CAROL}`, { method: 'PUT', sid: adminSid, json: { enabled: 0 } });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(await whoami(nodeA, ip, { auth: carolKey }), 401, 'A refuses the disabled user\'s key');
      assert.notEqual(await whoami(nodeA, ip, { sid: carolSid }), CAROL, 'A refuses the disabled user\'s session');
      const relogin = await on(nodeA, ip)('/api/method/login', { json: { usr: CAROL, pwd: PASSWORD } });
      assert.notEqual(relogin.status, 200, 'a disabled user cannot log in on A');
    });

    test('failed logins alternately on A and B add up to one lockout: 429 on either node', async () => {
      // A new client IP for every attempt: only the per-user counter can lock (as on one node).
      const statuses: number[] = [];
      for (let i = 1; i <= 4; i++) {
        const node = i % 2 === 1 ? nodeA : nodeB;
        const res = await on(node, `198.51.100.${40 + i}`)('/api/method/login', { json: { usr: LOCKED, pwd: `wrong-${i}` } });
        statuses.push(res.status);
      }
      // allow_consecutive_login_attempts 3: four failures are refused, then the user is locked.
      assert.deepEqual(statuses, [401, 401, 401, 401], 'each failure is a failure');
      for (const [node, ip] of [[nodeA, '198.51.100.50'], [nodeB, '198.51.100.51']] as const) {
        const res = await on(node, ip)('/api/method/login', { json: { usr: LOCKED, pwd: PASSWORD } });
        assert.equal(res.status, 429, `${node === nodeA ? 'A' : 'B'} refuses even the right password: ${res.text}`);
        assert.equal(sidOf(res), undefined);
      }
    });

    test('a method_rate_limits budget is spent by requests spread over both nodes', async () => {
      const ip = '198.51.100.60';
      const statuses: number[] = [];
      for (let i = 0; i < PING_LIMIT + 2; i++) statuses.push((await on(i % 2 === 0 ? nodeA : nodeB, ip)('/api/method/ping')).status);
      assert.deepEqual(statuses, [...Array<number>(PING_LIMIT).fill(200), 429, 429], 'the limit counts requests to both nodes');
      const refused = await on(nodeB, ip)('/api/method/ping');
      assert.equal(refused.status, 429);
      assert.equal(refused.body.exc_type, 'RateLimitExceededError', refused.text);
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After');
      // Another client still has its budget.
      assert.equal((await on(nodeA, '198.51.100.61')('/api/method/ping')).status, 200);
    });
  });
}
