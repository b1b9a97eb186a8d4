/** Activity Log entries for session ends and key events; refused requests keep their key id. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { createTestSite, ADMIN_PASSWORD, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

let t: TestSite;
let app: FastifyInstance;

async function login(usr: string, pwd: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr, pwd } });
  assert.equal(res.statusCode, 200);
  return String(/sid=([0-9a-f]{56})/.exec(String(res.headers['set-cookie']))?.[1]);
}

async function subjects(): Promise<string[]> {
  // Activity rows are written off the request path; give them a moment.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const rows = await t.site.storage.all<{ subject: string }>('SELECT "subject" FROM "tabActivity Log" ORDER BY "creation"');
  return rows.map((r) => r.subject);
}

before(async () => {
  t = await createTestSite();
  await addUser(t.site, { email: 'eve@example.com', password: 'eve-password-1' });
  app = await createServer(t.site);
});
after(async () => {
  await app.close();
  await t.cleanup();
});

test('an expired session is logged as "Session Expired"', async () => {
  const sid = await login('eve@example.com', 'eve-password-1');
  await t.site.storage.run('UPDATE "__Sessions" SET "last_active" = ? WHERE "user" = ?', ['2000-01-01 00:00:00.000000', 'eve@example.com']);
  const res = await app.inject({ url: '/api/method/ping', cookies: { sid } });
  assert.equal(res.json().session_expired, 1);
  assert.ok((await subjects()).some((s) => s.endsWith('logged out: Session Expired')));
});

test('revoking sessions is logged with Frappe’s reasons', async () => {
  const first = await login('eve@example.com', 'eve-password-1');
  await login('eve@example.com', 'eve-password-1');
  const res = await app.inject({ method: 'POST', url: '/api/method/cortado.sessions.revoke_others', cookies: { sid: first } });
  assert.equal(res.json().message, 1);
  const admin = await login('Administrator', ADMIN_PASSWORD);
  const ended = await app.inject({ method: 'POST', url: '/api/method/cortado.sessions.end_all_for_user', cookies: { sid: admin }, payload: { user: 'eve@example.com' } });
  assert.equal(ended.json().message, 1);
  const logged = await subjects();
  assert.ok(logged.includes('eve@example.com logged out: Force Logged out by the user'));
  assert.ok(logged.includes('eve@example.com logged out: Deleted All Active Session'));
});

test('a refused API key request is logged with the key id it tried, never the secret', async () => {
  await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', log_api_requests: 1 }));
  authServicesFor(t.site).settings.invalidate();
  const res = await app.inject({ url: '/api/method/ping', headers: { authorization: 'token some-key-id:wrong-secret-value' } });
  assert.equal(res.statusCode, 401);
  await new Promise((resolve) => setTimeout(resolve, 50));
  await authServicesFor(t.site).requestLog.flush();
  const rows = await t.site.storage.all<{ api_key: string; status: number; auth_method: string }>('SELECT * FROM "tabAPI Request Log"');
  const refused = rows.find((r) => Number(r.status) === 401);
  assert.equal(refused?.api_key, 'some-key-id');
  assert.equal(refused?.auth_method, 'token');
  assert.ok(!JSON.stringify(rows).includes('wrong-secret-value'));
});
