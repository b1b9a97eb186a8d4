/**
 * `/healthz` and `/readyz` in process (issue 7, readiness for load balancers): the answers,
 * their independence from the API pipeline (sessions, rate limits, maintenance mode), other
 * verbs, and `health()` itself with a failing and a hung dependency.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { health } from '../../src/api/api-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';

let t: TestSite;
let app: FastifyInstance;

before(async () => {
  // A spent site rate limit and maintenance mode: the API refuses, the health endpoints do not.
  t = await createTestSite({ db: 'sqlite', config: { rate_limit: { limit: 1, window: 86400 }, maintenance_mode: 1 } });
  app = await createServer(t.site);
});

after(async () => {
  await app?.close();
  await t?.cleanup();
});

test('GET /healthz: 200 {"status":"ok"}, not cached; GET /readyz: database and cache ok', async () => {
  const live = await app.inject({ url: '/healthz' });
  assert.equal(live.statusCode, 200);
  assert.deepEqual(live.json(), { status: 'ok' });
  assert.match(String(live.headers['content-type']), /^application\/json/);
  assert.equal(live.headers['cache-control'], 'no-store');
  const ready = await app.inject({ url: '/readyz' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: 'ready', database: 'ok', cache: 'ok' });
  const head = await app.inject({ method: 'HEAD', url: '/readyz' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, '');
});

test('they skip the API pipeline: no maintenance refusal, no rate-limit headers, no session work', async () => {
  const api = await app.inject({ url: '/api/method/ping' });
  assert.equal(api.statusCode, 503, 'the API is in maintenance');
  for (let i = 0; i < 3; i++) {
    for (const url of ['/healthz', '/readyz']) {
      const res = await app.inject({ url, headers: { cookie: 'sid=not-a-session', authorization: 'token nobody:wrong' } });
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      assert.equal(res.headers['x-ratelimit-limit'], undefined);
      assert.equal(res.headers['set-cookie'], undefined);
    }
  }
});

test('other verbs are not health checks: they go through the API (here its maintenance 503, else 405)', async () => {
  for (const url of ['/healthz', '/readyz']) {
    const res = await app.inject({ method: 'POST', url, headers: { accept: 'application/json' } });
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.json().exc_type, 'SessionStopped');
  }
});

test('health(): a failing, throwing or hung dependency is unavailable, within the timeout', async () => {
  const ok = { ping: async () => true };
  const failing = { ping: async () => false };
  const throwing = { ping: async (): Promise<boolean> => Promise.reject(new Error('down')) };
  const hung = { ping: () => new Promise<boolean>(() => {}) };
  assert.deepEqual(await health({ storage: ok, cache: ok }), { ready: true, database: 'ok', cache: 'ok' });
  assert.deepEqual(await health({ storage: failing, cache: ok }), { ready: false, database: 'unavailable', cache: 'ok' });
  assert.deepEqual(await health({ storage: ok, cache: throwing }), { ready: false, database: 'ok', cache: 'unavailable' });
  const started = Date.now();
  assert.deepEqual(await health({ storage: hung, cache: hung }, 200), { ready: false, database: 'unavailable', cache: 'unavailable' });
  assert.ok(Date.now() - started < 1000, 'answered at the timeout');
});
