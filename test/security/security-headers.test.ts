/**
 * Security headers on every kind of answer (src/api/security-headers.ts): a table of routes —
 * API JSON, API errors (v1 and v2), 404s, a router error, files, pages, the HTML error page,
 * OAuth endpoints and error pages, discovery, health, a preflight — each checked for
 * `X-Content-Type-Options: nosniff`, its `Referrer-Policy`, frame protection on HTML, and HSTS
 * exactly when the request is https (a trusted proxy's `X-Forwarded-Proto: https`; never over
 * plain http, never on the word of an untrusted peer).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { API_REFERRER_POLICY, HSTS, PAGE_REFERRER_POLICY } from '../../src/api/security-headers.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';

const M = '/api/method/frappe.integrations.oauth2.';

interface Row {
  name: string;
  method?: 'GET' | 'POST' | 'OPTIONS' | 'PUT' | 'HEAD';
  url: string;
  headers?: Record<string, string>;
  payload?: string;
  /** The status the route answers (so the row tests what it says it tests). */
  status: number;
  /** The Referrer-Policy expected: the route's own, or the default for its content type. */
  referrer: string;
  /** HTML: X-Frame-Options DENY and CSP frame-ancestors 'none'. */
  html?: boolean;
}

const ROWS: readonly Row[] = [
  { name: 'API JSON', url: '/api/method/ping', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'v2 API JSON', url: '/api/v2/method/ping', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'API error 403 (Guest on a resource)', url: '/api/resource/ToDo', status: 403, referrer: API_REFERRER_POLICY },
  { name: 'v2 API error 403', url: '/api/v2/document/ToDo', status: 403, referrer: API_REFERRER_POLICY },
  { name: 'unknown method', url: '/api/method/no.such.method', status: 417, referrer: API_REFERRER_POLICY },
  { name: '404 outside /api (an HTML page, as in Frappe)', url: '/no/such/page', status: 404, referrer: PAGE_REFERRER_POLICY, html: true },
  { name: 'API error as an HTML page for a browser', url: '/api/resource/ToDo', headers: { accept: 'text/html' }, status: 403, referrer: PAGE_REFERRER_POLICY, html: true },
  { name: 'router error (malformed URL)', url: '/api/resource/%E0%A4%A', status: 400, referrer: API_REFERRER_POLICY },
  { name: 'invalid JSON body', method: 'POST', url: '/api/method/ping', headers: { 'content-type': 'application/json' }, payload: '{', status: 400, referrer: API_REFERRER_POLICY },
  { name: '405 wrong verb', method: 'PUT', url: '/healthz', headers: { accept: 'application/json' }, status: 405, referrer: API_REFERRER_POLICY },
  { name: 'public file', url: '/files/hello.txt', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'public file: HTML served as a sandboxed download', url: '/files/page.html', status: 200, referrer: PAGE_REFERRER_POLICY, html: true },
  { name: 'missing file', url: '/files/missing.txt', status: 404, referrer: PAGE_REFERRER_POLICY, html: true },
  { name: 'private file as Guest', url: '/private/files/x.txt', status: 403, referrer: PAGE_REFERRER_POLICY, html: true },
  { name: 'login page', url: '/login', status: 200, referrer: 'no-referrer', html: true },
  { name: 'login page POST (failed login)', method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'usr=nobody%40example.com&pwd=x', status: 401, referrer: 'no-referrer', html: true },
  { name: 'update-password page', url: '/update-password', status: 200, referrer: 'no-referrer', html: true },
  { name: 'OAuth authorize error page', url: `${M}authorize?client_id=nope&response_type=code`, status: 400, referrer: 'no-referrer', html: true },
  { name: 'OAuth token endpoint error', method: 'POST', url: `${M}get_token`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=authorization_code&code=x&client_id=nope', status: 401, referrer: API_REFERRER_POLICY },
  { name: 'OpenID discovery', url: '/.well-known/openid-configuration', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'JWKS', url: '/.well-known/jwks.json', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'liveness', url: '/healthz', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'readiness', url: '/readyz', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'HEAD liveness', method: 'HEAD', url: '/healthz', status: 200, referrer: API_REFERRER_POLICY },
  { name: 'CORS preflight', method: 'OPTIONS', url: '/api/method/ping', headers: { origin: 'https://other.example', 'access-control-request-method': 'POST' }, status: 200, referrer: API_REFERRER_POLICY },
  { name: 'redirect (/desk)', url: '/desk', status: 301, referrer: API_REFERRER_POLICY },
];

describe('security headers on every answer', () => {
  let t: TestSite;
  let app: FastifyInstance;

  before(async () => {
    t = await createTestSite();
    const files = join(t.path, 'public', 'files');
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, 'hello.txt'), 'hello');
    writeFileSync(join(files, 'page.html'), '<script>alert(1)</script>');
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  const send = (row: Row, extra: Record<string, string> = {}, remoteAddress = '127.0.0.1'): Promise<LightMyRequestResponse> =>
    app.inject({ method: row.method ?? 'GET', url: row.url, headers: { ...row.headers, ...extra }, remoteAddress, ...(row.payload !== undefined ? { payload: row.payload } : {}) });

  test('nosniff, Referrer-Policy and frame protection; no HSTS over plain http', async () => {
    assert.ok(ROWS.length >= 25);
    for (const row of ROWS) {
      const res = await send(row, {}, '198.51.100.20');
      const what = `${row.name} (${row.method ?? 'GET'} ${row.url})`;
      assert.equal(res.statusCode, row.status, `${what}: status ${res.statusCode} ${res.body.slice(0, 200)}`);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
      assert.equal(res.headers['referrer-policy'], row.referrer, what);
      assert.equal(res.headers['strict-transport-security'], undefined, `${what}: no HSTS over http`);
      const type = String(res.headers['content-type'] ?? '');
      if (row.html) {
        assert.match(type, /^text\/html/, what);
        assert.equal(res.headers['x-frame-options'], 'DENY', what);
        assert.match(String(res.headers['content-security-policy']), /(^|;)\s*frame-ancestors 'none'/, what);
      } else {
        assert.doesNotMatch(type, /^text\/html/, `${what} is not HTML`);
      }
    }
  });

  test("HSTS only over https: a trusted proxy's X-Forwarded-Proto, never an untrusted peer's", async () => {
    for (const row of ROWS) {
      const what = `${row.name} (${row.url})`;
      const viaProxy = await send(row, { 'x-forwarded-proto': 'https' }, '127.0.0.1');
      assert.equal(viaProxy.headers['strict-transport-security'], HSTS, `${what}: https via the loopback proxy`);
      assert.equal(viaProxy.headers['x-content-type-options'], 'nosniff', what);
      const spoofed = await send(row, { 'x-forwarded-proto': 'https' }, '203.0.113.9');
      assert.equal(spoofed.headers['strict-transport-security'], undefined, `${what}: X-Forwarded-Proto from an untrusted peer`);
      const plain = await send(row, {}, '127.0.0.1');
      assert.equal(plain.headers['strict-transport-security'], undefined, `${what}: http from the proxy`);
      const other = await send(row, { 'x-forwarded-proto': 'http' }, '127.0.0.1');
      assert.equal(other.headers['strict-transport-security'], undefined, `${what}: X-Forwarded-Proto http`);
    }
  });

  test('a route that sets its own headers keeps them (pages keep no-referrer and their CSP)', async () => {
    const login = await app.inject({ url: '/login' });
    const csp = String(login.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/, 'the page CSP is kept');
    assert.equal(csp.match(/frame-ancestors/g)?.length, 1, 'frame-ancestors not repeated');
    const file = await app.inject({ url: '/files/page.html' });
    assert.match(String(file.headers['content-security-policy']), /sandbox/);
    assert.match(String(file.headers['content-disposition']), /^attachment/);
  });
});
