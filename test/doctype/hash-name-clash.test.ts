/**
 * A random (hash) name that another document already holds is drawn again, as Frappe's
 * `db_insert` does, so a create never fails on chance; a name that keeps clashing still ends
 * in DuplicateEntryError. A trigger makes the clash: just before the insert, it puts a row
 * with the same name into the table.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { rejectsWith, runAs } from '../helpers/run-as.ts';

const SQLITE_TRIGGER = `CREATE TRIGGER "squat" BEFORE INSERT ON "tabToDo" WHEN (SELECT "n" FROM "squats") > 0 BEGIN
  UPDATE "squats" SET "n" = "n" - 1;
  INSERT INTO "tabToDo" ("name", "description") VALUES (NEW."name", 'squatter');
END`;

const POSTGRES_TRIGGER = [
  `CREATE FUNCTION "squat"() RETURNS trigger AS $$ BEGIN
    IF pg_trigger_depth() = 1 AND (SELECT "n" FROM "squats") > 0 THEN
      UPDATE "squats" SET "n" = "n" - 1;
      INSERT INTO "tabToDo" ("name", "description") VALUES (NEW."name", 'squatter');
    END IF;
    RETURN NEW;
  END $$ LANGUAGE plpgsql`,
  'CREATE TRIGGER "squat" BEFORE INSERT ON "tabToDo" FOR EACH ROW EXECUTE FUNCTION "squat"()',
];

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));

/** Skips the insert of a Library Member named "ignored" (a trigger's choice, not a clash). */
const SQLITE_SKIP = `CREATE TRIGGER "skip" BEFORE INSERT ON "tabLibrary Member" WHEN NEW."first_name" = 'ignored' BEGIN SELECT RAISE(IGNORE); END`;
const POSTGRES_SKIP = [
  `CREATE FUNCTION "skip"() RETURNS trigger AS $$ BEGIN
    IF NEW."first_name" = 'ignored' THEN RETURN NULL; END IF;
    RETURN NEW;
  END $$ LANGUAGE plpgsql`,
  'CREATE TRIGGER "skip" BEFORE INSERT ON "tabLibrary Member" FOR EACH ROW EXECUTE FUNCTION "skip"()',
];

forEachDatabase('hash names that clash', (db) => {
  let t: TestSite;
  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    for (const sql of db === 'postgres' ? POSTGRES_SKIP : [SQLITE_SKIP]) await t.site.storage.run(sql);
    await t.site.storage.run('CREATE TABLE "squats" ("n" INTEGER)');
    await t.site.storage.run('INSERT INTO "squats" ("n") VALUES (0)');
    for (const sql of db === 'postgres' ? POSTGRES_TRIGGER : [SQLITE_TRIGGER]) await t.site.storage.run(sql);
  });
  after(async () => t.cleanup());

  const squat = (times: number) => t.site.storage.run('UPDATE "squats" SET "n" = ?', [times]);
  const squatters = async () => (await t.site.storage.all('SELECT "name" FROM "tabToDo" WHERE "description" = ?', ['squatter'])).map((r) => String(r.name));

  test('a create whose drawn name is taken gets another one', async () => {
    await squat(2);
    const doc = await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'ToDo', description: 'mine' }));
    const taken = await squatters();
    assert.equal(taken.length, 2);
    assert.match(String(doc.name), /^[0-9a-f]{10}$/);
    assert.ok(!taken.includes(String(doc.name)), 'the document got a name nobody held');
    const rows = await t.site.storage.all('SELECT "description" FROM "tabToDo" WHERE "name" = ?', [doc.name as string]);
    assert.deepEqual(rows.map((r) => r.description), ['mine']);
  });

  test('six clashes in a row end in DuplicateEntryError, with nothing written', async () => {
    await squat(6);
    await rejectsWith(runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'ToDo', description: 'unlucky' })), 'DuplicateEntryError', 409);
    assert.deepEqual(await t.site.storage.all('SELECT "name" FROM "tabToDo" WHERE "description" = ?', ['unlucky']), []);
  });

  test('a name from a naming series is never drawn again when the row was not inserted', async () => {
    // The trigger's skipped row is simply not there afterwards; six series numbers drawn for it
    // would have ended in a DuplicateEntryError about a name nobody holds.
    await rejectsWith(runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Library Member', first_name: 'ignored' })), 'DoesNotExistError', 404);
  });
});
