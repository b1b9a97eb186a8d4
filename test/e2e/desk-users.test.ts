/**
 * The desk's Users pages and API access in Chromium: the home page, creating a user in the
 * form and disabling them, "Generate Keys" (the secret from the dialog authenticates a
 * request), and named API keys made, rotated and revoked from the User form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BROWSER_TEST_TIMEOUT, browserAvailable, createUser, launchBrowser, skipReason, startDeskServer, type DeskServer } from './browser-harness.ts';
import { gotoDesk, isFocused, openDesk, readSecretDialog, shot, toast } from './desk-kit.ts';

const API_USER = { email: 'api@example.com', password: 'api-password-1', firstName: 'Api', lastName: 'Caller' };

describe('desk: users and API access', { skip: skipReason, timeout: BROWSER_TEST_TIMEOUT * 3 }, () => {
  let server: DeskServer;
  let browser: Browser;
  let page: Page;

  async function whoAmI(key: string, secret: string): Promise<string | number> {
    const res = await fetch(`${server.url}/api/method/frappe.auth.get_logged_user`, { headers: { Authorization: `token ${key}:${secret}`, Accept: 'application/json' } });
    return res.status === 200 ? ((await res.json()) as { message: string }).message : res.status;
  }

  const userRow = (name: string) => server.site.storage.get<{ enabled: number; first_name: string }>('SELECT "enabled", "first_name" FROM "tabUser" WHERE "name" = ?', [name]);

  before(async () => {
    if (!browserAvailable) return;
    server = await startDeskServer();
    await createUser(server.site, API_USER);
    browser = await launchBrowser();
    ({ page } = await openDesk(browser, server.url, '/app'));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('home: cards for the desk pages and every readable DocType', async () => {
    await gotoDesk(page, server.url, '/app', 'Home');
    await page.getByRole('link', { name: /^Users/ }).first().waitFor();
    await page.getByRole('region', { name: 'DocTypes' }).getByRole('link', { name: 'ToDo' }).waitFor();
    await shot(page, 'desk-home');
  });

  test('a user is created in the form, then disabled', async () => {
    await gotoDesk(page, server.url, '/app/user/new', 'New User');
    await page.getByLabel('Email').fill('jane@example.com');
    await page.getByLabel('First name').fill('Jane');
    await page.getByLabel('Last name').fill('Doe');
    await page.getByLabel('System Manager').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/\/app\/user\/jane(%40|@)example\.com$/);
    await page.getByRole('heading', { level: 1, name: 'Jane Doe' }).waitFor();
    assert.deepEqual({ ...(await userRow('jane@example.com')) }, { enabled: 1, first_name: 'Jane' });
    const roles = await server.site.storage.all<{ role: string }>('SELECT "role" FROM "tabHas Role" WHERE "parent" = ? AND "parenttype" = \'User\'', ['jane@example.com']);
    assert.deepEqual(roles.map((r) => r.role), ['System Manager']);

    await page.getByLabel('Enabled', { exact: true }).uncheck();
    await page.getByText('Not Saved').waitFor();
    // The first save's "Saved" toast may still be showing: wait for this save's answer instead.
    const saved = page.waitForResponse((response) => response.request().method() === 'PUT' && response.url().includes('/api/resource/User/'));
    await page.getByRole('button', { name: 'Save' }).click();
    assert.equal((await saved).status(), 200);
    assert.equal((await userRow('jane@example.com'))?.enabled, 0);

    // The server's refusal reaches the user as an alert with its message.
    await gotoDesk(page, server.url, '/app/user/new', 'New User');
    await page.getByLabel('Email').fill('jane@example.com');
    await page.getByLabel('First name').fill('Another Jane');
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'a User with this Email already exists' });
    await alert.getByText('Duplicate Entry').waitFor();
    await alert.getByRole('button', { name: 'Dismiss' }).click();
    await alert.waitFor({ state: 'detached' });

    await gotoDesk(page, server.url, '/app/user', 'Users');
    // Users: Guest, Administrator, api@ and jane@; the count line says when a list has loaded.
    const rows = page.locator('tbody tr');
    await page.getByText('1–4 of 4').waitFor();
    await page.getByLabel('Status').selectOption('0');
    await page.waitForURL(/enabled=0/);
    await page.getByText('1–1 of 1').waitFor();
    assert.match((await rows.textContent()) ?? '', /Jane Doe/);
    await page.getByLabel('Status').selectOption('');
    await page.getByText('1–4 of 4').waitFor();
    await page.getByLabel('Name or email').fill('jane');
    await page.waitForURL(/q=jane/);
    await page.getByText('1–1 of 1').waitFor();
    assert.match((await rows.textContent()) ?? '', /Jane Doe/);
    await page.getByLabel('Name or email').fill('');
    await page.getByText('1–4 of 4').waitFor();
    await shot(page, 'desk-users-list');
  });

  test('Generate Keys shows a secret that authenticates as the user', async () => {
    await gotoDesk(page, server.url, `/app/user/${encodeURIComponent(API_USER.email)}`, 'Api Caller');
    await page.getByRole('button', { name: 'Generate Keys' }).click();
    const keys = await readSecretDialog(page, ['api-key', 'api-secret']);
    assert.match(keys['api-key'] ?? '', /^[0-9a-f]{15}$/);
    assert.ok((keys['api-secret'] ?? '').length >= 15);
    assert.equal(await whoAmI(keys['api-key'] ?? '', keys['api-secret'] ?? ''), API_USER.email);
    // The form shows the key (never the secret) once it has reloaded.
    await page.getByRole('region', { name: 'API Access' }).getByText(keys['api-key'] ?? '').waitFor();
    assert.equal(await page.getByText(keys['api-secret'] ?? '').count(), 0);
    await shot(page, 'desk-user-form');
  });

  test('a named API key with an expiry is listed, rotated and revoked', async () => {
    await gotoDesk(page, server.url, `/app/user/${encodeURIComponent(API_USER.email)}`, 'Api Caller');
    const panel = page.getByRole('region', { name: 'API keys' });
    await panel.getByText('No API keys yet.').waitFor();
    await panel.getByRole('button', { name: 'New API key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New API key' });
    await dialog.getByLabel('Label').fill('CI deploy');
    // The field takes local time; the server stores UTC.
    const soon = new Date(Date.now() + 30 * 86_400_000);
    const pad = (n: number) => String(n).padStart(2, '0');
    const local = `${soon.getFullYear()}-${pad(soon.getMonth() + 1)}-${pad(soon.getDate())}T12:30`;
    await dialog.getByLabel('Expires on').fill(local);
    await dialog.getByLabel('Scopes').fill('all');
    await dialog.getByLabel('Allowed IP addresses').fill('127.0.0.1');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const created = await readSecretDialog(page, ['api-key', 'api-secret']);
    assert.match(created['api-key'] ?? '', /^ck_[0-9a-f]{24}$/);
    assert.equal(await whoAmI(created['api-key'] ?? '', created['api-secret'] ?? ''), API_USER.email);

    const row = panel.locator('tr', { hasText: 'CI deploy' });
    await row.getByText('Active').waitFor();
    await row.getByText(created['api-key'] ?? '').waitFor();
    assert.match((await row.locator('td').nth(2).textContent()) ?? '', new RegExp(String(soon.getFullYear())), 'the expiry is shown');
    const stored = await server.site.storage.get<{ expires_on: string; restrict_ip: string }>('SELECT "expires_on", "restrict_ip" FROM "tabAPI Key" WHERE "api_key" = ?', [created['api-key'] ?? '']);
    assert.equal(stored?.expires_on.slice(0, 16), new Date(local).toISOString().slice(0, 16).replace('T', ' '));
    assert.equal(stored?.restrict_ip, '127.0.0.1');

    await row.getByRole('button', { name: 'Rotate CI deploy' }).click();
    await page.getByRole('dialog', { name: 'Rotate CI deploy' }).getByLabel('Grace period for the old secret').selectOption({ label: '1 hour' });
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const rotated = await readSecretDialog(page, ['api-key', 'api-secret']);
    assert.equal(rotated['api-key'], created['api-key']);
    assert.notEqual(rotated['api-secret'], created['api-secret']);
    assert.equal(await whoAmI(created['api-key'] ?? '', rotated['api-secret'] ?? ''), API_USER.email);
    assert.equal(await whoAmI(created['api-key'] ?? '', created['api-secret'] ?? ''), API_USER.email, 'the old secret works during the grace period');
    await row.getByText('Rotating').waitFor();
    await shot(page, 'desk-api-keys');

    await row.getByRole('button', { name: 'Revoke CI deploy' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
    await toast(page, 'revoked');
    await row.getByText('Revoked').waitFor();
    assert.equal(await whoAmI(created['api-key'] ?? '', rotated['api-secret'] ?? ''), 401);
  });

  test('Escape closes a dialog and focus returns to its button', async () => {
    const opener = page.getByRole('region', { name: 'API keys' }).getByRole('button', { name: 'New API key' });
    await opener.click();
    const dialog = page.getByRole('dialog', { name: 'New API key' });
    await dialog.waitFor();
    assert.equal(await isFocused(dialog.getByLabel('Label')), true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await isFocused(opener), true);
  });
});
