/**
 * Fuzzing the credentials a request carries, over HTTP against a real SQLite site: the
 * `Authorization` header in every scheme (`token k:s`, `Basic <b64>`, `Bearer <t>`, garbage
 * schemes, unicode, huge values, missing or many colons, odd whitespace, duplicated headers),
 * Basic's base64 (bad padding, non-UTF-8 bytes), the `Cookie` header (`sid`, duplicated and
 * malformed cookies, very long ones), `sid` and `csrf_token` arguments, `X-Frappe-CSRF-Token`,
 * and `X-Forwarded-For`.
 *
 * Every answer is a 2xx or a 4xx with a known Frappe `exc_type` (never a 5xx, a crash or a hang),
 * and the properties that matter: only the exact credentials authenticate their user; a session
 * is only ever resumed from its own sid; a cookie session's unsafe request passes CSRF only with
 * its token from its own origin; X-Forwarded-For from an untrusted peer never satisfies an IP
 * restriction.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { validateIpRulesText } from '../../src/auth/ip-rules.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';
import { anyText, asHeader, assertAnswer, fc, fuzzKit, headerText, remoteAddress, type Response } from './fuzz-kit.ts';

const kit = fuzzKit('test/security/fuzz-auth-headers.test.ts');

const KEY_USER = 'keys@example.com';
const SESSION_USER = 'session@example.com';
const SESSION_PASSWORD = 'a long password for fuzzing 1';
const IP_USER = 'ip@example.com';
const WHOAMI = '/api/method/frappe.auth.get_logged_user';
const ORIGIN = 'http://localhost';

const b64 = (text: string | Uint8Array) => Buffer.from(text).toString('base64');

function whoami(res: Response): string | undefined {
  if (res.statusCode !== 200) return undefined;
  const body = res.json() as { message?: unknown; data?: unknown };
  return String(body.message ?? body.data);
}

describe('fuzz: Authorization, cookies, CSRF, X-Forwarded-For [sqlite]', () => {
  let t: TestSite;
  let app: FastifyInstance;
  let key: string;
  let secret: string;
  let ipUserAuth: string;
  let adminAuth: string;
  let sid: string;
  let csrfToken: string;

  before(async () => {
    t = await createTestSite();
    await addUser(t.site, { email: KEY_USER, roles: [] });
    await addUser(t.site, { email: SESSION_USER, password: SESSION_PASSWORD, roles: [] });
    await addUser(t.site, { email: IP_USER, roles: [] });
    await runAs(t.site, 'Administrator', (db) => db.setValue('User', IP_USER, { restrict_ip: '10.1.0.0/16' }));
    // No lockouts: the real key pair must keep working after any number of wrong secrets.
    await runAs(t.site, 'Administrator', (db) => db.save({ doctype: 'System Settings', name: 'System Settings', allow_consecutive_login_attempts: 0 }));
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, KEY_USER, hashKey));
    key = keys.api_key;
    secret = keys.api_secret;
    const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', hashKey));
    adminAuth = `token ${admin.api_key}:${admin.api_secret}`;
    const ipKeys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, IP_USER, hashKey));
    ipUserAuth = `token ${ipKeys.api_key}:${ipKeys.api_secret}`;
    app = await createServer(t.site);
    const login = await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr: SESSION_USER, pwd: SESSION_PASSWORD }, remoteAddress: '192.0.2.1' });
    assert.equal(login.statusCode, 200, login.body);
    sid = String(login.cookies.find((c) => c.name === 'sid')?.value);
    // A session holding a CSRF token, as one that has seen a page does.
    const sessions = authServicesFor(t.site).sessions;
    const resumed = await sessions.resume(sid);
    assert.ok(resumed && 'session' in resumed);
    csrfToken = 'fuzz-csrf-token-0123456789';
    await sessions.setData(resumed.session, { csrf_token: csrfToken });
  });
  after(async () => {
    await app?.close();
    await t?.cleanup();
  });

  test('Authorization: any header answers 2xx or a known 4xx; only the exact key pair authenticates', async () => {
    const scheme = fc.oneof(
      fc.constantFrom('token', 'Token', 'TOKEN', 'Basic', 'basic', 'BASIC', 'Bearer', 'bearer', 'Digest', 'Negotiate', 'tok\u00e9n', ''),
      headerText(12),
    );
    const sep = fc.constantFrom(' ', ' ', ' ', '  ', '\t', '', ' \t');
    const text = headerText(60);
    // Credentials, tagged with whether they are the real pair (as token or Basic carries it).
    const credential = fc.oneof(
      text.map((c) => ({ c, real: false })),
      fc.tuple(text, text).map(([k, s]) => ({ c: `${k}:${s}`, real: false })),
      fc.array(text, { maxLength: 6 }).map((parts) => ({ c: parts.join(':'), real: false })),
      text.map((s) => ({ c: `${key}:${s}`, real: false })),
      fc.constantFrom(
        { c: `${key}:${secret}`, real: true },
        ...[`${key}:${secret}:`, `:${key}:${secret}`, `${key}::${secret}`, `${key}:${secret.slice(0, -1)}`, `${key.toUpperCase()}:${secret}`, `${key}:${secret} `].map((c) => ({ c, real: false })),
      ),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ c: b64(bytes), real: false })),
      fc.string({ unit: 'binary', maxLength: 40 }).map((s) => ({ c: b64(s), real: false })),
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constantFrom('', '=', '==', '===', '====', '=a', ' ', '.', '-_')).map(([bytes, tail]) => ({ c: b64(bytes).replace(/=+$/, '') + tail, real: false })),
      fc.constantFrom(b64(`${key}:${secret}`)).map((c) => ({ c, real: true })),
      fc.tuple(fc.constantFrom(b64(`${key}:${secret}`)), fc.constantFrom(' ', '\t', '!', '\u00e9', '.', '*')).map(([c, junk]) => ({ c: c.slice(0, 8) + junk + c.slice(8), real: false })),
      fc.uint8Array({ maxLength: 32 }).map((bytes) => ({ c: `${b64(Uint8Array.from([0xff, 0xfe, ...bytes]))}`, real: false })),
      fc.integer({ min: 1000, max: 16_000 }).map((n) => ({ c: 'A'.repeat(n), real: false })),
    );
    const endpoint = fc.constantFrom(
      { url: WHOAMI, method: 'GET' as const },
      { url: WHOAMI, method: 'POST' as const },
      { url: '/api/v2/method/frappe.auth.get_logged_user', method: 'GET' as const },
      { url: '/api/resource/ToDo?limit_page_length=1', method: 'GET' as const },
      { url: '/api/v2/document/ToDo?limit=1', method: 'GET' as const },
      { url: '/api/method/ping', method: 'GET' as const },
    );
    // Now and then: another key source (Frappe-Authorization-Source), a browser's Accept.
    const extra = fc.record(
      {
        'frappe-authorization-source': fc.oneof(fc.constantFrom('User', 'user', 'ToDo', 'API Key', '', ' '), headerText(20)),
        accept: fc.oneof(fc.constantFrom('text/html', 'text/html, application/json', '*/*', 'application/json', ''), headerText(20)),
      },
      { requiredKeys: [] },
    );
    await kit.check(
      fc.asyncProperty(scheme, sep, credential, fc.option(headerText(40), { nil: undefined }), endpoint, extra, remoteAddress, async (s, space, cred, duplicate, target, more, ip) => {
        const header = asHeader(`${s}${space}${cred.c}`);
        // A duplicated Authorization header: Node keeps the first.
        const authorization = duplicate === undefined ? header : ([header, `token ${duplicate}`] as unknown as string);
        const res = await kit.inject(app, { method: target.method, url: target.url, headers: { ...more, authorization }, remoteAddress: ip });
        assertAnswer(res, { html: more.accept !== undefined });
        if (!String(res.headers['content-type']).includes('json')) return;
        const source = more['frappe-authorization-source']?.trim();
        const realPair = carriesRealPair(header, key, secret);
        if (cred.real && space === ' ' && ['token', 'basic'].includes(s.toLowerCase()) && cred.c.includes(':') === (s.toLowerCase() === 'token')) assert.ok(realPair);
        const exact = realPair && (source === undefined || source === '' || source === 'User');
        const user = target.url.includes('get_logged_user') ? whoami(res) : undefined;
        if (exact) {
          assert.equal(res.statusCode, 200, `the real key pair must authenticate: ${res.body.slice(0, 200)}`);
          if (user !== undefined) assert.equal(user, KEY_USER);
        } else if (user !== undefined) {
          assert.equal(user, 'Guest', `header ${JSON.stringify(header.slice(0, 120))} authenticated ${user}`);
        }
        if (res.statusCode === 200 && !exact && target.url.startsWith('/api/resource')) {
          assert.fail(`a Guest may not list ToDo, yet ${JSON.stringify(header.slice(0, 120))} got 200`);
        }
      }),
      300,
    );
  });

  test('Cookie, sid and csrf_token arguments, X-Frappe-CSRF-Token: never a 5xx; a session comes only from its own sid', async () => {
    const cookiePart = fc.oneof(
      headerText(30),
      headerText(60).map((v) => `sid=${v}`),
      fc.constantFrom(`sid=${sid}`, `sid="${sid}"`, `sid=${sid}x`, `sid=${sid.slice(0, -1)}`, `sid=${sid.toUpperCase()}`, 'sid=Guest', 'sid=', 'sid', '=', ';', 'sid=%zz', `SID=${sid}`),
      fc.constant(`sid=${encodeURIComponent(sid).replace(/a/g, '%61')}`),
      fc.integer({ min: 1000, max: 8000 }).map((n) => `sid=${'f'.repeat(n)}`),
    );
    const cookie = fc.tuple(fc.array(cookiePart, { maxLength: 5 }), fc.constantFrom('; ', ';', ', ', ' ; ')).map(([parts, glue]) => parts.join(glue));
    const sidArg = fc.option(fc.oneof(fc.constant(sid), headerText(60), fc.constant('')), { nil: undefined });
    const token = fc.option(fc.oneof(fc.constant(csrfToken), headerText(40), fc.constant('')), { nil: undefined });
    const origin = fc.option(fc.oneof(fc.constantFrom(ORIGIN, 'http://localhost:80', 'https://evil.example', 'null', ''), headerText(30)), { nil: undefined });
    const referer = fc.option(fc.oneof(origin, fc.constantFrom(`${ORIGIN}/app/todo?x=1`, 'https://evil.example/page')), { nil: undefined });
    const where = fc.constantFrom('query', 'form', 'json');
    const method = fc.constantFrom('GET', 'POST');
    await kit.check(
      fc.asyncProperty(cookie, sidArg, token, token, origin, referer, where, method, remoteAddress, async (cookieHeader, sidValue, argToken, headerToken, originValue, refererValue, placement, verb, ip) => {
        const args: Record<string, string> = {};
        if (sidValue !== undefined) args.sid = sidValue;
        if (argToken !== undefined) args.csrf_token = argToken;
        const headers: Record<string, string> = { cookie: asHeader(cookieHeader) };
        if (headerToken !== undefined) headers['x-frappe-csrf-token'] = asHeader(headerToken);
        if (originValue !== undefined) headers.origin = asHeader(originValue);
        if (refererValue !== undefined) headers.referer = asHeader(refererValue);
        let url = WHOAMI;
        let payload: string | undefined;
        if (verb === 'GET' || placement === 'query') {
          const query = new URLSearchParams(args).toString();
          url = query ? `${WHOAMI}?${query}` : WHOAMI;
        } else if (placement === 'form') {
          headers['content-type'] = 'application/x-www-form-urlencoded';
          payload = new URLSearchParams(args).toString();
        } else {
          headers['content-type'] = 'application/json';
          payload = JSON.stringify(args);
        }
        const res = await kit.inject(app, { method: verb, url, headers, payload, remoteAddress: ip });
        assertAnswer(res);
        const user = whoami(res);
        if (user === undefined) return;
        assert.ok(user === 'Guest' || user === SESSION_USER, `unexpected user ${user}`);
        if (user !== SESSION_USER) return;
        // Resumed: from the sid argument, or (no sid argument) from the sid cookie.
        const viaArg = sidValue !== undefined && sidValue !== '';
        if (viaArg) assert.equal(sidValue, sid, 'resumed from a sid argument that is not the session');
        else assert.ok(safeDecode(cookieHeader).includes(sid), `resumed without the sid: ${cookieHeader.slice(0, 200)}`);
        if (verb === 'POST') {
          // An unsafe request of a session holding a CSRF token passes only with that token.
          const given = argToken ?? headerToken;
          assert.equal(given, csrfToken, `POST passed CSRF with ${JSON.stringify(given)}`);
          // A request with an Origin comes from the site itself: its Origin says so, or (an
          // Origin that is no URL, e.g. "null") its Referer does. No Origin: not a browser.
          const sent = (value: string | undefined) => (value === undefined ? undefined : asHeader(value));
          const site = originValue === undefined || (webOrigin(sent(originValue)) ?? webOrigin(sent(refererValue))) === ORIGIN;
          if (!viaArg) assert.ok(site, `cookie POST from origin ${JSON.stringify(originValue)} / referer ${JSON.stringify(refererValue)}`);
        }
      }),
      300,
    );
  });

  test('restrict_ip over HTTP (User save, named API key): 200 or 417, and what is stored always parses', async () => {
    const entry = fc.oneof(anyText, fc.constantFrom('10.0.0.1', '10.0.0.0/8', '10.0.0', '2001:db8::/32', '::ffff:10.0.0.1', '1.2.3.4/33', '010.0.0.1', '10.0.0.', '*', ''));
    const text = fc.tuple(fc.array(entry, { maxLength: 4 }), fc.constantFrom(',', '\n', ', ')).map(([entries, sep]) => entries.join(sep));
    await kit.check(
      fc.asyncProperty(text, fc.boolean(), async (value, namedKey) => {
        const res = namedKey
          ? await kit.inject(app, { method: 'POST', url: '/api/method/cortado.api_keys.create', headers: { authorization: adminAuth, 'content-type': 'application/json' }, payload: JSON.stringify({ label: 'fuzz', user: KEY_USER, restrict_ip: value }) })
          : await kit.inject(app, { method: 'PUT', url: `/api/resource/User/${IP_USER}`, headers: { authorization: adminAuth, 'content-type': 'application/json' }, payload: JSON.stringify({ restrict_ip: value }) });
        const exc = assertAnswer(res);
        if (res.statusCode !== 200) {
          assert.equal(exc, 'ValidationError', res.body.slice(0, 300));
          return;
        }
        const stored = namedKey
          ? await runAs(t.site, 'Administrator', (db) => db.getValue('API Key', (res.json() as { message: { name: string } }).message.name, 'restrict_ip'))
          : await runAs(t.site, 'Administrator', (db) => db.getValue('User', IP_USER, 'restrict_ip'));
        assert.doesNotThrow(() => validateIpRulesText(stored === null || stored === undefined ? '' : String(stored)), `stored ${JSON.stringify(stored)}`);
      }),
      150,
    );
    await runAs(t.site, 'Administrator', (db) => db.setValue('User', IP_USER, { restrict_ip: '10.1.0.0/16' }));
  });

  test('X-Forwarded-For: never a 5xx; only a trusted proxy can place the client inside restrict_ip', async () => {
    const inRange = fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.1.${a}.${b}`);
    const hop = fc.oneof(
      inRange,
      inRange.map((ip) => `::ffff:${ip}`),
      fc.constantFrom('127.0.0.1', '::1', '10.2.0.1', '203.0.113.7', '2001:db8::1', 'unknown', '', ' ', '10.1.0.1:8080', '[10.1.0.1]', '10.1.1', '010.001.000.001', '0x0a.1.0.1', '10.1.0.1/8', '10.1.0.256'),
      headerText(30),
    );
    const xff = fc.oneof(
      fc.tuple(fc.array(hop, { maxLength: 6 }), fc.constantFrom(',', ', ', ' ,', ',,')).map(([hops, glue]) => hops.join(glue)),
      headerText(80),
      fc.integer({ min: 1000, max: 12_000 }).map((n) => '10.1.0.1,'.repeat(Math.floor(n / 9))),
    );
    // A peer that is not a trusted proxy (anything but loopback) and not inside 10.1.0.0/16.
    const untrusted = remoteAddress.filter((ip) => !ip.startsWith('127.') && !ip.startsWith('10.1.'));
    const peer = fc.oneof(fc.constant('127.0.0.1'), untrusted);
    await kit.check(
      fc.asyncProperty(xff, peer, fc.boolean(), async (forwarded, from, dup) => {
        const header = asHeader(forwarded);
        const value = dup ? ([header, '10.1.2.3'] as unknown as string) : header;
        const res = await kit.inject(app, { url: WHOAMI, headers: { authorization: ipUserAuth, 'x-forwarded-for': value }, remoteAddress: from });
        const exc = assertAnswer(res);
        if (res.statusCode !== 200) {
          assert.equal(exc, 'AuthenticationError', res.body.slice(0, 200));
          return;
        }
        assert.equal(whoami(res), IP_USER);
        assert.equal(from, '127.0.0.1', `an untrusted peer ${from} passed restrict_ip with X-Forwarded-For ${JSON.stringify(forwarded.slice(0, 100))}`);
        assert.ok((dup ? `${header}, 10.1.2.3` : header).includes('10.1.'), `no address inside 10.1.0.0/16 in ${JSON.stringify(forwarded.slice(0, 100))}`);
      }),
      250,
    );
    // The plain cases, exactly: one dotted quad from the trusted proxy decides.
    await kit.check(
      fc.asyncProperty(fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255)), async ([a, b, c, d]) => {
        const ip = `${a}.${b}.${c}.${d}`;
        const res = await kit.inject(app, { url: WHOAMI, headers: { authorization: ipUserAuth, 'x-forwarded-for': ip } });
        const inside = a === 10 && b === 1;
        const trustedHop = a === 127;
        // A loopback hop is one of our proxies: the walk ends at the first hop, itself.
        assert.equal(res.statusCode, inside ? 200 : 401, `${ip} ${trustedHop ? '(trusted hop) ' : ''}→ ${res.statusCode}`);
      }),
      100,
    );
  });
});

/**
 * Frappe's reading of the header, as the spec of who it authenticates: split on single spaces,
 * exactly two parts; `token key:secret`, or `Basic` whose base64 (Python's decoder drops
 * characters outside the alphabet) is exactly that of `key:secret`.
 */
function carriesRealPair(header: string, key: string, secret: string): boolean {
  const parts = header.split(' ');
  if (parts.length !== 2) return false;
  const [scheme, credential] = parts as [string, string];
  if (scheme.toLowerCase() === 'token') return credential === `${key}:${secret}`;
  if (scheme.toLowerCase() === 'basic') return credential.replace(/[^A-Za-z0-9+/=]/g, '') === b64(`${key}:${secret}`);
  return false;
}

/** `scheme://host[:port]` of an http(s) URL, or undefined. */
function webOrigin(url: string | undefined): string | undefined {
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/%61/g, 'a');
  }
}
