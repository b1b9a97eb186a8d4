/**
 * Fuzzing request bodies over HTTP against a real SQLite site: JSON (any JSON value, documents
 * with hostile keys such as `__proto__` / `constructor`, nesting thousands deep, huge and
 * out-of-range numbers, invalid UTF-8, odd content types), form-urlencoded bodies (repeated
 * keys, bracket keys, broken percent-encoding, many pairs), and multipart bodies to the upload
 * endpoint (weird and hostile filenames, missing parts, wrong or missing boundaries, truncated
 * bodies, many parts).
 *
 * Every answer is a 2xx or a 4xx with a known Frappe `exc_type` (never a 5xx, a crash or a hang);
 * no body pollutes `Object.prototype`; an accepted upload is stored under a safe name inside the
 * site's files folder.
 */
import assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';
import { anyText, assertAnswer, fc, fuzzKit, remoteAddress } from './fuzz-kit.ts';

const kit = fuzzKit('test/security/fuzz-bodies.test.ts');

const USER = 'bodies@example.com';
const UPLOAD = '/api/method/upload_file';

/** A value anywhere in a document: JSON of every kind, hostile strings, huge and odd numbers. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: anyText },
  { weight: 1, arbitrary: fc.constantFrom(1e308, -1e308, 5e-324, 2 ** 53 + 2, -(2 ** 63), 0.1, -0, 1.5, true, false, null) },
);

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'doctype', 'name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx', 'parent', 'parenttype', 'parentfield', 'flags', 'cmd', 'sid', 'csrf_token', '_', 'data', 'doc', 'description', 'status', 'priority', 'date', 'allocated_to', 'reference_type', 'reference_name', 'usr', 'pwd', 'fields', 'filters', 'limit_page_length', '', ' ', 'a\u0000b', 'x'.repeat(300)];

/** A document: hostile and real keys with any values. */
const documentJson: fc.Arbitrary<Record<string, unknown>> = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 12 })), anyJson), { maxLength: 8 })
  .map((entries) => {
    const doc: Record<string, unknown> = {};
    // defineProperty, so `__proto__` is an own key as JSON.parse makes it.
    for (const [k, v] of entries) Object.defineProperty(doc, k, { value: v, enumerable: true, configurable: true, writable: true });
    return doc;
  });

/** JSON text: any value, a document, nesting thousands deep, numbers JSON.stringify cannot write. */
const jsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: documentJson.map((doc) => JSON.stringify(doc)) },
  { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 50, max: 100_000 }), fc.constantFrom('[', '{"a":', '{"description":', '{"__proto__":')).map(([depth, open]) => `${open.repeat(depth)}1${(open === '[' ? ']' : '}').repeat(depth)}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('description', 'idx', 'docstatus', 'date', 'name', 'limit_page_length', 'limit_start'), fc.constantFrom('1e309', '-1e309', '1e-400', '123456789012345678901234567890', '-0', '0.0000001', '1E2', '18446744073709551616')).map(([k, n]) => `{"${k}":${n}}`) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\ufeff{}', '{', '}', '[', 'nul', '{"a":1,}', '{"a" 1}', "{'a':1}", '{"a":"\\ud800"}', '{"a":"\\u0000"}', '"\\x"', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 80 }) },
);

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/vnd.api+json', 'APPLICATION/JSON', 'application/jsonx', 'text/json', 'text/plain', 'application/octet-stream', 'application/json;;', 'garbage'];

/** Percent-encoding; a lone surrogate (which encodeURIComponent refuses) is sent raw. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return text;
  }
}

function assertNoPollution(): void {
  const proto = Object.prototype as Record<string, unknown>;
  for (const key of ['polluted', 'a', 'x', 'description', 'isAdmin']) assert.equal(proto[key], undefined, `Object.prototype.${key} was set`);
  assert.equal(Object.keys(Object.prototype).length, 0, `Object.prototype gained ${Object.keys(Object.prototype).join(', ')}`);
}

describe('fuzz: request bodies [sqlite]', () => {
  let t: TestSite;
  let app: FastifyInstance;
  let auth: string;
  let adminAuth: string;
  let todo: string;

  before(async () => {
    t = await createTestSite();
    await addUser(t.site, { email: USER, roles: [] });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, USER, hashKey));
    auth = `token ${keys.api_key}:${keys.api_secret}`;
    const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', hashKey));
    adminAuth = `token ${admin.api_key}:${admin.api_secret}`;
    const doc = await runAs(t.site, USER, (db) => db.insert({ doctype: 'ToDo', description: 'fuzz target' }));
    todo = String(doc.name);
    app = await createServer(t.site);
  });
  after(async () => {
    await app?.close();
    await t?.cleanup();
  });

  test('JSON bodies: any text, any content type, on document and method endpoints', async () => {
    const target = fc.constantFrom(
      { method: 'POST' as const, url: '/api/resource/ToDo' },
      { method: 'PUT' as const, url: `/api/resource/ToDo/${todo}` },
      { method: 'POST' as const, url: '/api/v2/document/ToDo' },
      { method: 'PATCH' as const, url: `/api/v2/document/ToDo/${todo}` },
      { method: 'GET' as const, url: '/api/resource/ToDo' },
      { method: 'GET' as const, url: '/api/v2/document/ToDo' },
      { method: 'POST' as const, url: '/api/method/frappe.client.insert' },
      { method: 'POST' as const, url: '/api/method/frappe.client.save' },
      { method: 'POST' as const, url: '/api/method/frappe.client.insert_many' },
      { method: 'POST' as const, url: '/api/method/frappe.client.set_value' },
      { method: 'POST' as const, url: '/api/method/frappe.client.get_list' },
      { method: 'POST' as const, url: '/api/method/frappe.client.get_value' },
      { method: 'POST' as const, url: '/api/method/frappe.client.bulk_update' },
      { method: 'POST' as const, url: '/api/method/login' },
      { method: 'POST' as const, url: '/api/v2/method/run_doc_method' },
      { method: 'POST' as const, url: '/api/method/ping' },
    );
    const wrapped = fc.oneof(
      jsonText,
      // The same text under `doc` / `data` / `doctype`, where the endpoints read a document.
      fc.tuple(fc.constantFrom('doc', 'data', 'docs', 'filters', 'fieldname', 'value', 'usr', 'document', 'kwargs'), jsonText).map(([k, text]) => `{"doctype":"ToDo","name":${JSON.stringify(todo)},"method":"get_title","${k}":${text.trim() === '' ? '""' : JSON.stringify(text)}}`),
      fc.tuple(fc.constantFrom('doc', 'data', 'docs', 'filters', 'value', 'document'), documentJson).map(([k, doc]) => JSON.stringify({ doctype: 'ToDo', name: todo, fieldname: 'description', [k]: doc })),
    );
    await kit.check(
      fc.asyncProperty(target, wrapped, fc.constantFrom(...JSON_TYPES), fc.boolean(), fc.boolean(), remoteAddress, async (where, text, type, asAdmin, rawBytes, ip) => {
        // Now and then the body's bytes are not valid UTF-8.
        const payload = rawBytes ? Buffer.concat([Buffer.from(text), Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80])]) : text;
        const res = await kit.inject(app, { method: where.method, url: where.url, headers: { authorization: asAdmin ? adminAuth : auth, 'content-type': type }, payload, remoteAddress: ip });
        assertAnswer(res);
        assertNoPollution();
      }),
      400,
    );
  });

  test('form-urlencoded bodies: repeated, bracketed and hostile keys, broken percent-encoding, many pairs', async () => {
    const key = fc.oneof(fc.constantFrom(...HOSTILE_KEYS, '__proto__[polluted]', 'constructor[prototype][polluted]', 'a[]', 'a[b]', 'doc[name]', 'filters[0]'), fc.string({ maxLength: 10 }));
    const value = fc.oneof(anyText, fc.constantFrom('{"a":1}', '[1,2]', 'null', 'true', '1e309', '%', '%zz', '%ff', '%00', '+', '&', '='));
    const pair = fc.oneof(
      fc.tuple(key, value).map(([k, v]) => `${encode(k)}=${encode(v)}`),
      fc.tuple(key, value).map(([k, v]) => `${k}=${v}`),
      fc.constantFrom('', '=', '==', '&', 'a', '%', '%zz=%zz', '%ff%fe=%c3%28', 'a=1=2', '__proto__=x', '__proto__[polluted]=1'),
    );
    const body = fc.oneof(
      fc.array(pair, { maxLength: 12 }).map((pairs) => pairs.join('&')),
      fc.integer({ min: 500, max: 5000 }).map((n) => Array.from({ length: n }, (_, i) => `k${i % 50}=${i}`).join('&')),
    );
    const target = fc.constantFrom(
      { method: 'POST' as const, url: '/api/resource/ToDo' },
      { method: 'PUT' as const, url: `/api/resource/ToDo/${todo}` },
      { method: 'POST' as const, url: '/api/v2/document/ToDo' },
      { method: 'POST' as const, url: '/api/method/frappe.client.get_list' },
      { method: 'POST' as const, url: '/api/method/frappe.client.set_value' },
      { method: 'POST' as const, url: '/api/method/login' },
      { method: 'POST' as const, url: UPLOAD },
      { method: 'POST' as const, url: '/api/method/ping' },
    );
    const type = fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=latin1', 'application/x-www-form-urlencoded; charset=utf-8');
    await kit.check(
      fc.asyncProperty(target, body, type, fc.boolean(), remoteAddress, async (where, text, contentType, asQuery, ip) => {
        const url = asQuery ? `${where.url}?${text}` : where.url;
        const res = await kit.inject(app, { method: where.method, url, headers: { authorization: auth, 'content-type': contentType }, payload: asQuery ? '' : text, remoteAddress: ip });
        assertAnswer(res);
        assertNoPollution();
      }),
      300,
    );
  });

  test('multipart uploads: hostile filenames, missing parts, wrong boundaries; stored files stay inside the files folder', async () => {
    const filename = fc.oneof(
      anyText,
      fc.constantFrom('../../etc/passwd', '..\\..\\win.ini', '/abs/x.txt', '.htaccess', '..', '.', '', ' ', 'a\u0000b.txt', 'x\r\nContent-Type: text/html', 'a"b.txt', 'a%2f..%2fb.txt', 'con.txt', 'x.html', 'x.svg', 'x'.repeat(400) + '.txt', '\u202etxt.exe', 'ok.txt', 'ok.png', 'spaces   in   name .txt', 'ü'.repeat(100) + '.pdf'),
    );
    const field = fc.oneof(fc.constantFrom('file', 'file', 'file', 'is_private', 'folder', 'file_url', 'file_name', 'doctype', 'docname', 'fieldname', '__proto__', 'constructor'), fc.string({ maxLength: 10 }));
    const part = fc.oneof(
      fc.record({ kind: fc.constant('file' as const), name: field, filename, content: fc.uint8Array({ maxLength: 200 }), type: fc.constantFrom('text/plain', 'image/png', 'application/octet-stream', 'text/html', '', 'garbage') }),
      fc.record({ kind: fc.constant('field' as const), name: field, value: fc.oneof(anyText, fc.constantFrom('0', '1', 'Home', 'ToDo', '/files/x.txt', '/private/files/../../site_config.json')) }),
      fc.record({ kind: fc.constant('raw' as const), text: fc.oneof(anyText, fc.constantFrom('Content-Disposition: form-data', 'Content-Disposition: form-data; name=', 'Content-Disposition: attachment; filename="x"', 'Content-Type: text/plain\r\n\r\nbody', '\r\n\r\n', '--')) }),
    );
    const shape = fc.record({
      parts: fc.array(part, { maxLength: 6 }),
      boundaryInHeader: fc.constantFrom('B0undary', 'B0undary', 'B0undary', 'other', '', '"B0undary"', 'B0undary; charset=utf-8', 'x'.repeat(200)),
      close: fc.constantFrom('--B0undary--\r\n', '--B0undary--\r\n', '--B0undary--', '', '--B0undary', '--other--\r\n'),
      typeName: fc.constantFrom('multipart/form-data', 'multipart/form-data', 'multipart/mixed', 'Multipart/Form-Data', 'multipart/'),
      manyParts: fc.integer({ min: 0, max: 400 }),
      truncate: fc.option(fc.nat(2000), { nil: undefined }),
    });
    await kit.check(
      fc.asyncProperty(shape, fc.boolean(), remoteAddress, async (s, asAdmin, ip) => {
        const chunks: Buffer[] = [];
        for (const p of s.parts) {
          chunks.push(Buffer.from('--B0undary\r\n'));
          if (p.kind === 'file') {
            chunks.push(Buffer.from(`Content-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\n`));
            if (p.type) chunks.push(Buffer.from(`Content-Type: ${p.type}\r\n`));
            chunks.push(Buffer.from('\r\n'), Buffer.from(p.content), Buffer.from('\r\n'));
          } else if (p.kind === 'field') {
            chunks.push(Buffer.from(`Content-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}\r\n`));
          } else {
            chunks.push(Buffer.from(`${p.text}\r\n`));
          }
        }
        for (let i = 0; i < s.manyParts; i++) chunks.push(Buffer.from(`--B0undary\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n${i}\r\n`));
        chunks.push(Buffer.from(s.close));
        let payload = Buffer.concat(chunks);
        if (s.truncate !== undefined) payload = payload.subarray(0, s.truncate);
        const boundary = s.boundaryInHeader === '' ? '' : `; boundary=${s.boundaryInHeader}`;
        const res = await kit.inject(app, {
          method: 'POST',
          url: UPLOAD,
          headers: { authorization: asAdmin ? adminAuth : auth, 'content-type': `${s.typeName}${boundary}` },
          payload,
          remoteAddress: ip,
        });
        assertAnswer(res);
        assertNoPollution();
        if (res.statusCode !== 200) return;
        const doc = (res.json() as { message: { file_url?: string; file_name?: string; is_private?: number } }).message;
        const url = String(doc.file_url);
        if (!url.startsWith('/files/') && !url.startsWith('/private/files/')) return; // a registered external file_url
        const name = url.slice(url.indexOf('/files/') + '/files/'.length);
        assert.ok(name !== '' && !name.includes('/') && !name.includes('\\') && !name.startsWith('.'), `unsafe stored name ${JSON.stringify(name)}`);
        // eslint-disable-next-line no-control-regex
        assert.ok(!/[\u0000-\u001f\u007f]/.test(name), `control characters in ${JSON.stringify(name)}`);
        const folder = join(t.path, url.startsWith('/private/') ? 'private' : 'public', 'files');
        if (existsSync(join(folder, name))) assert.equal(realpathSync(join(folder, name)), join(realpathSync(folder), name));
      }),
      300,
    );
  });
});
