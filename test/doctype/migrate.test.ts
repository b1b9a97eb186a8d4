/** `migrate` on a changed DocType adds what is new and keeps every existing row. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

function writeApp(folder: string, fields: object[]): void {
  mkdirSync(join(folder, 'shelf', 'doctype', 'book'), { recursive: true });
  writeFileSync(join(folder, 'index.mjs'), "export default { name: 'shelf', doctypes: './shelf' };\n");
  writeFileSync(
    join(folder, 'shelf', 'doctype', 'book', 'book.json'),
    JSON.stringify({
      doctype: 'DocType',
      name: 'Book',
      module: 'Shelf',
      autoname: 'field:title',
      fields,
      permissions: [{ role: 'System Manager', read: 1, write: 1, create: 1, delete: 1 }],
    }),
  );
}

forEachDatabase('migrate', (db) => {
  let t: TestSite;
  let appFolder: string;

  before(async () => {
    appFolder = mkdtempSync(join(tmpdir(), 'cortado-app-'));
    writeApp(appFolder, [
      { fieldname: 'title', fieldtype: 'Data', reqd: 1 },
      { fieldname: 'pages', fieldtype: 'Int' },
    ]);
    t = await createTestSite({ db, apps: [appFolder] });
  });
  after(async () => {
    await t.cleanup();
    rmSync(appFolder, { recursive: true, force: true });
  });

  test('a new field, a unique field and an index are added; rows stay', async () => {
    for (const [title, pages] of [['One', 10], ['Two', 20]] as const) {
      await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Book', title, pages }));
    }
    writeApp(appFolder, [
      { fieldname: 'title', fieldtype: 'Data', reqd: 1 },
      { fieldname: 'pages', fieldtype: 'Int' },
      { fieldname: 'isbn', fieldtype: 'Data', unique: 1 },
      { fieldname: 'in_print', fieldtype: 'Check', default: '1' },
      { fieldname: 'publisher', fieldtype: 'Link', options: 'User' },
    ]);
    const site = await t.reopen();
    const messages: string[] = [];
    const touched = await site.migrate((m) => messages.push(m));
    assert.deepEqual(touched, [], 'reopen already migrated; a second migrate has nothing to do');
    const columns = (await site.storage.columns('tabBook')).map((c) => c.name);
    for (const column of ['title', 'pages', 'isbn', 'in_print', 'publisher']) assert.ok(columns.includes(column), column);
    assert.ok((await site.storage.indexNames('tabBook')).some((name) => name.includes('isbn')));
    const rows = await runAs(site, 'Administrator', (api) => api.getList('Book', { fields: ['name', 'pages', 'in_print'], order_by: 'pages asc' }));
    assert.deepEqual(rows, [
      { name: 'One', pages: 10, in_print: 0 },
      { name: 'Two', pages: 20, in_print: 0 },
    ]);
    await runAs(site, 'Administrator', (api) => api.insert({ doctype: 'Book', title: 'Three', isbn: '978-1' }));
    const three = await runAs(site, 'Administrator', (api) => api.getDoc('Book', 'Three'));
    assert.equal(three.in_print, 1, 'the new default applies to new documents');
    await assert.rejects(
      runAs(site, 'Administrator', (api) => api.insert({ doctype: 'Book', title: 'Four', isbn: '978-1' })),
      (error: { excType?: string }) => error.excType === 'DuplicateEntryError',
    );
  });

  test('migrate reports what it changed', async () => {
    writeApp(appFolder, [
      { fieldname: 'title', fieldtype: 'Data', reqd: 1 },
      { fieldname: 'pages', fieldtype: 'Int' },
      { fieldname: 'isbn', fieldtype: 'Data', unique: 1 },
      { fieldname: 'in_print', fieldtype: 'Check', default: '1' },
      { fieldname: 'publisher', fieldtype: 'Link', options: 'User' },
      { fieldname: 'blurb', fieldtype: 'Text' },
    ]);
    await t.site.close();
    const { openServingSite } = await import('../../src/app/create-server.ts');
    const site = await openServingSite(t.path);
    try {
      const messages: string[] = [];
      assert.deepEqual(await site.migrate((m) => messages.push(m)), ['tabBook']);
      assert.ok(messages.some((m) => m.includes('+blurb')), messages.join('; '));
      assert.equal((await site.storage.all('SELECT "name" FROM "tabBook"')).length, 3);
    } finally {
      await site.close();
    }
    await t.reopen();
  });

  test('a search index is dropped when turned off; Links are not indexed for being Links; other indexes stay', async () => {
    const fields = (pagesIndexed: boolean) => [
      { fieldname: 'title', fieldtype: 'Data', reqd: 1 },
      { fieldname: 'pages', fieldtype: 'Int', search_index: pagesIndexed ? 1 : 0 },
      { fieldname: 'isbn', fieldtype: 'Data', unique: 1 },
      { fieldname: 'in_print', fieldtype: 'Check', default: '1' },
      { fieldname: 'publisher', fieldtype: 'Link', options: 'User' },
      { fieldname: 'blurb', fieldtype: 'Text' },
    ];
    writeApp(appFolder, fields(true));
    let site = await t.reopen();
    let indexes = await site.storage.indexNames('tabBook');
    assert.ok(indexes.includes('tabBook_pages'), indexes.join(', '));
    assert.ok(!indexes.includes('tabBook_publisher'), 'a Link field without search_index has no index');
    // What an older cortado made for every Link, and an index of the site's own.
    await site.storage.run('CREATE INDEX "tabBook_publisher" ON "tabBook" ("publisher")');
    await site.storage.run('CREATE INDEX "tabBook_by_title" ON "tabBook" ("title", "pages")');

    writeApp(appFolder, fields(false));
    await site.close();
    const { openServingSite } = await import('../../src/app/create-server.ts');
    site = await openServingSite(t.path);
    try {
      const messages: string[] = [];
      assert.deepEqual(await site.migrate((m) => messages.push(m)), ['tabBook']);
      assert.ok(messages.some((m) => m.includes('-index tabBook_pages') && m.includes('-index tabBook_publisher')), messages.join('; '));
      indexes = await site.storage.indexNames('tabBook');
      assert.ok(!indexes.includes('tabBook_pages') && !indexes.includes('tabBook_publisher'), indexes.join(', '));
      assert.ok(indexes.includes('tabBook_by_title') && indexes.includes('tabBook_isbn_unique'), indexes.join(', '));
      assert.equal((await site.storage.all('SELECT "name" FROM "tabBook"')).length, 3);
      assert.deepEqual(await site.migrate(), [], 'nothing left to drop');
    } finally {
      await site.close();
    }
    await t.reopen();
  });
});
