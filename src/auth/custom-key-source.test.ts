/** `Frappe-Authorization-Source`: keys looked up in an app's DocType (SQLite, and PostgreSQL when configured). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rejectsWith, runAs } from '../../test/helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../../test/helpers/test-site.ts';
import { keySourceMeta, verifyCustomSourceKey } from './custom-key-source.ts';

type Site = TestSite['site'];

const KEY_SOURCE_APP = fileURLToPath(new URL('../../test/fixtures/key-source-app', import.meta.url));
const ADMIN = 'Administrator';
const ROBOT = 'robot@example.com';
const SLEEPY = 'sleepy@example.com';

forEachDatabase('Custom authorization source', (dbKind) => {
  let t: TestSite;
  let site: Site;
  const verify = (doctype: string, key: string, secret: string) =>
    verifyCustomSourceKey(site.storage, site.registry, doctype, key, secret, site.cipher);

  before(async () => {
    t = await createTestSite({ db: dbKind, apps: [KEY_SOURCE_APP] });
    site = t.site;
    await runAs(site, ADMIN, async (db) => {
      for (const email of [ROBOT, SLEEPY]) {
        await db.insert({ doctype: 'User', email, first_name: email.split('@')[0], user_type: 'System User' });
      }
      await db.insert({ doctype: 'Service Account', title: 'robot', api_key: 'robot-key', api_secret: 'robot-secret', user: ROBOT });
      await db.insert({ doctype: 'Service Account', title: 'off', api_key: 'off-key', api_secret: 'off-secret', user: ROBOT, enabled: 0 });
      await db.insert({ doctype: 'Service Account', title: 'sleepy', api_key: 'sleepy-key', api_secret: 'sleepy-secret', user: SLEEPY });
      await db.insert({ doctype: 'Service Account', title: 'no secret', api_key: 'empty-key', user: ROBOT });
      await db.insert({ doctype: 'Service Account', title: 'tampered', api_key: 'tampered-key', api_secret: 'tampered-secret', user: ROBOT });
      await db.insert({ doctype: 'Service Account', title: 'guest', api_key: 'guest-key', api_secret: 'guest-secret', user: 'Guest' });
    });
    // Directly: only the check at key verification is under test here.
    await site.storage.run('UPDATE "tabUser" SET "enabled" = 0 WHERE "name" = ?', [SLEEPY]);
  });
  after(async () => t.cleanup());

  test('a valid key and secret run as the record’s user', async () => {
    assert.equal(await verify('Service Account', 'robot-key', 'robot-secret'), ROBOT);
  });

  test('the secret is kept encrypted by the document engine, never in the DocType table', async () => {
    const row = await site.storage.get<{ api_secret: string }>('SELECT "api_secret" FROM "tabService Account" WHERE "api_key" = ?', ['robot-key']);
    assert.match(String(row?.api_secret), /^\*+$/);
    const auth = JSON.stringify(await site.storage.all('SELECT * FROM "__Auth" WHERE "doctype" = ?', ['Service Account']));
    assert.ok(!auth.includes('robot-secret'));
  });

  test('a wrong secret, unknown key or empty credentials give undefined', async () => {
    assert.equal(await verify('Service Account', 'robot-key', 'robot-secreT'), undefined);
    assert.equal(await verify('Service Account', 'robot-key', 'robot-secret '), undefined);
    assert.equal(await verify('Service Account', 'robot-key', ''), undefined);
    assert.equal(await verify('Service Account', 'nobody-key', 'robot-secret'), undefined);
    assert.equal(await verify('Service Account', '', ''), undefined);
  });

  test('a disabled record gives undefined even with the right secret', async () => {
    assert.equal(await verify('Service Account', 'off-key', 'off-secret'), undefined);
  });

  test('a disabled user, or Guest, gives undefined', async () => {
    assert.equal(await verify('Service Account', 'sleepy-key', 'sleepy-secret'), undefined);
    assert.equal(await verify('Service Account', 'guest-key', 'guest-secret'), undefined);
  });

  test('a record without a stored secret never matches, not even an empty secret', async () => {
    assert.equal(await verify('Service Account', 'empty-key', ''), undefined);
    assert.equal(await verify('Service Account', 'empty-key', 'anything'), undefined);
  });

  test('a secret that cannot be decrypted counts as a mismatch, never a 500', async () => {
    const row = await site.storage.get<{ name: string }>('SELECT "name" FROM "tabService Account" WHERE "api_key" = ?', ['tampered-key']);
    assert.ok(row);
    await site.storage.run('UPDATE "__Auth" SET "password" = ? WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', [
      'v1.not-a-real-token.x.y',
      'Service Account',
      row.name,
      'api_secret',
    ]);
    assert.equal(await verify('Service Account', 'tampered-key', 'tampered-secret'), undefined);
    assert.equal(await verify('Service Account', 'tampered-key', 'v1.not-a-real-token.x.y'), undefined);
  });

  test('an unknown DocType is refused with a 401 AuthenticationError', async () => {
    await rejectsWith(verify('No Such Thing', 'robot-key', 'robot-secret'), 'AuthenticationError', 401, /does not exist/);
    await rejectsWith(verify('tabUser"; DROP TABLE "tabUser"; --', 'k', 's'), 'AuthenticationError', 401, /does not exist/);
    await rejectsWith(verify('', 'k', 's'), 'AuthenticationError', 401);
    assert.ok(await site.storage.get('SELECT "name" FROM "tabUser" WHERE "name" = ?', [ADMIN]), 'nothing was run from the header');
  });

  test('a DocType lacking a required field is refused with a clear 401', async () => {
    const error = await rejectsWith(verify('Broken Source', 'k', 's'), 'AuthenticationError', 401);
    assert.match(error.message, /Broken Source/);
    assert.match(error.message, /enabled \(Check\) is missing/);
    assert.match(error.message, /api_key \(Data\), api_secret \(Password\), user \(Link to User\) and enabled \(Check\)/);
  });

  test('a DocType whose fields have the wrong types is refused with a clear 401', async () => {
    const error = await rejectsWith(verify('Mistyped Source', 'k', 's'), 'AuthenticationError', 401);
    assert.match(error.message, /api_secret must be Password, not Data/);
    assert.match(error.message, /user must be Link to User, not Link to Role/);
  });

  test('core DocTypes that are not key sources are refused with a clear 401', async () => {
    await rejectsWith(verify('ToDo', 'k', 's'), 'AuthenticationError', 401, /api_key \(Data\) is missing/);
    await rejectsWith(verify('System Settings', 'k', 's'), 'AuthenticationError', 401, /single/);
    await rejectsWith(verify('Has Role', 'k', 's'), 'AuthenticationError', 401, /child table/);
    await rejectsWith(verify('User', 'k', 's'), 'AuthenticationError', 401, /without this header/);
    await rejectsWith(verify('API Key', 'k', 's'), 'AuthenticationError', 401, /without this header/);
    assert.equal(keySourceMeta(site.registry, 'Service Account').name, 'Service Account');
  });
});
