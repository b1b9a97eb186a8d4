/** Password changes: the forced reset after N days, reset links, and changes with the old password. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createTestSite, ADMIN_PASSWORD, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

let t: TestSite;
let app: FastifyInstance;
const form = { 'content-type': 'application/x-www-form-urlencoded' };

const login = (usr: string, pwd: string) => app.inject({ method: 'POST', url: '/api/method/login', payload: { usr, pwd } });
const sidOf = (res: { headers: Record<string, unknown> }) => /sid=([0-9a-f]{56})/.exec(String(res.headers['set-cookie']))?.[1];

before(async () => {
  t = await createTestSite();
  await addUser(t.site, { email: 'rita@example.com', password: 'first-password-1' });
  await addUser(t.site, { email: 'sam@example.com', password: 'sam-password-1' });
  app = await createServer(t.site);
});
after(async () => {
  await app.close();
  await t.cleanup();
});

test('a forced reset leads to a working /update-password page that logs the user in', async () => {
  const old = sidOf(await login('rita@example.com', 'first-password-1'));
  await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', force_user_to_reset_password: 1, enable_password_policy: 1 }));
  authServicesFor(t.site).settings.invalidate();
  await t.site.storage.run('UPDATE "tabUser" SET "last_password_reset_date" = ? WHERE "name" = ?', ['2000-01-01', 'rita@example.com']);
  const res = await login('rita@example.com', 'first-password-1');
  assert.equal(res.json().message, 'Password Reset');
  const location = new URL(res.json().redirect_to, 'http://localhost');
  const key = String(location.searchParams.get('key'));
  const pageRes = await app.inject({ url: `${location.pathname}${location.search}` });
  assert.equal(pageRes.statusCode, 200);
  assert.match(pageRes.body, /Your password has expired/);
  assert.match(String(pageRes.headers['content-security-policy']), /frame-ancestors 'none'/);
  const mismatch = await app.inject({ method: 'POST', url: '/update-password', headers: form, payload: new URLSearchParams({ key, new_password: 'new-password-22', confirm_password: 'other' }).toString() });
  assert.equal(mismatch.statusCode, 417);
  const weak = await app.inject({ method: 'POST', url: '/update-password', headers: form, payload: new URLSearchParams({ key, new_password: 'short', confirm_password: 'short' }).toString() });
  assert.equal(weak.statusCode, 417);
  assert.match(weak.body, /at least 8 characters/);
  const saved = await app.inject({ method: 'POST', url: '/update-password', headers: form, payload: new URLSearchParams({ key, new_password: 'new-password-22', confirm_password: 'new-password-22' }).toString() });
  assert.equal(saved.statusCode, 303);
  assert.equal(saved.headers.location, '/app');
  const fresh = sidOf(saved);
  assert.ok(fresh);
  const me = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', cookies: { sid: String(fresh) } });
  assert.equal(me.json().message, 'rita@example.com');
  const stale = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', cookies: { sid: String(old) } });
  assert.equal(stale.statusCode, 403, 'sessions from before the change are ended');
  assert.equal((await login('rita@example.com', 'first-password-1')).statusCode, 401);
  assert.equal((await login('rita@example.com', 'new-password-22')).json().message, 'Logged In', 'the reset date moved, no new reset');
  const reuse = await app.inject({ method: 'POST', url: '/update-password', headers: form, payload: new URLSearchParams({ key, new_password: 'another-pass-33', confirm_password: 'another-pass-33' }).toString() });
  assert.equal(reuse.statusCode, 417);
  assert.match(reuse.body, /used before or is invalid/);
});

test('reset links: System Manager only; they expire', async () => {
  const admin = String(sidOf(await login('Administrator', ADMIN_PASSWORD)));
  const sam = String(sidOf(await login('sam@example.com', 'sam-password-1')));
  const denied = await app.inject({ method: 'POST', url: '/api/method/cortado.users.make_reset_link', cookies: { sid: sam }, payload: { user: 'rita@example.com' } });
  assert.equal(denied.statusCode, 403);
  const made = await app.inject({ method: 'POST', url: '/api/method/cortado.users.make_reset_link', cookies: { sid: admin }, payload: { user: 'sam@example.com' } });
  const key = String(new URL(made.json().message, 'http://localhost').searchParams.get('key'));
  assert.match(key, /^[0-9a-f]{56}$/);
  await t.site.storage.run('UPDATE "__Auth" SET "password" = ? WHERE "name" = ? AND "fieldname" = ?', ['1', 'sam@example.com', 'reset_password_key_expiry']);
  const expired = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.update_password', payload: { key, new_password: 'sam-new-password-2' } });
  assert.equal(expired.statusCode, 417);
  assert.match(expired.body, /has been expired/);
  const stored = await t.site.storage.all<{ password: string }>('SELECT "password" FROM "__Auth" WHERE "fieldname" = ?', ['reset_password_key']);
  assert.ok(stored.every((row) => row.password !== key), 'the key is stored hashed');
});

test('update_password with the old password, as a logged-in user', async () => {
  const sam = String(sidOf(await login('sam@example.com', 'sam-password-1')));
  const wrong = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.update_password', cookies: { sid: sam }, payload: { old_password: 'nope', new_password: 'sam-new-password-2' } });
  assert.equal(wrong.statusCode, 401);
  const ok = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.update_password', cookies: { sid: sam }, payload: { old_password: 'sam-password-1', new_password: 'sam-new-password-2' } });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.json().message, '/app');
  assert.equal((await login('sam@example.com', 'sam-new-password-2')).statusCode, 200);
  const guest = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.update_password', payload: { new_password: 'x-password-123' } });
  assert.equal(guest.statusCode, 403);
});
