/**
 * The login pages in a real browser (Debian's Chromium over a real socket): logging in and
 * out, Frappe's messages (bad credentials, disabled user, IP refusal, lockout with the wait),
 * `redirect-to` (same-site paths only), where System and Website Users land, a guest sent
 * from /app/user to /login and back, and /update-password with a reset link (policy feedback,
 * old sessions ended). Screenshots go to test-output/screenshots/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  ADMIN_PASSWORD,
  BROWSER_TEST_TIMEOUT,
  apiLogin,
  browserAvailable,
  createUser,
  launchBrowser,
  loginInBrowser,
  screenshot,
  setSystemSettings,
  skipReason,
  startDeskServer,
  type DeskServer,
} from './browser-harness.ts';

const SYS = { email: 'sys@example.com', password: 'sys-password-1' };
const WEB = { email: 'web@example.com', password: 'web-password-1' };
const RESET = { email: 'reset@example.com', password: 'reset-password-1' };
const LOCK = { email: 'lock@example.com', password: 'lock-password-1' };
const OFF = { email: 'off@example.com', password: 'off-password-1' };
const FAR = { email: 'far@example.com', password: 'far-password-1' };

describe('login pages in Chromium', { skip: skipReason, timeout: BROWSER_TEST_TIMEOUT * 4 }, () => {
  let server: DeskServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  /** A fresh browser profile (no cookies) and a page in it. */
  async function freshPage(): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.setDefaultNavigationTimeout(30_000);
    return page;
  }

  /** Submits the login form as it is on the page; returns the status of the POST's answer. */
  async function submitLogin(page: Page, usr: string, pwd: string): Promise<number> {
    await page.getByLabel('Email or user name').fill(usr);
    await page.getByLabel('Password', { exact: true }).fill(pwd);
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Login' }).click(),
    ]);
    await page.waitForLoadState('load');
    return response.status();
  }

  const pathOf = (page: Page) => new URL(page.url()).pathname;

  async function whoami(sid: string): Promise<string | number> {
    const res = await fetch(`${server.url}/api/method/frappe.auth.get_logged_user`, { headers: { cookie: `sid=${sid}`, accept: 'application/json' } });
    return res.status === 200 ? String(((await res.json()) as { message: string }).message) : res.status;
  }

  before(
    async () => {
      if (!browserAvailable) return;
      server = await startDeskServer({ fakeDesk: true });
      await createUser(server.site, { ...SYS, firstName: 'Sys', lastName: 'Tem' });
      await createUser(server.site, { ...WEB, firstName: 'Web', lastName: 'Visitor', userType: 'Website User' });
      await createUser(server.site, RESET);
      await createUser(server.site, LOCK);
      await createUser(server.site, OFF);
      await createUser(server.site, FAR);
      await server.site.storage.run('UPDATE "tabUser" SET "enabled" = 0 WHERE "name" = ?', [OFF.email]);
      await server.site.storage.run('UPDATE "tabUser" SET "restrict_ip" = ? WHERE "name" = ?', ['10.0.0.1', FAR.email]);
      browser = await launchBrowser();
    },
    { timeout: BROWSER_TEST_TIMEOUT },
  );

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.close();
  });

  test('a System User logs in with the form, lands on /app, and logs out with the Logout button', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const page = await freshPage();
    const response = await page.goto(`${server.url}/login`);
    assert.equal(response?.status(), 200);
    const csp = String(response?.headers()['content-security-policy']);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response?.headers()['x-frame-options'], 'DENY');
    assert.equal(await page.locator('script').count(), 0, 'the login page needs no script');
    // Every input has a label; focus is visible (an outline on the focused field).
    assert.equal(await page.getByLabel('Email or user name').getAttribute('autocomplete'), 'username');
    await page.getByLabel('Email or user name').focus();
    const outline = await page
      .getByLabel('Email or user name')
      .evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { outlineStyle: string } }).getComputedStyle(el).outlineStyle);
    assert.equal(outline, 'solid');
    await screenshot(page, 'login');

    const landed = await loginInBrowser(page, server.url, SYS.email, SYS.password);
    assert.equal(new URL(landed).pathname, '/app');
    // The fake desk's module script ran under the desk's CSP, with the boot data.
    await page.waitForFunction("document.documentElement.dataset.ready === '1'");
    assert.equal(await page.locator('#app').textContent(), `desk for ${SYS.email}`);

    // The home page says who is logged in and offers Logout (a POST with the CSRF token).
    await page.goto(`${server.url}/`);
    assert.match(String(await page.locator('main').textContent()), /logged in as Sys Tem \(sys@example\.com\)/);
    assert.equal(await page.locator('form[action="/logout"] input[name="csrf_token"]').count(), 1);
    await Promise.all([page.waitForURL((url) => url.pathname === '/login'), page.getByRole('button', { name: 'Logout' }).click()]);
    const sid = (await page.context().cookies()).find((c) => c.name === 'sid');
    assert.ok(!sid || sid.value === '', 'the session cookie is gone');
    await page.goto(`${server.url}/app`);
    assert.equal(pathOf(page), '/login', 'logged out: /app sends to /login again');
  });

  test("a wrong password shows Frappe's message; disabled and IP-restricted users see theirs", { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const page = await freshPage();
    await page.goto(`${server.url}/login`);
    assert.equal(await submitLogin(page, SYS.email, 'not-the-password'), 401);
    assert.equal(pathOf(page), '/login');
    assert.equal((await page.getByRole('alert').textContent())?.trim(), 'Invalid login credentials');
    assert.equal(await page.getByLabel('Email or user name').inputValue(), SYS.email, 'the user name is kept');
    await screenshot(page, 'login-error');

    assert.equal(await submitLogin(page, OFF.email, OFF.password), 401);
    assert.equal((await page.getByRole('alert').textContent())?.trim(), 'User disabled or missing');
    assert.equal(await submitLogin(page, FAR.email, FAR.password), 401);
    assert.match(String(await page.getByRole('alert').textContent()), /^Access not allowed from this IP Address/);
    // A good login still works afterwards (and clears the IP's failure count).
    assert.equal(await submitLogin(page, SYS.email, SYS.password), 303);
    assert.equal(pathOf(page), '/app');
  });

  test('redirect-to is honoured for paths on this site only', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    for (const target of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'https:evil.example', '/%09/evil.example']) {
      const page = await freshPage();
      const landed = await loginInBrowser(page, server.url, SYS.email, SYS.password, { redirectTo: decodeURIComponent(target) });
      assert.equal(new URL(landed).origin, server.url, target);
      assert.equal(new URL(landed).pathname, '/app', target);
    }
    const page = await freshPage();
    const landed = await loginInBrowser(page, server.url, SYS.email, SYS.password, { redirectTo: '/app/todo?status=Open' });
    assert.equal(new URL(landed).pathname + new URL(landed).search, '/app/todo?status=Open');
  });

  test('a Website User lands on /, which says who is logged in; /app sends them back to /', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const page = await freshPage();
    const landed = await loginInBrowser(page, server.url, WEB.email, WEB.password);
    assert.equal(new URL(landed).pathname, '/');
    assert.match(String(await page.locator('main').textContent()), /logged in as Web Visitor/);
    assert.equal(await page.getByRole('link', { name: 'Open the desk' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Logout' }).count(), 1);
    await screenshot(page, 'home-website-user');
    await page.goto(`${server.url}/app/user`);
    assert.equal(pathOf(page), '/');
  });

  test('a guest opening /app/user is sent to /login and lands back on /app/user after logging in', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    const page = await freshPage();
    await page.goto(`${server.url}/app/user`);
    const url = new URL(page.url());
    assert.equal(url.pathname, '/login');
    assert.equal(url.searchParams.get('redirect-to'), '/app/user');
    assert.equal(await submitLogin(page, SYS.email, SYS.password), 303);
    assert.equal(pathOf(page), '/app/user');
    // A guest at / sees the login link.
    const guest = await freshPage();
    await guest.goto(`${server.url}/`);
    assert.equal(await guest.getByRole('link', { name: 'Login' }).count(), 1);
  });

  test('/update-password with a reset link: policy feedback, then a new session and the old ones ended', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    await setSystemSettings(server.site, { enable_password_policy: 1 });
    const oldSid = await apiLogin(server.url, RESET.email, RESET.password);
    assert.equal(await whoami(oldSid), RESET.email);
    const adminSid = await apiLogin(server.url, 'Administrator', ADMIN_PASSWORD);
    const made = await fetch(`${server.url}/api/method/cortado.users.make_reset_link`, {
      method: 'POST',
      headers: { cookie: `sid=${adminSid}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ user: RESET.email }),
    });
    assert.equal(made.status, 200);
    const link = new URL(((await made.json()) as { message: string }).message, server.url);
    assert.equal(link.pathname, '/update-password');

    const page = await freshPage();
    await page.goto(`${server.url}${link.pathname}${link.search}`);
    assert.equal(await page.locator('script').count(), 0);
    assert.match(String(await page.locator('#password-hint').textContent()), /at least 8 characters/);
    await screenshot(page, 'update-password');

    const submit = async (password: string, confirm: string) => {
      await page.getByLabel('New password', { exact: true }).fill(password);
      await page.getByLabel('Confirm new password').fill(confirm);
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.getByRole('button', { name: 'Save password' }).click()]);
    };
    await submit('short', 'short');
    assert.match(String(await page.getByRole('alert').textContent()), /Invalid Password: use at least 8 characters/);
    await screenshot(page, 'update-password-error');
    await submit('a-good-new-password', 'another-one');
    assert.equal((await page.getByRole('alert').textContent())?.trim(), 'The passwords do not match');
    await submit('a-good-new-password', 'a-good-new-password');
    assert.equal(pathOf(page), '/app');
    assert.equal(await whoami(oldSid), 403, 'the session from before the change is ended');
    const fresh = (await page.context().cookies()).find((c) => c.name === 'sid');
    assert.ok(fresh && (await whoami(fresh.value)) === RESET.email);
    // The old password no longer logs in; the new one does.
    await assert.rejects(apiLogin(server.url, RESET.email, RESET.password));
    assert.ok(await apiLogin(server.url, RESET.email, 'a-good-new-password'));
    await setSystemSettings(server.site, { enable_password_policy: 0 });
  });

  // Last: the lockout also locks this IP (127.0.0.1) for the rest of the window.
  test('after the configured number of failures the account is locked and the page shows the wait', { timeout: BROWSER_TEST_TIMEOUT }, async () => {
    await setSystemSettings(server.site, { allow_consecutive_login_attempts: 3, allow_login_after_fail: 60 });
    const page = await freshPage();
    await page.goto(`${server.url}/login`);
    for (let i = 0; i < 4; i++) {
      assert.equal(await submitLogin(page, LOCK.email, `wrong-${i}`), 401, `failure ${i + 1}`);
      assert.equal((await page.getByRole('alert').textContent())?.trim(), 'Invalid login credentials');
    }
    // Locked now: even the right password is refused, with the wait.
    assert.equal(await submitLogin(page, LOCK.email, LOCK.password), 429);
    const message = String(await page.getByRole('alert').textContent());
    assert.match(message, /^Your account has been locked and will resume after 60 seconds\. Try again in \d+ seconds?\.$/);
    await screenshot(page, 'login-lockout');
  });
});
