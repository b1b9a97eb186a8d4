/**
 * CSRF as a matrix over HTTP (src/auth/csrf.ts; single cases live in
 * test/auth/protection.test.ts): every unsafe write route (v1 insert, v1 PUT, v2 PATCH, v1 and v2
 * DELETE, `frappe.client.set_value`) × every way of presenting credentials (a cookie session
 * holding a CSRF token — without it, with a wrong one, with another session's, with an empty
 * one, with the right one as header or argument —, a cookie session without a token, an API key
 * or an OAuth bearer token with a cookie attached, an invalid key with a cookie) × every origin
 * signal (none, same origin, a cross-site Origin, `null`, `Sec-Fetch-Site: cross-site`,
 * `same-site` from another origin, a cross-site Referer alone). Each cell's answer is predicted
 * from the rules and asserted exactly — 400 `CSRFTokenError` with nothing written, or the write
 * done — and GET is never checked.
 *
 * The rules (cortado: Frappe's token check plus an origin check):
 * - a request authenticated by a valid API key or bearer token is never checked;
 * - a cookie session is refused when the browser says the request is cross-site;
 * - a session holding a token must send exactly that token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { randomToken } from '../../src/core/crypto.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { basic, formBody, M } from '../oauth/oauth-test-kit.ts';

const USER = 'csrf-matrix@example.com';
const PASSWORD = `csrf-${randomToken(12)}`;

type Outcome = 'ok' | 'csrf' | 'unauthenticated';

interface Credential {
  name: string;
  headers(): Record<string, string>;
  /** Extra JSON arguments (a token sent as an argument). */
  args?(): Record<string, unknown>;
  viaCookie: boolean;
  /** A valid API key or bearer token comes with it. */
  headerAuth: boolean;
  /** The session holds a CSRF token and the right one is sent. */
  tokenOk: boolean;
  /** The header credential is invalid: 401 whatever else. */
  invalidHeader?: boolean;
}

interface Origin {
  name: string;
  headers: Record<string, string>;
  /** The browser says the request comes from another site. */
  crossSite: boolean;
}

const ORIGINS: readonly Origin[] = [
  { name: 'no Origin (not a browser)', headers: {}, crossSite: false },
  { name: 'same origin', headers: { origin: 'http://localhost', 'sec-fetch-site': 'same-origin' }, crossSite: false },
  { name: 'Sec-Fetch-Site none (typed URL)', headers: { 'sec-fetch-site': 'none' }, crossSite: false },
  { name: 'cross-site Origin', headers: { origin: 'https://evil.example' }, crossSite: true },
  { name: 'Origin null', headers: { origin: 'null' }, crossSite: true },
  { name: 'Sec-Fetch-Site cross-site', headers: { 'sec-fetch-site': 'cross-site' }, crossSite: true },
  { name: 'same-site, other origin', headers: { 'sec-fetch-site': 'same-site', origin: 'http://sub.localhost' }, crossSite: true },
  { name: 'look-alike Origin', headers: { origin: 'http://localhost.evil.example' }, crossSite: true },
  { name: 'same host, other scheme', headers: { origin: 'https://localhost' }, crossSite: true },
  // Browsers send Origin on every unsafe request; a Referer alone is a non-browser client.
  { name: 'cross-site Referer alone', headers: { referer: 'https://evil.example/page' }, crossSite: false },
];

interface Route {
  name: string;
  /** Sends the write against a fresh target; `check` says whether it happened. */
  prepare(): Promise<{ method: 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; body?: Record<string, unknown>; happened(): Promise<boolean> }>;
}

function expected(credential: Credential, origin: Origin): Outcome {
  if (credential.invalidHeader) return 'unauthenticated';
  if (credential.headerAuth) return 'ok';
  if (credential.viaCookie && origin.crossSite) return 'csrf';
  return credential.tokenOk ? 'ok' : 'csrf';
}

forEachDatabase('CSRF matrix', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  let tokenSid = '';
  let csrfToken = '';
  let otherToken = '';
  let plainSid = '';
  let keyAuth = '';
  let bearer = '';
  let cells = 0;

  const todo = (description: string) => runAs(t.site, USER, async (api) => String((await api.insert({ doctype: 'ToDo', description })).name));
  const descriptionOf = async (name: string) => (await t.site.storage.get<{ description: string }>('SELECT "description" FROM "tabToDo" WHERE "name" = ?', [name]))?.description;
  const countWith = async (description: string) => (await t.site.storage.all('SELECT "name" FROM "tabToDo" WHERE "description" = ?', [description])).length;

  async function session(): Promise<string> {
    const res = await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr: USER, pwd: PASSWORD } });
    assert.equal(res.statusCode, 200, res.body);
    return String(res.cookies.find((c) => c.name === 'sid')?.value);
  }

  async function withToken(sid: string): Promise<string> {
    const services = authServicesFor(t.site);
    const resumed = await services.sessions.resume(sid);
    assert.ok(resumed && 'session' in resumed);
    return services.oauth.ensureCsrfToken(resumed.session);
  }

  before(async () => {
    t = await createTestSite({ db });
    await addUser(t.site, { email: USER, password: PASSWORD, roles: ['System Manager'] });
    // The invalid-key cells would otherwise lock the key and the address (attack-credentials covers that).
    await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'System Settings', name: 'System Settings', allow_consecutive_login_attempts: 0 }));
    app = await createServer(t.site);
    tokenSid = await session();
    csrfToken = await withToken(tokenSid);
    otherToken = await withToken(await session());
    plainSid = await session();
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, USER, authServicesFor(t.site).deps.hashKey));
    keyAuth = `token ${keys.api_key}:${keys.api_secret}`;
    // A bearer token: a Client Credentials client running as the user.
    const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', authServicesFor(t.site).deps.hashKey));
    const created = await app.inject({
      method: 'POST',
      url: '/api/resource/OAuth%20Client',
      headers: { authorization: `token ${admin.api_key}:${admin.api_secret}` },
      payload: { app_name: 'CSRF service', redirect_uris: 'http://localhost/cb', scopes: 'all', user: USER, grant_type: 'Client Credentials' },
    });
    assert.equal(created.statusCode, 200, created.body);
    const client = created.json().data as { client_id: string; client_secret: string };
    const issued = await app.inject({
      method: 'POST',
      url: `${M}get_token`,
      headers: { authorization: basic(client.client_id, client.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody({ grant_type: 'client_credentials', scope: 'all' }),
    });
    assert.equal(issued.statusCode, 200, issued.body);
    bearer = String(issued.json().access_token);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  const CREDENTIALS: readonly Credential[] = [
    { name: 'token session, no token', headers: () => ({ cookie: `sid=${tokenSid}` }), viaCookie: true, headerAuth: false, tokenOk: false },
    { name: 'token session, wrong token', headers: () => ({ cookie: `sid=${tokenSid}`, 'x-frappe-csrf-token': `${csrfToken.slice(0, -1)}${csrfToken.endsWith('0') ? '1' : '0'}` }), viaCookie: true, headerAuth: false, tokenOk: false },
    { name: "token session, another session's token", headers: () => ({ cookie: `sid=${tokenSid}`, 'x-frappe-csrf-token': otherToken }), viaCookie: true, headerAuth: false, tokenOk: false },
    { name: 'token session, empty token', headers: () => ({ cookie: `sid=${tokenSid}`, 'x-frappe-csrf-token': '' }), viaCookie: true, headerAuth: false, tokenOk: false },
    { name: 'token session, token with a suffix', headers: () => ({ cookie: `sid=${tokenSid}`, 'x-frappe-csrf-token': `${csrfToken}x` }), viaCookie: true, headerAuth: false, tokenOk: false },
    { name: 'token session, right token (header)', headers: () => ({ cookie: `sid=${tokenSid}`, 'x-frappe-csrf-token': csrfToken }), viaCookie: true, headerAuth: false, tokenOk: true },
    { name: 'token session, right token (argument)', headers: () => ({ cookie: `sid=${tokenSid}` }), args: () => ({ csrf_token: csrfToken }), viaCookie: true, headerAuth: false, tokenOk: true },
    { name: 'session without a token', headers: () => ({ cookie: `sid=${plainSid}` }), viaCookie: true, headerAuth: false, tokenOk: true },
    { name: 'API key + token-session cookie', headers: () => ({ cookie: `sid=${tokenSid}`, authorization: keyAuth }), viaCookie: true, headerAuth: true, tokenOk: false },
    { name: 'bearer + token-session cookie', headers: () => ({ cookie: `sid=${tokenSid}`, authorization: `Bearer ${bearer}` }), viaCookie: true, headerAuth: true, tokenOk: false },
    { name: 'invalid API key + cookie and right token', headers: () => ({ cookie: `sid=${tokenSid}`, authorization: `${keyAuth}x`, 'x-frappe-csrf-token': csrfToken }), viaCookie: true, headerAuth: false, tokenOk: true, invalidHeader: true },
  ];

  const ROUTES: readonly Route[] = [
    {
      name: 'v1 insert',
      async prepare() {
        const marker = `csrf-insert-${randomToken(6)}`;
        return { method: 'POST', url: '/api/resource/ToDo', body: { description: marker }, happened: async () => (await countWith(marker)) === 1 };
      },
    },
    {
      name: 'v1 PUT',
      async prepare() {
        const name = await todo('before');
        const marker = `csrf-put-${randomToken(6)}`;
        return { method: 'PUT', url: `/api/resource/ToDo/${name}`, body: { description: marker }, happened: async () => (await descriptionOf(name)) === marker };
      },
    },
    {
      name: 'v2 PATCH',
      async prepare() {
        const name = await todo('before');
        const marker = `csrf-patch-${randomToken(6)}`;
        return { method: 'PATCH', url: `/api/v2/document/ToDo/${name}`, body: { description: marker }, happened: async () => (await descriptionOf(name)) === marker };
      },
    },
    {
      name: 'v1 DELETE',
      async prepare() {
        const name = await todo('to delete');
        return { method: 'DELETE', url: `/api/resource/ToDo/${name}`, happened: async () => (await descriptionOf(name)) === undefined };
      },
    },
    {
      name: 'v2 DELETE',
      async prepare() {
        const name = await todo('to delete');
        return { method: 'DELETE', url: `/api/v2/document/ToDo/${name}`, happened: async () => (await descriptionOf(name)) === undefined };
      },
    },
    {
      name: 'frappe.client.set_value',
      async prepare() {
        const name = await todo('before');
        const marker = `csrf-set-${randomToken(6)}`;
        return {
          method: 'POST',
          url: '/api/method/frappe.client.set_value',
          body: { doctype: 'ToDo', name, fieldname: 'description', value: marker },
          happened: async () => (await descriptionOf(name)) === marker,
        };
      },
    },
  ];

  for (const route of ROUTES) {
    test(`${route.name}: ${CREDENTIALS.length} credentials × ${ORIGINS.length} origins`, async () => {
      for (const credential of CREDENTIALS) {
        for (const origin of ORIGINS) {
          const what = `${route.name} | ${credential.name} | ${origin.name}`;
          const request = await route.prepare();
          const body = { ...request.body, ...credential.args?.() };
          const res: LightMyRequestResponse = await app.inject({
            method: request.method,
            url: request.url,
            headers: { ...credential.headers(), ...origin.headers, ...(Object.keys(body).length > 0 ? { 'content-type': 'application/json' } : {}) },
            ...(Object.keys(body).length > 0 ? { payload: JSON.stringify(body) } : {}),
          });
          cells++;
          const want = expected(credential, origin);
          if (want === 'csrf') {
            assert.equal(res.statusCode, 400, `${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
            assert.equal(res.json().exc_type ?? res.json().errors?.[0]?.type, 'CSRFTokenError', what);
            assert.equal(await request.happened(), false, `${what}: nothing written`);
          } else if (want === 'unauthenticated') {
            assert.equal(res.statusCode, 401, `${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
            assert.equal(await request.happened(), false, `${what}: nothing written`);
          } else {
            assert.ok(res.statusCode === 200 || res.statusCode === 202, `${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
            assert.equal(await request.happened(), true, `${what}: the write happened`);
          }
        }
      }
    });
  }

  test('GET is never checked: every credential and origin, no token', async () => {
    for (const credential of CREDENTIALS.filter((c) => !c.invalidHeader)) {
      for (const origin of ORIGINS) {
        const res = await app.inject({ url: '/api/method/frappe.auth.get_logged_user', headers: { ...credential.headers(), ...origin.headers } });
        cells++;
        assert.equal(res.statusCode, 200, `${credential.name} | ${origin.name}: ${res.body}`);
        assert.equal(res.json().message, USER);
      }
    }
  });

  test('cell count', (t) => {
    t.diagnostic(`attack-csrf: ${cells} cells`);
    assert.equal(cells, ROUTES.length * CREDENTIALS.length * ORIGINS.length + (CREDENTIALS.length - 1) * ORIGINS.length);
  });
});

describe('CSRF: the matrix has every kind of cell', () => {
  test('refusals, passes and unauthenticated cells are all predicted somewhere', () => {
    const kinds = new Set<Outcome>();
    const fake = (c: Partial<Credential>): Credential => ({ name: '', headers: () => ({}), viaCookie: true, headerAuth: false, tokenOk: false, ...c });
    for (const origin of ORIGINS) {
      kinds.add(expected(fake({}), origin));
      kinds.add(expected(fake({ tokenOk: true }), origin));
      kinds.add(expected(fake({ headerAuth: true }), origin));
      kinds.add(expected(fake({ invalidHeader: true }), origin));
    }
    assert.deepEqual([...kinds].sort(), ['csrf', 'ok', 'unauthenticated']);
  });
});
