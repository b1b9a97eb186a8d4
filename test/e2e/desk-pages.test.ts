/**
 * The desk's log, settings and generic pages in Chromium: the API Request Log filtered (table
 * and chart follow the filters), the Activity Log, System Settings saved, and a ToDo made and
 * changed through the metadata-driven list and form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { BROWSER_TEST_TIMEOUT, browserAvailable, launchBrowser, setSystemSettings, skipReason, startDeskServer, type DeskServer } from './browser-harness.ts';
import { gotoDesk, openDesk, shot, toast } from './desk-kit.ts';

describe('desk: logs, settings and generic pages', { skip: skipReason, timeout: BROWSER_TEST_TIMEOUT * 3 }, () => {
  let server: DeskServer;
  let browser: Browser;
  let page: Page;

  const rows = () => page.locator('tbody tr');

  before(async () => {
    if (!browserAvailable) return;
    server = await startDeskServer();
    await setSystemSettings(server.site, { log_api_requests: 1 });
    // Some refused requests from a Guest, among the desk's own.
    for (let i = 0; i < 3; i++) await fetch(`${server.url}/api/resource/User`, { headers: { Accept: 'application/json' } });
    browser = await launchBrowser();
    ({ page } = await openDesk(browser, server.url, '/app'));
    await authServicesFor(server.site).requestLog.flush();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('API Request Log: the filters narrow the table and the chart', async () => {
    await gotoDesk(page, server.url, '/app/api-request-log', 'API Request Log');
    const chart = page.getByTestId('request-chart');
    await chart.locator('svg').first().waitFor();
    await page.getByLabel('Status code').fill('403');
    await page.waitForURL(/status=403/);
    await page.getByText('3 requests matching the filters').waitFor();
    await page.getByText('1–3 of 3').waitFor();
    for (const text of await rows().allTextContents()) assert.match(text, /403/);
    const legend = page.getByTestId('request-chart-legend');
    await legend.getByText('4xx').waitFor();
    assert.equal(await legend.getByText('2xx').count(), 0);
    await chart.locator('svg').first().waitFor();

    await page.getByLabel('Auth method').selectOption('guest');
    await page.waitForURL(/auth=guest/);
    await page.getByText('1–3 of 3').waitFor();
    await page.getByRole('radio', { name: 'By authentication' }).check({ force: true });
    await legend.getByText('guest').waitFor();
    assert.equal(await legend.getByText('session').count(), 0);
    // frappe-charts draws the bars a moment after the axes.
    await chart.locator('svg rect.bar').first().waitFor();
    await shot(page, 'desk-api-request-log');

    await page.getByLabel('Path contains').fill('no-such-path');
    await page.getByText('No requests match these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.waitForURL((url) => url.search === '');
    await chart.locator('svg').first().waitFor();
  });

  test('API Request Log: 20 rows a page, Next and Previous', async () => {
    for (let i = 0; i < 25; i++) await fetch(`${server.url}/api/method/ping`);
    await authServicesFor(server.site).requestLog.flush();
    await gotoDesk(page, server.url, '/app/api-request-log?path=ping', 'API Request Log');
    await page.getByText('1–20 of 25').waitFor();
    assert.equal(await rows().count(), 20);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('21–25 of 25').waitFor();
    assert.equal(await rows().count(), 5);
    assert.equal(await page.getByRole('button', { name: 'Next' }).isDisabled(), true);
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByText('1–20 of 25').waitFor();
  });

  test('Activity Log: filtered by operation', async () => {
    await gotoDesk(page, server.url, '/app/activity-log', 'Activity Log');
    await page.getByLabel('Operation').selectOption('Login');
    await page.waitForURL(/operation=Login/);
    await rows().filter({ hasText: 'Administrator logged in' }).first().waitFor();
    // Until the filtered page arrives the rows are the unfiltered ones.
    await page.waitForFunction("[...document.querySelectorAll('tbody tr')].every((tr) => tr.textContent.includes('Login'))");
    await shot(page, 'desk-activity-log');
  });

  test('System Settings: the login and security settings save', async () => {
    await gotoDesk(page, server.url, '/app/system-settings', 'System Settings');
    await page.getByRole('region', { name: 'Lockout' }).getByLabel('Allow consecutive login attempts').fill('7');
    await page.getByRole('region', { name: 'Sessions' }).getByLabel('Session expiry', { exact: true }).fill('12:00');
    await page.keyboard.press('Control+s');
    await toast(page, 'Saved');
    const value = (field: string) =>
      server.site.storage.get<{ value: string }>('SELECT "value" FROM "tabSingles" WHERE "doctype" = ? AND "field" = ?', ['System Settings', field]).then((r) => r?.value);
    assert.equal(Number(await value('allow_consecutive_login_attempts')), 7);
    assert.equal(await value('session_expiry'), '12:00');
    await shot(page, 'desk-system-settings');
  });

  test('a ToDo is made and changed in the generic list and form', async () => {
    await gotoDesk(page, server.url, '/app/todo', 'ToDo');
    await page.getByRole('link', { name: 'New ToDo' }).click();
    await page.getByRole('heading', { level: 1, name: 'New ToDo' }).waitFor();
    await page.getByLabel('Description').fill('Water the plants');
    await page.getByLabel('Priority').selectOption('High');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/\/app\/todo\/(?!new$)[0-9a-z]+$/);
    const name = decodeURIComponent(new URL(page.url()).pathname.split('/').pop() ?? '');
    const stored = () => server.site.storage.get<{ description: string; priority: string; status: string }>('SELECT "description", "priority", "status" FROM "tabToDo" WHERE "name" = ?', [name]);
    assert.deepEqual({ ...(await stored()) }, { description: 'Water the plants', priority: 'High', status: 'Open' });

    await page.getByLabel('Status').selectOption('Closed');
    // The first save's "Saved" toast may still be showing: wait for this save's answer instead.
    const saved = page.waitForResponse((response) => response.request().method() === 'PUT' && response.url().includes('/api/resource/ToDo/'));
    await page.getByRole('button', { name: 'Save' }).click();
    assert.equal((await saved).status(), 200);
    assert.equal((await stored())?.status, 'Closed');
    await shot(page, 'desk-todo-form');

    await page.getByRole('link', { name: 'ToDo', exact: true }).first().click();
    await page.getByRole('heading', { level: 1, name: 'ToDo' }).waitFor();
    await rows().filter({ hasText: 'Water the plants' }).waitFor();
    await page.getByLabel('Status').selectOption('Open');
    await page.getByText('No todo match these filters.').waitFor();
    await shot(page, 'desk-todo-list');
  });

  test('an unknown page says so', async () => {
    await gotoDesk(page, server.url, '/app/no-such-doctype', 'Page not found');
  });
});
