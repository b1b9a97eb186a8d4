/**
 * The desk routes without a browser: `/app` for System Users only (guests to /login with the
 * path to come back to, Website Users to /), the boot script injected with a fresh nonce under
 * a CSP without 'unsafe-inline' scripts, the build's assets (cache headers, content types,
 * ETag/304, no way out of the build folder), and 503 while the desk is not built.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { confinedPath, injectBoot, scriptSafeJson } from '../../src/api/routes/desk-routes.ts';
import { createTestSite, ADMIN_PASSWORD, type TestSite } from '../helpers/test-site.ts';
import { writeFakeDesk } from '../e2e/browser-harness.ts';

let t: TestSite;
let app: FastifyInstance;
let unbuilt: FastifyInstance;
let dist: string;
let empty: string;
const sids: Record<string, string> = {};

async function login(usr: string, pwd: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr, pwd } });
  assert.equal(res.statusCode, 200, res.body);
  const sid = /sid=([0-9a-f]+)/.exec(String(res.headers['set-cookie']))?.[1];
  assert.ok(sid);
  return sid;
}

before(async () => {
  t = await createTestSite();
  dist = writeFakeDesk();
  // A secret-looking file next to the build: it must stay out of reach.
  writeFileSync(join(dist, '..', `${dist.split('/').pop()}-secret.txt`), 'TOP-SECRET-CONTENT');
  empty = mkdtempSync(join(tmpdir(), 'cortado-no-desk-'));
  await addUser(t.site, { email: 'sys@example.com', password: 'sys-password-1', firstName: 'Sys', lastName: '</script><b>' });
  await addUser(t.site, { email: 'web@example.com', password: 'web-password-1', userType: 'Website User' });
  app = await createServer(t.site, { deskDist: dist });
  unbuilt = await createServer(t.site, { deskDist: empty });
  sids.sys = await login('sys@example.com', 'sys-password-1');
  sids.web = await login('web@example.com', 'web-password-1');
  sids.admin = await login('Administrator', ADMIN_PASSWORD);
});

after(async () => {
  await app.close();
  await unbuilt.close();
  await t.cleanup();
  rmSync(dist, { recursive: true, force: true });
  rmSync(`${dist}-secret.txt`, { force: true });
  rmSync(empty, { recursive: true, force: true });
});

test('a guest opening /app or a deep /app path is sent to /login with the path to come back to', async () => {
  const res = await app.inject({ url: '/app' });
  assert.equal(res.statusCode, 302);
  assert.equal(res.headers.location, '/login?redirect-to=%2Fapp');
  const deep = await app.inject({ url: '/app/user/someone%40example.com/edit?x=1' });
  assert.equal(deep.statusCode, 302);
  const location = new URL(String(deep.headers.location), 'http://localhost');
  assert.equal(location.pathname, '/login');
  assert.equal(location.searchParams.get('redirect-to'), '/app/user/someone%40example.com/edit?x=1');
});

test('a Website User opening /app is sent to /', async () => {
  const res = await app.inject({ url: '/app/user', cookies: { sid: sids.web as string } });
  assert.equal(res.statusCode, 302);
  assert.equal(res.headers.location, '/');
});

test('a System User gets index.html with the CSRF token and boot data in a nonce script, under a strict CSP', async () => {
  const first = await app.inject({ url: '/app/user', cookies: { sid: sids.sys as string } });
  assert.equal(first.statusCode, 200);
  assert.match(String(first.headers['content-type']), /^text\/html/);
  const csp = String(first.headers['content-security-policy']);
  const nonce = /script-src 'self' 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
  assert.ok(nonce, csp);
  assert.ok(!/script-src[^;]*unsafe-inline/.test(csp), 'no unsafe-inline scripts');
  for (const part of ["default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "connect-src 'self'"]) assert.ok(csp.includes(part), part);
  assert.equal(first.headers['x-frame-options'], 'DENY');
  assert.equal(first.headers['x-content-type-options'], 'nosniff');
  assert.ok(first.headers['referrer-policy']);
  assert.match(String(first.headers['cache-control']), /no-store/);

  const script = new RegExp(`<script nonce="${nonce.replace(/[+/]/g, (c) => `\\${c}`)}">window\\.csrf_token="([0-9a-f]+)";window\\.cortado_boot=(\\{.*?\\})</script></head>`).exec(first.body);
  assert.ok(script, first.body);
  const boot = JSON.parse(String(script[2])) as { user: string; full_name: string; user_type: string; roles: string[] };
  assert.equal(boot.user, 'sys@example.com');
  assert.equal(boot.user_type, 'System User');
  assert.ok(boot.roles.includes('Desk User'));
  assert.equal(boot.full_name, 'Sys </script><b>');
  assert.ok(!first.body.includes('</script><b>'), 'the name cannot close the script element');
  assert.match(first.body, /<script type="module" crossorigin src="\/assets\/desk\/assets\/index-Ab12Cd34\.js"><\/script>/);

  // The token is the session's: a write with it passes the CSRF check, one without it does not.
  const token = String(script[1]);
  const withToken = await app.inject({ method: 'POST', url: '/api/resource/ToDo', cookies: { sid: sids.sys as string }, headers: { 'x-frappe-csrf-token': token }, payload: { description: 'desk' } });
  assert.equal(withToken.statusCode, 200, withToken.body);
  const without = await app.inject({ method: 'POST', url: '/api/resource/ToDo', cookies: { sid: sids.sys as string }, payload: { description: 'no token' } });
  assert.equal(without.statusCode, 400);
  assert.equal(without.json().exc_type, 'CSRFTokenError');

  // A fresh nonce for every response; the same token for the session.
  const second = await app.inject({ url: '/app', cookies: { sid: sids.sys as string } });
  const nonce2 = /'nonce-([^']+)'/.exec(String(second.headers['content-security-policy']))?.[1];
  assert.ok(nonce2 && nonce2 !== nonce);
  assert.ok(second.body.includes(`window.csrf_token="${token}"`));
  assert.ok(second.body.includes(`<script nonce="${nonce2}">`));

  const admin = await app.inject({ url: '/app/system-settings', cookies: { sid: sids.admin as string } });
  assert.equal(admin.statusCode, 200);
  assert.ok(admin.body.includes('"Administrator"'));
});

test('/assets/desk/: content types, year-long caching for hashed assets, ETag and 304', async () => {
  const js = await app.inject({ url: '/assets/desk/assets/index-Ab12Cd34.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.headers['x-content-type-options'], 'nosniff');
  assert.match(js.body, /cortado_boot/);
  const css = await app.inject({ url: '/assets/desk/assets/index-Ef56Gh78.css' });
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  const svg = await app.inject({ url: '/assets/desk/favicon.svg' });
  assert.equal(svg.statusCode, 200);
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  assert.equal(svg.headers['cache-control'], 'public, max-age=0, must-revalidate', 'not hashed: revalidated');
  const favicon = await app.inject({ url: '/favicon.ico' });
  assert.equal(favicon.statusCode, 200);
  assert.equal(favicon.headers['content-type'], 'image/svg+xml');
  assert.equal((await unbuilt.inject({ url: '/favicon.ico' })).statusCode, 204);
  const etag = String(js.headers.etag);
  assert.ok(etag);
  const again = await app.inject({ url: '/assets/desk/assets/index-Ab12Cd34.js', headers: { 'if-none-match': etag } });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
  const head = await app.inject({ method: 'HEAD', url: '/assets/desk/assets/index-Ab12Cd34.js' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, '');
  const post = await app.inject({ method: 'POST', url: '/assets/desk/assets/index-Ab12Cd34.js' });
  assert.equal(post.statusCode, 405);
  assert.equal((await app.inject({ url: '/assets/desk/assets/missing-00000000.js' })).statusCode, 404);
  assert.equal((await app.inject({ url: '/assets/desk/assets' })).statusCode, 404, 'a folder is not a file');
});

test('/assets/desk/ never leaves the build folder', async () => {
  const name = `${dist.split('/').pop()}-secret.txt`;
  for (const path of [
    `/assets/desk/../${name}`,
    `/assets/desk/%2e%2e/${name}`,
    `/assets/desk/%2E%2E%2F${name}`,
    `/assets/desk/assets/..%2F..%2F${name}`,
    `/assets/desk/..%5C${name}`,
    '/assets/desk/%2Fetc%2Fpasswd',
    '/assets/desk//etc/passwd',
    '/assets/desk/assets/%00.js',
    '/assets/desk/.hidden',
    '/assets/desk/%E0%A4%A',
  ]) {
    const res = await app.inject({ url: path });
    assert.ok(res.statusCode === 404 || res.statusCode === 400, `${path} → ${res.statusCode} ${res.body.slice(0, 200)}`);
    assert.ok(!res.body.includes('TOP-SECRET-CONTENT'), path);
  }
  assert.equal(confinedPath('/srv/dist', '../dist-secret.txt'), undefined);
  assert.equal(confinedPath('/srv/dist', 'a/../../x'), undefined);
  assert.equal(confinedPath('/srv/dist', 'assets/app-12345678.js'), '/srv/dist/assets/app-12345678.js');
});

test('503 with a clear message while the desk is not built', async () => {
  const res = await unbuilt.inject({ url: '/app', cookies: { sid: sids.sys as string } });
  assert.equal(res.statusCode, 503);
  assert.match(String(res.headers['content-type']), /^text\/html/);
  assert.match(res.body, /The desk is not built: run <code>npm run build:ui<\/code>/);
  assert.equal((await unbuilt.inject({ url: '/app' })).statusCode, 302, 'guests still go to /login');
});

test('the boot JSON is safe inside a script element', () => {
  assert.equal(scriptSafeJson('</script>&\u2028'), '"\\u003c/script\\u003e\\u0026\\u2028"');
  const html = injectBoot('<html><head><title>x</title></HEAD><body></body></html>', 'abc', 'tok', { user: 'u', full_name: '<b>', user_type: 'System User', roles: [] });
  assert.match(html, /<script nonce="abc">window\.csrf_token="tok";window\.cortado_boot=\{"user":"u","full_name":"\\u003cb\\u003e",.*<\/script><\/HEAD>/);
});
