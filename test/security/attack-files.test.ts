/**
 * Path traversal on files over HTTP, beyond test/api/files.test.ts (which covers the classic
 * `/files/..%2f…` URLs, symlinks and `sanitizeFileName` itself):
 *
 * - downloads: dot-segment tricks (`.%2e`, `%2e.`, `..;`, overlong UTF-8 `%c0%ae`, `%u002e`,
 *   double encoding, `./..`, a public URL reaching into `private/`), as Guest and as
 *   Administrator → 400/403/404 and never the content of a file outside the folder;
 * - upload file names sent in multipart (`../`, `..\`, absolute paths, NUL, `%2e%2e%2f`,
 *   `....//`, unicode slashes, dot files, `file_name` and `folder` arguments) → stored under
 *   `public/files` with a safe name, nothing written anywhere else in the site folder;
 * - registering a `file_url` that climbs out (`/files/../private/…`, encoded forms, `file:`) →
 *   417 `ValidationError`, no File row.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { randomHex } from '../../src/core/crypto.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const SECRET_TEXT = 'TOP-SECRET-PRIVATE-CONTENT';

/** Every file under `dir` (relative paths), skipping the database files. */
function tree(dir: string, root = dir, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) tree(path, root, out);
    else if (!/\.sqlite3(-wal|-shm|-journal)?$/.test(entry)) out.push(relative(root, path));
  }
  return out.sort();
}

function multipart(parts: ({ name: string; value: string } | { name: string; filename: string; content: string })[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----cortado${randomHex(16)}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('filename' in part) {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: text/plain\r\n\r\n${part.content}`, 'latin1'));
    } else {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}`));
    }
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

forEachDatabase('path traversal on files', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  let adminAuth = '';
  let attempts = 0;

  before(async () => {
    t = await createTestSite({ db });
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', authServicesFor(t.site).deps.hashKey));
    adminAuth = `token ${keys.api_key}:${keys.api_secret}`;
    mkdirSync(join(t.path, 'public', 'files', 'sub'), { recursive: true });
    mkdirSync(join(t.path, 'private', 'files'), { recursive: true });
    writeFileSync(join(t.path, 'public', 'files', 'hello.txt'), 'hello');
    writeFileSync(join(t.path, 'public', 'files', 'sub', 'inner.txt'), 'inner');
    writeFileSync(join(t.path, 'private', 'files', 'secret.txt'), SECRET_TEXT);
    writeFileSync(join(t.path, 'outside.txt'), SECRET_TEXT);
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('download URLs that climb out: 400/403/404, never a byte of the target', async () => {
    const config = JSON.stringify(t.site.config.encryption_key);
    const urls = [
      '/files/.%2e/site_config.json',
      '/files/%2e./site_config.json',
      '/files/.%2E/.%2E/site_config.json',
      '/files/..;/site_config.json',
      '/files/%c0%ae%c0%ae/site_config.json',
      '/files/%c0%ae%c0%ae%c0%afsite_config.json',
      '/files/%e0%80%ae%e0%80%ae/site_config.json',
      '/files/%u002e%u002e/site_config.json',
      '/files/%252e%252e%252fsite_config.json',
      '/files/./../site_config.json',
      '/files/sub/../../site_config.json',
      '/files/sub/%2e%2e/%2e%2e/site_config.json',
      '/files/sub/..%2f..%2foutside.txt',
      '/files/../private/files/secret.txt',
      '/files/..%2fprivate%2ffiles%2fsecret.txt',
      '/files/%2e%2e%2fprivate/files/secret.txt',
      '/files/sub%2f..%2f..%2fprivate%2ffiles%2fsecret.txt',
      '/files/..%2f..%2foutside.txt',
      '/files/..%5c..%5coutside.txt',
      '/files/....//....//outside.txt',
      '/files/...%2f...%2foutside.txt',
      '/files/hello.txt%2f..%2f..%2foutside.txt',
      '/files/hello.txt/../../outside.txt',
      '/files/%2fprivate%2ffiles%2fsecret.txt',
      '/files/\u2025/outside.txt',
      '/files/%e2%80%a5/outside.txt',
      '/files/%ef%bc%8e%ef%bc%8e/outside.txt',
      '/files/hello.txt%00.png',
      '/files/%00../outside.txt',
      '/private/files/.%2e/.%2e/site_config.json',
      '/private/files/%2e%2e%2f%2e%2e%2fsite_config.json',
      '/private/files/..%2f..%2fpublic%2ffiles%2fhello.txt',
      '/private/files/..%5c..%5coutside.txt',
      '/private/files/%c0%ae%c0%ae/%c0%ae%c0%ae/outside.txt',
      '/private/files/secret.txt%00',
      '/private/files/./secret.txt',
      '/private/files//secret.txt',
    ];
    for (const url of urls) {
      for (const who of ['Guest', 'Administrator']) {
        attempts++;
        const res = await app.inject({ url, headers: who === 'Guest' ? {} : { authorization: adminAuth } });
        const what = `${url} as ${who}`;
        assert.ok([400, 403, 404].includes(res.statusCode), `${what}: ${res.statusCode} ${res.body.slice(0, 120)}`);
        assert.ok(!res.body.includes(SECRET_TEXT), `${what}: leaked a file`);
        assert.ok(!res.body.includes(config) && !res.body.includes('encryption_key'), `${what}: leaked the site config`);
      }
    }
    // The baseline: the same server serves what it should.
    assert.equal((await app.inject({ url: '/files/sub/inner.txt' })).body, 'inner');
    assert.equal((await app.inject({ url: '/files/hello.txt' })).body, 'hello');
  });

  test('upload file names that climb out are stored under public/files with a safe name; nothing else is written', async () => {
    const names = [
      '../../site_config.json',
      '../outside.txt',
      '..\\..\\outside.txt',
      '/etc/passwd',
      'C:\\Windows\\win.ini',
      '..',
      '.',
      '...',
      '.htaccess',
      '....//....//outside.txt',
      '%2e%2e%2foutside.txt',
      '..%2f..%2foutside.txt',
      'sub/../../outside.txt',
      'a\u0000.txt',
      'x.txt\u0000.png',
      '..\u0000/outside.txt',
      '\u2215etc\u2215passwd',
      '..\u2215outside.txt',
      '\uff0e\uff0e\uff0foutside.txt',
      '../private/files/secret.txt',
      'hello.txt',
    ];
    const before_ = tree(t.path);
    const uploaded: string[] = [];
    for (const filename of names) {
      attempts++;
      const body = multipart([{ name: 'file', filename, content: `content of ${JSON.stringify(filename)}` }]);
      const res = await app.inject({ method: 'POST', url: '/api/method/upload_file', payload: body.payload, headers: { ...body.headers, authorization: adminAuth } });
      const what = JSON.stringify(filename);
      assert.equal(res.statusCode, 200, `${what}: ${res.body.slice(0, 200)}`);
      const doc = res.json().message as { file_name: string; file_url: string; is_private: number };
      // eslint-disable-next-line no-control-regex
      assert.ok(!/[/\\\u0000-\u001f]/.test(doc.file_name) && !doc.file_name.startsWith('.'), `${what}: stored as ${JSON.stringify(doc.file_name)}`);
      assert.equal(doc.file_url, `/files/${doc.file_name}`, what);
      assert.equal(doc.is_private, 0);
      uploaded.push(`public/files/${doc.file_name}`);
    }
    const after_ = tree(t.path);
    const added = after_.filter((f) => !before_.includes(f)).sort();
    assert.deepEqual(added, [...new Set(uploaded)].sort(), 'only the uploaded files, all in public/files');
    assert.equal((await app.inject({ url: '/files/hello.txt' })).body, 'hello', 'an existing file is never overwritten');
  });

  test('file_name, folder and file_url arguments that climb out', async () => {
    const before_ = tree(t.path);
    const rows = async () => (await t.site.storage.all('SELECT "name" FROM "tabFile"')).length;
    const count = await rows();
    for (const fileUrl of [
      '/files/../private/files/secret.txt',
      '/files/..%2fprivate%2ffiles%2fsecret.txt',
      '/files/%2e%2e/site_config.json',
      '/files/sub/../../site_config.json',
      '/private/files/../../site_config.json',
      '/private/files/..%2f..%2foutside.txt',
      '/files/\u0000',
      'file:///etc/passwd',
      'file://localhost/etc/passwd',
      '/etc/passwd',
      '\\\\server\\share\\x',
    ]) {
      attempts++;
      const body = multipart([{ name: 'file_url', value: fileUrl }]);
      const res = await app.inject({ method: 'POST', url: '/api/method/upload_file', payload: body.payload, headers: { ...body.headers, authorization: adminAuth } });
      assert.equal(res.statusCode, 417, `${JSON.stringify(fileUrl)}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      assert.equal(res.json().exc_type, 'ValidationError', fileUrl);
    }
    assert.equal(await rows(), count, 'no File row registered');
    for (const [field, value] of [
      ['file_name', '../../outside-by-name.txt'],
      ['file_name', '/tmp/evil.txt'],
      ['folder', '../../'],
      ['folder', 'Home/../../..'],
    ] as const) {
      attempts++;
      const body = multipart([{ name: field, value }, { name: 'file', filename: 'plain.txt', content: 'plain' }]);
      const res = await app.inject({ method: 'POST', url: '/api/method/upload_file', payload: body.payload, headers: { ...body.headers, authorization: adminAuth } });
      const what = `${field}=${value}`;
      if (res.statusCode === 200) {
        const doc = res.json().message as { file_name: string; file_url: string };
        assert.ok(!/[/\\]/.test(doc.file_name), `${what}: ${doc.file_name}`);
        assert.equal(doc.file_url, `/files/${doc.file_name}`, what);
      } else {
        assert.equal(res.statusCode, 417, `${what}: ${res.body.slice(0, 200)}`);
      }
    }
    const added = tree(t.path).filter((f) => !before_.includes(f));
    assert.ok(added.every((f) => f.startsWith('public/files/') && !f.slice('public/files/'.length).includes('/')), `written: ${added.join(', ')}`);
  });

  test('attempt count', (t) => {
    t.diagnostic(`attack-files: ${attempts} requests`);
    assert.ok(attempts >= 100, `${attempts} attempts`);
  });
});

