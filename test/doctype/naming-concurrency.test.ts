/** The first documents of a naming series, made at the same moment, all get distinct names. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));

forEachDatabase('naming series under concurrency', (db) => {
  let t: TestSite;
  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
  });
  after(async () => t.cleanup());

  test('twenty concurrent first inserts into a fresh series and an autoincrement DocType', async () => {
    const members = await Promise.all(
      Array.from({ length: 20 }, (_, i) => runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Library Member', first_name: `M${i}` }))),
    );
    const names = members.map((m) => String(m.name));
    assert.equal(new Set(names).size, 20);
    assert.deepEqual([...names].sort(), Array.from({ length: 20 }, (_, i) => `LIB-MEM-${String(i + 1).padStart(5, '0')}`));
    const visits = await Promise.all(Array.from({ length: 20 }, () => runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Visit Log', visitor: 'x' }))));
    assert.equal(new Set(visits.map((v) => v.name)).size, 20);
  });
});
