/** The Activity Log writer on a real site (SQLite, and PostgreSQL when configured). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Clock } from '../core/clock.ts';
import type { Storage } from '../storage/types.ts';
import { rejectsWith, runAs } from '../../test/helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../../test/helpers/test-site.ts';
import { ACTIVITY_LOG_TABLE, createActivityLog, MAX_SUBJECT_LENGTH } from './activity-log.ts';

const SYSTEM_MANAGER = 'sysman@example.com';
const PLAIN_USER = 'plain@example.com';
const NOW = new Date(Date.UTC(2025, 5, 1, 12, 30, 45, 123));
const clock: Clock = { now: () => NOW };

type Row = Record<string, unknown>;

async function rowsBySubject(storage: Storage, subject: string): Promise<Row[]> {
  return storage.all(`SELECT * FROM "${ACTIVITY_LOG_TABLE}" WHERE "subject" = ?`, [subject]);
}

forEachDatabase('Activity Log', (db) => {
  let t: TestSite;

  before(async () => {
    t = await createTestSite({ db });
    await runAs(t.site, 'Administrator', async (api) => {
      await api.insert({ doctype: 'User', email: SYSTEM_MANAGER, first_name: 'Sys', roles: [{ role: 'System Manager' }] });
      await api.insert({ doctype: 'User', email: PLAIN_USER, first_name: 'Plain', roles: [] });
    });
  });
  after(async () => t.cleanup());

  test('a log entry lands as one row with Frappe’s columns', async () => {
    const errors: unknown[] = [];
    const log = createActivityLog(t.site.storage, clock, { onError: (e) => errors.push(e) });
    await log.log({
      user: SYSTEM_MANAGER,
      full_name: 'Sys',
      operation: 'Login',
      status: 'Success',
      subject: 'Sys logged in',
      ip: '203.0.113.7',
      reference_doctype: 'User',
      reference_name: SYSTEM_MANAGER,
    });
    assert.deepEqual(errors, []);
    const rows = await rowsBySubject(t.site.storage, 'Sys logged in');
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.match(String(row.name), /^[0-9a-f]{10}$/);
    assert.equal(row.owner, 'Administrator');
    assert.equal(row.modified_by, 'Administrator');
    assert.equal(row.creation, '2025-06-01 12:30:45.123000');
    assert.equal(row.modified, row.creation);
    assert.equal(row.communication_date, row.creation);
    assert.equal(Number(row.docstatus), 0);
    assert.equal(row.user, SYSTEM_MANAGER);
    assert.equal(row.full_name, 'Sys');
    assert.equal(row.operation, 'Login');
    assert.equal(row.status, 'Success');
    assert.equal(row.ip_address, '203.0.113.7');
    assert.equal(row.reference_doctype, 'User');
    assert.equal(row.reference_name, SYSTEM_MANAGER);
  });

  test('a failed login with an unknown, hostile name is stored clipped, never rejected', async () => {
    const errors: unknown[] = [];
    const log = createActivityLog(t.site.storage, clock, { onError: (e) => errors.push(e) });
    const subject = `Invalid login credentials ${'x'.repeat(5000)}`;
    const user = `evil\u0000${'🙂'.repeat(600)}`;
    await log.log({ user, operation: 'Login', status: 'Failed', subject });
    assert.deepEqual(errors, []);
    const rows = await t.site.storage.all<Row>(`SELECT * FROM "${ACTIVITY_LOG_TABLE}" WHERE "subject" LIKE ?`, [
      'Invalid login credentials x%',
    ]);
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(String(row.subject).length, MAX_SUBJECT_LENGTH);
    assert.ok(String(row.user).length <= 140);
    assert.ok(String(row.user).startsWith('evil\uFFFD🙂'));
    assert.equal(row.full_name, null);
    assert.equal(row.ip_address, null);
    assert.equal(row.status, 'Failed');
  });

  test('a name collision is retried with a fresh name', async () => {
    const names = ['aaaaaaaaaa', 'aaaaaaaaaa', 'bbbbbbbbbb'];
    const log = createActivityLog(t.site.storage, clock, { newName: () => names.shift() ?? 'cccccccccc' });
    await log.log({ user: 'u1', operation: 'Logout', status: 'Success', subject: 'collide 1' });
    await log.log({ user: 'u2', operation: 'Logout', status: 'Success', subject: 'collide 2' });
    assert.equal((await rowsBySubject(t.site.storage, 'collide 1'))[0]?.name, 'aaaaaaaaaa');
    assert.equal((await rowsBySubject(t.site.storage, 'collide 2'))[0]?.name, 'bbbbbbbbbb');
  });

  test('a failing database never rejects the caller; the error goes to onError', async () => {
    const broken = new Proxy(t.site.storage, {
      get(target, property) {
        if (property === 'run') return () => Promise.reject(new Error('disk on fire'));
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const errors: unknown[] = [];
    await createActivityLog(broken, clock, { onError: (e) => errors.push(e) }).log({
      user: 'x', operation: 'Login', status: 'Failed', subject: 'lost',
    });
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /disk on fire/);
    // Even a throwing error sink and a storage that throws synchronously leave the caller alone.
    const throwing = new Proxy(t.site.storage, {
      get(target, property) {
        if (property === 'run') return () => { throw new Error('sync failure'); };
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await createActivityLog(throwing, clock, { onError: () => { throw new Error('sink broken'); } }).log({
      user: 'x', operation: 'Login', status: 'Failed', subject: 'lost',
    });
    await createActivityLog(throwing, clock).log({ user: 'x', operation: 'Login', status: 'Failed', subject: 'lost' });
  });

  test('readable by System Manager, never creatable through the API, hidden from other users', async () => {
    const rows = (await runAs(t.site, 'Administrator', (api) =>
      api.getList('Activity Log', { fields: ['*'], filters: { subject: 'Sys logged in' } }),
    )) as Row[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.operation, 'Login');
    assert.equal(rows[0]!.ip_address, '203.0.113.7');
    const seen = (await runAs(t.site, SYSTEM_MANAGER, (api) => api.getList('Activity Log', { fields: ['name', 'user'] }))) as Row[];
    assert.ok(seen.length >= 1);
    await rejectsWith(
      runAs(t.site, SYSTEM_MANAGER, (api) =>
        api.insert({ doctype: 'Activity Log', subject: 'forged', user: 'someone', operation: 'Login', status: 'Success' }),
      ),
      'PermissionError',
    );
    await rejectsWith(runAs(t.site, PLAIN_USER, (api) => api.getList('Activity Log', { fields: ['name'] })), 'PermissionError');
    assert.equal((await rowsBySubject(t.site.storage, 'forged')).length, 0);
  });
});
