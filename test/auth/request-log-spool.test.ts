/** A site's API Request Log spools under its folder, and what a dead process spooled is written. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { authServicesFor, REQUEST_LOG_SPOOL } from '../../src/app/auth-services.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

forEachDatabase('API Request Log spool of a site', (db) => {
  let t: TestSite;
  before(async () => {
    t = await createTestSite({ db });
  });
  after(async () => t.cleanup());

  test('rows spooled by a process that died are written when the site is next served', async () => {
    const folder = join(t.path, REQUEST_LOG_SPOOL);
    mkdirSync(folder, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';
    const line = JSON.stringify(['000000spooled01', Date.UTC(2026, 0, 1), '/api/resource/ToDo', 'GET', 'Administrator', 200, 'token', null, '10.0.0.9', 1.25]);
    writeFileSync(join(folder, `${host}~${dead}~gone.live`), `${line}\n`);
    const site = await t.reopen();
    const { requestLog } = authServicesFor(site);
    assert.equal(await requestLog.flush(), 1);
    const rows = await site.storage.all<{ name: string; ip: string }>('SELECT "name", "ip" FROM "tabAPI Request Log"');
    assert.deepEqual(rows, [{ name: '000000spooled01', ip: '10.0.0.9' }]);
    assert.deepEqual(readdirSync(folder), []);
  });
});
