/** CORS per site config `allow_cors`, preflight as Frappe answers it, and the OAuth endpoints public clients call. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { corsHeaders, corsPolicy } from '../../src/api/cors.ts';
import { createServer } from '../../src/app/create-server.ts';
import { writeSiteConfig } from '../../src/app/site.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const APP = 'https://app.example.com';
const LOCAL = 'http://localhost:8080';

describe('corsPolicy', () => {
  test('matches exact origins, a single origin or any well-formed origin for "*"', () => {
    const list = corsPolicy({ allow_cors: [APP, `${LOCAL}/`] });
    assert.ok(list?.allows(APP));
    assert.ok(list?.allows(LOCAL), 'a trailing slash in the config does not matter');
    assert.ok(!list?.allows('https://app.example.com.evil.com'));
    assert.ok(!list?.allows('https://evil.com'));
    assert.ok(!list?.allows('http://app.example.com'), 'scheme matters');
    const one = corsPolicy({ allow_cors: APP });
    assert.ok(one?.allows(APP) && !one.allows(LOCAL));
    const any = corsPolicy({ allow_cors: '*' });
    assert.ok(any?.allows('https://whoever.example'));
    assert.ok(!any?.allows('null'), 'the opaque "null" origin is never echoed');
    assert.ok(!any?.allows('https://a.example/path'));
    assert.ok(!any?.allows('https://a.example\r\nSet-Cookie: x=1'));
    assert.equal(corsPolicy({}), undefined);
    assert.equal(corsPolicy({ allow_cors: [] }), undefined);
    assert.equal(corsPolicy({ allow_cors: '*', developer_mode: true })?.maxAge, undefined);
    assert.deepEqual(corsHeaders({ method: 'GET', headers: {} }, any), {});
  });
});

forEachDatabase('CORS', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  let baseConfig: Record<string, unknown>;

  async function configure(extra: Record<string, unknown>) {
    await app?.close();
    const raw: Record<string, unknown> = { ...baseConfig, ...extra };
    for (const [key, value] of Object.entries(extra)) if (value === undefined) delete raw[key];
    writeSiteConfig(t.path, raw);
    await t.reopen();
    app = await createServer(t.site);
  }

  before(async () => {
    t = await createTestSite({ db });
    baseConfig = JSON.parse(readFileSync(join(t.path, 'site_config.json'), 'utf8')) as Record<string, unknown>;
    await configure({ allow_cors: [APP, LOCAL] });
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  describe('a list of origins', () => {
    test('an allowed origin is echoed with credentials and Vary: Origin', async () => {
      for (const origin of [APP, LOCAL]) {
        const res = await app.inject({ url: '/api/method/ping', headers: { origin } });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['access-control-allow-origin'], origin);
        assert.equal(res.headers['access-control-allow-credentials'], 'true');
        assert.match(String(res.headers.vary), /\bOrigin\b/);
        assert.equal(res.headers['access-control-max-age'], undefined, 'preflight-only headers stay off other answers');
        assert.equal(res.headers['access-control-allow-methods'], undefined);
      }
    });

    test('error answers carry the headers too, so the client can read them', async () => {
      const res = await app.inject({ url: '/api/resource/ToDo', headers: { origin: APP } });
      assert.equal(res.statusCode, 403);
      assert.equal(res.headers['access-control-allow-origin'], APP);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      const missing = await app.inject({ url: '/api/nothing', headers: { origin: APP } });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.headers['access-control-allow-origin'], APP);
    });

    test('other origins, and requests without Origin, get no CORS headers', async () => {
      for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null' }, { origin: `${APP}.evil.example` }, {}]) {
        const res = await app.inject({ url: '/api/method/ping', headers });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['access-control-allow-origin'], undefined, JSON.stringify(headers));
        assert.equal(res.headers['access-control-allow-credentials'], undefined);
      }
    });

    test('a preflight on any path is an empty 200 echoing the requested method and headers', async () => {
      for (const url of ['/api/resource/ToDo', '/api/method/upload_file', '/anything/at/all', '/files/x.png']) {
        const res = await app.inject({
          method: 'OPTIONS',
          url,
          headers: {
            origin: APP,
            'access-control-request-method': 'PUT',
            'access-control-request-headers': 'content-type,authorization,x-frappe-csrf-token',
          },
        });
        assert.equal(res.statusCode, 200, url);
        assert.equal(res.body, '');
        assert.equal(res.headers['access-control-allow-origin'], APP);
        assert.equal(res.headers['access-control-allow-credentials'], 'true');
        assert.equal(res.headers['access-control-allow-methods'], 'PUT');
        assert.equal(res.headers['access-control-allow-headers'], 'content-type,authorization,x-frappe-csrf-token');
        assert.equal(res.headers['access-control-max-age'], '86400');
        assert.match(String(res.headers.vary), /Origin/);
        assert.equal(res.headers['set-cookie'], undefined, 'no session work for OPTIONS');
      }
    });

    test('a preflight skips authentication, CSRF and sessions', async () => {
      const res = await app.inject({
        method: 'OPTIONS',
        url: '/api/resource/ToDo',
        headers: { origin: APP, 'access-control-request-method': 'POST', authorization: 'token bad:credentials', cookie: 'sid=not-a-session' },
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['access-control-allow-methods'], 'POST');
      assert.equal(res.headers['access-control-allow-headers'], undefined, 'nothing requested, nothing echoed');
      assert.equal(res.headers['set-cookie'], undefined);
    });

    test('a preflight from a disallowed origin is answered without CORS headers', async () => {
      const res = await app.inject({ method: 'OPTIONS', url: '/api/resource/ToDo', headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(res.headers['access-control-allow-methods'], undefined);
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    });
  });

  test('a single origin string', async () => {
    await configure({ allow_cors: APP });
    const ok = await app.inject({ url: '/api/method/ping', headers: { origin: APP } });
    assert.equal(ok.headers['access-control-allow-origin'], APP);
    const other = await app.inject({ url: '/api/method/ping', headers: { origin: LOCAL } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  test('"*" echoes any origin (never a literal *), with credentials', async () => {
    await configure({ allow_cors: '*' });
    for (const origin of ['https://anywhere.example', 'http://127.0.0.1:3000']) {
      const res = await app.inject({ url: '/api/method/ping', headers: { origin } });
      assert.equal(res.headers['access-control-allow-origin'], origin);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
    }
    const opaque = await app.inject({ url: '/api/method/ping', headers: { origin: 'null' } });
    assert.equal(opaque.headers['access-control-allow-origin'], undefined);
  });

  test('developer mode drops Access-Control-Max-Age', async () => {
    await configure({ allow_cors: APP, developer_mode: true });
    const res = await app.inject({ method: 'OPTIONS', url: '/api/method/ping', headers: { origin: APP, 'access-control-request-method': 'GET' } });
    assert.equal(res.headers['access-control-allow-methods'], 'GET');
    assert.equal(res.headers['access-control-max-age'], undefined);
  });

  test('without allow_cors: OPTIONS is still an empty 200, and no response has CORS headers', async () => {
    await configure({ allow_cors: undefined, developer_mode: undefined });
    const preflight = await app.inject({ method: 'OPTIONS', url: '/api/method/ping', headers: { origin: APP, 'access-control-request-method': 'GET' } });
    assert.equal(preflight.statusCode, 200);
    assert.equal(preflight.body, '');
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    const res = await app.inject({ url: '/api/method/ping', headers: { origin: APP } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers.vary, undefined);
  });

  describe('the OAuth endpoints public clients call from a browser', () => {
    const SPA = 'https://spa.example';
    const TOKEN = '/api/method/frappe.integrations.oauth2.get_token';
    const REGISTER = '/api/method/frappe.integrations.oauth2.register_client';
    const oauthSettings = (values: Record<string, unknown>) =>
      runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'OAuth Settings', name: 'OAuth Settings', ...values }));
    const preflight = (url: string, origin: string) =>
      app.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    const tokenRequest = (origin: string) =>
      app.inject({ method: 'POST', url: TOKEN, headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=authorization_code&code=nope&client_id=nobody' });

    test('allowed_public_client_origins opens the token endpoint to its origins, in place of allow_cors', async () => {
      await configure({ allow_cors: [APP] });
      await oauthSettings({ allowed_public_client_origins: `${SPA}\nhttps://other.example` });
      const ask = await preflight(TOKEN, SPA);
      assert.equal(ask.statusCode, 200);
      assert.equal(ask.headers['access-control-allow-origin'], SPA);
      assert.equal(ask.headers['access-control-allow-credentials'], 'true');
      assert.equal(ask.headers['access-control-allow-methods'], 'POST');
      assert.equal(ask.headers['access-control-allow-headers'], 'content-type');
      const refused = await tokenRequest(SPA);
      assert.equal(refused.statusCode, 401, 'an error the client must be able to read');
      assert.equal(refused.headers['access-control-allow-origin'], SPA);
      assert.match(String(refused.headers.vary), /Origin/);
      const siteOrigin = await tokenRequest(APP);
      assert.equal(siteOrigin.headers['access-control-allow-origin'], undefined, 'the list replaces allow_cors on these endpoints');
      for (const url of ['/api/method/ping', '/api/resource/ToDo']) {
        const other = await app.inject({ url, headers: { origin: SPA } });
        assert.equal(other.headers['access-control-allow-origin'], undefined, `${url}: other paths keep allow_cors`);
      }
      const userinfoByGet = await app.inject({ url: '/api/method/frappe.integrations.oauth2.openid_profile', headers: { origin: SPA } });
      assert.equal(userinfoByGet.headers['access-control-allow-origin'], undefined, 'as Frappe: POST and its preflight only');
    });

    test('"*" in the list opens them to any origin; an empty list leaves allow_cors in charge', async () => {
      await configure({ allow_cors: [APP] });
      await oauthSettings({ allowed_public_client_origins: '*' });
      assert.equal((await tokenRequest('https://anyone.example')).headers['access-control-allow-origin'], 'https://anyone.example');
      await oauthSettings({ allowed_public_client_origins: '' });
      assert.equal((await tokenRequest('https://anyone.example')).headers['access-control-allow-origin'], undefined);
      assert.equal((await tokenRequest(APP)).headers['access-control-allow-origin'], APP);
    });

    test('register_client follows the list only while dynamic registration is on', async () => {
      await configure({ allow_cors: undefined });
      await oauthSettings({ allowed_public_client_origins: SPA, enable_dynamic_client_registration: 0 });
      assert.equal((await preflight(REGISTER, SPA)).headers['access-control-allow-origin'], undefined);
      await oauthSettings({ enable_dynamic_client_registration: 1 });
      assert.equal((await preflight(REGISTER, SPA)).headers['access-control-allow-origin'], SPA);
    });

    test('the discovery documents stay open to any origin, without credentials', async () => {
      await configure({ allow_cors: undefined });
      await oauthSettings({ allowed_public_client_origins: SPA });
      for (const origin of [SPA, 'https://anyone.example']) {
        const res = await app.inject({ url: '/.well-known/openid-configuration', headers: { origin } });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['access-control-allow-origin'], '*');
        assert.equal(res.headers['access-control-allow-credentials'], undefined);
      }
    });
  });
});
