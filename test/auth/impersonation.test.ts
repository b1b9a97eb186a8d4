/** Frappe's impersonation (TestImpersonation): Administrator only, with a reason, logged. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { createTestSite, ADMIN_PASSWORD, type TestSite } from '../helpers/test-site.ts';

let t: TestSite;
let app: FastifyInstance;
const sidOf = (res: { headers: Record<string, unknown> }) => String(/sid=([0-9a-f]{56})/.exec(String(res.headers['set-cookie']))?.[1]);

before(async () => {
  t = await createTestSite();
  await addUser(t.site, { email: 'ivy@example.com', password: 'ivy-password-1' });
  app = await createServer(t.site);
});
after(async () => {
  await app.close();
  await t.cleanup();
});

test('after Administrator impersonates, get_logged_user returns the impersonated user', async () => {
  const admin = sidOf(await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr: 'Administrator', pwd: ADMIN_PASSWORD } }));
  const noReason = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.impersonate', cookies: { sid: admin }, payload: { user: 'ivy@example.com' } });
  assert.equal(noReason.statusCode, 417);
  const res = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.impersonate', cookies: { sid: admin }, payload: { user: 'ivy@example.com', reason: 'support ticket 42' } });
  assert.equal(res.statusCode, 200);
  const me = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', cookies: { sid: sidOf(res) } });
  assert.equal(me.json().message, 'ivy@example.com');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const logged = await t.site.storage.all<{ operation: string; subject: string }>('SELECT "operation", "subject" FROM "tabActivity Log" WHERE "operation" = ?', ['Impersonate']);
  assert.equal(logged.length, 1);
  assert.match(logged[0]?.subject ?? '', /support ticket 42/);
});

test('nobody but Administrator may impersonate', async () => {
  const ivy = sidOf(await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr: 'ivy@example.com', pwd: 'ivy-password-1' } }));
  const res = await app.inject({ method: 'POST', url: '/api/method/frappe.core.doctype.user.user.impersonate', cookies: { sid: ivy }, payload: { user: 'Administrator', reason: 'x' } });
  assert.equal(res.statusCode, 403);
});
