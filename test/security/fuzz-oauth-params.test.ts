/**
 * Fuzzing the OAuth 2.0 provider's parameters over HTTP against a real SQLite site:
 * `client_id`, `redirect_uri`, `response_type`, `scope`, `state`, `nonce`, `code_challenge`,
 * `code_challenge_method`, `prompt`, `max_age` on `authorize` (GET and POST, logged in or not,
 * parameters repeated), and `grant_type`, `code`, `code_verifier`, `redirect_uri`,
 * `refresh_token`, `client_id`/`client_secret`, `scope` on `get_token` (any content type,
 * Basic credentials of every shape), `revoke_token` and `introspect_token` — at
 * `/api/method/frappe.integrations.oauth2.*` and the `/api/v1/method/…`, `/api/v2/method/…`
 * spellings (which are not OAuth endpoints and must refuse cleanly).
 *
 * Every answer is a 2xx, a redirect, or a 4xx: an OAuth error (`{"error": …}` with an RFC 6749
 * code) at the token endpoints, an error page at authorize, else a Frappe body with a known
 * `exc_type` — never a 5xx, a crash or a hang. And the properties that matter: authorize never
 * redirects to a redirect URI the client has not registered (nor anywhere off-site but the
 * client's registered URI); no random code, verifier or secret ever obtains a token; a real
 * PKCE code is only redeemed with its own verifier.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { basic, challengeOf, consentFields, M, startKit, type Client, type Kit } from '../oauth/oauth-test-kit.ts';
import { anyText, asHeader, assertAnswer, fc, fuzzKit, remoteAddress } from './fuzz-kit.ts';

const kit = fuzzKit('test/security/fuzz-oauth-params.test.ts');

const ALICE = { email: 'alice@example.com', password: 'alice-password-for-fuzzing-1' };
const CB = 'https://app.example/cb';
const PUBLIC_CB = 'http://127.0.0.1:4567/callback';

/** Redirect URIs near the registered ones, and far from them. */
const redirectUri = fc.oneof(
  fc.constantFrom(
    CB,
    PUBLIC_CB,
    `${CB}/`,
    `${CB}?x=1`,
    `${CB}#frag`,
    'https://APP.example/cb',
    'http://app.example/cb',
    'https://app.example/CB',
    'https://app.example/cb/../evil',
    'https://app.example@evil.example/cb',
    'https://evil.example/cb',
    'https://app.example.evil.example/cb',
    '//evil.example/cb',
    '/cb',
    'javascript:alert(1)',
    'data:text/html,x',
    'https://app.example/cb%00',
    ' https://app.example/cb',
    'https://app.example/c%62',
    'http://127.0.0.1:4568/callback',
    'http://localhost:4567/callback',
    '',
  ),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  anyText,
);

const scope = fc.oneof(
  fc.constantFrom('all', 'openid', 'all openid', 'openid profile email', 'read', 'admin', 'all  openid', ' all', 'all\topenid', '', 'openid%20all', 'method:frappe.auth.get_logged_user', 'read:todo write:user'),
  anyText,
);
const verifierLike = fc.oneof(fc.stringMatching(/^[A-Za-z0-9\-._~]{43,128}$/), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/), anyText);

const authorizeParams = (clients: () => Client[]) =>
  fc.record(
    {
      // Mostly real clients and well-formed requests, so that the checks past the client's are reached.
      client_id: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1, 2).map((i) => clients()[i]?.client_id ?? '') }, { weight: 1, arbitrary: anyText }),
      redirect_uri: fc.oneof({ weight: 1, arbitrary: fc.constantFrom(CB, PUBLIC_CB) }, { weight: 2, arbitrary: redirectUri }),
      response_type: fc.oneof({ weight: 3, arbitrary: fc.constant('code') }, { weight: 1, arbitrary: fc.constantFrom('token', 'code id_token', 'CODE', 'none', '') }, { weight: 1, arbitrary: anyText }),
      scope,
      state: fc.oneof(anyText, fc.constant('xyz')),
      nonce: anyText,
      code_challenge: fc.oneof({ weight: 2, arbitrary: fc.constant(challengeOf('v'.repeat(43))) }, { weight: 1, arbitrary: verifierLike }),
      code_challenge_method: fc.oneof({ weight: 2, arbitrary: fc.constant('S256') }, { weight: 1, arbitrary: fc.constantFrom('plain', 's256', '') }, { weight: 1, arbitrary: anyText }),
      prompt: fc.oneof(fc.constantFrom('none', 'login', 'consent', 'none login', 'select_account'), anyText),
      max_age: fc.oneof(fc.constantFrom('0', '1', '99999999999999999999', '-1', '1.5'), anyText),
    },
    { requiredKeys: [] },
  );

/** Lone surrogates (which encodeURIComponent refuses) as U+FFFD. */
const wellFormed = (text: string) => text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** A value in one case out of eight, else undefined. */
const rarely = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

function form(params: Record<string, unknown>, repeat?: string): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    const text = String(value).replace(/[\ud800-\udfff]/g, '?');
    search.append(key, text);
    if (key === repeat) search.append(key, `${text}2`);
  }
  return search.toString();
}

describe('fuzz: OAuth parameters [sqlite]', () => {
  let k: Kit;
  let sid: string;
  let conf: Client;
  let fast: Client;
  let pub: Client;
  let service: Client;
  const clients = () => [conf, fast, pub];

  before(async () => {
    k = await startKit('sqlite', { users: [ALICE] });
    sid = await k.login(ALICE);
    conf = await k.createClient({ app_name: 'Consent App', redirect_uris: CB, scopes: 'all openid' });
    fast = await k.createClient({ app_name: 'Trusted App', redirect_uris: CB, scopes: 'all openid', skip_authorization: 1 });
    pub = await k.createClient({ app_name: 'Native App', redirect_uris: PUBLIC_CB, scopes: 'all openid', skip_authorization: 1, token_endpoint_auth_method: 'None' });
    service = await k.createClient({ app_name: 'Service', redirect_uris: CB, scopes: 'all', user: ALICE.email, grant_type: 'Client Credentials' });
  });
  after(async () => {
    await k?.close();
  });

  test('authorize: any parameters answer a redirect, a page or a known 4xx; never a redirect to an unregistered URI', async () => {
    const path = fc.constantFrom(`${M}authorize`, `${M}authorize`, `${M}authorize`, `${M}authorize`, `${M}authorize`, `${M}approve`, '/api/v1/method/frappe.integrations.oauth2.authorize', '/api/v2/method/frappe.integrations.oauth2.authorize', `${M}authorize/x`);
    await kit.check(
      fc.asyncProperty(authorizeParams(clients), path, fc.constantFrom('GET', 'POST'), fc.boolean(), rarely(fc.constantFrom('client_id', 'redirect_uri', 'scope', 'state')), async (params, url, method, loggedIn, repeat) => {
        const text = form(params, repeat);
        const headers: Record<string, string> = { origin: 'http://localhost' };
        if (loggedIn) headers.cookie = `sid=${sid}`;
        let res;
        if (method === 'GET') res = await kit.inject(k.app, { url: `${url}?${text}`, headers });
        else res = await kit.inject(k.app, { method: 'POST', url, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, payload: text });
        assertAnswer(res, { redirect: true, html: true });
        if (res.statusCode < 300 || res.statusCode >= 400) return;
        const location = String(res.headers.location);
        if (location.startsWith('/login?')) return; // the site's own login page
        const client = clients().find((c) => c.client_id === params.client_id);
        assert.ok(client, `redirected to ${location} for an unknown client ${JSON.stringify(params.client_id)}`);
        const registered = client === pub ? [PUBLIC_CB] : [CB];
        if (params.redirect_uri !== undefined) assert.ok(registered.includes(params.redirect_uri), `redirected for an unregistered redirect_uri ${JSON.stringify(params.redirect_uri)}`);
        assert.ok(
          registered.some((uri) => location.startsWith(`${uri}?`) || location.startsWith(`${uri}#`)),
          `redirected to ${location}, not to a registered URI of ${client.name}`,
        );
        assert.ok(repeat === undefined || !(repeat in params), `a repeated ${repeat} must be refused, not redirected`);
      }),
      500,
    );
  });

  test('get_token, revoke_token, introspect_token: OAuth errors for random grants, codes, verifiers and secrets; never a token by chance', async () => {
    const credentials = fc.oneof(
      fc.constant(undefined),
      fc.tuple(fc.oneof(fc.constantFrom(conf.client_id, pub.client_id, service.client_id), anyText), fc.oneof(fc.constant(String(conf.client_secret)), anyText)).map(([id, secret]) => ({ basic: basic(wellFormed(id), wellFormed(secret)) })),
      fc.tuple(anyText, anyText).map(([id, secret]) => ({ basic: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` })),
      fc.oneof(anyText, fc.constantFrom('Basic', 'Basic ', 'Basic ===', 'Basic Og==', 'Basic OjpfOg==', 'Bearer x', 'token a:b')).map((header) => ({ basic: asHeader(header) })),
      fc.tuple(fc.oneof(fc.constantFrom(conf.client_id, pub.client_id), anyText), fc.option(anyText, { nil: undefined })).map(([id, secret]) => ({ post: { client_id: id, client_secret: secret } })),
      fc.constant({ service: true }),
    );
    const body = fc.record(
      {
        grant_type: fc.oneof(fc.constantFrom('authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', ''), anyText),
        code: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{20,64}$/), anyText),
        redirect_uri: redirectUri,
        code_verifier: verifierLike,
        refresh_token: anyText,
        scope,
        token: anyText,
        token_type_hint: fc.constantFrom('access_token', 'refresh_token', 'x', ''),
      },
      { requiredKeys: [] },
    );
    const endpoint = fc.constantFrom(`${M}get_token`, `${M}get_token`, `${M}revoke_token`, `${M}introspect_token`, '/api/v1/method/frappe.integrations.oauth2.get_token', '/api/v2/method/frappe.integrations.oauth2.get_token');
    const type = fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'application/json', 'text/plain', 'application/x-www-form-urlencoded; charset=latin1', '');
    await kit.check(
      fc.asyncProperty(endpoint, body, credentials, type, fc.boolean(), rarely(fc.constantFrom('grant_type', 'code', 'client_id')), remoteAddress, async (url, fields, creds, contentType, withQuery, repeat, ip) => {
        const params: Record<string, unknown> = { ...fields };
        const headers: Record<string, string> = {};
        if (creds && 'basic' in creds) headers.authorization = creds.basic;
        if (creds && 'post' in creds) Object.assign(params, Object.fromEntries(Object.entries(creds.post).filter(([, v]) => v !== undefined)));
        if (creds && 'service' in creds) headers.authorization = basic(service.client_id, String(service.client_secret));
        if (contentType) headers['content-type'] = contentType;
        const payload = contentType === 'application/json' ? JSON.stringify(params) : form(params, repeat);
        const res = await kit.inject(k.app, { method: 'POST', url: withQuery ? `${url}?x=1` : url, headers, payload, remoteAddress: ip });
        assertAnswer(res, { oauthJson: true });
        if (res.statusCode !== 200 || !url.endsWith('get_token') || !url.startsWith(M)) return;
        // Only the service client's client_credentials grant can succeed without a real code.
        assert.ok(creds && 'service' in creds && params.grant_type === 'client_credentials', `a token was issued: ${res.body.slice(0, 300)}`);
      }),
      500,
    );
  });

  test('a real PKCE code is redeemed only with its own verifier (and redirect URI)', async () => {
    await kit.check(
      fc.asyncProperty(verifierLike, fc.oneof(fc.constant(PUBLIC_CB), redirectUri), fc.boolean(), remoteAddress, async (verifier, redirect, useRealVerifier, ip) => {
        const real = 'real-verifier-for-fuzzing-0123456789-abcdefghijklmnop'.slice(0, 43 + (verifier.length % 20));
        let res = await k.authorize({ client_id: pub.client_id, redirect_uri: PUBLIC_CB, response_type: 'code', scope: 'all', state: 's', code_challenge: challengeOf(real), code_challenge_method: 'S256' }, sid);
        if (res.statusCode === 200) res = await k.approve({ ...consentFields(res.body), decision: 'allow' }, sid);
        assert.equal(res.statusCode, 302, res.body.slice(0, 300));
        const code = new URL(String(res.headers.location)).searchParams.get('code');
        assert.ok(code, String(res.headers.location));
        const given = useRealVerifier ? real : verifier;
        const token = await kit.inject(k.app, {
          method: 'POST',
          url: `${M}get_token`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: form({ grant_type: 'authorization_code', code, client_id: pub.client_id, redirect_uri: redirect, code_verifier: given }),
          remoteAddress: ip,
        });
        assertAnswer(token, { oauthJson: true });
        // Long runs (FC_NUM_RUNS) reach the per-client limit of the token endpoint: a fair answer.
        if (token.statusCode === 429 && (token.json() as { error: string }).error === 'slow_down') return;
        const ok = given === real && redirect === PUBLIC_CB;
        assert.equal(token.statusCode, ok ? 200 : 400, `verifier ${JSON.stringify(given.slice(0, 60))}, redirect ${JSON.stringify(redirect.slice(0, 60))}: ${token.body.slice(0, 200)}`);
        if (!ok) assert.ok(['invalid_grant', 'invalid_request'].includes((token.json() as { error: string }).error), token.body);
      }),
      80,
    );
  });
});
