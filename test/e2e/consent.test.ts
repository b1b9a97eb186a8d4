/**
 * The OAuth consent page in a real browser: an authorization-code + PKCE flow where a guest is
 * sent to /login and back, sees the application's name, logo and each scope in plain words,
 * clicks Allow, and the client (a second local HTTP server) gets a code that Node exchanges
 * for a token and uses on userinfo. Deny sends `access_denied` to the redirect_uri; a consent
 * POST with a wrong CSRF token is refused. Screenshot: test-output/screenshots/consent.png.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { runAs } from '../helpers/run-as.ts';
import { BROWSER_TEST_TIMEOUT, browserAvailable, createUser, launchBrowser, screenshot, skipReason, startDeskServer, type DeskServer } from './browser-harness.ts';

const ALICE = { email: 'alice@example.com', password: 'alice-password-1' };
const M = '/api/method/frappe.integrations.oauth2.';
const LOGO = "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 4 4'><rect width='4' height='4' fill='%232490ef'/></svg>";

describe('OAuth consent in Chromium', { skip: skipReason, timeout: BROWSER_TEST_TIMEOUT * 3 }, () => {
  let server: DeskServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let client: Server;
  let callbackBase = '';
  let clientId = '';
  const callbacks: URL[] = [];

  before(
    async () => {
      if (!browserAvailable) return;
      server = await startDeskServer({ fakeDesk: true });
      await createUser(server.site, { ...ALICE, firstName: 'Alice' });
      // The client application: a second local server that receives the redirect.
      client = createHttpServer((request, response) => {
        const url = new URL(request.url ?? '/', callbackBase);
        // Only the redirect counts (the browser also asks for /favicon.ico).
        if (url.pathname === '/callback') callbacks.push(url);
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Client</title><p>callback received</p>');
      });
      client.listen(0, '127.0.0.1');
      await once(client, 'listening');
      callbackBase = `http://127.0.0.1:${(client.address() as AddressInfo).port}`;
      const doc = await runAs(server.site, 'Administrator', (db) =>
        db.insert({
          doctype: 'OAuth Client',
          app_name: 'Acme Notes',
          redirect_uris: `${callbackBase}/callback`,
          default_redirect_uri: `${callbackBase}/callback`,
          scopes: 'openid email ToDo:read',
          token_endpoint_auth_method: 'None',
          logo_uri: LOGO,
          client_uri: 'https://notes.example',
        }),
      );
      clientId = String(doc.client_id);
      assert.ok(clientId);
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
    client?.close();
    await server?.close();
  });

  function authorizeUrl(state: string, challenge: string): string {
    const params = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: `${callbackBase}/callback`,
      scope: 'openid email ToDo:read',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    return `${server.url}${M}authorize?${params.toString().replace(/\+/g, '%20')}`;
  }

  function pkce() {
    const verifier = randomBytes(32).toString('base64url');
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
  }

  async function waitForCallback(count: number): Promise<URL> {
    await page.waitForURL((url) => url.origin === callbackBase);
    assert.equal(callbacks.length, count);
    return callbacks[count - 1] as URL;
  }

  test('Allow: a guest logs in, consents, and the client exchanges the code (PKCE) and calls userinfo', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    await page.goto(authorizeUrl(state, challenge));
    const login = new URL(page.url());
    assert.equal(login.pathname, '/login', 'a guest is asked to log in first');
    assert.match(String(login.searchParams.get('redirect-to')), /^\/api\/method\/frappe\.integrations\.oauth2\.authorize\?/);
    await page.getByLabel('Email or user name').fill(ALICE.email);
    await page.getByLabel('Password', { exact: true }).fill(ALICE.password);
    const [consent] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === `${M}authorize` && r.status() === 200),
      page.getByRole('button', { name: 'Login' }).click(),
    ]);
    await page.waitForLoadState('load');

    // The consent page: no framing, no script, the app's name and logo, each scope in words.
    const headers = consent.headers();
    assert.match(String(headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.ok(!/script-src[^;]*unsafe-inline/.test(String(headers['content-security-policy'])));
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(await page.locator('script').count(), 0);
    assert.equal((await page.getByRole('heading', { level: 1 }).textContent())?.trim(), 'Allow Acme Notes?');
    const logo = page.getByRole('img', { name: 'Acme Notes logo' });
    assert.equal(await logo.evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0), true, 'the logo is shown');
    const scopes = (await page.locator('main li').allTextContents()).map((s) => s.trim());
    assert.deepEqual(scopes, ['Know who you are: your full name, email, picture and roles', 'See your email address', 'Read ToDo documents']);
    assert.equal(await page.locator(`form[method="post"][action="${M}approve"] input[name="csrf_token"]`).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Logout' }).count(), 1, 'not Alice? log out');
    await screenshot(page, 'consent');

    await page.getByRole('button', { name: 'Allow' }).click();
    const callback = await waitForCallback(1);
    assert.equal(callback.pathname, '/callback');
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('error'), null);
    const code = callback.searchParams.get('code');
    assert.ok(code);

    const tokenRes = await fetch(`${server.url}${M}get_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${callbackBase}/callback`, client_id: clientId, code_verifier: verifier }),
    });
    const tokens = (await tokenRes.json()) as { access_token?: string; id_token?: string; scope?: string };
    assert.equal(tokenRes.status, 200, JSON.stringify(tokens));
    assert.ok(tokens.access_token && tokens.id_token);
    const userinfo = await fetch(`${server.url}${M}openid_profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(userinfo.status, 200);
    const profile = (await userinfo.json()) as { email?: string; sub?: string };
    assert.equal(profile.email, ALICE.email);
    assert.ok(profile.sub);
    // The code is single-use.
    const again = await fetch(`${server.url}${M}get_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${callbackBase}/callback`, client_id: clientId, code_verifier: verifier }),
    });
    assert.equal(again.status, 400);
  });

  test('Deny sends access_denied to the redirect_uri; a wrong CSRF token is refused', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const { challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    await page.goto(authorizeUrl(state, challenge));
    assert.equal((await page.getByRole('heading', { level: 1 }).textContent())?.trim(), 'Allow Acme Notes?', 'logged in: straight to consent');

    // A forged form (the right fields, another token) is refused and nothing reaches the client.
    await page.locator(`form[action="${M}approve"] input[name="csrf_token"]`).evaluate((input: { value: string }) => void (input.value = 'forged'));
    const [refused] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === `${M}approve`), page.getByRole('button', { name: 'Allow' }).click()]);
    assert.equal(refused.status(), 400);
    assert.match(await refused.text(), /Invalid Request/);
    assert.equal(callbacks.length, 1);

    await page.goto(authorizeUrl(state, challenge));
    await page.getByRole('button', { name: 'Deny' }).click();
    const callback = await waitForCallback(2);
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('code'), null);
  });
});
