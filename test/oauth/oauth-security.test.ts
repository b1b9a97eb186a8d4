/**
 * The OAuth provider's negative cases, one direct HTTP test per "no" of the spec's §B.2 table
 * and per item of issue 5's Proof (frappe-oauth.md §A.3–A.6, §B.2; RFC 6749, 7009, 7636, 7662,
 * 9207, 9700): code replay and the revocation it triggers, exact redirect URIs, PKCE, refresh
 * rotation and reuse, client authentication, introspection and revocation ownership, code
 * expiry, `prompt=none`, open redirects after login, the consent POST, grant switches, and no
 * token, code or secret stored in clear.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomToken } from '../../src/core/crypto.ts';
import { forEachDatabase } from '../helpers/test-site.ts';
import {
  M,
  ORIGIN,
  basic,
  challengeOf,
  consentFields,
  pkce,
  redirectParams,
  startKit,
  type Client,
  type Kit,
  type Response,
  type TestUser,
} from './oauth-test-kit.ts';

const ALICE: TestUser = { email: 'alice@example.com', password: `alice-${randomToken(12)}` };
const MANAGER: TestUser = { email: 'manager@example.com', password: `manager-${randomToken(12)}`, roles: ['System Manager'] };

const CB = 'http://localhost/cb';
const CB2 = 'http://localhost/cb2';
const OTHER_CB = 'http://localhost/other';
const PUBLIC_CB = 'http://localhost/native';

function assertOAuthError(res: Response, status: number, error: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.equal((res.json() as { error: string }).error, error, res.body);
  assert.match(String(res.headers['cache-control']), /no-store/);
}

/** An error sent back to the client: a redirect to its URI with `error`, `state` and `iss`. */
function assertErrorRedirect(res: Response, redirectUri: string, error: string, state: string | null): void {
  const { url, params } = redirectParams(res);
  assert.equal(`${url.origin}${url.pathname}`, redirectUri);
  assert.equal(params.get('error'), error, params.get('error_description') ?? '');
  assert.equal(params.get('state'), state);
  assert.equal(params.get('iss'), ORIGIN);
  assert.equal(params.get('code'), null);
}

/** An error shown on the provider's own page: never a redirect (RFC 6749 §4.1.2.1). */
function assertErrorPage(res: Response): void {
  assert.equal(res.statusCode, 400, res.body);
  assert.equal(res.headers.location, undefined);
  assert.match(String(res.headers['content-type']), /text\/html/);
  assert.match(res.body, /Authorization failed/);
}

forEachDatabase('OAuth security: the negative cases', (db) => {
  let k: Kit;
  let aliceSid = '';
  let managerSid = '';
  /** Confidential (Basic), consent asked. */
  let conf: Client;
  /** Confidential (Basic), consent skipped: quick codes for token-endpoint tests. */
  let fast: Client;
  /** Another confidential client. */
  let other: Client;
  /** Confidential, `client_secret_post`. */
  let post: Client;
  /** Public (`none`), PKCE required. */
  let pub: Client;
  /** Two redirect URIs. */
  let multi: Client;
  /** Only System Managers may use it. */
  let gated: Client;
  /** Client credentials as Alice. */
  let service: Client;

  const code = (client: Client, extra: Record<string, string | undefined> = {}, sid = aliceSid) =>
    k.obtainCode(sid, { client_id: client.client_id, response_type: 'code', redirect_uri: CB, scope: 'all openid', state: randomToken(8), ...extra });

  const exchange = (client: Client, theCode: string, extra: Record<string, string | undefined> = {}, how: 'basic' | 'post' | 'none' = 'basic') =>
    k.tokenAs(client, { grant_type: 'authorization_code', code: theCode, redirect_uri: CB, ...extra }, how);

  const refresh = (client: Client, token: string | undefined, extra: Record<string, string | undefined> = {}) =>
    k.tokenAs(client, { grant_type: 'refresh_token', refresh_token: token, ...extra });

  /** Fresh tokens for `client` (consent skipped), as Alice. */
  async function freshTokens(client: Client = fast) {
    return k.tokens(await exchange(client, await code(client)));
  }

  before(async () => {
    k = await startKit(db, { users: [ALICE, MANAGER] });
    aliceSid = await k.login(ALICE);
    managerSid = await k.login(MANAGER);
    conf = await k.createClient({ app_name: 'Consent App', redirect_uris: CB, scopes: 'all openid' });
    fast = await k.createClient({ app_name: 'Trusted App', redirect_uris: CB, scopes: 'all openid', skip_authorization: 1 });
    other = await k.createClient({ app_name: 'Other App', redirect_uris: OTHER_CB, scopes: 'all openid', skip_authorization: 1 });
    post = await k.createClient({ app_name: 'Post App', redirect_uris: CB, skip_authorization: 1, token_endpoint_auth_method: 'Client Secret Post' });
    pub = await k.createClient({ app_name: 'Native App', redirect_uris: PUBLIC_CB, skip_authorization: 1, token_endpoint_auth_method: 'None' });
    multi = await k.createClient({ app_name: 'Multi App', redirect_uris: `${CB}\n${CB2}`, skip_authorization: 1 });
    gated = await k.createClient({ app_name: 'Admin Tool', redirect_uris: CB, allowed_roles: [{ role: 'System Manager' }] });
    service = await k.createClient({ app_name: 'Service', redirect_uris: CB, scopes: 'all', user: ALICE.email, grant_type: 'Client Credentials' });
    assert.equal(pub.client_secret, undefined, 'a public client gets no secret');
  });
  after(async () => {
    await k.close();
  });

  test('code replay: the second exchange is invalid_grant and revokes every token the first one issued', async () => {
    const theCode = await code(fast);
    const first = k.tokens(await exchange(fast, theCode));
    assert.equal(await k.whoami(first.access_token), ALICE.email);
    assertOAuthError(await exchange(fast, theCode), 400, 'invalid_grant');

    const api = await k.bearer('/api/method/frappe.auth.get_logged_user', first.access_token);
    assert.equal(api.statusCode, 401, 'the access token of the first exchange is revoked');
    assert.equal(api.json().exc_type, 'AuthenticationError');
    assert.match(String(api.headers['www-authenticate']), /^Bearer error="invalid_token"/);
    assert.match(String(api.headers['www-authenticate']), /resource_metadata="http:\/\/localhost\/\.well-known\/oauth-protected-resource"/);
    const introspected = await k.introspect(first.access_token, { auth: basic(fast.client_id, String(fast.client_secret)) });
    assert.deepEqual(introspected.json(), { active: false });
    assertOAuthError(await refresh(fast, first.refresh_token), 400, 'invalid_grant');
    const byManager = await k.introspect(String(first.refresh_token), { auth: k.adminAuth });
    assert.deepEqual(byManager.json(), { active: false }, 'the refresh token is revoked too');
  });

  test('another client cannot redeem (or burn) a code', async () => {
    const theCode = await code(fast);
    assertOAuthError(await k.tokenAs(other, { grant_type: 'authorization_code', code: theCode, redirect_uri: CB }), 400, 'invalid_grant');
    k.tokens(await exchange(fast, theCode));
  });

  test('redirect_uri at authorize: exact match only, never a prefix; refused on a page, never redirected', async () => {
    for (const uri of ['http://localhost/cb/evil', 'http://localhost/cbx', 'http://localhost/cb?x=1', 'http://localhost/CB', 'http://localhost:8080/cb', 'https://localhost/cb', 'http://evil.example/cb', `${CB}#x`]) {
      const res = await k.authorize({ client_id: conf.client_id, response_type: 'code', redirect_uri: uri, scope: 'openid', state: 's' }, aliceSid);
      assert.equal(res.statusCode, 400, `${uri}: ${res.statusCode} ${String(res.headers.location)}`);
      assertErrorPage(res);
      assert.match(res.body, /redirect_uri/);
    }
    // The same for a Guest: the check comes before the login round trip.
    assertErrorPage(await k.authorize({ client_id: conf.client_id, response_type: 'code', redirect_uri: 'http://localhost/cbx' }));
    assertErrorPage(await k.authorize({ client_id: 'no-such-client', response_type: 'code', redirect_uri: CB }, aliceSid));
    assertErrorPage(await k.authorize({ response_type: 'code', redirect_uri: CB }, aliceSid));
    // None named: the client's default redirect URI, as in Frappe (get_default_redirect_uri).
    const byDefault = redirectParams(await k.authorize({ client_id: multi.client_id, response_type: 'code', scope: 'all' }, aliceSid));
    assert.equal(`${byDefault.url.origin}${byDefault.url.pathname}`, CB);
    k.remember(byDefault.params.get('code') ?? undefined);
  });

  test('redirect_uri at the token endpoint must be the one bound to the code', async () => {
    const theCode = await code(multi, { redirect_uri: CB2, scope: 'all' });
    assertOAuthError(await exchange(multi, theCode, { redirect_uri: CB }), 400, 'invalid_grant');
    const another = await code(multi, { redirect_uri: CB2, scope: 'all' });
    assertOAuthError(await exchange(multi, another, { redirect_uri: undefined }), 400, 'invalid_grant');
    const good = await code(multi, { redirect_uri: CB2, scope: 'all' });
    k.tokens(await exchange(multi, good, { redirect_uri: CB2 }));
  });

  test('PKCE: missing, wrong and malformed verifiers and the downgrade are invalid_grant', async () => {
    const pair = pkce();
    const withChallenge = () => code(fast, { code_challenge: pair.challenge, code_challenge_method: 'S256' });
    assertOAuthError(await exchange(fast, await withChallenge()), 400, 'invalid_grant');
    assertOAuthError(await exchange(fast, await withChallenge(), { code_verifier: pkce().verifier }), 400, 'invalid_grant');
    // Frappe's own test uses "420"; RFC 7636 wants 43–128 characters of [A-Za-z0-9-._~].
    for (const verifier of ['420', 'a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(42)}!`, `${'a'.repeat(42)} `]) {
      const malformed = await code(fast, { code_challenge: challengeOf(verifier), code_challenge_method: 'S256' });
      assertOAuthError(await exchange(fast, malformed, { code_verifier: verifier }), 400, 'invalid_grant');
    }
    // Downgrade: a verifier for a code that had no challenge (RFC 9700 §2.1.1).
    assertOAuthError(await exchange(fast, await code(fast), { code_verifier: pair.verifier }), 400, 'invalid_grant');
    // The 43- and 128-character limits themselves are fine.
    for (const verifier of [pair.verifier, 'b'.repeat(128)]) {
      const good = await code(fast, { code_challenge: challengeOf(verifier), code_challenge_method: 'S256' });
      k.tokens(await exchange(fast, good, { code_verifier: verifier }));
    }
  });

  test('PKCE at authorize: plain, a challenge without method and a malformed challenge are error redirects', async () => {
    const base = { client_id: fast.client_id, response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'st-1' };
    const { challenge, verifier } = pkce();
    for (const extra of [
      { code_challenge: verifier, code_challenge_method: 'plain' },
      { code_challenge: challenge },
      { code_challenge: 'short', code_challenge_method: 'S256' },
      { code_challenge_method: 'S256' },
    ]) {
      assertErrorRedirect(await k.authorize({ ...base, ...extra }, aliceSid), CB, 'invalid_request', 'st-1');
    }
  });

  test('public clients: PKCE required, no secret accepted, S256 flow works with client_id only', async () => {
    const base = { client_id: pub.client_id, response_type: 'code', redirect_uri: PUBLIC_CB, scope: 'openid', state: 'pub-1' };
    assertErrorRedirect(await k.authorize(base, aliceSid), PUBLIC_CB, 'invalid_request', 'pub-1');
    const pair = pkce();
    const theCode = await k.obtainCode(aliceSid, { ...base, code_challenge: pair.challenge, code_challenge_method: 'S256' });
    const fields = { grant_type: 'authorization_code', code: theCode, redirect_uri: PUBLIC_CB, code_verifier: pair.verifier };
    assertOAuthError(await k.token({ ...fields, client_id: pub.client_id, client_secret: 'anything' }), 401, 'invalid_client');
    const tokens = k.tokens(await k.token({ ...fields, client_id: pub.client_id }));
    assert.equal(await k.whoami(tokens.access_token), ALICE.email);
  });

  test('refresh rotation: a reused refresh token revokes the whole grant family', async () => {
    const first = await freshTokens();
    const second = k.tokens(await refresh(fast, first.refresh_token));
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.equal(await k.whoami(first.access_token), 401, 'the rotated row is revoked');
    assert.equal(await k.whoami(second.access_token), ALICE.email);

    assertOAuthError(await refresh(fast, first.refresh_token), 400, 'invalid_grant');
    assert.equal(await k.whoami(second.access_token), 401, 'reuse revoked the newest access token');
    assertOAuthError(await refresh(fast, second.refresh_token), 400, 'invalid_grant');
    const seen = await k.introspect(String(second.refresh_token), { auth: k.adminAuth });
    assert.deepEqual(seen.json(), { active: false });
  });

  test('refresh by another client is invalid_grant, and the token still works for its own client', async () => {
    const tokens = await freshTokens();
    assertOAuthError(await refresh(other, tokens.refresh_token), 400, 'invalid_grant');
    assert.equal(await k.whoami(tokens.access_token), ALICE.email);
    k.tokens(await refresh(fast, tokens.refresh_token));
    assertOAuthError(await refresh(fast, `${tokens.refresh_token}x`), 400, 'invalid_grant');
    assertOAuthError(await refresh(fast, undefined), 400, 'invalid_request');
  });

  test('client authentication: missing, wrong, unknown or of the wrong method → 401 invalid_client; mixed → 400', async () => {
    const theCode = await code(fast);
    const fields = { grant_type: 'authorization_code', code: theCode, redirect_uri: CB };
    const refused: Response[] = [
      await k.token({ ...fields, client_id: fast.client_id }), // a confidential client using "none"
      await k.token(fields), // nothing at all
      await k.token(fields, { auth: basic(fast.client_id, 'wrong-secret') }),
      await k.token(fields, { auth: basic(fast.client_id, '') }),
      await k.token(fields, { auth: basic('unknown-client', String(fast.client_secret)) }),
      await k.token(fields, { auth: basic(other.client_id, String(other.client_secret)) }).then(async (res) => {
        // Another client's valid credentials: authenticated, but the code is not theirs.
        assertOAuthError(res, 400, 'invalid_grant');
        return k.token({ ...fields, client_id: fast.client_id, client_secret: String(fast.client_secret) }); // Basic client using post
      }),
    ];
    for (const res of refused) {
      assertOAuthError(res, 401, 'invalid_client');
      assert.match(String(res.headers['www-authenticate']), /^Basic /);
    }
    const mixed = await k.token({ ...fields, client_secret: String(fast.client_secret) }, { auth: basic(fast.client_id, String(fast.client_secret)) });
    assertOAuthError(mixed, 400, 'invalid_request');
    // None of the refusals burnt the code.
    k.tokens(await exchange(fast, theCode));

    const postCode = await code(post, { scope: 'openid' });
    const postFields = { grant_type: 'authorization_code', code: postCode, redirect_uri: CB };
    assertOAuthError(await k.token(postFields, { auth: basic(post.client_id, String(post.client_secret)) }), 401, 'invalid_client');
    assertOAuthError(await k.token({ ...postFields, client_id: post.client_id, client_secret: 'wrong' }), 401, 'invalid_client');
    k.tokens(await k.token({ ...postFields, client_id: post.client_id, client_secret: String(post.client_secret) }));
  });

  test('introspection: the caller must authenticate; a client sees only its own tokens; a System Manager sees all', async () => {
    const tokens = await freshTokens();
    const anonymous = await k.introspect(tokens.access_token);
    assertOAuthError(anonymous, 401, 'invalid_client');
    assert.ok(anonymous.headers['www-authenticate']);
    assert.ok(!JSON.stringify(anonymous.json()).includes(ALICE.email));
    // A session that is not a System Manager's is no authentication either.
    assertOAuthError(await k.call(`${M}introspect_token?token=${encodeURIComponent(tokens.access_token)}`, { sid: aliceSid }), 401, 'invalid_client');
    // A bearer token is not a way to introspect other tokens.
    assertOAuthError(await k.introspect(tokens.access_token, { auth: `Bearer ${tokens.access_token}` }), 401, 'invalid_client');

    const foreign = await k.introspect(tokens.access_token, { auth: basic(other.client_id, String(other.client_secret)) });
    assert.equal(foreign.statusCode, 200);
    assert.deepEqual(foreign.json(), { active: false });

    const own = await k.introspect(tokens.access_token, { auth: basic(fast.client_id, String(fast.client_secret)) });
    const body = own.json() as Record<string, unknown>;
    assert.equal(body.active, true);
    assert.equal(body.client_id, fast.client_id);
    assert.equal(body.username, ALICE.email);
    assert.equal(body.token_type, 'Bearer');
    assert.deepEqual(String(body.scope).split(' ').sort(), ['all', 'openid']);
    assert.ok(typeof body.exp === 'number' && typeof body.iat === 'number' && typeof body.sub === 'string');

    const byKey = await k.introspect(tokens.access_token, { auth: k.adminAuth });
    assert.equal(byKey.json().active, true, 'a System Manager API key may introspect any token');
    const bySession = await k.call(`${M}introspect_token?token=${encodeURIComponent(tokens.access_token)}`, { sid: managerSid });
    assert.equal(bySession.json().active, true, 'a System Manager session may introspect any token');
    assert.deepEqual((await k.introspect('no-such-token', { auth: k.adminAuth })).json(), { active: false });
  });

  test('revocation: 200 {} for unknown and foreign tokens, but only the client\'s own tokens are revoked', async () => {
    const tokens = await freshTokens();
    const otherAuth = basic(other.client_id, String(other.client_secret));
    const fastAuth = basic(fast.client_id, String(fast.client_secret));
    const revoke = (token: string | undefined, auth?: string, hint?: string) =>
      k.call(`${M}revoke_token`, { auth, form: { token, token_type_hint: hint } });

    for (const res of [await revoke(tokens.access_token, otherAuth), await revoke(tokens.refresh_token, otherAuth, 'refresh_token')]) {
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), {});
    }
    assert.equal(await k.whoami(tokens.access_token), ALICE.email, 'another client\'s revocation changed nothing');
    const unknown = await revoke(randomToken(32), fastAuth);
    assert.equal(unknown.statusCode, 200);
    assert.deepEqual(unknown.json(), {});
    assertOAuthError(await revoke(tokens.access_token), 401, 'invalid_client');
    assertOAuthError(await revoke(tokens.access_token, basic(fast.client_id, 'wrong')), 401, 'invalid_client');
    assertOAuthError(await revoke(undefined, fastAuth), 400, 'invalid_request');
    assert.equal((await k.call(`${M}revoke_token?token=${encodeURIComponent(tokens.access_token)}`, { auth: fastAuth })).statusCode, 405);
    assert.equal(await k.whoami(tokens.access_token), ALICE.email);

    assert.deepEqual((await revoke(tokens.access_token, fastAuth)).json(), {});
    assert.equal(await k.whoami(tokens.access_token), 401);
    assert.deepEqual((await k.introspect(tokens.access_token, { auth: fastAuth })).json(), { active: false });
    // Revoking a refresh token ends its grant.
    const more = await freshTokens();
    assert.deepEqual((await revoke(more.refresh_token, fastAuth, 'refresh_token')).json(), {});
    assert.equal(await k.whoami(more.access_token), 401);
    assertOAuthError(await refresh(fast, more.refresh_token), 400, 'invalid_grant');
  });

  test('an expired code is invalid_grant', async () => {
    const theCode = await code(fast);
    const result = await k.t.site.storage.run(
      'UPDATE "tabOAuth Authorization Code" SET "expiration_time" = ? WHERE "client" = ? AND "validity" = \'Valid\'',
      ['2000-01-01 00:00:00.000000', fast.name],
    );
    assert.ok(result.changes >= 1);
    const res = await exchange(fast, theCode);
    assertOAuthError(res, 400, 'invalid_grant');
    assert.match(res.json().error_description, /expired/);
  });

  test('codes expire after at most 10 minutes', async () => {
    const before = Date.now();
    await code(fast);
    const row = await k.t.site.storage.get<{ expiration_time: string }>(
      'SELECT "expiration_time" FROM "tabOAuth Authorization Code" WHERE "client" = ? AND "validity" = \'Valid\' ORDER BY "creation" DESC LIMIT 1',
      [fast.name],
    );
    const expires = Date.parse(`${String(row?.expiration_time).replace(' ', 'T').slice(0, 23)}Z`);
    assert.ok(expires > before && expires - before <= 10 * 60_000 + 5_000, `code lifetime ${(expires - before) / 1000} s`);
  });

  test('an expired access token is refused on the API and inactive at introspection; its refresh token still works', async () => {
    const tokens = await freshTokens();
    const result = await k.t.site.storage.run(
      'UPDATE "tabOAuth Bearer Token" SET "expiration_time" = ? WHERE "client" = ? AND "status" = \'Active\'',
      ['2000-01-01 00:00:00.000000', fast.name],
    );
    assert.ok(result.changes >= 1);
    const api = await k.bearer('/api/resource/ToDo', tokens.access_token);
    assert.equal(api.statusCode, 401);
    assert.match(String(api.headers['www-authenticate']), /error="invalid_token"/);
    assert.deepEqual((await k.introspect(tokens.access_token, { auth: k.adminAuth })).json(), { active: false });
    assert.equal((await k.introspect(String(tokens.refresh_token), { auth: k.adminAuth })).json().active, true);
    const renewed = k.tokens(await refresh(fast, tokens.refresh_token));
    assert.equal(await k.whoami(renewed.access_token), ALICE.email);
  });

  test('client secrets: 256 bits, shown once; a disabled client\'s tokens and credentials stop working', async () => {
    const created = await k.createClient({ app_name: 'Short Lived', redirect_uris: CB, skip_authorization: 1 });
    assert.ok(String(created.client_secret).length >= 43, 'at least 256 bits');
    const read = await k.call(`/api/resource/OAuth%20Client/${created.name}`, { auth: k.adminAuth });
    assert.equal(read.statusCode, 200);
    assert.ok(!read.body.includes(String(created.client_secret)), 'the secret is not readable later');

    const tokens = k.tokens(await exchange(created, await code(created, { scope: 'all' })));
    assert.equal(await k.whoami(tokens.access_token), ALICE.email);
    const disable = await k.call(`/api/resource/OAuth%20Client/${created.name}`, { method: 'PUT', auth: k.adminAuth, json: { enabled: 0 } });
    assert.equal(disable.statusCode, 200, disable.body);
    assert.equal(await k.whoami(tokens.access_token), 401);
    assertOAuthError(await refresh(created, tokens.refresh_token), 401, 'invalid_client');
    assertErrorPage(await k.authorize({ client_id: created.client_id, response_type: 'code', redirect_uri: CB }, aliceSid));
  });

  test('the token endpoint is rate-limited per address', async () => {
    const ip = '10.7.0.1';
    let last: Response | undefined;
    for (let i = 0; i < 121; i += 1) {
      last = await k.token({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }, { ip });
      if (last.statusCode === 429) break;
      assert.equal(last.statusCode, 401);
    }
    assert.equal(last?.statusCode, 429);
    assert.equal(last?.json().error, 'slow_down');
    // Other addresses are not affected.
    assertOAuthError(await k.token({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }, { ip: '10.7.0.2' }), 401, 'invalid_client');
  });

  test('prompt=none: login_required without a session, consent_required without consent; never a page', async () => {
    const params = { client_id: conf.client_id, response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'quiet', prompt: 'none' };
    assertErrorRedirect(await k.authorize(params), CB, 'login_required', 'quiet');
    assertErrorRedirect(await k.authorize(params, aliceSid), CB, 'consent_required', 'quiet');
    assertErrorRedirect(await k.authorize({ ...params, prompt: 'none login' }, aliceSid), CB, 'invalid_request', 'quiet');
    // With consent not needed, prompt=none gives a code.
    await k.obtainCode(aliceSid, { ...params, client_id: fast.client_id });
  });

  test('open redirects: /login?redirect-to= only ever leads to a path on this site', async () => {
    const loginForm = (target: string) =>
      k.call('/login', { form: { usr: ALICE.email, pwd: ALICE.password, 'redirect-to': target } });
    for (const target of ['https://evil.example/x', '//evil.example', '/\\evil.example', '\\\\evil.example', 'javascript:alert(1)', '/\tevil.example', 'http:/evil.example']) {
      const res = await loginForm(target);
      assert.equal(res.statusCode, 303, `${target}: ${res.body.slice(0, 200)}`);
      assert.equal(res.headers.location, '/app', target);
      const sid = res.cookies.find((c) => c.name === 'sid')?.value;
      k.remember(sid);
      const again = await k.call(`/login?redirect-to=${encodeURIComponent(target)}`, { sid: aliceSid });
      assert.equal(again.statusCode, 302);
      assert.equal(again.headers.location, '/app', target);
      const page = await k.call(`/login?redirect-to=${encodeURIComponent(target)}`);
      assert.ok(!page.body.includes('evil.example') && !page.body.includes('javascript:'), 'the login page does not carry the target');
    }
    // The authorize round trip itself: Guest → /login → back to authorize → consent.
    const authorize = await k.authorize({ client_id: conf.client_id, response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'trip' });
    assert.equal(authorize.statusCode, 302);
    const login = new URL(String(authorize.headers.location), ORIGIN);
    assert.equal(login.pathname, '/login');
    const back = String(login.searchParams.get('redirect-to'));
    assert.ok(back.startsWith(`${M}authorize?`), back);
    const loggedIn = await loginForm(back);
    assert.equal(loggedIn.headers.location, back);
    const sid = String(loggedIn.cookies.find((c) => c.name === 'sid')?.value);
    k.remember(sid);
    const consent = await k.call(back, { sid });
    assert.equal(consent.statusCode, 200);
    assert.equal(consentFields(consent.body).state, 'trip');
  });

  test('approve: POST only, with the session\'s CSRF token and from this site', async () => {
    const params = { client_id: conf.client_id, response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'csrf' };
    const consent = await k.authorize(params, aliceSid);
    assert.equal(consent.statusCode, 200);
    assert.match(String(consent.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.equal(consent.headers['x-frame-options'], 'DENY');
    const fields: Record<string, string> = { ...consentFields(consent.body), decision: 'allow' };
    assert.ok(fields.csrf_token, 'the consent form carries a CSRF token');

    const viaGet = await k.call(`${M}approve?${new URLSearchParams(fields).toString()}`, { sid: aliceSid });
    assert.equal(viaGet.statusCode, 405, viaGet.body.slice(0, 200));
    assert.equal(viaGet.headers.location, undefined);

    const { csrf_token: csrf, ...withoutToken } = fields;
    for (const res of [
      await k.approve(withoutToken, aliceSid),
      await k.approve({ ...fields, csrf_token: `${csrf}x` }, aliceSid),
      await k.approve(fields, aliceSid, { headers: { origin: 'https://evil.example' } }),
      await k.approve(fields, aliceSid, { headers: { origin: 'null' } }),
      await k.approve(fields, aliceSid, { headers: { origin: 'https://localhost.evil.example' } }),
      await k.call(`${M}approve`, { sid: aliceSid, form: fields, headers: { 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/page' } }),
    ]) {
      assert.equal(res.statusCode, 400, res.body.slice(0, 200));
      assert.equal(res.json().exc_type, 'CSRFTokenError');
      assert.equal(res.headers.location, undefined);
    }
    // A session that never saw a consent page holds no CSRF token: approve still refuses.
    const fresh = await k.login(ALICE);
    const blind = await k.approve(withoutToken, fresh);
    assert.equal(blind.statusCode, 400, blind.body.slice(0, 200));
    assert.equal(blind.headers.location, undefined);
    // Guests cannot approve.
    const guest = await k.approve(withoutToken, '');
    assert.notEqual(guest.statusCode, 303);
    assert.equal(guest.headers.location, undefined);

    const ok = await k.approve(fields, aliceSid);
    assert.equal(ok.statusCode, 303);
    const { params: got } = redirectParams(ok);
    assert.equal(got.get('state'), 'csrf');
    assert.equal(got.get('iss'), ORIGIN);
    k.remember(got.get('code') ?? undefined);
    assert.ok(got.get('code'));
  });

  test('the consent page lets its form redirect to the client (CSP form-action)', async () => {
    const external = await k.createClient({ app_name: 'External', redirect_uris: 'https://app.example/callback' });
    const consent = await k.authorize({ client_id: external.client_id, response_type: 'code', redirect_uri: 'https://app.example/callback', scope: 'openid' }, aliceSid);
    assert.equal(consent.statusCode, 200);
    const csp = String(consent.headers['content-security-policy']);
    const formAction = /form-action ([^;]*)/.exec(csp)?.[1] ?? '';
    assert.match(formAction, /'self'/);
    assert.match(formAction, /https:\/\/app\.example(?![\w.-])/, csp);
  });

  test('allowed_roles and Deny: access_denied sent back with state and iss', async () => {
    const params = { client_id: gated.client_id, response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'gate' };
    assertErrorRedirect(await k.authorize(params, aliceSid), CB, 'access_denied', 'gate');
    const managerConsent = await k.authorize(params, managerSid);
    assert.equal(managerConsent.statusCode, 200, 'a System Manager may use the application');
    // Approving with a consent form made for someone else changes nothing for Alice.
    const aliceConsent = await k.authorize({ ...params, client_id: conf.client_id }, aliceSid);
    const aliceFields = consentFields(aliceConsent.body);
    assertErrorRedirect(await k.approve({ ...aliceFields, client_id: gated.client_id, decision: 'allow' }, aliceSid), CB, 'access_denied', 'gate');

    const denied = await k.approve({ ...aliceFields, decision: 'deny' }, aliceSid);
    assert.equal(denied.statusCode, 303);
    assertErrorRedirect(denied, CB, 'access_denied', 'gate');
  });

  test('scopes beyond the client\'s are invalid_scope, sent back with state', async () => {
    const limited = await k.createClient({ app_name: 'Limited', redirect_uris: CB, scopes: 'openid ToDo:read', skip_authorization: 1 });
    for (const scope of ['openid all', 'ToDo:write', 'read', 'openid "quoted"']) {
      assertErrorRedirect(await k.authorize({ client_id: limited.client_id, response_type: 'code', redirect_uri: CB, scope, state: 'sc' }, aliceSid), CB, 'invalid_scope', 'sc');
    }
  });

  test('token endpoint: form-encoded POST body only; no query string, no JSON, no GET', async () => {
    const theCode = await code(fast);
    const auth = basic(fast.client_id, String(fast.client_secret));
    const fields = { grant_type: 'authorization_code', code: theCode, redirect_uri: CB };
    const withQuery = await k.call(`${M}get_token?${new URLSearchParams(fields).toString()}`, { auth, form: { grant_type: 'authorization_code' } });
    assertOAuthError(withQuery, 400, 'invalid_request');
    const json = await k.call(`${M}get_token`, { auth, json: fields });
    assertOAuthError(json, 400, 'invalid_request');
    const get = await k.call(`${M}get_token?${new URLSearchParams(fields).toString()}`, { auth });
    assert.equal(get.statusCode, 405);
    const repeated = await k.app.inject({
      method: 'POST',
      url: `${M}get_token`,
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `grant_type=authorization_code&code=${encodeURIComponent(theCode)}&code=other&redirect_uri=${encodeURIComponent(CB)}`,
    });
    assertOAuthError(repeated, 400, 'invalid_request');
    assertOAuthError(await k.token({ grant_type: 'authorization_code', redirect_uri: CB }, { auth }), 400, 'invalid_request');
    assertOAuthError(await k.token({ grant_type: 'device_code' }, { auth }), 400, 'unsupported_grant_type');
    // The code survived the malformed requests.
    k.tokens(await exchange(fast, theCode));
  });

  test('the implicit grant is refused unless OAuth Settings enables it; the password grant is refused', async () => {
    const params = { client_id: conf.client_id, response_type: 'token', redirect_uri: CB, scope: 'openid', state: 'imp' };
    assertErrorRedirect(await k.authorize(params, aliceSid), CB, 'unsupported_response_type', 'imp');
    for (const responseType of ['id_token', 'id_token token', 'code id_token', 'code token']) {
      assertErrorRedirect(await k.authorize({ ...params, response_type: responseType }, aliceSid), CB, 'unsupported_response_type', 'imp');
    }
    // The switch alone is not enough: the client must be an Implicit client.
    await k.setSettings({ enable_implicit_grant: 1 });
    try {
      assertErrorRedirect(await k.authorize(params, aliceSid), CB, 'unsupported_response_type', 'imp');
    } finally {
      await k.setSettings({ enable_implicit_grant: 0 });
    }
    const password = await k.tokenAs(fast, { grant_type: 'password', username: ALICE.email, password: ALICE.password, scope: 'all' });
    assertOAuthError(password, 400, 'unsupported_grant_type');
  });

  test('client_credentials: a confidential Client Credentials client runs as its user; public clients and others are refused', async () => {
    const res = await k.tokenAs(service, { grant_type: 'client_credentials' });
    const tokens = k.tokens(res);
    assert.equal(res.headers.pragma, 'no-cache');
    assert.match(String(res.headers['cache-control']), /no-store/);
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.refresh_token, undefined, 'no refresh token for client credentials');
    assert.equal(tokens.id_token, undefined);
    assert.equal(await k.whoami(tokens.access_token), ALICE.email);
    assertOAuthError(await k.tokenAs(service, { grant_type: 'client_credentials' }, 'none'), 401, 'invalid_client');
    assertOAuthError(await k.token({ grant_type: 'client_credentials', client_id: pub.client_id }), 400, 'unauthorized_client');
    assertOAuthError(await k.tokenAs(fast, { grant_type: 'client_credentials' }), 400, 'unauthorized_client');
    // A user alone is not enough: the client's grant type must be Client Credentials.
    const codeClientWithUser = await k.createClient({ app_name: 'Code Client', redirect_uris: CB, user: ALICE.email });
    assertOAuthError(await k.tokenAs(codeClientWithUser, { grant_type: 'client_credentials' }), 400, 'unauthorized_client');
    const noUser = await k.createClient({ app_name: 'No User', redirect_uris: CB, grant_type: 'Client Credentials' });
    assertOAuthError(await k.tokenAs(noUser, { grant_type: 'client_credentials' }), 400, 'unauthorized_client');
    assertOAuthError(await k.tokenAs(service, { grant_type: 'client_credentials', scope: 'openid all ToDo:read' }), 400, 'invalid_scope');
  });

  test('token responses are never cached', async () => {
    const res = await exchange(fast, await code(fast));
    k.tokens(res);
    assert.equal(res.headers.pragma, 'no-cache');
    assert.match(String(res.headers['cache-control']), /no-store/);
    assert.match(String(res.headers['content-type']), /application\/json/);
  });

  test('grants, refreshes, reuse, revocations and failed client authentication are in the Activity Log', async () => {
    const rows = await k.t.site.storage.all<{ subject: string; status: string }>('SELECT "subject", "status" FROM "tabActivity Log" WHERE "operation" = \'OAuth\'');
    const has = (pattern: RegExp, status: string) => rows.some((r) => pattern.test(r.subject) && r.status === status);
    assert.ok(has(/Authorization code issued/, 'Success'), 'code issued');
    assert.ok(has(/Tokens issued/, 'Success'), 'tokens issued');
    assert.ok(has(/Tokens refreshed/, 'Success'), 'refresh');
    assert.ok(has(/reuse detected/, 'Failed'), 'reuse detection');
    assert.ok(has(/Token revoked/, 'Success'), 'revocation');
    assert.ok(has(/client authentication failed/, 'Failed'), 'failed client authentication');
    assert.ok(has(/denied/i, 'Failed'), 'a denied consent');
  });

  test('no token, code, secret, password or sid obtained here is stored in clear', async () => {
    assert.ok(k.secrets.size >= 40, `the flows obtained ${k.secrets.size} secrets`);
    await k.assertNothingInClear();
  });
});
