/**
 * A change on one node reaches another node's caches at once, through Redis; a node that lost
 * (or never had) its subscription drops its caches once it has it again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { openServingSite } from '../../src/app/create-server.ts';
import type { Site } from '../../src/app/site.ts';
import { createLogger } from '../../src/core/logger.ts';
import { REDIS_URL, createTestSite, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';

if (!REDIS_URL) {
  test('settings invalidation across nodes', { skip: 'CORTADO_TEST_REDIS_URL is not set: Redis tests skipped' }, () => {});
} else {
  const redisUrl = REDIS_URL;
  let t: TestSite;
  let other: Site;

  before(async () => {
    t = await createTestSite({ config: { redis_url: REDIS_URL } });
    // A second node: the same site opened again, with its own caches and Redis connections.
    other = await openServingSite(t.path, { logger: createLogger({ quiet: true }) });
  });
  after(async () => {
    await other.close();
    await t.cleanup();
  });

  test('saving System Settings on node A drops node B’s cached copy without waiting for its lifetime', async () => {
    const b = authServicesFor(other);
    authServicesFor(t.site);
    // Let both subscriptions become active, then fill B's cache just before the change.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await b.settings.get()).allow_consecutive_login_attempts, 10);
    await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', allow_consecutive_login_attempts: 4 }));
    // Well inside the 1-second lifetime of B's copy: only the message can explain a change.
    const deadline = Date.now() + 400;
    let seen = 10;
    while (Date.now() < deadline && seen !== 4) {
      seen = (await b.settings.get()).allow_consecutive_login_attempts;
      if (seen !== 4) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(seen, 4, 'node B sees the change well within its 1-second cache lifetime');
  });

  describe('a node whose Redis connection is lost', () => {
    const target = new URL(redisUrl);
    const until = async (what: string, check: () => boolean, ms = 10_000) => {
      const deadline = Date.now() + ms;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    /** A cached credential, as a verified token would leave it. */
    const fill = (services: ReturnType<typeof authServicesFor>) =>
      services.credentials.setCredential('digest', { user: 'Administrator' }, services.credentials.epoch);

    test('drops every cached credential once it is back: invalidations sent meanwhile were lost', async () => {
      const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
      await proxy.open();
      const node = await createTestSite({ config: { redis_url: `redis://127.0.0.1:${proxy.port}${target.pathname}` } });
      try {
        const services = authServicesFor(node.site);
        await new Promise((resolve) => setTimeout(resolve, 200));
        fill(services);
        assert.equal(services.credentials.size().credentials, 1);
        await proxy.close();
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(services.credentials.size().credentials, 1, 'kept while nothing says it is stale');
        await proxy.open();
        // Far inside the credentials' 30-second lifetime: only the reconnect can explain it.
        await until('the cache to be emptied', () => services.credentials.size().credentials === 0);
      } finally {
        await node.cleanup();
        await proxy.close();
      }
    });

    test('a node that could not subscribe at start keeps trying; once subscribed it drops its caches and hears others', async () => {
      const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
      await proxy.open();
      const port = proxy.port;
      await proxy.close();
      const node = await createTestSite({ config: { redis_url: `redis://127.0.0.1:${port}${target.pathname}` } });
      try {
        const services = authServicesFor(node.site);
        fill(services);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(services.credentials.size().credentials, 1);
        await proxy.open();
        await until('the subscription to be made', () => services.credentials.size().credentials === 0);
        // From now on another node's change reaches it.
        fill(services);
        const other = await openServingSite(node.path, { logger: createLogger({ quiet: true }) });
        try {
          authServicesFor(other).invalidate('settings');
          await until('the other node\'s message', () => services.credentials.size().credentials === 0, 3000);
        } finally {
          await other.close();
        }
      } finally {
        await node.cleanup();
        await proxy.close();
      }
    });
  });
}
