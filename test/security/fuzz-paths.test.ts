/**
 * Fuzzing path segments over HTTP against a real SQLite site: random DocType names and document
 * names — percent-encoded garbage, broken escapes, `..` and encoded slashes, NUL and control
 * characters, unicode, very long names — on `/api/resource/<DocType>[/<name>]` (v1, every verb),
 * `/api/v2/document/<DocType>[/<name>[/copy | /method/<m>]]`, `/api/v2/doctype/<DocType>/meta |
 * count`, `/api/v2/method/<DocType>/<method>`, and the file routes `/files/<path>` and
 * `/private/files/<path>`.
 *
 * Every answer is a 2xx or a 4xx with a known Frappe `exc_type` (never a 5xx, a crash or a hang);
 * a path never reaches another user's document or a file outside the files folders.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';
import { anyText, assertAnswer, fc, fuzzKit } from './fuzz-kit.ts';

const kit = fuzzKit('test/security/fuzz-paths.test.ts');

const USER = 'paths@example.com';
const OTHER = 'other@example.com';

/** Percent-encoding of every byte that is not unreserved (lone surrogates as U+FFFD). */
function encodeSegment(text: string): string {
  return [...Buffer.from(text.replace(/[\ud800-\udfff]/g, '\ufffd'), 'utf8')]
    .map((byte) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

/** The path the router sees: dot segments resolved, as light-my-request (and a browser) does. */
function effectivePath(url: string): string {
  return new URL(url, 'http://localhost').pathname;
}

describe('fuzz: path segments [sqlite]', () => {
  let t: TestSite;
  let app: FastifyInstance;
  let auth: string;
  let adminAuth: string;
  let mine: string;
  let theirs: string;

  before(async () => {
    t = await createTestSite();
    await addUser(t.site, { email: USER, roles: [] });
    await addUser(t.site, { email: OTHER, roles: [] });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, USER, hashKey));
    auth = `token ${keys.api_key}:${keys.api_secret}`;
    const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', hashKey));
    adminAuth = `token ${admin.api_key}:${admin.api_secret}`;
    mine = String((await runAs(t.site, USER, (db) => db.insert({ doctype: 'ToDo', description: 'mine' }))).name);
    theirs = String((await runAs(t.site, OTHER, (db) => db.insert({ doctype: 'ToDo', description: 'theirs' }))).name);
    mkdirSync(join(t.path, 'public', 'files'), { recursive: true });
    writeFileSync(join(t.path, 'public', 'files', 'hello.txt'), 'hello');
    app = await createServer(t.site);
  });
  after(async () => {
    await app?.close();
    await t?.cleanup();
  });

  /** A path segment as a client may write it: encoded, half-encoded, or with raw oddities. */
  const segment = () =>
    fc.oneof(
      { weight: 3, arbitrary: anyText.map(encodeSegment) },
      { weight: 2, arbitrary: fc.constantFrom('ToDo', 'User', 'DocType', 'Has%20Role', 'todo', 'TODO', 'To%44o', 'ToDo%00', '%00', '..', '.', '%2e%2e', '%2E%2E%2F', '..%2f..%2f', '%2f', '%5c', '%', '%zz', '%c3%28', '%ed%a0%80', '%ff', '%25', 'x%20y', '__proto__', 'constructor', 'tabToDo', 'ToDo%22%3B--', 'a'.repeat(1200)) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((s) => s.replace(/[#?]/g, '')) },
      { weight: 1, arbitrary: fc.array(fc.constantFrom('..', '.', 'ToDo', mine, theirs, '%2e%2e', '', 'x'), { minLength: 2, maxLength: 5 }).map((parts) => parts.join('/')) },
    );

  /** A query string as written, garbage included: broken escapes, brackets, repeated keys. */
  const rawQuery = fc.oneof(
    fc.array(fc.tuple(fc.oneof(fc.constantFrom('fields', 'filters', 'limit', 'cmd', 'sid', 'run_method', '__proto__', 'a[b]', 'a[]', '', '%zz'), segment()), segment()), { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
    fc.constantFrom('%', '&&&', '=', '==&=', '%ff%fe', 'a=%c3%28', '?', '#', 'x=1#frag'),
  );

  test('DocType and document names on v1 and v2 resource routes, every verb: 2xx or a known 4xx', async () => {
    const route = fc.constantFrom(
      (d: string, n: string) => `/api/resource/${d}/${n}`,
      (d: string) => `/api/resource/${d}`,
      (d: string, n: string) => `/api/v1/resource/${d}/${n}`,
      (d: string, n: string) => `/api/v2/document/${d}/${n}`,
      (d: string) => `/api/v2/document/${d}`,
      (d: string, n: string) => `/api/v2/document/${d}/${n}/copy`,
      (d: string, n: string) => `/api/v2/document/${d}/${n}/method/${n}`,
      (d: string) => `/api/v2/doctype/${d}/meta`,
      (d: string) => `/api/v2/doctype/${d}/count`,
      (d: string, n: string) => `/api/v2/method/${d}/${n}`,
      (_d: string, n: string) => `/api/method/${n}`,
    );
    const name = fc.oneof({ weight: 3, arbitrary: segment() }, { weight: 1, arbitrary: fc.constantFrom(mine, theirs, `${theirs}%00`, `${theirs.toUpperCase()}`, `${theirs}/`, `${theirs}%2f`, ` ${theirs}`, encodeSegment(theirs)) });
    const verb = fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE');
    await kit.check(
      fc.asyncProperty(route, segment(), name, verb, fc.boolean(), fc.option(rawQuery, { nil: undefined }), async (build, doctype, docname, method, asAdmin, query) => {
        const url = query === undefined ? build(doctype, docname) : `${build(doctype, docname)}?${query}`;
        const payload = method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify({ description: 'fuzzed' });
        const res = await kit.inject(app, {
          method,
          url,
          headers: { authorization: asAdmin ? adminAuth : auth, ...(payload ? { 'content-type': 'application/json' } : {}) },
          payload,
        });
        // Raw `..` segments are resolved before routing (as a browser does): a path that leaves
        // /api/ is a page, whose refusals are HTML.
        assertAnswer(res, { html: !effectivePath(url).startsWith('/api/') });
        if (asAdmin || res.statusCode >= 300 || (method === 'POST' && !url.includes('/method/'))) return;
        if (!String(res.headers['content-type']).includes('json')) return; // a page
        // The caller reads and changes only their own ToDo.
        const body = res.json() as { data?: { doctype?: string; name?: string; owner?: string } };
        if (body.data && typeof body.data === 'object' && body.data.name === theirs) assert.fail(`${method} ${url} reached another user's ToDo`);
        if (method === 'DELETE' || method === 'PUT' || method === 'PATCH') {
          const check = await runAs(t.site, 'Administrator', (db) => db.exists('ToDo', theirs));
          assert.ok(check, `${method} ${url} deleted another user's ToDo`);
        }
      }),
      700,
    );
  });

  test('file paths: 200 only for files inside the files folders, 404/403 otherwise', async () => {
    const prefix = fc.constantFrom('/files/', '/private/files/');
    const file = fc.oneof(
      segment(),
      fc.constantFrom('hello.txt', 'hello.txt%00.png', 'hello.txt/', '%2e%2e/site_config.json', '..%2fsite_config.json', '..%2f..%2fsite_config.json', '..%5csite_config.json', '%2e%2e%2f%2e%2e%2fsite_config.json', '.%2e/.%2e/site_config.json', 'x/../../site_config.json', '....//....//site_config.json', '%252e%252e%252fsite_config.json', 'HELLO.TXT', '.hidden', 'a\u0000b'),
    );
    const secret = t.site.config.encryption_key;
    await kit.check(
      fc.asyncProperty(prefix, file, fc.boolean(), async (base, path, loggedIn) => {
        const res = await kit.inject(app, { url: `${base}${path}`, headers: loggedIn ? { authorization: auth } : {} });
        const effective = effectivePath(`${base}${path}`);
        const filesRoute = effective.startsWith('/files/') || effective.startsWith('/private/files/');
        assertAnswer(res, { html: !effective.startsWith('/api/') });
        if (res.statusCode === 200 && filesRoute) {
          assert.ok(!res.body.includes(secret), `${base}${path} served site_config.json`);
          assert.equal(res.body, 'hello', `${base}${path} served something else than the one public file`);
        }
      }),
      300,
    );
  });
});
