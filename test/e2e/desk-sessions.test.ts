/**
 * Sessions in the desk, in Chromium: "My sessions" seen from two browser profiles, revoking
 * the other one (its next /app load goes to /login), "Log out of all other sessions", what a
 * user without System Manager sees (own pages and own API keys), a System Manager ending all
 * of a user's sessions from the User form, and Logout from the user menu (by keyboard).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BROWSER_TEST_TIMEOUT, browserAvailable, createUser, launchBrowser, skipReason, startDeskServer, type DeskServer } from './browser-harness.ts';
import { gotoDesk, isFocused, openDesk, readSecretDialog, shot, toast, type DeskPage } from './desk-kit.ts';

const JANE = { email: 'jane@example.com', password: 'jane-password-1', firstName: 'Jane', lastName: 'Doe', roles: ['Desk User'] };

describe('desk: sessions', { skip: skipReason, timeout: BROWSER_TEST_TIMEOUT * 3 }, () => {
  let server: DeskServer;
  let browser: Browser;
  const opened: DeskPage[] = [];

  async function janeIn(path = '/app/sessions'): Promise<Page> {
    const desk = await openDesk(browser, server.url, path, JANE.email, JANE.password);
    opened.push(desk);
    return desk.page;
  }

  /** Whether this profile is still logged in: /app serves the desk, or sends it to /login. */
  async function loadsDesk(page: Page): Promise<boolean> {
    await page.goto(`${server.url}/app`);
    return new URL(page.url()).pathname !== '/login';
  }

  const rows = (page: Page) => page.locator('tbody tr[data-session-id]');

  before(async () => {
    if (!browserAvailable) return;
    server = await startDeskServer();
    await createUser(server.site, JANE);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('two profiles see both sessions; revoking the other one logs it out', async () => {
    const other = await janeIn('/app');
    const mine = await janeIn('/app/sessions');
    await mine.getByRole('heading', { level: 1, name: 'My sessions' }).waitFor();
    await rows(mine).nth(1).waitFor();
    assert.equal(await rows(mine).count(), 2);
    const current = rows(mine).filter({ hasText: 'This session' });
    assert.equal(await current.count(), 1);
    assert.equal(await current.getByRole('button', { name: 'Revoke' }).count(), 0, 'the current session has no Revoke button');
    await shot(mine, 'desk-sessions');

    await rows(mine).filter({ hasNotText: 'This session' }).getByRole('button', { name: 'Revoke' }).click();
    await toast(mine, 'Session ended');
    await rows(mine).nth(1).waitFor({ state: 'detached' });
    assert.equal(await rows(mine).count(), 1);
    assert.equal(await loadsDesk(other), false, 'the revoked profile is sent to /login');
    assert.equal(await loadsDesk(mine), true);
  });

  test('"Log out of all other sessions" keeps only this one', async () => {
    const mine = opened[1]?.page;
    assert.ok(mine);
    const third = await janeIn('/app');
    await gotoDesk(mine, server.url, '/app/sessions', 'My sessions');
    await rows(mine).nth(1).waitFor();
    await mine.getByRole('button', { name: 'Log out of all other sessions' }).click();
    await mine.getByRole('dialog').getByRole('button', { name: 'Log out others' }).click();
    await toast(mine, /other session/);
    await rows(mine).nth(1).waitFor({ state: 'detached' });
    assert.equal(await loadsDesk(third), false);
    assert.equal(await loadsDesk(mine), true);
  });

  test('without System Manager: only the own pages, and own API keys', async () => {
    const jane = opened[1]?.page;
    assert.ok(jane);
    await gotoDesk(jane, server.url, '/app', 'Home');
    const sidebar = jane.getByRole('navigation', { name: 'Desk' });
    await sidebar.getByRole('link', { name: 'Sessions' }).waitFor();
    assert.equal(await sidebar.getByRole('link', { name: 'Users' }).count(), 0);
    await gotoDesk(jane, server.url, '/app/user', 'Page not found');

    await gotoDesk(jane, server.url, '/app/api-key', 'API Keys');
    await jane.getByRole('button', { name: 'New API key' }).click();
    await jane.getByRole('dialog').getByLabel('Label').fill('laptop script');
    await jane.getByRole('dialog').getByRole('button', { name: 'Create key' }).click();
    const values = await readSecretDialog(jane, ['api-key', 'api-secret']);
    const res = await fetch(`${server.url}/api/method/frappe.auth.get_logged_user`, { headers: { Authorization: `token ${values['api-key']}:${values['api-secret']}`, Accept: 'application/json' } });
    assert.equal(((await res.json()) as { message: string }).message, JANE.email);
    await jane.locator('tr', { hasText: 'laptop script' }).getByText('Active').waitFor();
  });

  test('a System Manager sees and ends a user\'s sessions on the User form', async () => {
    const jane = opened[1]?.page;
    assert.ok(jane);
    const admin = await openDesk(browser, server.url, `/app/user/${encodeURIComponent(JANE.email)}`);
    opened.push(admin);
    const section = admin.page.getByRole('region', { name: 'Sessions' });
    await section.locator('tbody tr[data-session-id]').first().waitFor();
    await shot(admin.page, 'desk-user-sessions');
    await section.getByRole('button', { name: 'End all sessions' }).click();
    await admin.page.getByRole('dialog').getByRole('button', { name: 'End all sessions' }).click();
    await toast(admin.page, /session(s)? ended/);
    await section.getByText('No active sessions.').waitFor();
    assert.equal(await loadsDesk(jane), false);
  });

  test('Logout in the user menu ends the session', async () => {
    const admin = opened.at(-1)?.page;
    assert.ok(admin);
    await gotoDesk(admin, server.url, '/app', 'Home');
    const menuButton = admin.locator('button[aria-controls="user-menu"]');
    await menuButton.focus();
    await admin.keyboard.press('ArrowDown');
    const menu = admin.getByRole('menu', { name: 'User menu' });
    await menu.waitFor();
    await admin.keyboard.press('End');
    assert.equal(await isFocused(menu.getByRole('menuitem', { name: 'Logout' })), true);
    await Promise.all([admin.waitForURL(/\/login/), admin.keyboard.press('Enter')]);
    assert.equal(await loadsDesk(admin), false);
  });
});
