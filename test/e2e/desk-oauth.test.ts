/**
 * OAuth in the desk, in Chromium: a client made in the form shows its ID and secret once (they
 * work at the token endpoint), "Regenerate secret", the user's Authorized applications with
 * Revoke (the client's tokens stop working), a client made in the form completing a code + PKCE
 * flow through the consent page, and the OAuth Settings form.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BROWSER_TEST_TIMEOUT, browserAvailable, launchBrowser, skipReason, startDeskServer, type DeskServer } from './browser-harness.ts';
import { createOAuthClientInDesk, gotoDesk, openDesk, readSecretDialog, shot, toast } from './desk-kit.ts';

describe('desk: OAuth clients and authorized applications', { skip: skipReason, timeout: BROWSER_TEST_TIMEOUT * 3 }, () => {
  let server: DeskServer;
  let browser: Browser;
  let page: Page;
  let client: { client_id: string; client_secret: string };

  /** A client-credentials token for the client, or the token endpoint's status. */
  async function token(id: string, secret: string): Promise<string | number> {
    const res = await fetch(`${server.url}/api/method/frappe.integrations.oauth2.get_token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    return res.status === 200 ? ((await res.json()) as { access_token: string }).access_token : res.status;
  }

  async function whoAmI(bearer: string): Promise<string | number> {
    const res = await fetch(`${server.url}/api/method/frappe.auth.get_logged_user`, { headers: { Authorization: `Bearer ${bearer}`, Accept: 'application/json' } });
    return res.status === 200 ? ((await res.json()) as { message: string }).message : res.status;
  }

  before(async () => {
    if (!browserAvailable) return;
    server = await startDeskServer();
    browser = await launchBrowser();
    ({ page } = await openDesk(browser, server.url, '/app/oauth-client'));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('a client made in the form shows its ID and secret once, and they work', async () => {
    client = await createOAuthClientInDesk(page, server.url, {
      appName: 'Reporting service',
      redirectUri: 'https://reports.example.com/callback',
      grantType: 'Client Credentials',
      user: 'Administrator',
    });
    assert.match(client.client_id, /^[0-9a-z]{10}$/);
    assert.ok(client.client_secret.length >= 32);
    await page.waitForURL(new RegExp(`/app/oauth-client/${client.client_id}$`));
    await page.getByRole('heading', { level: 1, name: 'Reporting service' }).waitFor();
    assert.equal(await page.getByText(client.client_secret).count(), 0, 'the secret is not on the page once the dialog is closed');
    const access = await token(client.client_id, client.client_secret);
    assert.equal(typeof access, 'string');
    assert.equal(await whoAmI(String(access)), 'Administrator');
    await shot(page, 'desk-oauth-client-form');

    await gotoDesk(page, server.url, '/app/oauth-client', 'OAuth Clients');
    await page.locator('tbody tr', { hasText: 'Reporting service' }).waitFor();
    await shot(page, 'desk-oauth-clients-list');
  });

  test('"Regenerate secret" replaces the secret at once', async () => {
    await gotoDesk(page, server.url, `/app/oauth-client/${client.client_id}`, 'Reporting service');
    await page.getByRole('button', { name: 'Regenerate secret' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Regenerate' }).click();
    const values = await readSecretDialog(page, ['client-id', 'client-secret']);
    assert.equal(values['client-id'], client.client_id);
    assert.notEqual(values['client-secret'], client.client_secret);
    assert.equal(await token(client.client_id, client.client_secret), 401);
    assert.equal(typeof (await token(client.client_id, values['client-secret'] ?? '')), 'string');
    client = { client_id: client.client_id, client_secret: values['client-secret'] ?? '' };
  });

  test('Authorized applications lists the grant; Revoke ends its tokens', async () => {
    const access = String(await token(client.client_id, client.client_secret));
    assert.equal(await whoAmI(access), 'Administrator');
    await gotoDesk(page, server.url, '/app/authorized-applications', 'Authorized applications');
    const item = page.locator(`li[data-client="${client.client_id}"]`);
    await item.getByText('Reporting service').waitFor();
    await shot(page, 'desk-authorized-apps');
    await item.getByRole('button', { name: 'Revoke access of Reporting service' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke access' }).click();
    await toast(page, 'no longer has access');
    await item.waitFor({ state: 'detached' });
    assert.equal(await whoAmI(access), 401);
  });

  test('a public client gets an ID and no secret', async () => {
    await gotoDesk(page, server.url, '/app/oauth-client/new', 'New OAuth Client');
    await page.getByLabel('App Name').fill('Browser app');
    await page.getByRole('textbox', { name: 'Redirect URIs' }).fill('http://localhost:5173/callback');
    await page.getByLabel('Token Endpoint Auth Method').selectOption('None');
    await page.getByRole('button', { name: 'Save' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByTestId('client-id').waitFor();
    assert.equal(await dialog.getByTestId('client-secret').count(), 0);
    await dialog.getByRole('button', { name: 'Done' }).click();
    assert.equal(await page.getByRole('button', { name: 'Regenerate secret' }).count(), 0);
  });

  test('a client made in the form completes a code + PKCE flow through the consent page', async () => {
    const callbacks: URL[] = [];
    const app = createHttpServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/callback') callbacks.push(url);
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Client</title><p>callback received</p>');
    });
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    try {
      const redirectUri = `http://127.0.0.1:${(app.address() as AddressInfo).port}/callback`;
      const made = await createOAuthClientInDesk(page, server.url, { appName: 'Notes app', redirectUri, grantType: 'Authorization Code', scopes: 'openid email' });
      const verifier = randomBytes(32).toString('base64url');
      const state = randomBytes(8).toString('hex');
      const query = new URLSearchParams({
        client_id: made.client_id,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'openid email',
        state,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      });
      await page.goto(`${server.url}/api/method/frappe.integrations.oauth2.authorize?${query.toString().replace(/\+/g, '%20')}`);
      assert.equal((await page.getByRole('heading', { level: 1 }).textContent())?.trim(), 'Allow Notes app?');
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL((url) => url.href.startsWith(redirectUri));
      const callback = callbacks.at(-1);
      assert.equal(callback?.searchParams.get('state'), state);
      const code = callback?.searchParams.get('code');
      assert.ok(code, 'the client received a code');

      const res = await fetch(`${server.url}/api/method/frappe.integrations.oauth2.get_token`, {
        method: 'POST',
        headers: { Authorization: `Basic ${Buffer.from(`${made.client_id}:${made.client_secret}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
      });
      const tokens = (await res.json()) as { access_token?: string; id_token?: string };
      assert.equal(res.status, 200, JSON.stringify(tokens));
      assert.ok(tokens.id_token, 'openid gives an ID token');
      assert.equal(await whoAmI(String(tokens.access_token)), 'Administrator');
    } finally {
      app.close();
    }
  });

  test('OAuth Settings is a single form that saves', async () => {
    await gotoDesk(page, server.url, '/app/oauth-settings', 'OAuth Settings');
    await page.getByLabel('Access Token Lifetime').fill('1800');
    await page.getByRole('button', { name: 'Save' }).click();
    await toast(page, 'Saved');
    const row = await server.site.storage.get<{ value: string }>('SELECT "value" FROM "tabSingles" WHERE "doctype" = ? AND "field" = ?', ['OAuth Settings', 'access_token_lifetime']);
    assert.equal(Number(row?.value), 1800);
    await shot(page, 'desk-oauth-settings');
  });
});
