/**
 * The server-rendered pages without a browser: `redirect-to` checking, the two-factor step of
 * the /login form, login CSRF, the home page, /logout (a POST with the session's CSRF token),
 * and /update-password with the current password for a logged-in user.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { generate } from 'otplib';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { safeRedirect } from '../../src/api/pages/login-page.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';

let t: TestSite;
let app: FastifyInstance;
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const body = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const sidOf = (res: { headers: Record<string, unknown> }) => /sid=([0-9a-f]{56})/.exec(String(res.headers['set-cookie']))?.[1];

async function loginPage(usr: string, pwd: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/login', headers: { ...form, ...headers }, payload: body({ usr, pwd, ...extra }) });
}

/** The session's CSRF token as a page embeds it. */
async function pageToken(sid: string, url = '/'): Promise<string> {
  const res = await app.inject({ url, cookies: { sid } });
  const token = /<input type="hidden" name="csrf_token" value="([0-9a-f]+)">/.exec(res.body)?.[1];
  assert.ok(token, res.body);
  return token;
}

const whoami = async (sid: string) => {
  const res = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', cookies: { sid } });
  return res.statusCode === 200 ? String(res.json().message) : res.statusCode;
};

before(async () => {
  t = await createTestSite();
  await addUser(t.site, { email: 'page@example.com', password: 'page-password-1', firstName: 'Page' });
  await addUser(t.site, { email: 'visitor@example.com', password: 'visitor-password-1', userType: 'Website User' });
  await runAs(t.site, 'Administrator', (db) => db.insert({ doctype: 'Role', role_name: 'Page OTP Role', two_factor_auth: 1 }));
  await addUser(t.site, { email: 'otp-page@example.com', password: 'otp-password-1', roles: ['Page OTP Role'] });
  app = await createServer(t.site, { deskDist: '/nonexistent' });
});
after(async () => {
  await app.close();
  await t.cleanup();
});

test('redirect-to: same-site paths only', () => {
  for (const good of ['/app', '/app/user/a%40b.com?x=1#top', '/api/method/frappe.integrations.oauth2.authorize?client_id=x']) assert.equal(safeRedirect(good, 'F'), good);
  for (const bad of ['https://evil.example/', '//evil.example', '/\\evil.example', '\\\\evil.example', 'https:evil.example', '/\t/evil.example', '/\n/evil.example', 'javascript:alert(1)', '', 'app', 42, undefined]) {
    assert.equal(safeRedirect(bad, 'F'), 'F', JSON.stringify(bad));
  }
});

test('/login: System Users land on /app, Website Users on /; a cross-site login form is refused', async () => {
  const sys = await loginPage('page@example.com', 'page-password-1');
  assert.equal(sys.statusCode, 303);
  assert.equal(sys.headers.location, '/app');
  const web = await loginPage('visitor@example.com', 'visitor-password-1');
  assert.equal(web.headers.location, '/');
  const elsewhere = await loginPage('page@example.com', 'page-password-1', { 'redirect-to': 'https://evil.example/' });
  assert.equal(elsewhere.headers.location, '/app');
  const back = await loginPage('page@example.com', 'page-password-1', { 'redirect-to': '/app/todo' });
  assert.equal(back.headers.location, '/app/todo');
  const logged = await app.inject({ url: '/login?redirect-to=//evil.example', cookies: { sid: String(sidOf(web)) } });
  assert.equal(logged.statusCode, 302);
  assert.equal(logged.headers.location, '/', 'a logged-in Website User at /login goes home');

  const csrf = await loginPage('page@example.com', 'page-password-1', {}, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
  assert.equal(csrf.statusCode, 400);
  assert.equal(sidOf(csrf), undefined, 'no session from a cross-site form');
  assert.match(csrf.body, /Invalid Request/);
  const same = await loginPage('page@example.com', 'page-password-1', {}, { origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' });
  assert.equal(same.statusCode, 303);
});

test('/login: the two-factor step (enrolment URI, a wrong code keeps the step, the right code logs in)', async () => {
  await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', enable_two_factor_auth: 1 }));
  authServicesFor(t.site).invalidate('settings');
  try {
    const first = await loginPage('otp-page@example.com', 'otp-password-1', { 'redirect-to': '/app/user' });
    assert.equal(first.statusCode, 200);
    assert.equal(sidOf(first), undefined);
    assert.match(first.body, /<h1>Verification<\/h1>/);
    assert.match(first.body, /<label for="otp">Verification code<\/label>/);
    const uri = /<code[^>]*>(otpauth:[^<]+)<\/code>/.exec(first.body)?.[1]?.replace(/&#38;/g, '&');
    assert.ok(uri, first.body);
    const secret = String(new URL(uri).searchParams.get('secret'));
    const tmpId = /name="tmp_id" value="([^"]+)"/.exec(first.body)?.[1];
    assert.ok(tmpId);
    assert.match(first.body, /name="redirect-to" value="\/app\/user"/);

    const wrong = await app.inject({ method: 'POST', url: '/login', headers: form, payload: body({ tmp_id: tmpId, otp: '000000', 'redirect-to': '/app/user' }) });
    assert.equal(wrong.statusCode, 401);
    assert.match(wrong.body, /role="alert"/);
    assert.match(wrong.body, /name="tmp_id"/, 'the form stays on the verification step');

    const right = await app.inject({ method: 'POST', url: '/login', headers: form, payload: body({ tmp_id: tmpId, otp: await generate({ secret }), 'redirect-to': '/app/user' }) });
    assert.equal(right.statusCode, 303, right.body);
    assert.equal(right.headers.location, '/app/user');
    assert.equal(await whoami(String(sidOf(right))), 'otp-page@example.com');
  } finally {
    await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', enable_two_factor_auth: 0 }));
    authServicesFor(t.site).invalidate('settings');
  }
});

test('/ says who is logged in (Logout form with the token), or offers the login link; /me is the same page', async () => {
  const guest = await app.inject({ url: '/' });
  assert.equal(guest.statusCode, 200);
  assert.match(guest.body, /<a href="\/login">Login<\/a>/);
  assert.doesNotMatch(guest.body, /action="\/logout"/);
  assert.doesNotMatch(String(guest.headers['content-security-policy']), /script-src[^;]*unsafe-inline/);
  const sid = String(sidOf(await loginPage('page@example.com', 'page-password-1')));
  const home = await app.inject({ url: '/me', cookies: { sid } });
  assert.match(home.body, /logged in as <strong>Page<\/strong> \(page@example\.com\)/);
  assert.match(home.body, /<a href="\/app">Open the desk<\/a>/);
  assert.match(home.body, /<form method="post" action="\/logout"><input type="hidden" name="csrf_token" value="[0-9a-f]{56}">/);
});

test('/logout: POST only, with the CSRF token; it ends the session and goes to /login', async () => {
  assert.equal((await app.inject({ url: '/logout' })).statusCode, 405);
  const sid = String(sidOf(await loginPage('page@example.com', 'page-password-1')));
  // A session that never showed a page holds no token: no form could have been posted.
  const early = await app.inject({ method: 'POST', url: '/logout', cookies: { sid }, headers: form, payload: '' });
  assert.equal(early.statusCode, 400);
  const token = await pageToken(sid);
  const forged = await app.inject({ method: 'POST', url: '/logout', cookies: { sid }, headers: form, payload: body({ csrf_token: 'f'.repeat(56) }) });
  assert.equal(forged.statusCode, 400);
  assert.equal(await whoami(sid), 'page@example.com');
  const out = await app.inject({ method: 'POST', url: '/logout', cookies: { sid }, headers: form, payload: body({ csrf_token: token }) });
  assert.equal(out.statusCode, 303);
  assert.equal(out.headers.location, '/login');
  assert.match(String(out.headers['set-cookie']), /sid=;/);
  assert.equal(await whoami(sid), 403);
  const guest = await app.inject({ method: 'POST', url: '/logout', headers: form, payload: '' });
  assert.equal(guest.statusCode, 303, 'a guest is simply sent to /login');
});

test('/update-password for a logged-in user asks for the current password; other sessions end', async () => {
  const other = String(sidOf(await loginPage('page@example.com', 'page-password-1')));
  const sid = String(sidOf(await loginPage('page@example.com', 'page-password-1')));
  const pageRes = await app.inject({ url: '/update-password', cookies: { sid } });
  assert.match(pageRes.body, /<label for="old_password">Current password<\/label>/);
  const token = /name="csrf_token" value="([0-9a-f]+)"/.exec(pageRes.body)?.[1];
  assert.ok(token);
  const post = (fields: Record<string, string>) => app.inject({ method: 'POST', url: '/update-password', cookies: { sid }, headers: form, payload: body({ csrf_token: String(token), ...fields }) });
  const wrong = await post({ old_password: 'nope', new_password: 'page-password-2', confirm_password: 'page-password-2' });
  assert.equal(wrong.statusCode, 401);
  assert.match(wrong.body, /Incorrect current password/);
  const done = await post({ old_password: 'page-password-1', new_password: 'page-password-2', confirm_password: 'page-password-2' });
  assert.equal(done.statusCode, 303);
  assert.equal(done.headers.location, '/app');
  assert.equal(await whoami(other), 403, 'the other session ended');
  assert.equal(await whoami(String(sidOf(done))), 'page@example.com');
  const noKey = await app.inject({ url: '/update-password' });
  assert.match(noKey.body, /needs the link from a password reset email/);
});
