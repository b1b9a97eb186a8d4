/**
 * Helpers for the desk's browser tests (test/e2e/desk-*.test.ts), on top of browser-harness.ts:
 * a logged-in desk page, waiting for the desk's notices, and reading the credentials a dialog
 * shows once. `createOAuthClientInDesk` is also meant for other suites (the consent flow) that
 * need a client made the way an administrator makes one.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { ADMIN_PASSWORD, loginInBrowser, screenshot } from './browser-harness.ts';

/** Every wait in the desk tests: generous, the machine is shared. */
export const WAIT_MS = 15_000;

export interface DeskPage {
  context: BrowserContext;
  page: Page;
}

/** A fresh browser profile logged in (through /login) and showing `path` of the desk. */
export async function openDesk(browser: Browser, url: string, path = '/app', user = 'Administrator', password = ADMIN_PASSWORD): Promise<DeskPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS * 2);
  await loginInBrowser(page, url, user, password, { redirectTo: path });
  await deskReady(page);
  return { context, page };
}

/** The desk has mounted (its top bar's user menu is there). */
export async function deskReady(page: Page): Promise<void> {
  await page.locator('button[aria-controls="user-menu"]').waitFor();
}

/** Goes to a desk path and waits for the page's title (its one h1). */
export async function gotoDesk(page: Page, url: string, path: string, heading: string | RegExp): Promise<void> {
  await page.goto(`${url}${path}`);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/** Waits for a notice (toast) whose text matches. */
export async function toast(page: Page, text: string | RegExp): Promise<void> {
  await page.locator('[role="status"], [role="alert"]').filter({ hasText: text }).first().waitFor();
}

/** The values a credentials dialog shows, by data-testid; the dialog is closed afterwards. */
export async function readSecretDialog(page: Page, testids: string[]): Promise<Record<string, string>> {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const values: Record<string, string> = {};
  for (const id of testids) values[id] = ((await dialog.getByTestId(id).textContent()) ?? '').trim();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'detached' });
  return values;
}

export interface NewOAuthClient {
  appName: string;
  redirectUri: string;
  grantType?: 'Authorization Code' | 'Client Credentials' | 'Implicit';
  /** The user a Client Credentials client acts as. */
  user?: string;
  scopes?: string;
}

/**
 * Creates an OAuth client in the desk's form (/app/oauth-client/new) and reads the client ID
 * and secret from the dialog shown once after saving.
 */
export async function createOAuthClientInDesk(page: Page, url: string, client: NewOAuthClient): Promise<{ client_id: string; client_secret: string }> {
  await gotoDesk(page, url, '/app/oauth-client/new', 'New OAuth Client');
  await page.getByLabel('App Name').fill(client.appName);
  await page.getByRole('textbox', { name: 'Redirect URIs' }).fill(client.redirectUri);
  if (client.grantType) await page.getByLabel('Grant Type').selectOption(client.grantType);
  if (client.user) await page.getByLabel('User', { exact: true }).fill(client.user);
  if (client.scopes) await page.getByLabel('Scopes').fill(client.scopes);
  await page.getByRole('button', { name: 'Save' }).click();
  const values = await readSecretDialog(page, ['client-id', 'client-secret']);
  return { client_id: values['client-id'] ?? '', client_secret: values['client-secret'] ?? '' };
}

/** A whole-page screenshot from the top (the sticky sidebar and top bar stay where they belong). */
export async function shot(page: Page, name: string): Promise<void> {
  await page.evaluate('window.scrollTo(0, 0)');
  await screenshot(page, name);
}

/** Whether the element has the keyboard focus. */
export function isFocused(locator: Locator): Promise<boolean> {
  return locator.evaluate((el: { ownerDocument: { activeElement: unknown } }) => el === el.ownerDocument.activeElement);
}
