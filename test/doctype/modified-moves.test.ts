/**
 * Every save moves `modified` forward, even within the same millisecond as the save before:
 * otherwise a client holding the older document passes the stale check (TimestampMismatchError)
 * and overwrites the newer one. A stored value in the future stands in for "the same
 * millisecond" here, without depending on timing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { rejectsWith, runAs } from '../helpers/run-as.ts';

const AHEAD = '2999-01-01 00:00:00.000000';

forEachDatabase('modified on save', (db) => {
  let t: TestSite;
  before(async () => {
    t = await createTestSite({ db });
  });
  after(async () => t.cleanup());

  test('a save never leaves modified where it was; the document read before it is then stale', async () => {
    const doc = await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'ToDo', description: 'first' }));
    await t.site.storage.run('UPDATE "tabToDo" SET "modified" = ? WHERE "name" = ?', [AHEAD, String(doc.name)]);
    const read = await runAs(t.site, 'Administrator', (api) => api.getDoc('ToDo', doc.name));
    const saved = await runAs(t.site, 'Administrator', (api) => api.save({ ...read, description: 'second' }));
    assert.equal(saved.modified, '2999-01-01 00:00:00.000001');
    await rejectsWith(runAs(t.site, 'Administrator', (api) => api.save({ ...read, description: 'lost update' })), 'TimestampMismatchError', 417);
    const stored = await runAs(t.site, 'Administrator', (api) => api.getDoc('ToDo', doc.name));
    assert.equal(stored.description, 'second');
  });
});
