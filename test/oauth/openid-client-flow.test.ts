/**
 * The OAuth 2.0 / OpenID Connect provider driven end to end by openid-client v6 (a certified
 * relying party) against a server on a real socket (issue 5, Proof 1): discovery, clients
 * made over REST by a System Manager (confidential with `client_secret_basic`, public with
 * PKCE and `none`), authorization through the login and consent pages by a small
 * cookie-carrying user agent, code exchange (openid-client checks `iss` and the ID token; the
 * ID token is verified again with `jose` against the JWKS), userinfo, the API with the access
 * token, refresh rotation with reuse detection, introspection, revocation, dynamic client
 * registration, RFC 9728 resource discovery, and scopes that restrict.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { addUser } from '../../src/app/user-admin.ts';
import { serve, type RunningServer } from '../../src/app/create-server.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const ALICE = 'alice.oauth@example.com';
const ALICE_PASSWORD = 'alice-Password-1234!';
const MANAGER = 'manager.oauth@example.com';
const MANAGER_PASSWORD = 'manager-Password-1234!';
const PREFIX = '/api/method/frappe.integrations.oauth2.';
const CONFIDENTIAL_REDIRECT = 'https://rp.example.com/oauth/callback';
const PUBLIC_REDIRECT = 'http://127.0.0.1:8765/callback';
const NATIVE_REDIRECT = 'http://127.0.0.1:53123/callback';
const CLIENT_SCOPES = 'all openid profile email roles ToDo:read';

/** `&#NN;` (how the pages escape) and the usual named entities, back to text. */
function unescapeHtml(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The hidden fields of the first form on a page, and its action. */
function readForm(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  assert.ok(form, 'the page has a form');
  const fields: Record<string, string> = {};
  for (const input of (form[2] ?? '').matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields[unescapeHtml(input[1] ?? '')] = unescapeHtml(input[2] ?? '');
  }
  return { action: unescapeHtml(form[1] ?? ''), fields };
}

/**
 * A browser reduced to what the flow needs: a cookie jar, no automatic redirects, and the
 * `Origin` header a browser sends on a form POST.
 */
class UserAgent {
  readonly cookies = new Map<string, string>();
  constructor(readonly origin: string) {}

  async request(path: string, init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = this.origin;
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      headers.accept = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(new URL(path, this.origin), { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=(0|-)/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1] ?? '') < Date.now()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

interface CreatedClient {
  client_id: string;
  client_secret?: string;
}

function wwwAuthenticate(res: Response): string {
  return res.headers.get('www-authenticate') ?? '';
}

function atHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken).digest();
  return digest.subarray(0, 16).toString('base64url');
}

async function rejectsWithOAuthError(promise: Promise<unknown>, error: string): Promise<void> {
  await assert.rejects(promise, (thrown: unknown) => {
    assert.ok(thrown instanceof oidc.ResponseBodyError, `expected a ResponseBodyError, got ${String(thrown)}`);
    assert.equal(thrown.error, error);
    return true;
  });
}

forEachDatabase('OAuth 2.0 / OpenID Connect with openid-client over a real socket', (db) => {
  let t: TestSite;
  let server: RunningServer;
  let issuer = '';
  let browser: UserAgent;
  let confidential: CreatedClient;
  let publicClient: CreatedClient;
  let confidentialConfig: oidc.Configuration;
  let publicConfig: oidc.Configuration;
  /** Tokens of the first code flow (refreshed, then its family revoked by the reuse test). */
  let firstTokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  let firstSub = '';

  const insecure = { execute: [oidc.allowInsecureRequests] };

  before(async () => {
    t = await createTestSite({ db });
    await addUser(t.site, { email: ALICE, password: ALICE_PASSWORD, firstName: 'Alice', lastName: 'Oauth' });
    await addUser(t.site, { email: MANAGER, password: MANAGER_PASSWORD, roles: ['System Manager'] });
    server = await serve(t.site, { port: 0, host: '127.0.0.1' });
    issuer = server.url;
    browser = new UserAgent(issuer);
  });

  after(async () => {
    await server?.close();
    await t?.cleanup();
  });

  /**
   * The authorization step as a browser does it: authorize (logging in when sent to /login),
   * the consent page, Allow. Returns the URL the server redirected back to.
   */
  async function authorizeInBrowser(url: URL, options: { expectLogin: boolean; scopeTexts?: string[]; appName?: string; decision?: 'allow' | 'deny' }): Promise<URL> {
    const path = url.pathname + url.search;
    let res = await browser.request(path);
    if (options.expectLogin) {
      assert.equal(res.status, 302, 'a Guest is sent to log in');
      const login = new URL(res.headers.get('location') ?? '', issuer);
      assert.equal(login.pathname, '/login');
      const back = login.searchParams.get('redirect-to') ?? '';
      assert.ok(back.startsWith(`${PREFIX}authorize?`), `redirect-to names the authorize request: ${back}`);
      assert.equal(new URL(back, issuer).searchParams.get('client_id'), url.searchParams.get('client_id'));
      const page = await browser.request(login.pathname + login.search);
      assert.equal(page.status, 200);
      assert.equal(readForm(await page.text()).fields['redirect-to'], back, 'the login form carries redirect-to');
      res = await browser.request('/login', { form: { usr: ALICE, pwd: ALICE_PASSWORD, 'redirect-to': back } });
      assert.equal(res.status, 303, 'the login POST redirects');
      assert.equal(res.headers.get('location'), back, 'back to the authorize request');
      assert.ok(browser.cookies.get('sid') && browser.cookies.get('sid') !== 'Guest', 'a session cookie');
      res = await browser.request(back);
    }
    assert.equal(res.status, 200, 'the consent page');
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const html = await res.text();
    if (options.appName) assert.ok(html.includes(`Allow ${options.appName}?`), 'the page names the application');
    for (const text of options.scopeTexts ?? []) assert.ok(html.includes(text), `the page describes a scope: ${text}`);
    const form = readForm(html);
    assert.equal(form.action, `${PREFIX}approve`);
    assert.ok(form.fields.csrf_token, 'the form carries the CSRF token');
    assert.equal(form.fields.client_id, url.searchParams.get('client_id'));
    assert.equal(form.fields.state, url.searchParams.get('state') ?? undefined);

    // Without the CSRF token the approval is refused.
    const forged = await browser.request(form.action, { form: { ...form.fields, csrf_token: 'wrong', decision: 'allow' } });
    assert.equal(forged.status, 400, 'a wrong CSRF token is refused');

    const decision = options.decision ?? 'allow';
    const approved = await browser.request(form.action, { form: { ...form.fields, decision } });
    assert.equal(approved.status, 303, 'the decision redirects to the client');
    const callback = new URL(approved.headers.get('location') ?? '');
    assert.equal(callback.origin + callback.pathname, url.searchParams.get('redirect_uri'), 'to the registered redirect URI');
    if (decision === 'allow') assert.ok(callback.searchParams.get('code'), 'with a code');
    else assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), url.searchParams.get('state'));
    assert.equal(callback.searchParams.get('iss'), issuer, 'RFC 9207 iss');
    return callback;
  }

  /** Creates an OAuth Client over REST as the System Manager (a session of their own). */
  async function createClient(doc: Record<string, unknown>): Promise<CreatedClient> {
    const manager = new UserAgent(issuer);
    const login = await manager.request('/api/method/login', { json: { usr: MANAGER, pwd: MANAGER_PASSWORD } });
    assert.equal(login.status, 200, await login.clone().text());
    const res = await manager.request('/api/resource/OAuth%20Client', { json: doc });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return (JSON.parse(text) as { data: CreatedClient }).data;
  }

  test('discovery: openid-configuration through openid-client', async () => {
    const config = await oidc.discovery(new URL(issuer), 'probe', undefined, oidc.None(), insecure);
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, issuer, 'the issuer is the server URL');
    assert.equal(meta.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.ok(meta.supportsPKCE('S256'), 'S256 advertised');
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256'], 'plain is not offered');
    assert.equal(meta.authorization_endpoint, `${issuer}${PREFIX}authorize`);
    assert.equal(meta.token_endpoint, `${issuer}${PREFIX}get_token`);
    assert.equal(meta.userinfo_endpoint, `${issuer}${PREFIX}openid_profile`);
    assert.equal(meta.revocation_endpoint, `${issuer}${PREFIX}revoke_token`);
    assert.equal(meta.introspection_endpoint, `${issuer}${PREFIX}introspect_token`);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    assert.equal(meta.registration_endpoint, undefined, 'registration is off by default');
    assert.ok((meta.id_token_signing_alg_values_supported ?? []).includes('RS256'));
    const jwks = (await (await fetch(meta.jwks_uri ?? '')).json()) as { keys: { kty: string; alg?: string; kid?: string; d?: string }[] };
    assert.ok(jwks.keys.length >= 1);
    for (const key of jwks.keys) {
      assert.equal(key.kty, 'RSA');
      assert.ok(key.kid);
      assert.equal(key.d, undefined, 'no private parts published');
    }
  });

  test('clients made over REST by a System Manager: confidential (client_secret_basic) and public (none)', async () => {
    confidential = await createClient({
      app_name: 'Alice Planner',
      redirect_uris: `${CONFIDENTIAL_REDIRECT}\nhttps://rp.example.com/other`,
      scopes: CLIENT_SCOPES,
      token_endpoint_auth_method: 'Client Secret Basic',
    });
    assert.ok(confidential.client_id);
    assert.ok(confidential.client_secret && confidential.client_secret.length >= 43, 'a 256-bit secret, shown once');
    publicClient = await createClient({
      app_name: 'Alice Mobile',
      redirect_uris: PUBLIC_REDIRECT,
      scopes: 'openid profile email ToDo:read',
      token_endpoint_auth_method: 'None',
    });
    assert.ok(publicClient.client_id);
    assert.equal(publicClient.client_secret, undefined, 'a public client has no secret');

    // The secret is not readable afterwards.
    const manager = new UserAgent(issuer);
    await manager.request('/api/method/login', { json: { usr: MANAGER, pwd: MANAGER_PASSWORD } });
    const read = await manager.request(`/api/resource/OAuth%20Client/${confidential.client_id}`, { headers: { accept: 'application/json' } });
    assert.equal(read.status, 200);
    const stored = ((await read.json()) as { data: Record<string, unknown> }).data;
    assert.equal(stored.client_secret, '********', 'the secret is shown once only');

    confidentialConfig = await oidc.discovery(new URL(issuer), confidential.client_id, undefined, oidc.ClientSecretBasic(confidential.client_secret), insecure);
    publicConfig = await oidc.discovery(new URL(issuer), publicClient.client_id, undefined, oidc.None(), insecure);
  });

  test('authorization code + PKCE with a confidential client: login, consent, code exchange, ID token, userinfo, API', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(confidentialConfig, {
      redirect_uri: CONFIDENTIAL_REDIRECT,
      scope: 'openid profile email roles all',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      max_age: '600',
    });
    const callback = await authorizeInBrowser(url, {
      expectLogin: true,
      appName: 'Alice Planner',
      scopeTexts: ['Everything you can do in this site, as you', 'Know who you are', 'See your email address', 'See your roles'],
    });

    // openid-client checks state and iss on the callback, and the ID token (signature, iss,
    // aud, nonce, auth_time for max_age).
    const tokens = await oidc.authorizationCodeGrant(confidentialConfig, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      maxAge: 600,
      idTokenExpected: true,
    });
    firstTokens = tokens;
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
    assert.equal(tokens.scope, 'openid profile email roles all');
    assert.ok(tokens.expires_in && tokens.expires_in > 0 && tokens.expires_in <= 3600);
    const claims = tokens.claims();
    assert.ok(claims);

    // The same ID token verified independently with jose against the published JWKS.
    const meta = confidentialConfig.serverMetadata();
    const jwks = createRemoteJWKSet(new URL(meta.jwks_uri ?? ''));
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token ?? '', jwks, { issuer, audience: confidential.client_id, algorithms: ['RS256'] });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.ok(protectedHeader.kid, 'the header names the key');
    assert.equal(decodeProtectedHeader(tokens.id_token ?? '').kid, protectedHeader.kid);
    assert.equal(payload.iss, issuer);
    assert.equal(payload.aud, confidential.client_id);
    assert.equal(payload.azp, confidential.client_id);
    assert.equal(typeof payload.sub, 'string');
    assert.ok((payload.sub ?? '').length > 0 && payload.sub !== ALICE, 'sub is opaque');
    assert.equal(payload.nonce, nonce);
    assert.equal(payload.at_hash, atHash(tokens.access_token));
    assert.equal(typeof payload.auth_time, 'number');
    const now = Math.floor(Date.now() / 1000);
    assert.ok((payload.auth_time as number) <= now + 5 && (payload.auth_time as number) > now - 600, 'auth_time is the login');
    assert.ok(typeof payload.exp === 'number' && typeof payload.iat === 'number' && payload.exp > payload.iat);
    assert.equal(payload.email, ALICE);
    assert.equal(claims.sub, payload.sub);
    firstSub = payload.sub ?? '';

    // Userinfo (openid-client checks that its sub matches).
    const userinfo = await oidc.fetchUserInfo(confidentialConfig, tokens.access_token, firstSub);
    assert.equal(userinfo.sub, firstSub);
    assert.equal(userinfo.email, ALICE);
    assert.equal(userinfo.given_name, 'Alice');
    assert.equal(userinfo.family_name, 'Oauth');
    assert.ok(Array.isArray(userinfo.roles), 'roles are listed');

    // The access token on the REST API: `all` is the user's own rights.
    const created = await oidc.fetchProtectedResource(
      confidentialConfig,
      tokens.access_token,
      new URL(`${issuer}/api/resource/ToDo`),
      'POST',
      JSON.stringify({ description: 'made with an OAuth token' }),
      new Headers({ 'content-type': 'application/json', accept: 'application/json' }),
    );
    assert.equal(created.status, 200, await created.clone().text());
    const todo = ((await created.json()) as { data: { name: string; owner: string } }).data;
    assert.equal(todo.owner, ALICE, 'the token acts as its user');
    const listed = await fetch(`${issuer}/api/resource/ToDo?fields=["name","description"]`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(listed.status, 200);
    const rows = ((await listed.json()) as { data: { name: string }[] }).data;
    assert.ok(rows.some((row) => row.name === todo.name));
    const whoami = await fetch(`${issuer}/api/method/frappe.auth.get_logged_user`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.deepEqual(await whoami.json(), { message: ALICE });
  });

  test('refresh: rotation, and reuse of a rotated refresh token revokes the whole family', async () => {
    const oldRefresh = firstTokens.refresh_token ?? '';
    const refreshed = await oidc.refreshTokenGrant(confidentialConfig, oldRefresh);
    assert.ok(refreshed.refresh_token, 'a new refresh token');
    assert.notEqual(refreshed.refresh_token, oldRefresh, 'rotated');
    assert.notEqual(refreshed.access_token, firstTokens.access_token);
    assert.equal(refreshed.scope, firstTokens.scope, 'the same scope');
    assert.equal(refreshed.claims()?.sub, firstSub, 'the refreshed ID token names the same user');
    const info = await oidc.fetchUserInfo(confidentialConfig, refreshed.access_token, firstSub);
    assert.equal(info.sub, firstSub);

    // The rotated token is refused, and presenting it revokes everything of the grant.
    await rejectsWithOAuthError(oidc.refreshTokenGrant(confidentialConfig, oldRefresh), 'invalid_grant');
    await rejectsWithOAuthError(oidc.refreshTokenGrant(confidentialConfig, refreshed.refresh_token ?? ''), 'invalid_grant');
    const api = await fetch(`${issuer}/api/resource/ToDo`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    assert.equal(api.status, 401, 'the access token of the revoked family is dead too');
    const introspected = await oidc.tokenIntrospection(confidentialConfig, refreshed.access_token);
    assert.equal(introspected.active, false);
  });

  test('introspection by the client, revocation, and a revoked token on the API', async () => {
    // A fresh grant: the browser is logged in, so authorize goes straight to consent.
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(confidentialConfig, {
      redirect_uri: CONFIDENTIAL_REDIRECT,
      scope: 'openid all',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const callback = await authorizeInBrowser(url, { expectLogin: false });
    const tokens = await oidc.authorizationCodeGrant(confidentialConfig, callback, { pkceCodeVerifier: verifier, expectedState: state });

    const active = await oidc.tokenIntrospection(confidentialConfig, tokens.access_token);
    assert.equal(active.active, true);
    assert.equal(active.scope, 'openid all');
    assert.equal(active.client_id, confidential.client_id);
    assert.equal(active.username, ALICE);
    assert.equal(active.sub, firstSub);
    assert.equal(active.token_type, 'Bearer');
    assert.equal(typeof active.exp, 'number');
    assert.equal(typeof active.iat, 'number');
    assert.ok((active.exp as number) > (active.iat as number));
    const ofRefresh = await oidc.tokenIntrospection(confidentialConfig, tokens.refresh_token ?? '', { token_type_hint: 'refresh_token' });
    assert.equal(ofRefresh.active, true);
    assert.equal(ofRefresh.token_type, 'refresh_token');

    // Another client learns nothing about this client's token.
    const byPublic = await fetch(`${issuer}${PREFIX}introspect_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token, client_id: publicClient.client_id }),
    });
    assert.deepEqual(await byPublic.json(), { active: false });

    await oidc.tokenRevocation(confidentialConfig, tokens.access_token);
    const revoked = await oidc.tokenIntrospection(confidentialConfig, tokens.access_token);
    assert.equal(revoked.active, false, 'a revoked token is inactive');
    const api = await fetch(`${issuer}/api/resource/ToDo`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
    assert.equal(api.status, 401);
    const challenge = wwwAuthenticate(api);
    assert.match(challenge, /^Bearer /);
    assert.match(challenge, /error="invalid_token"/);
    assert.match(challenge, new RegExp(`resource_metadata="${issuer}/\\.well-known/oauth-protected-resource"`));
    // Unknown tokens are answered 200 too (RFC 7009 §2.2).
    await oidc.tokenRevocation(confidentialConfig, 'not-a-token-this-server-issued');
    // Revoking the refresh token ends the grant.
    await oidc.tokenRevocation(confidentialConfig, tokens.refresh_token ?? '', { token_type_hint: 'refresh_token' });
    await rejectsWithOAuthError(oidc.refreshTokenGrant(confidentialConfig, tokens.refresh_token ?? ''), 'invalid_grant');
  });

  test('a public client: Deny gives access_denied with state and iss; then PKCE, no secret (none), code exchange, refresh', async () => {
    const denied = oidc.buildAuthorizationUrl(publicConfig, {
      redirect_uri: PUBLIC_REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'deny-state',
    });
    const deniedCallback = await authorizeInBrowser(denied, { expectLogin: false, decision: 'deny' });
    await assert.rejects(
      oidc.authorizationCodeGrant(publicConfig, deniedCallback, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: 'deny-state' }),
      (thrown: unknown) => {
        assert.ok(thrown instanceof oidc.AuthorizationResponseError, `expected an AuthorizationResponseError, got ${String(thrown)}`);
        assert.equal(thrown.error, 'access_denied');
        return true;
      },
    );

    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(publicConfig, {
      redirect_uri: PUBLIC_REDIRECT,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const callback = await authorizeInBrowser(url, { expectLogin: false, appName: 'Alice Mobile', scopeTexts: ['See your email address'] });
    const tokens = await oidc.authorizationCodeGrant(publicConfig, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.equal(tokens.claims()?.sub, firstSub, 'sub is stable per user across clients');
    assert.equal(tokens.claims()?.aud, publicClient.client_id);
    const info = await oidc.fetchUserInfo(publicConfig, tokens.access_token, firstSub);
    assert.equal(info.email, ALICE);
    const refreshed = await oidc.refreshTokenGrant(publicConfig, tokens.refresh_token ?? '');
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    // The confidential client cannot use the public client's refresh token.
    await rejectsWithOAuthError(oidc.refreshTokenGrant(confidentialConfig, refreshed.refresh_token ?? ''), 'invalid_grant');
    await oidc.tokenRevocation(publicConfig, refreshed.refresh_token ?? '');
    await rejectsWithOAuthError(oidc.refreshTokenGrant(publicConfig, refreshed.refresh_token ?? ''), 'invalid_grant');
  });

  test('client credentials: a confidential client acting as its user, within its scopes', async () => {
    const service = await createClient({
      app_name: 'Alice Sync',
      user: ALICE,
      grant_type: 'Client Credentials',
      redirect_uris: 'https://sync.example.com/unused',
      scopes: 'ToDo:read',
      token_endpoint_auth_method: 'Client Secret Post',
    });
    const config = await oidc.discovery(new URL(issuer), service.client_id, undefined, oidc.ClientSecretPost(service.client_secret), insecure);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'ToDo:read' });
    assert.equal(tokens.scope, 'ToDo:read');
    assert.equal(tokens.refresh_token, undefined, 'no refresh token');
    assert.equal(tokens.id_token, undefined, 'no ID token');
    const whoami = await fetch(`${issuer}/api/method/frappe.auth.get_logged_user`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.deepEqual(await whoami.json(), { message: ALICE }, 'the token acts as the client\'s user');
    const list = await fetch(`${issuer}/api/resource/ToDo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(list.status, 200);
    const info = await oidc.tokenIntrospection(config, tokens.access_token);
    assert.equal(info.active, true);
    assert.equal(info.username, ALICE);
    // Scopes beyond the client's are refused; a wrong secret is invalid_client.
    await rejectsWithOAuthError(oidc.clientCredentialsGrant(config, { scope: 'all' }), 'invalid_scope');
    // RFC 6749 §5.2: invalid_client is answered 401 with a challenge, which openid-client
    // surfaces as a WWWAuthenticateChallengeError carrying the response.
    const wrong = await oidc.discovery(new URL(issuer), service.client_id, undefined, oidc.ClientSecretPost('not-the-secret'), insecure);
    let challenged: oidc.WWWAuthenticateChallengeError | undefined;
    await assert.rejects(oidc.clientCredentialsGrant(wrong), (thrown: unknown) => {
      assert.ok(thrown instanceof oidc.WWWAuthenticateChallengeError, `expected a challenge, got ${String(thrown)}`);
      challenged = thrown;
      return true;
    });
    assert.equal(challenged?.status, 401);
    assert.deepEqual(((await challenged?.response.json()) as { error?: string }).error, 'invalid_client');
  });

  test('dynamic client registration (RFC 7591) with openid-client, then a full PKCE flow with that client', async () => {
    await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'OAuth Settings', name: 'OAuth Settings', enable_dynamic_client_registration: 1 }));
    const discovered = await oidc.discovery(new URL(issuer), 'probe', undefined, oidc.None(), insecure);
    assert.equal(discovered.serverMetadata().registration_endpoint, `${issuer}${PREFIX}register_client`);

    const registered = await oidc.dynamicClientRegistration(
      new URL(issuer),
      {
        client_name: 'Native Notes',
        redirect_uris: [NATIVE_REDIRECT],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: 'openid profile email',
      },
      oidc.None(),
      insecure,
    );
    const meta = registered.clientMetadata();
    assert.ok(meta.client_id);
    assert.equal(meta.client_secret, undefined, 'a public client gets no secret');
    assert.equal(meta.token_endpoint_auth_method, 'none');
    assert.deepEqual(meta.redirect_uris, [NATIVE_REDIRECT]);
    assert.equal(typeof meta.client_id_issued_at, 'number');

    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(registered, {
      redirect_uri: NATIVE_REDIRECT,
      scope: 'openid profile email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const callback = await authorizeInBrowser(url, { expectLogin: false, appName: 'Native Notes', scopeTexts: ['See your name and picture'] });
    const tokens = await oidc.authorizationCodeGrant(registered, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.equal(tokens.claims()?.sub, firstSub);
    assert.equal(tokens.claims()?.aud, meta.client_id);
    const info = await oidc.fetchUserInfo(registered, tokens.access_token, firstSub);
    assert.equal(info.email, ALICE);
    const refreshed = await oidc.refreshTokenGrant(registered, tokens.refresh_token ?? '');
    assert.ok(refreshed.access_token);
    // Identity scopes only: no documents.
    const api = await fetch(`${issuer}/api/resource/ToDo`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    assert.equal(api.status, 403);

    // A registered confidential client (client_secret_basic) works as well.
    const secretClient = await oidc.dynamicClientRegistration(
      new URL(issuer),
      { client_name: 'Web Notes', redirect_uris: ['https://notes.example.org/cb'], token_endpoint_auth_method: 'client_secret_basic' },
      undefined,
      insecure,
    );
    const secretMeta = secretClient.clientMetadata();
    assert.ok(typeof secretMeta.client_secret === 'string' && secretMeta.client_secret.length >= 43);
    assert.equal(secretMeta.client_secret_expires_at, 0);
  });

  test('RFC 9728: from a refused bearer token to the resource metadata and on to the authorization server', async () => {
    const refused = await fetch(`${issuer}/api/resource/ToDo`, { headers: { authorization: 'Bearer this-token-is-made-up', accept: 'application/json' } });
    assert.equal(refused.status, 401);
    const challenge = wwwAuthenticate(refused);
    assert.match(challenge, /error="invalid_token"/);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    assert.ok(metadataUrl, 'the challenge names the resource metadata');
    assert.equal(metadataUrl, `${issuer}/.well-known/oauth-protected-resource`);

    const resource = (await (await fetch(metadataUrl)).json()) as { resource: string; authorization_servers: string[]; bearer_methods_supported: string[] };
    assert.equal(resource.resource, issuer);
    assert.ok(resource.authorization_servers.includes(issuer), 'the authorization server is named');
    assert.deepEqual(resource.bearer_methods_supported, ['header']);

    // RFC 8414: the authorization server metadata of the named server matches OIDC discovery.
    const as = resource.authorization_servers[0] ?? '';
    const res = await fetch(`${as}/.well-known/oauth-authorization-server`);
    assert.equal(res.status, 200);
    const rfc8414 = (await res.json()) as Record<string, unknown>;
    const openid = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(rfc8414.issuer, issuer);
    for (const key of [
      'issuer',
      'authorization_endpoint',
      'token_endpoint',
      'userinfo_endpoint',
      'revocation_endpoint',
      'introspection_endpoint',
      'jwks_uri',
      'registration_endpoint',
      'code_challenge_methods_supported',
      'grant_types_supported',
      'response_types_supported',
      'token_endpoint_auth_methods_supported',
      'scopes_supported',
    ]) {
      assert.deepEqual(rfc8414[key], openid[key], `${key} is the same in both documents`);
    }
    // openid-client reads the RFC 8414 document the same way.
    const viaOAuth = await oidc.discovery(new URL(as), publicClient.client_id, undefined, oidc.None(), { ...insecure, algorithm: 'oauth2' });
    assert.equal(viaOAuth.serverMetadata().token_endpoint, openid.token_endpoint);
  });

  test('RFC 6749 §4.1.3: a client that sent no redirect_uri to authorize may omit it at the token endpoint', async () => {
    const single = await createClient({ app_name: 'Single URI', redirect_uris: CONFIDENTIAL_REDIRECT, scopes: 'openid', token_endpoint_auth_method: 'Client Secret Post' });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = new URL(`${issuer}${PREFIX}authorize`);
    url.search = new URLSearchParams({
      client_id: single.client_id,
      response_type: 'code',
      scope: 'openid',
      state: 'no-redirect-uri',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const res = await browser.request(url.pathname + url.search);
    assert.equal(res.status, 200, 'the consent page');
    const form = readForm(await res.text());
    const approved = await browser.request(form.action, { form: { ...form.fields, decision: 'allow' } });
    const callback = new URL(approved.headers.get('location') ?? '');
    assert.equal(callback.origin + callback.pathname, CONFIDENTIAL_REDIRECT, 'the registered URI is used');
    const token = await fetch(`${issuer}${PREFIX}get_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') ?? '',
        code_verifier: verifier,
        client_id: single.client_id,
        client_secret: single.client_secret ?? '',
      }),
    });
    const body = (await token.json()) as Record<string, unknown>;
    assert.equal(token.status, 200, JSON.stringify(body));
    assert.ok(body.access_token && body.id_token);
  });

  test('prompt=consent shows the consent page even to a client that skips authorization', async () => {
    const trusted = await createClient({ app_name: 'Trusted Tool', redirect_uris: CONFIDENTIAL_REDIRECT, scopes: 'openid', skip_authorization: 1 });
    const config = await oidc.discovery(new URL(issuer), trusted.client_id, undefined, oidc.ClientSecretBasic(trusted.client_secret), insecure);
    const base = {
      redirect_uri: CONFIDENTIAL_REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'trusted',
    };
    const skipped = oidc.buildAuthorizationUrl(config, base);
    const direct = await browser.request(skipped.pathname + skipped.search);
    assert.equal(direct.status, 302, 'skip_authorization: straight back to the client');
    assert.ok(new URL(direct.headers.get('location') ?? '').searchParams.get('code'));
    const asked = oidc.buildAuthorizationUrl(config, { ...base, prompt: 'consent' });
    const page = await browser.request(asked.pathname + asked.search);
    assert.equal(page.status, 200, 'prompt=consent asks the user');
    assert.ok((await page.text()).includes('Allow Trusted Tool?'));
  });

  test(
    'prompt=login (and a max_age the session exceeds) asks a logged-in user to log in again',
    async () => {
      const url = oidc.buildAuthorizationUrl(confidentialConfig, {
        redirect_uri: CONFIDENTIAL_REDIRECT,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: 'again',
        prompt: 'login',
      });
      const first = await browser.request(url.pathname + url.search);
      assert.equal(first.status, 302);
      const login = new URL(first.headers.get('location') ?? '', issuer);
      assert.equal(login.pathname, '/login');
      const page = await browser.request(login.pathname + login.search);
      assert.equal(page.status, 200, `the login form is shown, not skipped (got ${page.status} to ${page.headers.get('location')})`);
    },
  );

  test('scopes restrict: openid only gets userinfo and 403 on documents; ToDo:read lists ToDo, cannot create one nor read Note', async () => {
    async function tokenFor(scope: string): Promise<string> {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(confidentialConfig, {
        redirect_uri: CONFIDENTIAL_REDIRECT,
        scope,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      const callback = await authorizeInBrowser(url, { expectLogin: false });
      const tokens = await oidc.authorizationCodeGrant(confidentialConfig, callback, { pkceCodeVerifier: verifier, expectedState: state });
      assert.equal(tokens.scope, scope);
      return tokens.access_token;
    }
    const bearer = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, accept: 'application/json', ...extra });

    const identity = await tokenFor('openid');
    const info = await oidc.fetchUserInfo(confidentialConfig, identity, firstSub);
    assert.equal(info.sub, firstSub);
    const todos = await fetch(`${issuer}/api/resource/ToDo`, { headers: bearer(identity) });
    assert.equal(todos.status, 403);
    assert.match(wwwAuthenticate(todos), /error="insufficient_scope"/);

    const readTodo = await tokenFor('ToDo:read');
    const list = await fetch(`${issuer}/api/resource/ToDo`, { headers: bearer(readTodo) });
    assert.equal(list.status, 200, 'ToDo:read lists ToDo');
    assert.ok(Array.isArray(((await list.json()) as { data: unknown[] }).data));
    const create = await fetch(`${issuer}/api/resource/ToDo`, {
      method: 'POST',
      headers: bearer(readTodo, { 'content-type': 'application/json' }),
      body: JSON.stringify({ description: 'not allowed' }),
    });
    assert.equal(create.status, 403, 'ToDo:read cannot create a ToDo');
    assert.match(wwwAuthenticate(create), /error="insufficient_scope"/);
    const notes = await fetch(`${issuer}/api/resource/Note`, { headers: bearer(readTodo) });
    assert.equal(notes.status, 403, 'ToDo:read cannot read Note');
    // Userinfo needs the openid scope.
    const noOpenid = await fetch(`${issuer}${PREFIX}openid_profile`, { headers: bearer(readTodo) });
    assert.equal(noOpenid.status, 403);
    assert.match(wwwAuthenticate(noOpenid), /error="insufficient_scope"/);
  });
});
