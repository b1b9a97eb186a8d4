/**
 * Documents and list pages read again after a change show the change, whoever made it: this
 * process through the document API or raw SQL, or another process on the same database (as
 * the CLI does). On SQLite such reads may be answered from the read cache, which any commit
 * empties; on PostgreSQL they always reach the database.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openServingSite } from '../../src/app/create-server.ts';
import type { Site } from '../../src/app/site.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';
import { testLogger } from '../helpers/test-log.ts';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

forEachDatabase('reads after a change', (db) => {
  let t: TestSite;
  let other: Site;
  before(async () => {
    t = await createTestSite({ db });
    other = await openServingSite(t.path, { logger: testLogger() });
  });
  after(async () => {
    await other.close();
    await t.cleanup();
  });

  const read = (name: unknown) => runAs(t.site, 'Administrator', (api) => api.getDoc('ToDo', name));
  const list = (names: unknown[]) =>
    runAs(t.site, 'Administrator', (api) =>
      api.getList('ToDo', { fields: ['description'], filters: [['status', '=', 'Open'], ['name', 'in', names]], order_by: 'description asc' }),
    );

  test('a document and a list page read twice, then changed by another process, show the change from the next turn', async () => {
    const doc = await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'ToDo', description: 'first' }));
    for (let i = 0; i < 2; i++) {
      await nextTurn();
      assert.equal((await read(doc.name)).description, 'first');
      assert.deepEqual(await list([doc.name, 'renamed elsewhere']), [{ description: 'first' }]);
    }
    await other.storage.run('UPDATE "tabToDo" SET "description" = ?, "name" = ? WHERE "name" = ?', ['changed elsewhere', 'renamed elsewhere', String(doc.name)]);
    const added = await runAs(other, 'Administrator', (api) => api.insert({ doctype: 'ToDo', description: 'added elsewhere' }));
    await nextTurn();
    assert.equal((await read('renamed elsewhere')).description, 'changed elsewhere');
    await assert.rejects(read(doc.name), { excType: 'DoesNotExistError' });
    assert.deepEqual(await list([doc.name, 'renamed elsewhere', added.name]), [{ description: 'added elsewhere' }, { description: 'changed elsewhere' }]);
  });

  test('a change by this process, through the API or raw SQL, shows in the very next read', async () => {
    const doc = await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'ToDo', description: 'before' }));
    await read(doc.name);
    await nextTurn();
    await read(doc.name);
    await runAs(t.site, 'Administrator', async (api) => api.save({ ...(await api.getDoc('ToDo', doc.name)), description: 'saved' }));
    assert.equal((await read(doc.name)).description, 'saved');
    await t.site.storage.run('UPDATE "tabToDo" SET "description" = ? WHERE "name" = ?', ['raw', String(doc.name)]);
    assert.equal((await read(doc.name)).description, 'raw');
    await runAs(t.site, 'Administrator', (api) => api.delete('ToDo', doc.name));
    await assert.rejects(read(doc.name), { excType: 'DoesNotExistError' });
  });
});
