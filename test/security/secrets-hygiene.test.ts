/**
 * No secret, password, token or session id in any log line, error body or log table row. One
 * broad scenario runs over HTTP against a site whose logger captures every line at every level
 * (and API Request Log switched on): logins good and bad (JSON, form, query string, the /login
 * page), token / Basic / Bearer authentication good and bad, `generate_keys`, named keys, an
 * OAuth client with the code flow, refresh, userinfo, introspection and revocation, a password
 * reset, and secrets in the wrong places (`?api_secret=`, `?pwd=`, secrets in the bodies of
 * refused and failing requests, in invalid JSON, in the arguments of a method that crashes).
 * Every secret issued or used is collected; then every captured log line, every error body
 * (status >= 400), every API Request Log and Activity Log row — and, for good measure, every
 * table — is searched for each of them, and the log lines for credential-shaped text
 * (test/helpers/known-secrets.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { randomToken } from '../../src/core/crypto.ts';
import { FIXED_SECRETS, findLeaks, literalTestPasswords, redact } from '../helpers/known-secrets.ts';
import { runAs } from '../helpers/run-as.ts';
import { testLogger } from '../helpers/test-log.ts';
import { ADMIN_PASSWORD, createTestSite, type TestSite } from '../helpers/test-site.ts';
import { basic, consentFields, injectOptions, M, pkce, queryOf, redirectParams, type CallOptions } from '../oauth/oauth-test-kit.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const WHOAMI = '/api/method/frappe.auth.get_logged_user';
const CB = 'http://localhost/cb';

interface Exchange {
  label: string;
  res: LightMyRequestResponse;
}

describe('secrets hygiene: logs, error bodies and log tables', () => {
  let t: TestSite;
  let app: FastifyInstance;
  const lines: string[] = [];
  const exchanges: Exchange[] = [];
  /** Every secret issued or used in the scenario. */
  const secrets = new Map<string, string>();
  const alicePassword = `alice-${randomToken(12)}`;
  const bobPassword = `bob-${randomToken(12)}`;
  const bobNewPassword = `bob-new-${randomToken(12)}`;
  const aliceNewPassword = `alice-new-${randomToken(12)}`;
  let adminAuth = '';

  const remember = (what: string, value: unknown) => {
    assert.ok(typeof value === 'string' && value.length >= 8, `${what}: a secret was issued (${String(value)})`);
    secrets.set(value, what);
  };

  async function call(
    label: string,
    url: string,
    o: CallOptions & { raw?: string } = {},
  ): Promise<LightMyRequestResponse> {
    const res = await app.inject(injectOptions(url, { ...o, ip: '198.51.100.77' }));
    exchanges.push({ label, res });
    return res;
  }

  const sidOf = (res: LightMyRequestResponse) => {
    const sid = res.cookies.find((c) => c.name === 'sid')?.value;
    assert.ok(sid && sid !== 'Guest', `a sid: ${res.statusCode} ${res.body.slice(0, 200)}`);
    remember('sid', sid);
    return sid;
  };

  before(async () => {
    t = await createTestSite({ apps: [LIBRARY_APP], logger: testLogger((line) => lines.push(line)) });
    await addUser(t.site, { email: ALICE, password: alicePassword, roles: ['System Manager'] });
    await addUser(t.site, { email: BOB, password: bobPassword });
    for (const [what, value] of [['Administrator password', ADMIN_PASSWORD], ['Alice password', alicePassword], ['Bob password', bobPassword], ['Bob new password', bobNewPassword], ['Alice new password', aliceNewPassword]] as const) {
      remember(what, value);
    }
    const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', authServicesFor(t.site).deps.hashKey));
    remember('Administrator api_secret', admin.api_secret);
    adminAuth = `token ${admin.api_key}:${admin.api_secret}`;
    await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', log_api_requests: 1 }));
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('the scenario: every way a secret is issued or used, and misused', async () => {
    // Password logins: good and bad, JSON, form, query string, v2, the /login page.
    const aliceSid = sidOf(await call('login JSON', '/api/method/login', { json: { usr: ALICE, pwd: alicePassword } }));
    assert.equal((await call('login wrong pwd', '/api/method/login', { json: { usr: ALICE, pwd: `${alicePassword}x` } })).statusCode, 401);
    remember('near-miss password', `${alicePassword}x`);
    assert.equal((await call('login unknown user with a real password', '/api/method/login', { json: { usr: 'nobody@example.com', pwd: bobPassword } })).statusCode, 401);
    assert.equal((await call('login form', '/api/method/login', { form: { usr: BOB, pwd: bobPassword } })).statusCode, 200);
    assert.equal((await call('login query (wrong)', `/api/method/login?${queryOf({ usr: BOB, pwd: `${bobPassword}y` })}`)).statusCode, 401);
    remember('near-miss password 2', `${bobPassword}y`);
    assert.equal((await call('v2 login', '/api/v2/method/login', { json: { usr: BOB, pwd: bobPassword } })).statusCode, 200);
    assert.equal((await call('login page good', '/login', { form: { usr: ALICE, pwd: alicePassword } })).statusCode, 303);
    assert.equal((await call('login page bad', '/login', { form: { usr: ALICE, pwd: `${alicePassword}x` } })).statusCode, 401);
    assert.equal((await call('session', WHOAMI, { sid: aliceSid })).json().message, ALICE);

    // API keys: generate_keys over HTTP, token and Basic good and bad, named keys.
    const generated = await call('generate_keys', '/api/method/frappe.core.doctype.user.user.generate_keys', { sid: aliceSid, json: { user: BOB }, headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(generated.statusCode, 200, generated.body);
    const bobSecret = generated.json().message.api_secret as string;
    remember('Bob api_secret', bobSecret);
    const bobKey = String((await t.site.storage.get<{ api_key: string }>('SELECT "api_key" FROM "tabUser" WHERE "name" = ?', [BOB]))?.api_key);
    assert.equal((await call('token good', WHOAMI, { auth: `token ${bobKey}:${bobSecret}` })).statusCode, 200);
    const wrongSecret = [...bobSecret].reverse().join('');
    remember('wrong secret for a real key', wrongSecret);
    assert.equal((await call('token wrong secret', WHOAMI, { auth: `token ${bobKey}:${wrongSecret}` })).statusCode, 401);
    assert.equal((await call('Basic good', WHOAMI, { auth: `Basic ${Buffer.from(`${bobKey}:${bobSecret}`).toString('base64')}` })).statusCode, 200);
    assert.equal((await call('Basic wrong', WHOAMI, { auth: `Basic ${Buffer.from(`${bobKey}:${wrongSecret}`).toString('base64')}` })).statusCode, 401);
    const named = await call('named key create', '/api/method/cortado.api_keys.create', { auth: `token ${bobKey}:${bobSecret}`, json: { label: 'hygiene' } });
    assert.equal(named.statusCode, 200, named.body);
    const namedKey = named.json().message as { api_key: string; api_secret: string };
    remember('named api_secret', namedKey.api_secret);
    assert.equal((await call('named key good', WHOAMI, { auth: `token ${namedKey.api_key}:${namedKey.api_secret}` })).statusCode, 200);
    assert.equal((await call('named key bad', WHOAMI, { auth: `token ${namedKey.api_key}:${wrongSecret}` })).statusCode, 401);
    const bogusBearer = randomToken(32);
    remember('bogus bearer token', bogusBearer);
    assert.equal((await call('Bearer bogus', WHOAMI, { auth: `Bearer ${bogusBearer}` })).statusCode, 401);

    // OAuth: a client, the code flow with PKCE, refresh, userinfo, introspection, revocation.
    const created = await call('OAuth client create', '/api/resource/OAuth%20Client', { auth: adminAuth, json: { app_name: 'Hygiene', redirect_uris: CB, scopes: 'all openid' } });
    assert.equal(created.statusCode, 200, created.body);
    const client = created.json().data as { client_id: string; client_secret: string };
    remember('OAuth client_secret', client.client_secret);
    const { verifier, challenge } = pkce();
    remember('PKCE verifier', verifier);
    const params = { client_id: client.client_id, response_type: 'code', redirect_uri: CB, scope: 'all openid', state: 'st', code_challenge: challenge, code_challenge_method: 'S256' };
    const consent = await call('authorize', `${M}authorize?${queryOf(params)}`, { sid: aliceSid });
    assert.equal(consent.statusCode, 200, consent.body.slice(0, 300));
    const fields = consentFields(consent.body);
    remember('CSRF token', fields.csrf_token);
    const approved = await call('approve', `${M}approve`, { sid: aliceSid, form: { ...fields, decision: 'allow' }, headers: { origin: 'http://localhost' } });
    const code = redirectParams(approved).params.get('code');
    remember('authorization code', code);
    const clientAuth = basic(client.client_id, client.client_secret);
    const badClient = await call('token wrong client secret', `${M}get_token`, { auth: basic(client.client_id, wrongSecret), form: { grant_type: 'authorization_code', code: String(code), redirect_uri: CB, code_verifier: verifier } });
    assert.equal(badClient.statusCode, 401);
    const issued = await call('token', `${M}get_token`, { auth: clientAuth, form: { grant_type: 'authorization_code', code: String(code), redirect_uri: CB, code_verifier: verifier } });
    assert.equal(issued.statusCode, 200, issued.body);
    const tokens = issued.json() as { access_token: string; refresh_token: string; id_token: string };
    remember('access token', tokens.access_token);
    remember('refresh token', tokens.refresh_token);
    remember('ID token', tokens.id_token);
    const refreshed = await call('refresh', `${M}get_token`, { auth: clientAuth, form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token } });
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    const second = refreshed.json() as { access_token: string; refresh_token: string; id_token: string };
    remember('refreshed access token', second.access_token);
    remember('rotated refresh token', second.refresh_token);
    remember('second ID token', second.id_token);
    assert.equal((await call('userinfo', `${M}openid_profile`, { auth: `Bearer ${second.access_token}` })).statusCode, 200);
    assert.equal((await call('Bearer in the query', `/api/resource/ToDo?access_token=${second.access_token}`)).statusCode, 403);
    assert.equal((await call('introspect', `${M}introspect_token`, { auth: clientAuth, form: { token: second.access_token } })).statusCode, 200);
    assert.equal((await call('revoke', `${M}revoke_token`, { auth: clientAuth, form: { token: second.refresh_token } })).statusCode, 200);
    assert.equal((await call('revoked Bearer', WHOAMI, { auth: `Bearer ${second.access_token}` })).statusCode, 401);
    assert.equal((await call('refresh reuse', `${M}get_token`, { auth: clientAuth, form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token } })).statusCode, 400);
    assert.equal((await call('code replay', `${M}get_token`, { auth: clientAuth, form: { grant_type: 'authorization_code', code: String(code), redirect_uri: CB, code_verifier: verifier } })).statusCode, 400);

    // Password reset: a link by a System Manager, the change through the API, a stale key.
    const link = await call('make_reset_link', '/api/method/cortado.users.make_reset_link', { auth: adminAuth, json: { user: BOB } });
    assert.equal(link.statusCode, 200, link.body);
    const key = new URL(String(link.json().message), 'http://localhost').searchParams.get('key');
    remember('password reset key', key);
    const reset = await call('update_password with key', '/api/method/frappe.core.doctype.user.user.update_password', { json: { key, new_password: bobNewPassword } });
    assert.equal(reset.statusCode, 200, reset.body);
    sidOf(reset);
    assert.ok((await call('stale reset key', '/api/method/frappe.core.doctype.user.user.update_password', { json: { key, new_password: `${bobNewPassword}z` } })).statusCode >= 400);
    remember('rejected new password', `${bobNewPassword}z`);
    const wrongOld = await call('update_password wrong old', '/api/method/frappe.core.doctype.user.user.update_password', { sid: aliceSid, json: { old_password: `${alicePassword}x`, new_password: aliceNewPassword } });
    assert.ok(wrongOld.statusCode >= 400, wrongOld.body);
    assert.equal((await call('login with the new password', '/api/method/login', { json: { usr: BOB, pwd: bobNewPassword } })).statusCode, 200);

    // Secrets in the wrong places.
    const inQuery = `/api/resource/ToDo?${queryOf({ api_secret: bobSecret, pwd: alicePassword, client_secret: client.client_secret })}`;
    assert.equal((await call('secrets in the query, as Guest', inQuery)).statusCode, 403);
    assert.equal((await call('secrets in the query, authenticated', inQuery, { auth: adminAuth })).statusCode, 200);
    const guestBody = await call('secrets in a refused body', '/api/resource/ToDo', { json: { description: alicePassword, api_secret: bobSecret, pwd: bobNewPassword } });
    assert.equal(guestBody.statusCode, 403);
    const invalidJson = await call('secrets in invalid JSON', '/api/method/login', { raw: `{"usr": "${ALICE}", "pwd": "${alicePassword}"`, headers: { 'content-type': 'application/json' } });
    assert.equal(invalidJson.statusCode, 400);
    const crash = await call('secrets in the arguments of a crashing method', '/api/method/library.api.crash', { auth: adminAuth, json: { pwd: alicePassword, api_secret: bobSecret, token: tokens.access_token } });
    assert.equal(crash.statusCode, 500);
    // Secrets beside a value that fails validation (a field's own value is data: Frappe's
    // messages quote it back to the sender).
    const failing = await call('secrets in a failing insert', '/api/resource/ToDo', { auth: adminAuth, json: { description: 'x', status: 'not-a-status', pwd: alicePassword, api_secret: bobSecret } });
    assert.ok(failing.statusCode >= 400, failing.body);
    const unknownMethod = await call('secrets to an unknown method', '/api/method/no.such.method', { auth: adminAuth, json: { pwd: alicePassword } });
    assert.ok(unknownMethod.statusCode >= 400);
    // Malformed whatever the random secret holds: its base64 characters (the decoder drops the
    // others, `-` and `_` included) padded to a length of 4k + 1, which no base64 text has.
    const base64Length = bobSecret.replace(/[^A-Za-z0-9+/=]/g, '').length;
    const malformedBasic = `Basic ${bobSecret}${'A'.repeat((5 - (base64Length % 4)) % 4)}!!`;
    const badBasic = await call('a secret in a malformed Basic header', WHOAMI, { auth: malformedBasic });
    assert.equal(badBasic.statusCode, 400);
    assert.equal((await call('a secret as a sid', WHOAMI, { sid: bobSecret })).statusCode, 403);
    assert.equal((await call('logout', '/api/method/logout', { sid: aliceSid, method: 'POST', headers: { 'sec-fetch-site': 'same-origin', 'x-frappe-csrf-token': String(fields.csrf_token) } })).statusCode, 200);

    assert.ok(secrets.size >= 25, `${secrets.size} secrets collected`);
    assert.ok(exchanges.length >= 45, `${exchanges.length} requests`);
  });

  describe('afterwards', () => {
    const leaksIn = (text: string) => [...secrets].filter(([secret]) => text.includes(secret)).map(([secret, what]) => `${what} (${redact(secret)})`);

    test('no log line holds a secret, a known test password or a credential-shaped string', async () => {
      await authServicesFor(t.site).requestLog.flush();
      assert.ok(lines.length > 0, 'the crash was logged: the capture works');
      assert.ok(lines.some((line) => line.includes('unhandled error')));
      const known = [...literalTestPasswords(), ...secrets.keys()];
      const found = lines.flatMap((line, i) => findLeaks(line, known).map((leak) => `line ${i + 1}: ${leak.what}: ${leak.excerpt}`));
      assert.deepEqual(found, []);
    });

    test('no error body (status >= 400) holds a secret', () => {
      const errors = exchanges.filter((e) => e.res.statusCode >= 400);
      assert.ok(errors.length >= 20, `${errors.length} error answers`);
      const found = errors.flatMap((e) => leaksIn(`${JSON.stringify(e.res.headers)}\n${e.res.body}`).map((what) => `${e.label} (${e.res.statusCode}): ${what}`));
      assert.deepEqual(found, []);
    });

    test('no API Request Log or Activity Log row holds a secret', async () => {
      await authServicesFor(t.site).requestLog.flush();
      const requests = await t.site.storage.all('SELECT * FROM "tabAPI Request Log"');
      const activity = await t.site.storage.all('SELECT * FROM "tabActivity Log"');
      assert.ok(requests.length >= 30, `${requests.length} API Request Log rows`);
      assert.ok(activity.length >= 5, `${activity.length} Activity Log rows`);
      assert.ok(requests.some((r) => String((r as { path: string }).path) === '/api/resource/ToDo'), 'the query string is cut off');
      assert.deepEqual(requests.flatMap((row) => leaksIn(JSON.stringify(row)).map((what) => `API Request Log: ${what}`)), []);
      assert.deepEqual(activity.flatMap((row) => leaksIn(JSON.stringify(row)).map((what) => `Activity Log: ${what}`)), []);
    });

    test('no table holds any of them in clear (the CSRF token aside)', async () => {
      const found: string[] = [];
      for (const table of await t.site.storage.tableNames()) {
        const rows = await t.site.storage.all(`SELECT * FROM "${table.replaceAll('"', '""')}"`);
        // The session's CSRF token is session data, as in Frappe: it is worthless without the
        // sid, which is stored only as a keyed hash.
        found.push(...leaksIn(JSON.stringify(rows)).filter((what) => !(table === '__Sessions' && what.startsWith('CSRF token'))).map((what) => `${table}: ${what}`));
      }
      assert.deepEqual(found, []);
    });

    test('the registry of fixed test passwords holds ADMIN_PASSWORD', () => {
      assert.ok(FIXED_SECRETS.includes(ADMIN_PASSWORD));
      assert.ok(literalTestPasswords().includes(ADMIN_PASSWORD));
    });
  });
});
