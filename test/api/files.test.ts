/** Files over HTTP: upload_file (multipart and file_url), attach, serving, access, limits. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { sanitizeFileName } from '../../src/api/methods/upload-file.ts';
import { randomHex } from '../../src/core/crypto.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { runAs } from '../helpers/run-as.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));

type Part = { name: string; value: string } | { name: string; filename: string; content: Buffer | string; type?: string };

/** A multipart/form-data body built by hand, as a browser or axios would send it. */
function multipart(parts: Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----cortadoBoundary${randomHex(16)}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('filename' in part) {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n`));
      chunks.push(Buffer.from(`Content-Type: ${part.type ?? 'application/octet-stream'}\r\n\r\n`));
      chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content));
    } else {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}`));
    }
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const sha256 = (content: string | Buffer) => createHash('sha256').update(content).digest('hex');

function serverMessage(body: Record<string, unknown>): string {
  const list = JSON.parse(String(body._server_messages ?? '[]')) as string[];
  return (JSON.parse(list[0] ?? '{}') as { message: string }).message;
}

describe('sanitizeFileName', () => {
  test('keeps ordinary names and strips every path and hostile character', () => {
    assert.equal(sanitizeFileName('report 2024.pdf'), 'report 2024.pdf');
    assert.equal(sanitizeFileName('Übersicht.xlsx'), 'Übersicht.xlsx');
    assert.equal(sanitizeFileName('../../etc/passwd'), 'passwd');
    assert.equal(sanitizeFileName('..\\..\\windows\\win.ini'), 'win.ini');
    assert.equal(sanitizeFileName('/abs/path/x.png'), 'x.png');
    assert.equal(sanitizeFileName('a\u0000b\u001fc\u007f.txt'), 'abc.txt');
    assert.equal(sanitizeFileName('invoice\u202Efdp.exe'), 'invoicefdp.exe', 'bidi override removed');
    assert.equal(sanitizeFileName('<script>alert(1)</script>.html'), 'script_.html', 'the part after the last slash');
    assert.equal(sanitizeFileName('<img src=x onerror=alert(1)>.svg'), '_img src=x onerror=alert(1)_.svg');
    assert.equal(sanitizeFileName('a#b?c%d.txt'), 'a_b_c_d.txt');
    assert.equal(sanitizeFileName('.htaccess'), 'htaccess');
    assert.equal(sanitizeFileName('a..b.txt'), 'a.b.txt');
    for (const empty of ['', '..', '...', '/', '\\', ' . ', '\u0000', undefined, 42]) {
      const name = sanitizeFileName(empty);
      assert.match(name, /^[0-9a-f]{12}$/, `random name for ${JSON.stringify(empty)}`);
    }
    const long = sanitizeFileName(`${'x'.repeat(500)}.pdf`);
    assert.ok(long.length <= 140 && long.endsWith('.pdf'), long);
    const wide = sanitizeFileName(`${'文'.repeat(200)}.png`);
    assert.ok(Buffer.byteLength(wide) <= 180 && wide.endsWith('.png'));
  });
});

forEachDatabase('Files', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  const auth: Record<string, string> = {};
  let publicDir: string;
  let privateDir: string;

  const upload = (who: string | undefined, parts: Part[], url = '/api/method/upload_file') => {
    const body = multipart(parts);
    return app.inject({ method: 'POST', url, payload: body.payload, headers: { ...body.headers, ...(who ? { authorization: auth[who] } : {}) } });
  };
  const get = (url: string, who?: string, headers: Record<string, string> = {}) =>
    app.inject({ url, headers: { ...headers, ...(who ? { authorization: auth[who] } : {}) } });
  const fileRows = () => t.site.storage.all<{ name: string; file_url: string }>('SELECT "name", "file_url" FROM "tabFile"');
  const listFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    await runAs(t.site, 'Administrator', async (api) => {
      for (const role of ['Librarian', 'Library Member']) await api.insert({ doctype: 'Role', role_name: role });
    });
    await addUser(t.site, { email: 'lib@example.com', roles: ['Librarian'], password: 'lib-password-123' });
    await addUser(t.site, { email: 'other@example.com', roles: ['Librarian'] });
    await addUser(t.site, { email: 'member@example.com', roles: ['Library Member'] });
    await addUser(t.site, { email: 'stranger@example.com', roles: [] });
    await addUser(t.site, { email: 'web@example.com', roles: [], userType: 'Website User' });
    const hashKey = apiSecretHashKey(t.site.config.encryption_key);
    for (const [who, user] of [
      ['admin', 'Administrator'],
      ['lib', 'lib@example.com'],
      ['other', 'other@example.com'],
      ['member', 'member@example.com'],
      ['stranger', 'stranger@example.com'],
      ['web', 'web@example.com'],
    ] as const) {
      const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, user, hashKey));
      auth[who] = `token ${keys.api_key}:${keys.api_secret}`;
    }
    await runAs(t.site, 'lib@example.com', (api) => api.insert({ doctype: 'Article', article_name: 'Dune' }));
    publicDir = join(t.path, 'public', 'files');
    privateDir = join(t.path, 'private', 'files');
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  test('a public upload answers the File document and is served at /files/<name>', async () => {
    const res = await upload('lib', [
      { name: 'file', filename: 'hello.txt', content: 'hello world', type: 'text/plain' },
      { name: 'is_private', value: '0' },
      { name: 'folder', value: 'Home' },
      { name: 'optimize', value: '1' },
    ]);
    assert.equal(res.statusCode, 200, res.body);
    const doc = res.json().message;
    assert.equal(doc.doctype, 'File');
    assert.equal(doc.file_url, '/files/hello.txt');
    assert.equal(doc.file_name, 'hello.txt');
    assert.equal(doc.is_private, 0);
    assert.equal(doc.file_size, 11);
    assert.equal(doc.content_hash, sha256('hello world'));
    assert.equal(doc.folder, 'Home');
    assert.equal(doc.owner, 'lib@example.com');
    assert.match(doc.name, /^[0-9a-f]{10}$/);
    assert.ok(!Object.values(doc).includes(null), 'no null fields (Document → no nulls)');
    assert.equal(readFileSync(join(publicDir, 'hello.txt'), 'utf8'), 'hello world');
    assert.deepEqual(listFiles(publicDir).filter((f) => f.startsWith('.')), [], 'no temp file left behind');

    const served = await get('/files/hello.txt');
    assert.equal(served.statusCode, 200);
    assert.equal(served.body, 'hello world');
    assert.equal(served.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(served.headers['x-content-type-options'], 'nosniff');
    assert.match(String(served.headers['cache-control']), /public, max-age=\d+/);
    assert.equal(served.headers['content-length'], '11');
    assert.ok(served.headers.etag && served.headers['last-modified']);
    assert.equal(served.headers['content-disposition'], undefined);

    const again = await get('/files/hello.txt', undefined, { 'if-none-match': String(served.headers.etag) });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    const head = await app.inject({ method: 'HEAD', url: '/files/hello.txt' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
    const encoded = await upload('lib', [{ name: 'file', filename: 'my report.txt', content: 'spaced' }]);
    assert.equal(encoded.json().message.file_url, '/files/my report.txt');
    assert.equal((await get('/files/my%20report.txt')).body, 'spaced');
    assert.equal((await get('/files/nothing-here.txt')).statusCode, 404);
  });

  test('a clashing name gets a short random suffix; the first file is untouched', async () => {
    const first = await upload('other', [{ name: 'file', filename: 'clash.txt', content: 'one' }]);
    const second = await upload('other', [{ name: 'file', filename: 'clash.txt', content: 'two' }]);
    assert.equal(first.json().message.file_url, '/files/clash.txt');
    const url = second.json().message.file_url as string;
    assert.match(url, /^\/files\/clash-[0-9a-f]{6}\.txt$/);
    assert.equal(second.json().message.file_name, url.slice('/files/'.length));
    assert.equal((await get('/files/clash.txt')).body, 'one');
    assert.equal((await get(url)).body, 'two');
  });

  test('the v2 route and the dotted name answer too; only POST uploads', async () => {
    const v2 = await upload('lib', [{ name: 'file', filename: 'v2.txt', content: 'v2' }], '/api/v2/method/upload_file');
    assert.equal(v2.statusCode, 200, v2.body);
    assert.equal(v2.json().data.file_url, '/files/v2.txt');
    const dotted = await upload('lib', [{ name: 'file', filename: 'dotted.txt', content: 'd' }], '/api/method/frappe.handler.upload_file');
    assert.equal(dotted.json().message.file_url, '/files/dotted.txt');
    const viaGet = await app.inject({ url: '/api/method/upload_file?file_url=https://example.com/x.png', headers: { authorization: auth.lib } });
    assert.equal(viaGet.statusCode, 403);
  });

  describe('private files', () => {
    let url: string;
    before(async () => {
      const res = await upload('lib', [
        { name: 'file', filename: 'secret.txt', content: 'top secret' },
        { name: 'is_private', value: '1' },
      ]);
      assert.equal(res.statusCode, 200, res.body);
      url = res.json().message.file_url;
    });

    test('are stored under private/files and answered as private', async () => {
      assert.equal(url, '/private/files/secret.txt');
      assert.equal(readFileSync(join(privateDir, 'secret.txt'), 'utf8'), 'top secret');
      assert.ok(!existsSync(join(publicDir, 'secret.txt')));
      assert.equal((await get('/files/secret.txt')).statusCode, 404, 'not reachable as a public file');
    });

    test('the owner and System Managers may download; another user and Guest get 403', async () => {
      const own = await get(url, 'lib');
      assert.equal(own.statusCode, 200);
      assert.equal(own.body, 'top secret');
      assert.match(String(own.headers['cache-control']), /no-store/);
      assert.equal(own.headers['x-content-type-options'], 'nosniff');
      assert.equal((await get(url, 'admin')).statusCode, 200);
      for (const who of ['other', 'member', 'stranger', undefined]) {
        const res = await get(url, who);
        assert.equal(res.statusCode, 403, String(who));
        assert.ok(!res.body.includes('top secret'));
      }
      const page = await app.inject({ url, headers: { accept: 'text/html' } });
      assert.equal(page.statusCode, 403);
      assert.match(String(page.headers['content-type']), /text\/html/);
      const missing = await get('/private/files/does-not-exist.txt', 'lib');
      assert.equal(missing.statusCode, 403, 'no File document: refused without saying whether it exists');
    });

    test('a cookie session may download its own private file', async () => {
      const login = await app.inject({ method: 'POST', url: '/api/method/login', payload: { usr: 'lib@example.com', pwd: 'lib-password-123' } });
      assert.equal(login.statusCode, 200, login.body);
      const sid = login.cookies.find((c) => c.name === 'sid')?.value;
      assert.ok(sid);
      const res = await app.inject({ url, cookies: { sid } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, 'top secret');
      const publicFile = await app.inject({ url: '/files/hello.txt', cookies: { sid } });
      assert.equal(publicFile.statusCode, 200);
      assert.equal(publicFile.headers['set-cookie'], undefined, 'a publicly cacheable answer carries no cookies');
    });

    test('another user cannot register a File for someone else’s private file', async () => {
      const viaUpload = await upload('other', [{ name: 'file_url', value: url }]);
      assert.equal(viaUpload.statusCode, 403, viaUpload.body);
      const viaResource = await app.inject({ method: 'POST', url: '/api/resource/File', headers: { authorization: auth.other }, payload: { file_url: url, is_private: 1 } });
      assert.equal(viaResource.statusCode, 403, viaResource.body);
      assert.equal((await get(url, 'other')).statusCode, 403);
      const rows = await fileRows();
      assert.equal(rows.filter((r) => r.file_url === url).length, 1);
    });

    test('file_url and is_private of a File cannot be changed afterwards', async () => {
      const mine = await upload('other', [{ name: 'file', filename: 'mine.txt', content: 'mine' }]);
      const name = mine.json().message.name as string;
      const moved = await app.inject({ method: 'PUT', url: `/api/resource/File/${name}`, headers: { authorization: auth.other }, payload: { file_url: url } });
      assert.equal(moved.statusCode, 417, moved.body);
      assert.equal(moved.json().exc_type, 'CannotChangeConstantError');
      const flipped = await app.inject({ method: 'PUT', url: `/api/resource/File/${name}`, headers: { authorization: auth.other }, payload: { is_private: 1 } });
      assert.equal(flipped.statusCode, 417);
      assert.equal((await get(url, 'other')).statusCode, 403);
    });
  });

  describe('attaching to a document', () => {
    test('sets the Attach field and lets readers of the document download the private file', async () => {
      const res = await upload('lib', [
        { name: 'file', filename: 'cover.png', content: Buffer.from([0x89, 0x50, 0x4e, 0x47]), type: 'image/png' },
        { name: 'is_private', value: '1' },
        { name: 'doctype', value: 'Article' },
        { name: 'docname', value: 'Dune' },
        { name: 'fieldname', value: 'image' },
      ]);
      assert.equal(res.statusCode, 200, res.body);
      const doc = res.json().message;
      assert.equal(doc.attached_to_doctype, 'Article');
      assert.equal(doc.attached_to_name, 'Dune');
      assert.equal(doc.attached_to_field, 'image');
      assert.equal(doc.file_type, 'PNG');
      const article = await runAs(t.site, 'Administrator', (api) => api.getDoc('Article', 'Dune'));
      assert.equal(article.image, doc.file_url);
      const png = await get(doc.file_url, 'member');
      assert.equal(png.statusCode, 200, 'a reader of the Article may download');
      assert.equal(png.headers['content-type'], 'image/png');
      assert.equal((await get(doc.file_url, 'other')).statusCode, 200);
      assert.equal((await get(doc.file_url, 'stranger')).statusCode, 403, 'no read on Article, not the owner');
      assert.equal((await get(doc.file_url)).statusCode, 403);
    });

    test('a missing document, no write permission or a non-Attach field write nothing', async () => {
      const before = { files: listFiles(publicDir).length, rows: (await fileRows()).length };
      const missing = await upload('lib', [
        { name: 'file', filename: 'orphan.txt', content: 'x' },
        { name: 'doctype', value: 'Article' },
        { name: 'docname', value: 'No Such Book' },
      ]);
      assert.equal(missing.statusCode, 404, missing.body);
      const readOnly = await upload('member', [
        { name: 'file', filename: 'orphan.txt', content: 'x' },
        { name: 'doctype', value: 'Article' },
        { name: 'docname', value: 'Dune' },
        { name: 'fieldname', value: 'attachment' },
      ]);
      assert.equal(readOnly.statusCode, 403, readOnly.body);
      const hidden = await upload('stranger', [
        { name: 'file', filename: 'orphan.txt', content: 'x' },
        { name: 'doctype', value: 'Article' },
        { name: 'docname', value: 'Dune' },
      ]);
      assert.equal(hidden.statusCode, 403);
      const notAttach = await upload('lib', [
        { name: 'file', filename: 'orphan.txt', content: 'x' },
        { name: 'doctype', value: 'Article' },
        { name: 'docname', value: 'Dune' },
        { name: 'fieldname', value: 'author' },
      ]);
      assert.equal(notAttach.statusCode, 417, notAttach.body);
      assert.equal(listFiles(publicDir).length, before.files);
      assert.equal((await fileRows()).length, before.rows);
      assert.ok(!existsSync(join(publicDir, 'orphan.txt')));
    });

    test('a failing File insert removes the file it wrote', async () => {
      const before = listFiles(publicDir).length;
      const res = await upload('lib', [
        { name: 'file', filename: 'too-long-folder.txt', content: 'x' },
        { name: 'folder', value: 'f'.repeat(300) },
      ]);
      assert.equal(res.statusCode, 417, res.body);
      assert.equal(res.json().exc_type, 'CharacterLengthExceededError');
      assert.equal(listFiles(publicDir).length, before);
      assert.ok(!existsSync(join(publicDir, 'too-long-folder.txt')));
    });
  });

  describe('file_url instead of a file', () => {
    test('an external URL is stored as is', async () => {
      const res = await upload('lib', [{ name: 'file_url', value: 'https://cdn.example.com/img/logo.png?v=2' }]);
      assert.equal(res.statusCode, 200, res.body);
      const doc = res.json().message;
      assert.equal(doc.file_url, 'https://cdn.example.com/img/logo.png?v=2');
      assert.equal(doc.file_name, 'logo.png');
      assert.equal(doc.is_private, 0);
      const json = await app.inject({ method: 'POST', url: '/api/method/upload_file', headers: { authorization: auth.lib }, payload: { file_url: 'http://example.org/a.pdf', doctype: 'Article', docname: 'Dune', fieldname: 'attachment' } });
      assert.equal(json.statusCode, 200, json.body);
      const article = await runAs(t.site, 'Administrator', (api) => api.getDoc('Article', 'Dune'));
      assert.equal(article.attachment, 'http://example.org/a.pdf');
    });

    test('an existing public file is registered with its size; bad URLs are refused', async () => {
      const res = await upload('other', [{ name: 'file_url', value: '/files/hello.txt' }]);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().message.file_size, 11);
      assert.equal(res.json().message.content_hash, sha256('hello world'));
      for (const bad of ['javascript:alert(1)', 'data:text/html,hi', '/files/../site_config.json', '/files/missing.txt', 'relative/path.png', '//evil.example/x', 'ftp://example.com/x']) {
        const refused = await upload('other', [{ name: 'file_url', value: bad }]);
        assert.equal(refused.statusCode, 417, `${bad}: ${refused.body}`);
      }
      const nothing = await upload('other', [{ name: 'folder', value: 'Home' }]);
      assert.equal(nothing.statusCode, 417);
      const own = await upload('lib', [{ name: 'file_url', value: '/private/files/secret.txt' }]);
      assert.equal(own.statusCode, 200, 'the owner may register their private file again');
      assert.equal(own.json().message.is_private, 1);
    });
  });

  describe('path traversal never reaches a file outside the folder', () => {
    before(() => {
      mkdirSync(publicDir, { recursive: true });
      symlinkSync(join(t.path, 'site_config.json'), join(publicDir, 'linked-config.json'));
      symlinkSync(join(privateDir, 'secret.txt'), join(publicDir, 'linked-secret.txt'));
      symlinkSync(t.path, join(publicDir, 'sitedir'));
      writeFileSync(join(publicDir, '.hidden'), 'hidden');
    });

    test('encoded dots, backslashes, absolute paths, NULs and symlinks are 404/403', async () => {
      const config = readFileSync(join(t.path, 'site_config.json'), 'utf8');
      const urls = [
        '/files/../site_config.json',
        '/files/%2e%2e/site_config.json',
        '/files/%2E%2E/%2E%2E/site_config.json',
        '/files/..%2fsite_config.json',
        '/files/..%2F..%2Fsite_config.json',
        '/files/%2e%2e%2f%2e%2e%2fsite_config.json',
        '/files/..%5csite_config.json',
        '/files/..\\site_config.json',
        '/files/%252e%252e/site_config.json',
        '/files//etc/passwd',
        '/files/%2fetc%2fpasswd',
        '/files/sitedir/site_config.json',
        '/files/linked-config.json',
        '/files/linked-secret.txt',
        '/files/.hidden',
        '/files/hello.txt%00.png',
        '/files/%00',
        '/files/',
        '/files/%',
        '/private/files/../../site_config.json',
        '/private/files/..%2f..%2fsite_config.json',
        '/private/files/%2e%2e/%2e%2e/site_config.json',
        '/private/files/..%5c..%5csite_config.json',
      ];
      for (const url of urls) {
        for (const who of [undefined, 'admin']) {
          const res = await get(url, who);
          assert.ok([400, 403, 404].includes(res.statusCode), `${url} as ${String(who)}: ${res.statusCode}`);
          assert.ok(!res.body.includes(config.slice(0, 40)) && !res.body.includes('encryption_key'), `${url} leaked the site config`);
          assert.ok(!res.body.includes('top secret') && !res.body.includes('hidden'), `${url} leaked a file`);
        }
      }
    });
  });

  test('hostile file names are sanitised; HTML and SVG are served as sandboxed downloads', async () => {
    const html = await upload('lib', [{ name: 'file', filename: '<img src=x onerror=alert(1)>.html', content: '<script>alert(document.cookie)</script>', type: 'text/html' }]);
    assert.equal(html.statusCode, 200, html.body);
    const htmlDoc = html.json().message;
    assert.ok(!/[<>/\\]/.test(htmlDoc.file_name), htmlDoc.file_name);
    const servedHtml = await get(encodeURI(htmlDoc.file_url));
    assert.equal(servedHtml.statusCode, 200);
    assert.match(String(servedHtml.headers['content-disposition']), /^attachment;/);
    assert.match(String(servedHtml.headers['content-security-policy']), /sandbox/);
    assert.equal(servedHtml.headers['x-content-type-options'], 'nosniff');

    const svg = await upload('lib', [{ name: 'file', filename: 'logo.svg', content: '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', type: 'image/svg+xml' }]);
    const servedSvg = await get(svg.json().message.file_url);
    assert.match(String(servedSvg.headers['content-disposition']), /^attachment; filename="logo.svg"/);
    assert.match(String(servedSvg.headers['content-security-policy']), /sandbox/);

    const script = await upload('lib', [{ name: 'file', filename: 'evil.js', content: 'alert(1)' }]);
    assert.equal((await get(script.json().message.file_url)).headers['content-type'], 'text/plain; charset=utf-8', 'never served as a script');

    for (const [filename, expected] of [
      ['..', /^[0-9a-f]{12}$/],
      ['%2e%2e%2fescape.txt', /^_2e_2e_2fescape\.txt$/],
      ['a\u202Etxt.exe', /^atxt\.exe$/],
      [`${'n'.repeat(400)}.txt`, /^n{136}\.txt$/],
    ] as const) {
      const res = await upload('lib', [{ name: 'file', filename, content: 'x' }]);
      assert.equal(res.statusCode, 200, `${filename}: ${res.body}`);
      assert.match(res.json().message.file_name, expected);
      assert.ok(existsSync(join(publicDir, res.json().message.file_name)));
    }
    for (const entry of listFiles(join(t.path, 'public'))) assert.ok(['files'].includes(entry), `nothing written outside public/files: ${entry}`);
  });

  test('Guests are refused unless System Settings allow guest uploads (then only safe types)', async () => {
    const refused = await upload(undefined, [{ name: 'file', filename: 'guest.png', content: 'png' }]);
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal(refused.json().exc_type, 'PermissionError');
    assert.ok(!existsSync(join(publicDir, 'guest.png')));
    await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'System Settings', name: 'System Settings', allow_guests_to_upload_files: 1 }));
    try {
      const allowed = await upload(undefined, [{ name: 'file', filename: 'guest.png', content: 'png' }]);
      assert.equal(allowed.statusCode, 200, allowed.body);
      assert.equal(allowed.json().message.owner, 'Guest');
      const html = await upload(undefined, [{ name: 'file', filename: 'guest.html', content: '<b>x</b>' }]);
      assert.equal(html.statusCode, 417);
      assert.match(serverMessage(html.json()), /You can only upload/);
      const privateUrl = await upload(undefined, [{ name: 'file_url', value: '/private/files/secret.txt' }]);
      assert.equal(privateUrl.statusCode, 403);
    } finally {
      await runAs(t.site, 'Administrator', (api) => api.save({ doctype: 'System Settings', name: 'System Settings', allow_guests_to_upload_files: 0 }));
    }
    const web = await upload('web', [{ name: 'file', filename: 'page.html', content: '<b>x</b>' }]);
    assert.equal(web.statusCode, 417, 'website users are limited to the safe types too');
    const webPdf = await upload('web', [{ name: 'file', filename: 'cv.pdf', content: '%PDF-1.4' }]);
    assert.equal(webPdf.statusCode, 200, webPdf.body);
  });

  test('malformed multipart bodies are 400 ValidationError: no boundary, a boundary too long, a body cut off in a part (found by fuzzing)', async () => {
    const before = listFiles(publicDir);
    const post = (contentType: string, payload: Buffer | string) =>
      Promise.race([
        app.inject({ method: 'POST', url: '/api/method/upload_file', payload, headers: { 'content-type': contentType, authorization: auth.admin } }),
        new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('no answer: the request hangs')), 5000).unref()),
      ]);
    // Was a 500: the parser throws a plain error for a form-data type without a usable boundary.
    for (const type of ['multipart/form-data', 'multipart/form-data; boundary=', `multipart/form-data; boundary=${'b'.repeat(300)}`, 'multipart/form-data; charset=utf-8']) {
      const res = await post(type, '--b\r\n\r\n--b--\r\n');
      assert.equal(res.statusCode, 400, `${type}: ${res.body}`);
      assert.equal(res.json().exc_type, 'ValidationError');
    }
    const ok = multipart([{ name: 'file', filename: 'quoted.txt', content: 'q' }]);
    const boundary = String(ok.headers['content-type']).split('boundary=')[1];
    const quoted = await post(`multipart/form-data; boundary="${boundary}"`, ok.payload);
    assert.equal(quoted.statusCode, 200, `a quoted boundary is fine: ${quoted.body}`);
    // A body that ends inside a file part: the `file` part was a 500, any other file part hung.
    for (const name of ['file', 'attachment']) {
      const body = multipart([{ name, filename: 'cut.txt', content: 'some content' }]);
      const cut = body.payload.subarray(0, body.payload.indexOf('some content') + 4);
      const res = await post(String(body.headers['content-type']), cut);
      assert.ok(res.statusCode === 400 || res.statusCode === 417, `${name}: ${res.statusCode} ${res.body}`);
      assert.equal(res.json().exc_type, 'ValidationError');
    }
    assert.deepEqual(listFiles(publicDir).filter((f) => f !== 'quoted.txt'), before, 'nothing written');
  });
});

forEachDatabase('File size limit', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  let adminAuth: string;

  before(async () => {
    t = await createTestSite({ db, config: { max_file_size: 4096 } });
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', apiSecretHashKey(t.site.config.encryption_key)));
    adminAuth = `token ${keys.api_key}:${keys.api_secret}`;
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  const state = async () => ({
    public: existsSync(join(t.path, 'public', 'files')) ? readdirSync(join(t.path, 'public', 'files')) : [],
    private: existsSync(join(t.path, 'private', 'files')) ? readdirSync(join(t.path, 'private', 'files')) : [],
    rows: (await t.site.storage.all('SELECT "name" FROM "tabFile"')).length,
  });

  test('a body larger than max_file_size is 413 RequestEntityTooLarge and leaves nothing behind', async () => {
    const small = multipart([{ name: 'file', filename: 'small.bin', content: Buffer.alloc(1000, 1) }]);
    const ok = await app.inject({ method: 'POST', url: '/api/method/upload_file', payload: small.payload, headers: { ...small.headers, authorization: adminAuth } });
    assert.equal(ok.statusCode, 200, ok.body);
    const before = await state();

    for (const isPrivate of ['0', '1']) {
      const big = multipart([
        { name: 'is_private', value: isPrivate },
        { name: 'file', filename: 'big.bin', content: Buffer.alloc(10_000, 2) },
      ]);
      const declared = await app.inject({ method: 'POST', url: '/api/method/upload_file', payload: big.payload, headers: { ...big.headers, authorization: adminAuth } });
      assert.equal(declared.statusCode, 413);
      assert.equal(declared.json().exc_type, 'RequestEntityTooLarge');
      // Without a Content-Length the parser's own limit stops the stream.
      const streamed = await app.inject({
        method: 'POST',
        url: '/api/method/upload_file',
        payload: Readable.from([big.payload.subarray(0, 3000), big.payload.subarray(3000)]),
        headers: { ...big.headers, authorization: adminAuth, 'transfer-encoding': 'chunked' },
      });
      assert.equal(streamed.statusCode, 413, streamed.body);
      assert.equal(streamed.json().exc_type, 'RequestEntityTooLarge');
    }
    assert.deepEqual(await state(), before, 'no file, no temp file, no File row');
    const v2 = multipart([{ name: 'file', filename: 'big.bin', content: Buffer.alloc(10_000, 2) }]);
    const v2res = await app.inject({ method: 'POST', url: '/api/v2/method/upload_file', payload: v2.payload, headers: { ...v2.headers, authorization: adminAuth } });
    assert.equal(v2res.statusCode, 413);
    assert.equal(v2res.json().errors[0].type, 'RequestEntityTooLarge');
  });
});
