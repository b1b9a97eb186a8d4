/**
 * CSRF in a real browser. The /app shell hands the desk the session's token
 * (`window.csrf_token`, set by a nonce'd script under a CSP without 'unsafe-inline' scripts),
 * and same-origin writes carrying it pass. Then an attacker page on a SECOND local server
 * auto-submits forms to cortado with the victim's session:
 * - from `http://127.0.0.1:<other port>` (same site, other origin: SameSite=Lax still sends
 *   the cookie) the origin check refuses the write with CSRFTokenError 400, and a login-CSRF
 *   form POST to /login is refused too;
 * - from `http://localhost:<other port>` (another site) the browser does not send the Lax
 *   cookie at all, so the request runs as Guest and is refused;
 * and nothing is written either way.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BROWSER_TEST_TIMEOUT, browserAvailable, createUser, launchBrowser, loginInBrowser, skipReason, startDeskServer, type DeskServer } from './browser-harness.ts';

const SYS = { email: 'victim@example.com', password: 'victim-password-1' };
const MALLORY = { email: 'mallory@example.com', password: 'mallory-password-1' };

describe('CSRF in Chromium', { skip: skipReason, timeout: BROWSER_TEST_TIMEOUT * 3 }, () => {
  let server: DeskServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let attacker: Server;
  let attackerPort = 0;

  /** The attacker's pages: a form that submits itself to cortado on load. */
  function attackPage(path: string): string {
    const doc = JSON.stringify({ doctype: 'ToDo', description: 'pwned by csrf' });
    const form =
      path === '/login'
        ? `<form method="post" action="${server.url}/login"><input name="usr" value="${MALLORY.email}"><input name="pwd" value="${MALLORY.password}"></form>`
        : `<form method="post" action="${server.url}/api/method/frappe.client.insert"><input name="doc" value='${doc}'></form>`;
    return `<!doctype html><title>Win a prize</title>${form}<script>document.forms[0].submit()</script>`;
  }

  async function todos(): Promise<number> {
    const row = await server.site.storage.get<{ n: number }>('SELECT COUNT(*) AS n FROM "tabToDo" WHERE "description" = ?', ['pwned by csrf']);
    return Number(row?.n ?? 0);
  }

  /** Opens an attacker page and returns cortado's answer to the form it submitted. */
  async function attack(origin: string, path: string) {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(server.url) && r.request().method() === 'POST'),
      page.goto(`${origin}${path}`),
    ]);
    return { status: response.status(), text: await response.text() };
  }

  before(
    async () => {
      if (!browserAvailable) return;
      server = await startDeskServer({ fakeDesk: true });
      await createUser(server.site, { ...SYS, firstName: 'Victim' });
      await createUser(server.site, MALLORY);
      attacker = createHttpServer((request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(attackPage(new URL(request.url ?? '/', 'http://x').pathname));
      });
      attacker.listen(0, '127.0.0.1');
      await once(attacker, 'listening');
      attackerPort = (attacker.address() as AddressInfo).port;
      browser = await launchBrowser();
      context = await browser.newContext();
      page = await context.newPage();
      page.setDefaultTimeout(30_000);
      page.setDefaultNavigationTimeout(30_000);
    },
    { timeout: BROWSER_TEST_TIMEOUT },
  );

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    attacker?.close();
    await server?.close();
  });

  test("the /app shell embeds the session's CSRF token under a CSP without inline scripts; same-origin writes with it pass", { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    await loginInBrowser(page, server.url, SYS.email, SYS.password);
    const response = await page.goto(`${server.url}/app/todo`);
    assert.equal(response?.status(), 200);
    const csp = String(response?.headers()['content-security-policy']);
    const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
    assert.match(scriptSrc, /^'self' 'nonce-[A-Za-z0-9+/=]+'$/);
    assert.ok(!/script-src[^;]*'unsafe-inline'/.test(csp), 'no inline scripts allowed');
    assert.match(csp, /frame-ancestors 'none'/);
    const token = String(await page.evaluate('window.csrf_token'));
    assert.match(token, /^[0-9a-f]{56}$/);
    const boot = (await page.evaluate('window.cortado_boot')) as { user: string; user_type: string };
    assert.equal(boot.user, SYS.email);
    assert.equal(boot.user_type, 'System User');

    // The desk's way to write: fetch with the token header.
    const write = await page.evaluate(async (csrf) => {
      const res = await fetch('/api/resource/ToDo', { method: 'POST', headers: { 'content-type': 'application/json', 'x-frappe-csrf-token': csrf }, body: JSON.stringify({ description: 'from the desk' }) });
      return res.status;
    }, token);
    assert.equal(write, 200);
    const forged = await page.evaluate(async () => {
      const res = await fetch('/api/resource/ToDo', { method: 'POST', headers: { 'content-type': 'application/json', 'x-frappe-csrf-token': 'nope' }, body: JSON.stringify({ description: 'pwned by csrf' }) });
      return { status: res.status, body: (await res.json()) as { exc_type?: string } };
    });
    assert.equal(forged.status, 400);
    assert.equal(forged.body.exc_type, 'CSRFTokenError');
  });

  test('a same-site page on another port gets the cookie sent but is refused by the origin check (CSRFTokenError)', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const write = await attack(`http://127.0.0.1:${attackerPort}`, '/todo');
    // CSRFTokenError (not a Guest's PermissionError) shows the session cookie went along.
    assert.equal(write.status, 400, write.text.slice(0, 300));
    assert.match(write.text, /Invalid Request/);
    assert.equal(await todos(), 0, 'nothing was written');

    // Login CSRF: the attacker's form cannot log this browser in as Mallory.
    const login = await attack(`http://127.0.0.1:${attackerPort}`, '/login');
    assert.equal(login.status, 400);
    const me = await page.evaluate(async () => (await (await fetch('/api/method/frappe.auth.get_logged_user')).json()) as { message: string });
    assert.equal(me.message, SYS.email, 'still the victim');
  });

  test('a cross-site page does not even get the SameSite=Lax cookie sent: the write runs as Guest and is refused', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const write = await attack(`http://localhost:${attackerPort}`, '/todo');
    assert.equal(write.status, 403, write.text.slice(0, 300));
    assert.match(write.text, /Login to access|not permitted|Not permitted/i);
    assert.equal(await todos(), 0, 'nothing was written');
    const sid = (await context.cookies(server.url)).find((c) => c.name === 'sid');
    assert.equal(sid?.sameSite, 'Lax');
    assert.equal(sid?.httpOnly, true);
  });
});
