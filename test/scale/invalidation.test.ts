/** A System Settings change on one node reaches another node's cache at once, through Redis. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { openServingSite } from '../../src/app/create-server.ts';
import type { Site } from '../../src/app/site.ts';
import { createLogger } from '../../src/core/logger.ts';
import { REDIS_URL, createTestSite, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

if (!REDIS_URL) {
  test('settings invalidation across nodes', { skip: 'CORTADO_TEST_REDIS_URL is not set: Redis tests skipped' }, () => {});
} else {
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
}
