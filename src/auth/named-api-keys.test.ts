/** Named API keys (`API Key` DocType) on a real site: SQLite, and PostgreSQL when configured. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { formatDatetime } from '../core/clock.ts';
import type { DocumentContext } from '../doctype/document/document-context.ts';
import { loadPrincipal } from '../doctype/users.ts';
import type { Row, RunResult, SqlExecutor, SqlValue, Storage } from '../storage/types.ts';
import { UnitOfWork } from '../storage/unit-of-work.ts';
import { rejectsWith, runAs } from '../../test/helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../../test/helpers/test-site.ts';
import { apiSecretHashKey, generateUserKeys, verifyUserApiKey } from './api-keys.ts';
import {
  createLastUsedRecorder,
  createNamedApiKey,
  isNamedApiKey,
  revokeNamedApiKey,
  rotateNamedApiKey,
  verifyNamedApiKey,
} from './named-api-keys.ts';

type Site = TestSite['site'];

const ADMIN = 'Administrator';
const MANAGER = 'keys-manager@example.com';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';
const HOUR = 3600 * 1000;

/** Runs `fn` with a document context acting as `user`, committed when it resolves. */
async function asUser<T>(site: Site, user: string, fn: (ctx: DocumentContext) => Promise<T>): Promise<T> {
  const principal = await loadPrincipal(site.storage, user);
  if (!principal) throw new Error(`test user ${user} missing or disabled`);
  const uow = new UnitOfWork(site.storage);
  try {
    const result = await fn(site.documentContext(principal, uow));
    await uow.finish(true);
    return result;
  } catch (error) {
    await uow.finish(false);
    throw error;
  }
}

async function addUser(site: Site, email: string, roles: string[] = []): Promise<void> {
  await runAs(site, ADMIN, (db) =>
    db.insert({ doctype: 'User', email, first_name: email.split('@')[0], user_type: 'System User', roles: roles.map((role) => ({ role })) }),
  );
}

/** Flips a user's `enabled` column directly: only the check at key verification is under test here. */
async function setUserEnabled(site: Site, user: string, enabled: 0 | 1): Promise<void> {
  await site.storage.run('UPDATE "tabUser" SET "enabled" = ? WHERE "name" = ?', [enabled, user]);
}

/** Every row of every table, as text: the secret must appear in none of them. */
async function everyStoredRow(storage: Storage): Promise<string> {
  const parts: string[] = [];
  for (const table of await storage.tableNames()) {
    const rows = await storage.all(`SELECT * FROM ${storage.dialect.quote(table)}`);
    parts.push(JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
  }
  return parts.join('\n');
}

forEachDatabase('Named API keys', (dbKind) => {
  let t: TestSite;
  let site: Site;
  let hashKey: string;
  const verify = (key: string, secret: string, now = new Date()) => verifyNamedApiKey(site.storage, key, secret, hashKey, now);

  before(async () => {
    t = await createTestSite({ db: dbKind });
    site = t.site;
    hashKey = apiSecretHashKey(site.config.encryption_key);
    await addUser(site, MANAGER, ['System Manager']);
    await addUser(site, ALICE);
    await addUser(site, BOB);
    await addUser(site, CAROL);
  });
  after(async () => t.cleanup());

  test('a user creates a key for themselves; it verifies with its secret only', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'CI deploys', scopes: 'read write read' }, hashKey));
    assert.match(created.api_key, /^ck_[0-9a-f]{24}$/);
    assert.ok(isNamedApiKey(created.api_key));
    assert.ok(created.api_secret.length >= 43, 'a 256-bit secret');
    const verified = await verify(created.api_key, created.api_secret);
    assert.deepEqual(verified, { user: ALICE, keyName: created.name, restrictIp: undefined, scopes: ['read', 'write'] });

    assert.equal(await verify(created.api_key, `${created.api_secret}x`), undefined, 'wrong secret');
    assert.equal(await verify(created.api_key, ''), undefined, 'empty secret');
    assert.equal(await verify('ck_000000000000000000000000', created.api_secret), undefined, 'unknown key');
    assert.equal(await verify(created.api_key.toUpperCase(), created.api_secret), undefined, 'keys are exact');

    const doc = await runAs(site, ALICE, (db) => db.getDoc('API Key', created.name));
    assert.equal(doc.user, ALICE);
    assert.equal(doc.owner, ALICE);
    assert.equal(doc.api_key, created.api_key, 'the owner reads the key id');
    assert.match(String(doc.api_secret), /^\*+$/, 'the secret column holds only the mask');
    assert.equal(doc.enabled, 1);
  });

  test('named keys and User keys never verify through each other', async () => {
    const named = await asUser(site, BOB, (ctx) => createNamedApiKey(ctx, { label: 'laptop' }, hashKey));
    const userKeys = await site.asAdministrator((ctx) => generateUserKeys(ctx, BOB, hashKey));
    assert.ok(!isNamedApiKey(userKeys.api_key));
    assert.equal(await verify(userKeys.api_key, userKeys.api_secret), undefined);
    assert.equal(await verifyUserApiKey(site.storage, named.api_key, named.api_secret, hashKey), undefined);
  });

  test('the database never holds a secret in clear', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'secret check' }, hashKey));
    const rotated = await asUser(site, ALICE, (ctx) => rotateNamedApiKey(ctx, created.name, hashKey, 600));
    const auth = await site.storage.all<{ fieldname: string; password: string; encrypted: number | string }>(
      'SELECT * FROM "__Auth" WHERE "doctype" = ? AND "name" = ?',
      ['API Key', created.name],
    );
    assert.deepEqual(auth.map((r) => r.fieldname).sort(), ['api_secret', 'previous_api_secret']);
    for (const row of auth) assert.equal(Number(row.encrypted), 0, 'hashed, not reversibly encrypted');
    const keyRows = JSON.stringify(await site.storage.all('SELECT * FROM "tabAPI Key"'));
    const authRows = JSON.stringify(await site.storage.all('SELECT * FROM "__Auth"'));
    const everything = await everyStoredRow(site.storage);
    for (const secret of [created.api_secret, rotated.api_secret]) {
      assert.ok(!keyRows.includes(secret), 'tabAPI Key');
      assert.ok(!authRows.includes(secret), '__Auth');
      assert.ok(!everything.includes(secret), 'any table');
    }
  });

  test('a non-manager cannot create a key for another user; a System Manager can', async () => {
    await rejectsWith(asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'for bob', user: BOB }, hashKey)), 'PermissionError', 403);
    const rows = await site.storage.all('SELECT "name" FROM "tabAPI Key" WHERE "label" = ?', ['for bob']);
    assert.equal(rows.length, 0);

    const forBob = await asUser(site, MANAGER, (ctx) => createNamedApiKey(ctx, { label: 'for bob', user: BOB }, hashKey));
    assert.equal((await verify(forBob.api_key, forBob.api_secret))?.user, BOB);
    const doc = await runAs(site, BOB, (db) => db.getDoc('API Key', forBob.name));
    assert.equal(doc.owner, BOB, 'the key user sees and manages keys acting as them');
    await rejectsWith(asUser(site, ALICE, (ctx) => rotateNamedApiKey(ctx, forBob.name, hashKey)), 'PermissionError', 403);
    await rejectsWith(asUser(site, ALICE, (ctx) => revokeNamedApiKey(ctx, forBob.name)), 'PermissionError', 403);
    assert.equal((await verify(forBob.api_key, forBob.api_secret))?.user, BOB, 'untouched');
  });

  test('input is validated: label, expiry in the future, scope names, Guest', async () => {
    await rejectsWith(asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: '  ' }, hashKey)), 'MandatoryError');
    await rejectsWith(
      asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'old', expires_on: '2000-01-01 00:00:00' }, hashKey)),
      'ValidationError',
      417,
      /future/,
    );
    await rejectsWith(asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'x', expires_on: 'soon' }, hashKey)), 'ValidationError');
    await rejectsWith(asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'x', scopes: 'read "all"' }, hashKey)), 'ValidationError');
    await rejectsWith(asUser(site, MANAGER, (ctx) => createNamedApiKey(ctx, { label: 'x', user: 'Guest' }, hashKey)), 'ValidationError');
    await rejectsWith(asUser(site, MANAGER, (ctx) => createNamedApiKey(ctx, { label: 'x', user: 'nobody@example.com' }, hashKey)), 'LinkValidationError');
  });

  test('restrict_ip is stored and returned for the IP check', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'office', restrict_ip: ' 10.0.0.0/8\n192.168.1 ' }, hashKey));
    // Validated and normalised on save, as Frappe stores User.restrict_ip.
    assert.equal((await verify(created.api_key, created.api_secret))?.restrictIp, '10.0.0.0/8,192.168.1');
  });

  test('an expired key is refused', async () => {
    const now = new Date();
    const expires = new Date(now.getTime() + 24 * HOUR);
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'short-lived', expires_on: expires.toISOString() }, hashKey));
    const stored = await site.storage.get<{ expires_on: string }>('SELECT "expires_on" FROM "tabAPI Key" WHERE "name" = ?', [created.name]);
    assert.equal(stored?.expires_on, formatDatetime(expires));
    assert.equal((await verify(created.api_key, created.api_secret, now))?.user, ALICE);
    assert.equal((await verify(created.api_key, created.api_secret, expires))?.user, ALICE, 'valid up to expires_on');
    assert.equal(await verify(created.api_key, created.api_secret, new Date(expires.getTime() + 1000)), undefined);
  });

  test('a disabled key is refused; revoking disables it', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'to revoke' }, hashKey));
    assert.ok(await verify(created.api_key, created.api_secret));
    await asUser(site, ALICE, (ctx) => revokeNamedApiKey(ctx, created.name));
    const row = await site.storage.get<{ enabled: number | string }>('SELECT "enabled" FROM "tabAPI Key" WHERE "name" = ?', [created.name]);
    assert.equal(Number(row?.enabled), 0);
    assert.equal(await verify(created.api_key, created.api_secret), undefined);
  });

  test('an owner cannot re-enable, reassign or extend a key through the document API', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'locked fields' }, hashKey));
    await asUser(site, ALICE, (ctx) => revokeNamedApiKey(ctx, created.name));
    await runAs(site, ALICE, (db) => db.setValue('API Key', created.name, { enabled: 1, user: BOB, label: 'renamed' }));
    const row = await site.storage.get<{ enabled: number | string; user: string; label: string }>(
      'SELECT "enabled", "user", "label" FROM "tabAPI Key" WHERE "name" = ?',
      [created.name],
    );
    assert.equal(Number(row?.enabled), 0, 'enabled is at permlevel 1');
    assert.equal(row?.user, ALICE, 'user is at permlevel 1');
    assert.equal(row?.label, 'renamed', 'the label is the owner’s to change');
  });

  test('reassigning a key to another user invalidates its secret', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'reassigned' }, hashKey));
    await runAs(site, ADMIN, (db) => db.setValue('API Key', created.name, 'user', BOB));
    assert.equal(await verify(created.api_key, created.api_secret), undefined, 'Alice’s secret never acts as Bob');
    const rotated = await asUser(site, MANAGER, (ctx) => rotateNamedApiKey(ctx, created.name, hashKey));
    assert.equal((await verify(created.api_key, rotated.api_secret))?.user, BOB);
  });

  test('keys of a disabled user are refused', async () => {
    const created = await asUser(site, CAROL, (ctx) => createNamedApiKey(ctx, { label: 'carol' }, hashKey));
    assert.equal((await verify(created.api_key, created.api_secret))?.user, CAROL);
    await setUserEnabled(site, CAROL, 0);
    assert.equal(await verify(created.api_key, created.api_secret), undefined);
    await setUserEnabled(site, CAROL, 1);
    assert.equal((await verify(created.api_key, created.api_secret))?.user, CAROL);
  });

  test('rotation with a grace period keeps the old secret until the grace ends', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'rotating' }, hashKey));
    const before = new Date();
    const rotated = await asUser(site, ALICE, (ctx) => rotateNamedApiKey(ctx, created.name, hashKey, 3600));
    assert.notEqual(rotated.api_secret, created.api_secret);
    const row = await site.storage.get<{ previous_secret_expires_at: string }>(
      'SELECT "previous_secret_expires_at" FROM "tabAPI Key" WHERE "name" = ?',
      [created.name],
    );
    const graceEnd = new Date(`${String(row?.previous_secret_expires_at).replace(' ', 'T')}Z`);
    assert.ok(Math.abs(graceEnd.getTime() - (before.getTime() + HOUR)) < 60_000, 'grace ends an hour after rotation');

    const during = new Date(graceEnd.getTime() - 1000);
    const afterGrace = new Date(graceEnd.getTime() + 1000);
    assert.equal((await verify(created.api_key, created.api_secret, during))?.user, ALICE, 'old secret during the grace');
    assert.equal((await verify(created.api_key, rotated.api_secret, during))?.user, ALICE, 'new secret during the grace');
    assert.equal(await verify(created.api_key, created.api_secret, graceEnd), undefined, 'old secret refused at the grace end');
    assert.equal(await verify(created.api_key, created.api_secret, afterGrace), undefined, 'old secret refused after the grace');
    assert.equal((await verify(created.api_key, rotated.api_secret, afterGrace))?.user, ALICE, 'new secret after the grace');

    // Rotating again without grace: both earlier secrets stop at once.
    const again = await asUser(site, ALICE, (ctx) => rotateNamedApiKey(ctx, created.name, hashKey));
    assert.equal(await verify(created.api_key, created.api_secret, during), undefined);
    assert.equal(await verify(created.api_key, rotated.api_secret, during), undefined);
    assert.equal((await verify(created.api_key, again.api_secret, during))?.user, ALICE);
    const auth = await site.storage.all('SELECT "fieldname" FROM "__Auth" WHERE "doctype" = ? AND "name" = ?', ['API Key', created.name]);
    assert.deepEqual(auth, [{ fieldname: 'api_secret' }]);

    await rejectsWith(asUser(site, ALICE, (ctx) => rotateNamedApiKey(ctx, created.name, hashKey, -1)), 'ValidationError');
    await rejectsWith(asUser(site, ALICE, (ctx) => rotateNamedApiKey(ctx, 'no-such-key', hashKey)), 'PermissionError');
    await rejectsWith(asUser(site, MANAGER, (ctx) => rotateNamedApiKey(ctx, 'no-such-key', hashKey)), 'DoesNotExistError');
  });

  test('revoking during a grace period ends the grace too', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'revoked in grace' }, hashKey));
    await asUser(site, ALICE, (ctx) => rotateNamedApiKey(ctx, created.name, hashKey, 3600));
    await asUser(site, MANAGER, (ctx) => revokeNamedApiKey(ctx, created.name));
    await runAs(site, ADMIN, (db) => db.setValue('API Key', created.name, 'enabled', 1));
    assert.equal(await verify(created.api_key, created.api_secret), undefined, 're-enabling does not revive the previous secret');
  });

  test('last use is batched: nothing is written before flush', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'busy' }, hashKey));
    let writes = 0;
    const counting = (tx: SqlExecutor): SqlExecutor => ({
      dialect: tx.dialect,
      all: <T = Row>(sql: string, params?: readonly SqlValue[]) => tx.all<T>(sql, params),
      get: <T = Row>(sql: string, params?: readonly SqlValue[]) => tx.get<T>(sql, params),
      run: (sql: string, params?: readonly SqlValue[]): Promise<RunResult> => {
        writes++;
        return tx.run(sql, params);
      },
    });
    let transactions = 0;
    const spy: Pick<Storage, 'transaction'> = {
      transaction: (fn) => {
        transactions++;
        return site.storage.transaction((tx) => fn(counting(tx)));
      },
    };
    let now = new Date('2031-05-06T07:08:09.123Z');
    const recorder = createLastUsedRecorder(spy, { now: () => now }, 60 * 60 * 1000);
    const read = () =>
      site.storage.get<{ last_used_at: string | null; last_used_ip: string | null; modified: string }>(
        'SELECT "last_used_at", "last_used_ip", "modified" FROM "tabAPI Key" WHERE "name" = ?',
        [created.name],
      );
    const modifiedBefore = (await read())?.modified;
    for (let i = 0; i < 50; i++) recorder.touch(created.name, '203.0.113.5');
    now = new Date('2031-05-06T07:08:10.000Z');
    recorder.touch(created.name, '203.0.113.9');
    assert.equal(transactions, 0, 'touch never writes');
    assert.equal((await read())?.last_used_at, null);

    await recorder.flush();
    assert.equal(transactions, 1);
    assert.equal(writes, 1, 'one update per key per flush, however many requests');
    const row = await read();
    assert.equal(row?.last_used_at, formatDatetime(now));
    assert.equal(row?.last_used_ip, '203.0.113.9');
    assert.equal(row?.modified, modifiedBefore, 'bookkeeping does not change modified');

    await recorder.flush();
    assert.equal(transactions, 1, 'nothing pending: no write');
    await recorder.close();
    recorder.touch(created.name, '198.51.100.1');
    await recorder.flush();
    assert.equal((await read())?.last_used_ip, '203.0.113.9', 'touches after close are ignored');
  });

  test('last use is flushed on a timer and on close', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'timer' }, hashKey));
    const recorder = createLastUsedRecorder(site.storage, site.clock, 20);
    recorder.touch(created.name, '192.0.2.1');
    const deadline = Date.now() + 5000;
    let row: { last_used_ip: string | null } | undefined;
    while (Date.now() < deadline) {
      row = await site.storage.get('SELECT "last_used_ip" FROM "tabAPI Key" WHERE "name" = ?', [created.name]);
      if (row?.last_used_ip) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(row?.last_used_ip, '192.0.2.1');
    recorder.touch(created.name, '192.0.2.2');
    await recorder.close();
    row = await site.storage.get('SELECT "last_used_ip" FROM "tabAPI Key" WHERE "name" = ?', [created.name]);
    assert.equal(row?.last_used_ip, '192.0.2.2');
  });

  test('a failed flush keeps the uses for the next one', async () => {
    const created = await asUser(site, ALICE, (ctx) => createNamedApiKey(ctx, { label: 'retry' }, hashKey));
    let fail = true;
    const flaky: Pick<Storage, 'transaction'> = {
      transaction: (fn) => (fail ? Promise.reject(new Error('database down')) : site.storage.transaction(fn)),
    };
    const recorder = createLastUsedRecorder(flaky, site.clock, 60 * 60 * 1000);
    recorder.touch(created.name, '192.0.2.7');
    await assert.rejects(recorder.flush(), /database down/);
    fail = false;
    await recorder.close();
    const row = await site.storage.get<{ last_used_ip: string }>('SELECT "last_used_ip" FROM "tabAPI Key" WHERE "name" = ?', [created.name]);
    assert.equal(row?.last_used_ip, '192.0.2.7');
  });
});
