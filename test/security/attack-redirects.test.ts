/**
 * Open redirects over HTTP: nothing a client sends makes the server send a browser elsewhere.
 *
 * - `/login?redirect-to=` (GET when logged in, the login form's POST, the page a Guest sees):
 *   absolute, protocol-relative, backslash, `https:evil`, scheme-relative with userinfo,
 *   whitespace and control characters, percent-encoded and double-encoded forms, `javascript:`
 *   and `data:` → the `Location` is always a path on this site (its origin is ours); a plain
 *   same-site path is kept. Cases beyond test/oauth/oauth-security.test.ts.
 * - OAuth `redirect_uri` at `authorize` (GET and POST), at `approve` (a consent form whose
 *   `redirect_uri` was tampered with, Allow and Deny), with `prompt=none`: unregistered URIs,
 *   prefix tricks, userinfo (`https://good@evil`), look-alike hosts, another port, scheme, path
 *   or case, encoded forms → an error page (400), never a redirect; a redirect only ever goes
 *   to a registered URI exactly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomToken } from '../../src/core/crypto.ts';
import { forEachDatabase } from '../helpers/test-site.ts';
import { consentFields, M, ORIGIN, startKit, type Client, type Kit, type Response, type TestUser } from '../oauth/oauth-test-kit.ts';

const ALICE: TestUser = { email: 'alice@example.com', password: `alice-${randomToken(12)}` };
const GOOD = 'https://good.example/cb';
const LOCAL = 'http://localhost/cb';

/** `redirect-to` values that must never lead off the site. */
const LOGIN_TARGETS: readonly string[] = [
  'https://evil.example',
  'http://evil.example/path?x=1',
  'HTTPS://EVIL.EXAMPLE',
  '//evil.example',
  '///evil.example',
  '////evil.example/x',
  '/\\evil.example',
  '\\/evil.example',
  '\\\\evil.example',
  '/\\/evil.example',
  'https:evil.example',
  'https:/evil.example',
  'https:\\\\evil.example',
  'http:/\\evil.example',
  '//localhost@evil.example',
  'https://localhost@evil.example/',
  'http://localhost.evil.example/',
  'evil.example',
  '@evil.example',
  ' //evil.example',
  '\t//evil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r\n/evil.example',
  '/\u0000/evil.example',
  '%2F%2Fevil.example',
  '%2f%5cevil.example',
  '/%2F%2Fevil.example',
  '/%5Cevil.example',
  '/%09/evil.example',
  '%252F%252Fevil.example',
  'javascript:alert(document.domain)',
  'JaVaScRiPt:alert(1)',
  ' javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  '\uff0f\uff0fevil.example',
  '/\u2215evil.example',
  '/.evil.example',
  `/${'a'.repeat(5000)}`,
];

/** `redirect_uri` values that are not exactly a registered one. */
const OAUTH_URIS: readonly string[] = [
  'https://evil.example/cb',
  'https://good.example/cbx',
  'https://good.example/cb/evil',
  'https://good.example/cb/../evil',
  'https://good.example/cb/%2e%2e/evil',
  'https://good.example/cb?next=https://evil.example',
  'https://good.example/cb#@evil.example',
  'https://good.example/CB',
  'https://good.example/cb/',
  'https://good.example@evil.example/cb',
  'https://good.example:443@evil.example/cb',
  'https://user:pass@good.example/cb',
  'https://evil.example\\@good.example/cb',
  'https://evil.example%40good.example/cb',
  'https://evil.example#@good.example/cb',
  'https://good.example.evil.example/cb',
  'https://evilgood.example/cb',
  'https://good.example:8443/cb',
  'http://good.example/cb',
  'HTTPS://good.example/cb/x',
  'https%3A%2F%2Fgood.example%2Fcb',
  'https://good.example%2Fcb',
  '//good.example/cb',
  '/cb',
  'https:good.example/cb',
  ' https://good.example/cb',
  'https://good.example/cb ',
  'https://good.example/cb\u0000',
  'javascript:alert(1)//https://good.example/cb',
  'data:text/html,https://good.example/cb',
  'http://localhost/cb/..',
  'http://localhost:8080/cb',
  'http://127.0.0.1/cb',
];

/** A Location that stays on this site. */
function onSite(location: string): boolean {
  const url = new URL(location, ORIGIN);
  return url.origin === ORIGIN && location.startsWith('/') && !location.startsWith('//') && !location.includes('\\');
}

forEachDatabase('open redirects', (db) => {
  let k: Kit;
  let sid = '';
  let client: Client;
  let attempts = 0;

  before(async () => {
    k = await startKit(db, { users: [ALICE] });
    sid = await k.login(ALICE);
    client = await k.createClient({ app_name: 'Good App', redirect_uris: `${GOOD}\n${LOCAL}`, scopes: 'openid all' });
  });
  after(async () => k.close());

  const call = (...args: Parameters<Kit['call']>) => {
    attempts++;
    return k.call(...args);
  };

  describe('/login?redirect-to=', () => {
    test('a same-site path is kept', async () => {
      const res = await call(`/login?redirect-to=${encodeURIComponent('/app/todo?view=list')}`, { sid });
      assert.equal(res.statusCode, 302);
      assert.equal(res.headers.location, '/app/todo?view=list');
    });

    test(`${LOGIN_TARGETS.length} hostile targets: logged in (GET), logging in (POST), and the Guest page`, async () => {
      for (const target of LOGIN_TARGETS) {
        const what = JSON.stringify(target.slice(0, 60));
        const again = await call(`/login?redirect-to=${encodeURIComponent(target)}`, { sid });
        assert.equal(again.statusCode, 302, `${what}: ${again.statusCode} ${again.body.slice(0, 200)}`);
        const location = String(again.headers.location);
        assert.ok(onSite(location), `${what}: Location ${location}`);
        // Kept only as a path of this site (`/%2F%2Fevil.example` is a path here, as in Frappe).
        const kept = location !== '/app' && location !== '/';
        if (kept) assert.ok(location.startsWith('/') && !/^\/[\\/]/.test(location) && !location.includes('\\'), `${what}: kept as ${location}`);

        const form = await call('/login', { form: { usr: ALICE.email, pwd: ALICE.password, 'redirect-to': target } });
        assert.equal(form.statusCode, 303, `${what}: ${form.statusCode} ${form.body.slice(0, 200)}`);
        assert.ok(onSite(String(form.headers.location)), `${what}: Location ${String(form.headers.location)}`);
        assert.equal(form.headers.location, location, `${what}: the same target after logging in`);
        k.remember(form.cookies.find((c) => c.name === 'sid')?.value);

        const failed = await call('/login', { form: { usr: ALICE.email, pwd: 'wrong-password', 'redirect-to': target } });
        assert.equal(failed.statusCode, 401, what);
        assert.equal(failed.headers.location, undefined, `${what}: a failed login never redirects`);
        const page = await call(`/login?redirect-to=${encodeURIComponent(target)}`);
        assert.equal(page.statusCode, 200, what);
        assert.equal(page.headers.location, undefined, what);
        if (!kept) {
          assert.ok(!/evil|javascript:|data:|vbscript:/i.test(failed.body), `${what}: the form does not carry the target`);
          assert.ok(!/evil|javascript:|data:|vbscript:/i.test(page.body), `${what}: the page does not carry the target`);
        }
      }
    });

    test('non-ASCII paths are answered, never a server error', async () => {
      for (const target of ['/app/\u4e2d\u6587', '/\u00e9t\u00e9', '/app?q=\ud83d\ude00']) {
        const res = await call(`/login?redirect-to=${encodeURIComponent(target)}`, { sid });
        assert.equal(res.statusCode, 302, `${target}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        assert.ok(onSite(String(res.headers.location)), `${target}: Location ${String(res.headers.location)}`);
      }
    });
  });

  describe('OAuth redirect_uri', () => {
    const params = (redirectUri: string, extra: Record<string, string> = {}) => ({
      client_id: client.client_id,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      state: 'st',
      ...extra,
    });

    function assertErrorPage(res: Response, what: string): void {
      assert.equal(res.statusCode, 400, `${what}: ${res.statusCode} ${String(res.headers.location)} ${res.body.slice(0, 200)}`);
      assert.equal(res.headers.location, undefined, `${what}: never a redirect`);
      assert.match(String(res.headers['content-type']), /text\/html/, what);
    }

    let csrfToken = '';

    test('a registered URI works (the baseline)', async () => {
      const consent = await k.authorize(params(GOOD), sid);
      assert.equal(consent.statusCode, 200, consent.body.slice(0, 200));
      csrfToken = String(consentFields(consent.body).csrf_token);
      assert.ok(csrfToken);
      attempts++;
    });

    test(`${OAUTH_URIS.length} unregistered URIs at authorize (GET, POST, prompt=none, as Guest): an error page, never a redirect`, async () => {
      for (const uri of OAUTH_URIS) {
        const what = JSON.stringify(uri);
        attempts += 4;
        assertErrorPage(await k.authorize(params(uri), sid), `GET ${what}`);
        assertErrorPage(await k.call(`${M}authorize`, { sid, form: { ...params(uri), csrf_token: csrfToken }, headers: { origin: ORIGIN } }), `POST ${what}`);
        assertErrorPage(await k.authorize(params(uri, { prompt: 'none' }), sid), `prompt=none ${what}`);
        assertErrorPage(await k.authorize(params(uri)), `Guest ${what}`);
      }
    });

    test('a repeated redirect_uri (one good, one evil) is an error page', async () => {
      attempts += 2;
      const query = `client_id=${client.client_id}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(GOOD)}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`;
      assertErrorPage(await k.call(`${M}authorize?${query}`, { sid }), 'good then evil');
      const reversed = `client_id=${client.client_id}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&redirect_uri=${encodeURIComponent(GOOD)}`;
      assertErrorPage(await k.call(`${M}authorize?${reversed}`, { sid }), 'evil then good');
    });

    test('a consent form whose redirect_uri was tampered with: Allow and Deny never redirect there', async () => {
      const consent = await k.authorize(params(GOOD), sid);
      assert.equal(consent.statusCode, 200);
      const fields = consentFields(consent.body);
      for (const uri of OAUTH_URIS) {
        for (const decision of ['allow', 'deny']) {
          attempts++;
          const res = await k.approve({ ...fields, redirect_uri: uri, decision }, sid);
          const what = `${decision} ${JSON.stringify(uri)}`;
          if (res.statusCode === 302 || res.statusCode === 303) {
            const location = new URL(String(res.headers.location));
            assert.ok([GOOD, LOCAL].includes(`${location.origin}${location.pathname}`), `${what}: redirected to ${String(res.headers.location)}`);
          } else {
            assertErrorPage(res, what);
          }
        }
      }
    });

    test('every redirect the provider sent went to a registered URI', (t) => {
      t.diagnostic(`attack-redirects: ${attempts} requests`);
      assert.ok(attempts >= OAUTH_URIS.length * 6, `${attempts} attempts`);
    });
  });
});
