/**
 * A header credential verified on an earlier request, with its user's access cached, is
 * answered from memory without a promise — and still refused from an IP its user may not use;
 * anything else (another secret, counted failures, a session, a key of another DocType) is
 * looked up as before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import type { AuthResult } from '../../src/auth/authenticate.ts';
import type { RequestInfo } from '../../src/core/request-info.ts';
import { insertDoc } from '../../src/doctype/document/write-documents.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';

const USER = 'remembered@example.com';

const request = (authorization: string, ip = '127.0.0.1', extra: Record<string, string> = {}, cookies: Record<string, string> = {}): RequestInfo => ({
  method: 'GET',
  path: '/api/resource/ToDo',
  headers: { authorization, ...extra },
  cookies,
  ip,
  secure: false,
});

/** The result's fields that hold a value. */
const defined = (result: AuthResult) => Object.fromEntries(Object.entries(result).filter(([, value]) => value !== undefined));

const isAuthenticationError = (error: unknown) => (error as { excType?: string }).excType === 'AuthenticationError';

describe('credentials answered from memory', () => {
  let t: TestSite;
  let token: string;
  let basic: string;
  let apiKey: string;
  before(async () => {
    t = await createTestSite();
    await addUser(t.site, { email: USER, firstName: 'Remembered', password: 'a-long-password-for-tests-1', roles: ['System Manager'] });
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, USER, authServicesFor(t.site).deps.hashKey));
    apiKey = keys.api_key;
    token = `token ${keys.api_key}:${keys.api_secret}`;
    basic = `Basic ${Buffer.from(`${keys.api_key}:${keys.api_secret}`).toString('base64')}`;
  });
  after(async () => t.cleanup());

  test('a token, then Basic: looked up once, then answered without a promise, alike', async () => {
    const authenticate = authServicesFor(t.site).authenticate;
    const first = authenticate(request(token), {});
    assert.ok(first instanceof Promise, 'the first use is looked up');
    const looked = await first;
    const again = authenticate(request(token), {});
    assert.ok(!(again instanceof Promise), 'the second is answered from memory');
    assert.deepEqual(defined(again), defined(looked), 'the same answer either way');
    assert.equal(again.principal.user, USER);
    assert.equal(again.method, 'token');
    assert.equal(again.apiKey, apiKey);
    assert.equal(again.headerAuthenticated, true);
    // The same pair as Basic: the same credential, its own scheme.
    const viaBasic = authenticate(request(basic), {});
    assert.ok(!(viaBasic instanceof Promise));
    assert.equal(viaBasic.method, 'basic');
  });

  test('another secret for the same key is looked up and refused; the failure sends the right one back to the lookup once', async () => {
    const authenticate = authServicesFor(t.site).authenticate;
    await authenticate(request(token, '192.0.2.40'), {});
    const wrong = authenticate(request(`token ${apiKey}:not-the-secret`, '192.0.2.40'), {});
    assert.ok(wrong instanceof Promise);
    await assert.rejects(wrong, isAuthenticationError);
    // A failure is counted for the key: the right secret must reset it, which is awaited.
    const afterFailure = authenticate(request(token, '192.0.2.40'), {});
    assert.ok(afterFailure instanceof Promise, 'counted failures are looked up and reset');
    assert.equal((await afterFailure).principal.user, USER);
    const clean = authenticate(request(token, '192.0.2.40'), {});
    assert.ok(!(clean instanceof Promise), 'once reset, from memory again');
  });

  test('a session cookie alone: looked up once, then answered from memory, alike; beside a header or as an argument, looked up', async () => {
    const services = authServicesFor(t.site);
    const { sid } = await services.sessions.create({ user: USER, ip: '127.0.0.1' });
    const cookie = (authorization?: string) => ({ ...request(authorization ?? '', '127.0.0.1', {}, { sid }), headers: authorization ? { authorization } : {} });
    const first = services.authenticate(cookie(), {});
    assert.ok(first instanceof Promise, 'the first use is looked up');
    const looked = await first;
    const again = services.authenticate(cookie(), {});
    assert.ok(!(again instanceof Promise), 'the second is answered from memory');
    assert.deepEqual(defined(again), defined(looked), 'the same answer either way');
    assert.equal(again.method, 'session');
    assert.equal(again.principal.user, USER);
    assert.equal(again.session?.user, USER);
    assert.equal(again.sessionViaCookie, true);
    assert.ok(services.authenticate(cookie(token), {}) instanceof Promise, 'a header beside the cookie is looked up');
    const asArgument = services.authenticate(request(''), { sid });
    assert.ok(asArgument instanceof Promise, 'a sid argument is looked up');
    assert.equal((await asArgument).principal.user, USER);
  });

  test('a session whose record in memory is idle past the expiry is looked up on its row, not answered from memory', async () => {
    const services = authServicesFor(t.site);
    const { sid } = await services.sessions.create({ user: USER, ip: '127.0.0.1' });
    const cookie = { ...request('', '127.0.0.1', {}, { sid }), headers: {} };
    await services.authenticate(cookie, {});
    assert.ok(!(services.authenticate(cookie, {}) instanceof Promise));
    const session = services.sessions.peek(sid);
    assert.ok(session, 'in memory');
    // The record in memory says its user was last active long ago (the stored row is not touched,
    // so nothing empties the cache): memory alone must not let it through.
    session.lastActive = '2000-01-01 00:00:00.000000';
    const stale = services.authenticate(cookie, {});
    assert.ok(stale instanceof Promise, 'looked up');
    assert.equal((await stale).principal.user, USER, 'the row says it is live');
  });

  test('a sid argument, or another DocType as the source, is never answered from memory', async () => {
    const authenticate = authServicesFor(t.site).authenticate;
    await authenticate(request(token), {});
    assert.ok(authenticate(request(token, '127.0.0.1', {}, { sid: 'no-such-session' }), {}) instanceof Promise);
    const withSidArgument = authenticate(request(token), { sid: 'no-such-session' });
    assert.ok(withSidArgument instanceof Promise);
    await withSidArgument;
    const otherSource = authenticate(request(token, '127.0.0.1', { 'frappe-authorization-source': 'Some DocType' }), {});
    assert.ok(otherSource instanceof Promise);
    await assert.rejects(otherSource);
  });

  test('from memory, the user’s IP restriction still refuses a key and a session', async () => {
    await runAs(t.site, 'Administrator', (db) => db.setValue('User', USER, { restrict_ip: '203.0.113.0/24' }));
    const authenticate = authServicesFor(t.site).authenticate;
    await authenticate(request(token, '203.0.113.9'), {});
    const inside = authenticate(request(token, '203.0.113.9'), {});
    assert.ok(!(inside instanceof Promise));
    assert.equal(inside.principal.user, USER);
    assert.throws(() => authenticate(request(token, '198.51.100.9'), {}), isAuthenticationError);
    // A session from memory as well.
    const { sid } = await authServicesFor(t.site).sessions.create({ user: USER, ip: '203.0.113.9' });
    const cookie = (ip: string) => ({ ...request('', ip, {}, { sid }), headers: {} });
    await authenticate(cookie('203.0.113.9'), {});
    const sessionInside = authenticate(cookie('203.0.113.9'), {});
    assert.ok(!(sessionInside instanceof Promise));
    assert.equal(sessionInside.principal.user, USER);
    assert.throws(() => authenticate(cookie('198.51.100.9'), {}), isAuthenticationError);
    await runAs(t.site, 'Administrator', (db) => db.setValue('User', USER, { restrict_ip: '' }));
  });

  test('an OAuth bearer token: looked up once, then answered from memory with its scopes', async () => {
    const services = authServicesFor(t.site);
    const client = await t.site.asAdministrator((ctx) => insertDoc('OAuth Client', { app_name: 'remembered', scopes: 'all openid', redirect_uris: 'http://127.0.0.1/callback' }, ctx));
    const issued = await services.oauth.provider.tokens.issue({
      client: String(client.name),
      user: USER,
      scopes: ['all'],
      withRefresh: false,
      settings: { accessTokenLifetime: 3600, refreshTokenLifetimeDays: 1 },
    });
    const bearer = `Bearer ${issued.access_token}`;
    const first = services.authenticate(request(bearer), {});
    assert.ok(first instanceof Promise);
    const looked: AuthResult = await first;
    const again = services.authenticate(request(bearer), {});
    assert.ok(!(again instanceof Promise));
    assert.equal(again.method, 'bearer');
    assert.equal(again.principal.user, USER);
    assert.deepEqual(again.scopes, looked.scopes);
    assert.equal(again.apiKey, undefined);
  });
});
