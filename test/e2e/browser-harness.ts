/**
 * The browser-test harness: a real cortado server on a real socket, Debian's Chromium driven by
 * playwright-core (never a downloaded browser), and a few helpers. Shared by every test in
 * test/e2e/ (login, consent, CSRF, and the desk's own tests).
 *
 * API (kept stable; add, do not change):
 *
 *   CHROMIUM_PATH        '/usr/bin/chromium' (or $CORTADO_CHROMIUM)
 *   browserAvailable     boolean: the Chromium binary exists
 *   skipReason           string | undefined: pass as `{ skip: skipReason }` to test()/describe();
 *                        set when Chromium is missing, so the tier skips visibly
 *   BROWSER_TEST_TIMEOUT generous per-test timeout (ms) for browser tests
 *   ROOT, DESK_DIST      the repository root and `<root>/dist/ui`
 *   ensureDeskBuilt()    builds the desk once (`vite build --config ui/vite.config.ts`) when
 *                        `dist/ui/index.html` is missing; concurrent test files wait for one build
 *   writeFakeDesk(dir?)  a tiny stand-in `dist/ui` (index.html + one hashed asset); returns the dir
 *   startDeskServer(options?) → DeskServer { url, site, testSite, app, close() }
 *                        a fresh test site (test/helpers/test-site.ts) served by createServer on
 *                        127.0.0.1, port 0. options: { config?, deskDist?, fakeDesk? } —
 *                        `deskDist` serves that folder; `fakeDesk: true` serves writeFakeDesk();
 *                        otherwise the real build (ensureDeskBuilt() first)
 *   launchBrowser()      → playwright-core Browser (headless, no sandbox, no GPU, no networking extras)
 *   loginInBrowser(page, url, user, password, { redirectTo? }) → the URL landed on; uses the
 *                        real /login form; throws with the page's error text when it stays on /login
 *   screenshot(page, name) → path of `test-output/screenshots/<name>.png`
 *   createUser(site, { email, password, roles?, userType?, firstName?, lastName? }) → user name
 *   setSystemSettings(site, values)  saves System Settings as Administrator, drops the cache
 *   apiLogin(url, user, password) → sid (POST /api/method/login over the socket)
 *   ADMIN_PASSWORD       the test sites' Administrator password
 *
 * Typing note: tsconfig has no DOM lib, so `window`, `document`, `HTMLElement`… do not exist
 * for `npm run typecheck`. In evaluate callbacks type the argument structurally
 * (`(el: { value: string }) => …`) or go through `globalThis as unknown as { document: … }`;
 * a string expression works for page.evaluate / page.waitForFunction
 * (`page.evaluate('window.csrf_token')`), but locator.evaluate does not call a string as a function.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import type { Site } from '../../src/app/site.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { runAs } from '../helpers/run-as.ts';
import { ADMIN_PASSWORD, createTestSite, type TestSite } from '../helpers/test-site.ts';

export { ADMIN_PASSWORD };

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DESK_DIST = join(ROOT, 'dist', 'ui');
export const CHROMIUM_PATH = process.env.CORTADO_CHROMIUM || '/usr/bin/chromium';
export const browserAvailable: boolean = existsSync(CHROMIUM_PATH);
export const skipReason: string | undefined = browserAvailable
  ? undefined
  : `Chromium not installed: ${CHROMIUM_PATH} is missing (apt-get install chromium): browser tests SKIPPED`;
export const BROWSER_TEST_TIMEOUT = 180_000;

const BUILD_TIMEOUT_MS = 300_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Builds the desk when `dist/ui/index.html` is missing. One test file builds (holding a lock
 * directory); the others wait for its index.html.
 */
export async function ensureDeskBuilt(): Promise<void> {
  const index = join(DESK_DIST, 'index.html');
  if (existsSync(index)) return;
  const config = join(ROOT, 'ui', 'vite.config.ts');
  if (!existsSync(config)) throw new Error(`The desk cannot be built: ${config} is missing`);
  mkdirSync(dirname(DESK_DIST), { recursive: true });
  const lock = join(dirname(DESK_DIST), '.ui-build.lock');
  let owner = false;
  try {
    mkdirSync(lock);
    owner = true;
  } catch {
    // Another test file builds; a lock older than the build timeout is stale.
    if (Date.now() - statSync(lock).mtimeMs > BUILD_TIMEOUT_MS) {
      rmSync(lock, { recursive: true, force: true });
      return ensureDeskBuilt();
    }
  }
  if (!owner) {
    const deadline = Date.now() + BUILD_TIMEOUT_MS;
    while (!existsSync(index) && existsSync(lock)) {
      if (Date.now() > deadline) throw new Error('Timed out waiting for another test file to build the desk');
      await sleep(250);
    }
    if (!existsSync(index)) throw new Error('Another test file failed to build the desk (see its output)');
    return;
  }
  try {
    process.stderr.write('browser-harness: dist/ui/index.html is missing: building the desk (vite build --config ui/vite.config.ts) once…\n');
    const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
    const result = spawnSync(process.execPath, [vite, 'build', '--config', 'ui/vite.config.ts', '--logLevel', 'warn'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: BUILD_TIMEOUT_MS,
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    });
    if (result.status !== 0 || !existsSync(index)) {
      throw new Error(`Building the desk failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}${result.error ? `\n${String(result.error)}` : ''}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A tiny stand-in for the built desk: index.html (a module script and a stylesheet) and hashed assets. */
export function writeFakeDesk(dir: string = mkdtempSync(join(tmpdir(), 'cortado-fake-desk-'))): string {
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fake desk</title>
<script type="module" crossorigin src="/assets/desk/assets/index-Ab12Cd34.js"></script>
<link rel="stylesheet" crossorigin href="/assets/desk/assets/index-Ef56Gh78.css">
</head>
<body><div id="app">fake desk</div></body>
</html>
`,
  );
  writeFileSync(
    join(dir, 'assets', 'index-Ab12Cd34.js'),
    "document.getElementById('app').textContent = 'desk for ' + window.cortado_boot.user;\ndocument.documentElement.dataset.ready = '1';\n",
  );
  writeFileSync(join(dir, 'assets', 'index-Ef56Gh78.css'), 'body{font-family:sans-serif}\n');
  writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"></svg>\n');
  return dir;
}

export interface DeskServerOptions {
  /** Site config keys (site_config.json) for the test site. */
  config?: Record<string, unknown>;
  /** Serve this folder as the desk build (skips the real build). */
  deskDist?: string;
  /** Serve a tiny fake desk (writeFakeDesk) instead of the real build. */
  fakeDesk?: boolean;
}

export interface DeskServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly site: Site;
  readonly testSite: TestSite;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

export async function startDeskServer(options: DeskServerOptions = {}): Promise<DeskServer> {
  let deskDist = options.deskDist;
  let fakeDir: string | undefined;
  if (!deskDist && options.fakeDesk) deskDist = fakeDir = writeFakeDesk();
  if (!deskDist) await ensureDeskBuilt();
  const testSite = await createTestSite(options.config ? { config: options.config } : {});
  const app = await createServer(testSite.site, { deskDist: deskDist ?? DESK_DIST });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const url = address.replace(/\/$/, '');
  let closing: Promise<void> | undefined;
  return {
    url,
    get site() {
      return testSite.site;
    },
    testSite,
    app,
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await testSite.cleanup();
        if (fakeDir) rmSync(fakeDir, { recursive: true, force: true });
      })()),
  };
}

/** Debian's Chromium, headless; never a browser playwright downloads. */
export async function launchBrowser(): Promise<Browser> {
  if (!browserAvailable) throw new Error(skipReason);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
}

/**
 * Logs in through the real /login form; returns the URL the browser landed on. Throws with the
 * page's error message when the browser stays on /login.
 */
export async function loginInBrowser(page: Page, url: string, user: string, password: string, options: { redirectTo?: string } = {}): Promise<string> {
  const target = options.redirectTo ? `${url}/login?redirect-to=${encodeURIComponent(options.redirectTo)}` : `${url}/login`;
  await page.goto(target);
  await page.getByLabel('Email or user name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.getByRole('button', { name: 'Login' }).click()]);
  const landed = new URL(page.url());
  if (landed.pathname === '/login') {
    const error = await page.locator('.error').first().textContent({ timeout: 1000 }).catch(() => null);
    throw new Error(`login as ${user} failed: ${error ?? 'no message shown'}`);
  }
  return page.url();
}

/** Saves a screenshot to `test-output/screenshots/<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(ROOT, 'test-output', 'screenshots');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface NewTestUser {
  email: string;
  password: string;
  roles?: string[];
  userType?: 'System User' | 'Website User';
  firstName?: string;
  lastName?: string;
}

/** Creates an enabled user with a password and roles (as Administrator, through the site's documents). */
export function createUser(site: Site, user: NewTestUser): Promise<string> {
  return addUser(site, {
    email: user.email,
    password: user.password,
    roles: user.roles,
    userType: user.userType,
    firstName: user.firstName,
    lastName: user.lastName,
  });
}

/** Saves System Settings fields as Administrator and drops the settings cache. */
export async function setSystemSettings(site: Site, values: Record<string, unknown>): Promise<void> {
  await runAs(site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', ...values }));
  authServicesFor(site).invalidate('settings');
}

/** Logs in over HTTP (POST /api/method/login); returns the sid. */
export async function apiLogin(url: string, user: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/method/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ usr: user, pwd: password }),
  });
  const sid = res.headers
    .getSetCookie()
    .map((c) => /^sid=([^;]*)/.exec(c)?.[1])
    .find((v) => v !== undefined && v !== '' && v !== 'Guest');
  if (res.status !== 200 || !sid) throw new Error(`login as ${user} failed: ${res.status} ${await res.text()}`);
  return sid;
}
