/** Per-method request limits (site config `method_rate_limits`) and hourly housekeeping. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createServer, runHousekeeping } from '../../src/app/create-server.ts';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));

let t: TestSite;
let app: FastifyInstance;

before(async () => {
  t = await createTestSite({
    apps: [LIBRARY_APP],
    config: { method_rate_limits: { 'library.api.hello': { limit: 3, seconds: 60, per: 'ip' } } },
  });
  app = await createServer(t.site);
});
after(async () => {
  await app.close();
  await t.cleanup();
});

test('a method past its limit answers 429 RateLimitExceededError with Retry-After, per client IP', async () => {
  const call = (ip: string) => app.inject({ url: '/api/method/library.api.hello', remoteAddress: ip });
  for (let i = 0; i < 3; i++) assert.equal((await call('198.51.100.1')).statusCode, 200);
  const refused = await call('198.51.100.1');
  assert.equal(refused.statusCode, 429);
  assert.equal(refused.json().exc_type, 'RateLimitExceededError');
  assert.ok(Number(refused.headers['retry-after']) > 0);
  assert.equal((await call('198.51.100.2')).statusCode, 200, 'another IP has its own budget');
  assert.equal((await app.inject({ url: '/api/method/ping', remoteAddress: '198.51.100.1' })).statusCode, 200, 'other methods are not limited');
});

test('a bad method_rate_limits entry stops the start with the key named', async () => {
  const { parseSiteConfig } = await import('../../src/core/config.ts');
  assert.throws(
    () => parseSiteConfig({ encryption_key: 'k'.repeat(43), method_rate_limits: { login: { limit: 0, seconds: 60 } } }),
    /method_rate_limits\.login\.limit/,
  );
});

test('housekeeping drops expired sessions and old API Request Log rows', async () => {
  const auth = authServicesFor(t.site);
  const { session } = await auth.sessions.create({ user: 'Administrator', ip: '127.0.0.1' });
  await t.site.storage.run('UPDATE "__Sessions" SET "last_active" = ? WHERE "sid_hash" = ?', ['2000-01-01 00:00:00.000000', session.sidHash]);
  await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', api_request_log_retention_days: 7 }));
  auth.requestLog.record({ path: '/api/method/ping', method: 'GET', user: 'Guest', status: 200, auth_method: 'guest', ip: '127.0.0.1', duration_ms: 1 });
  await auth.requestLog.flush();
  await t.site.storage.run('UPDATE "tabAPI Request Log" SET "creation" = ?', ['2000-01-01 00:00:00.000000']);
  auth.requestLog.record({ path: '/api/method/ping', method: 'GET', user: 'Guest', status: 200, auth_method: 'guest', ip: '127.0.0.1', duration_ms: 1 });
  await auth.requestLog.flush();
  const result = await runHousekeeping(t.site);
  assert.equal(result.sessions, 1);
  assert.equal(result.requestLogs, 1);
  assert.equal((await t.site.storage.all('SELECT "name" FROM "tabAPI Request Log"')).length, 1, 'the recent row stays');
});
