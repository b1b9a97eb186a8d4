/**
 * `cortado --site <path> migrate-to-postgres <db_url>` (issue 7, migration path): a populated
 * SQLite site — users with passwords, Frappe API keys, a named key, documents with child rows
 * and a Password field, a login session, an OAuth client with a bearer token, changed System
 * Settings — is moved through the real CLI; afterwards the same credentials and documents work
 * against the PostgreSQL site. A copy that fails half-way leaves the target without rows and
 * the config untouched; a target that already holds cortado data is refused without --force.
 *
 * Needs PostgreSQL (CORTADO_TEST_PG_URL); without it a visibly skipped test says so.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createServer, openServingSite } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { createLogger } from '../../src/core/logger.ts';
import { ADMIN_PASSWORD, createTestSite, PG_URL, type TestSite } from '../helpers/test-site.ts';
import { freshSchema, killAll, runCortado, WHOAMI } from './scale-helpers.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const ALICE_PASSWORD = 'alice-password-9d1c';
const BOB_PASSWORD = 'bob-password-27fa';
const VENDOR_SECRET = 'vendor-secret-5e0b';

interface Injected {
  status: number;
  body: Record<string, unknown>;
  text: string;
  sid: string | undefined;
}

/** A request through Fastify's inject, shaped like the HTTP helpers. */
async function request(
  app: FastifyInstance,
  url: string,
  init: { method?: 'GET' | 'POST' | 'PUT'; sid?: string; auth?: string; json?: unknown; form?: Record<string, string> } = {},
): Promise<Injected> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.sid) headers.cookie = `sid=${init.sid}`;
  if (init.auth) headers.authorization = init.auth;
  let payload: string | undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(init.json);
  } else if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(init.form).toString();
  }
  const res = await app.inject({ method: init.method ?? (payload === undefined ? 'GET' : 'POST'), url, headers, payload });
  let body: Record<string, unknown> = {};
  try {
    body = res.json();
  } catch {
    // not JSON
  }
  const sid = res.cookies.find((c) => c.name === 'sid')?.value;
  return { status: res.statusCode, body, text: res.body, sid: sid && sid !== 'Guest' ? sid : undefined };
}

async function login(app: FastifyInstance, usr: string, pwd: string): Promise<string> {
  const res = await request(app, '/api/method/login', { json: { usr, pwd } });
  assert.equal(res.status, 200, res.text);
  assert.ok(res.sid, 'a sid');
  return res.sid;
}

async function whoami(app: FastifyInstance, init: { sid?: string; auth?: string }): Promise<string | number> {
  const res = await request(app, WHOAMI, init);
  return res.status === 200 ? String(res.body.message) : res.status;
}

/** Row counts of every table of a schema. */
async function rowCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    );
    const counts: Record<string, number> = {};
    for (const { name } of tables.rows) {
      const result = await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM "${name.replaceAll('"', '""')}"`);
      counts[name] = Number(result.rows[0]?.n ?? 0);
    }
    return counts;
  } finally {
    await client.end();
  }
}

/** Row counts of every table of the SQLite file. */
function sqliteCounts(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[];
    return Object.fromEntries(tables.map(({ name }) => [name, (db.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

const oneLine = (text: string) => text.trim().length > 0 && !text.trim().includes('\n') && !text.includes('    at ');

if (!PG_URL) {
  test('migrate-to-postgres [postgres]', { skip: 'CORTADO_TEST_PG_URL is not set: PostgreSQL tests skipped' }, () => {});
} else {
  describe('migrate-to-postgres: an embedded site moves to PostgreSQL without loss', () => {
    let t: TestSite;
    let target: Awaited<ReturnType<typeof freshSchema>>;
    let other: TestSite;
    const drops: (() => Promise<void>)[] = [];
    let configBefore = '';
    // What the SQLite site handed out, to be used again on PostgreSQL.
    let aliceSid = '';
    let aliceToken = '';
    let namedToken = '';
    let bearer = '';
    let client = { id: '', secret: '' };
    let loan: Record<string, unknown> = {};
    let loanName = '';
    let sqliteRows: Record<string, number> = {};

    before(async () => {
      [target, t, other] = await Promise.all([freshSchema(), createTestSite({ db: 'sqlite', apps: [LIBRARY_APP] }), createTestSite({ db: 'sqlite' })]);
      drops.push(target.drop);
      await other.site.close();
      await addUser(t.site, { email: ALICE, password: ALICE_PASSWORD, roles: ['System Manager'] });
      await addUser(t.site, { email: BOB, password: BOB_PASSWORD });
      const app = await createServer(t.site);
      try {
        const adminSid = await login(app, 'Administrator', ADMIN_PASSWORD);
        const keys = await request(app, '/api/method/frappe.core.doctype.user.user.generate_keys', { sid: adminSid, json: { user: ALICE } });
        assert.equal(keys.status, 200, keys.text);
        const aliceDoc = await request(app, `/api/resource/User/${ALICE}`, { sid: adminSid });
        aliceToken = `token ${String((aliceDoc.body.data as { api_key: string }).api_key)}:${String((keys.body.message as { api_secret: string }).api_secret)}`;
        assert.equal(await whoami(app, { auth: aliceToken }), ALICE);

        aliceSid = await login(app, ALICE, ALICE_PASSWORD);
        const named = await request(app, '/api/method/cortado.api_keys.create', { sid: aliceSid, json: { label: 'migration' } });
        assert.equal(named.status, 200, named.text);
        const made = named.body.message as { api_key: string; api_secret: string };
        namedToken = `token ${made.api_key}:${made.api_secret}`;
        assert.equal(await whoami(app, { auth: namedToken }), ALICE);

        // Documents: a member, articles (one with a Password field), a loan with child rows.
        const member = await request(app, '/api/resource/Library Member', { auth: aliceToken, json: { first_name: 'Ada', last_name: 'Lovelace' } });
        assert.equal(member.status, 200, member.text);
        for (const title of ['Dune', 'Emma']) {
          const article = await request(app, '/api/resource/Article', {
            auth: aliceToken,
            json: { article_name: title, author: 'someone', pages: 412, price: 9.5, vendor_password: VENDOR_SECRET },
          });
          assert.equal(article.status, 200, article.text);
        }
        const created = await request(app, '/api/resource/Loan', {
          auth: aliceToken,
          json: {
            member: (member.body.data as { name: string }).name,
            loan_date: '2025-03-01',
            remarks: 'two books',
            items: [
              { article: 'Dune', quantity: 1, note: 'first' },
              { article: 'Emma', quantity: 2, note: 'second' },
            ],
          },
        });
        assert.equal(created.status, 200, created.text);
        loanName = String((created.body.data as { name: string }).name);
        loan = (await request(app, `/api/resource/Loan/${loanName}`, { auth: aliceToken })).body.data as Record<string, unknown>;

        // An OAuth client (secret hashed) and a bearer token it was given.
        const oauthClient = await request(app, '/api/resource/OAuth Client', {
          auth: aliceToken,
          json: { app_name: 'Migrated App', user: ALICE, grant_type: 'Client Credentials', scopes: 'all', redirect_uris: 'https://app.example.com/cb' },
        });
        assert.equal(oauthClient.status, 200, oauthClient.text);
        const doc = oauthClient.body.data as { client_id: string; client_secret: string };
        client = { id: doc.client_id, secret: doc.client_secret };
        bearer = await clientCredentials(app, client);
        assert.equal(await whoami(app, { auth: `Bearer ${bearer}` }), ALICE);

        // System Settings live in tabSingles.
        const settings = await request(app, '/api/resource/System Settings/System Settings', { method: 'PUT', sid: adminSid, json: { allow_consecutive_login_attempts: 7 } });
        assert.equal(settings.status, 200, settings.text);
      } finally {
        await app.close();
        await t.site.close();
      }
      configBefore = readFileSync(join(t.path, 'site_config.json'), 'utf8');
      sqliteRows = sqliteCounts(join(t.path, 'site.sqlite3'));
    });

    after(async () => {
      killAll();
      await other?.cleanup();
      await t?.cleanup();
      for (const drop of drops) await drop();
    });

    async function clientCredentials(app: FastifyInstance, c: { id: string; secret: string }): Promise<string> {
      const res = await app.inject({
        method: 'POST',
        url: '/api/method/frappe.integrations.oauth2.get_token',
        headers: { authorization: `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials',
      });
      assert.equal(res.statusCode, 200, res.body);
      return String((res.json() as { access_token: string }).access_token);
    }

    test('a copy that fails half-way leaves no rows in PostgreSQL and the site as it was', async () => {
      // A value PostgreSQL refuses (longer than varchar(140)) in a table copied late.
      const file = join(t.path, 'site.sqlite3');
      const db = new Database(file);
      db.prepare('INSERT INTO "tabToDo" ("name", "description", "status") VALUES (?, ?, ?)').run('x'.repeat(200), 'too long a name', 'Open');
      db.close();
      try {
        const result = await runCortado(['--site', t.path, 'migrate-to-postgres', target.url]);
        assert.notEqual(result.code, 0, `${result.stdout}\n${result.stderr}`);
        assert.ok(oneLine(result.stderr), `one line on stderr: ${result.stderr}`);
        assert.match(result.stderr, /copying tabToDo failed: .*too long.*rolled back/);
        const counts = await rowCounts(target.url);
        assert.ok(Object.keys(counts).length > 10, 'the schema was made');
        for (const [table, n] of Object.entries(counts)) assert.equal(n, 0, `${table} holds ${n} row(s) after a failed copy`);
        assert.equal(readFileSync(join(t.path, 'site_config.json'), 'utf8'), configBefore, 'site_config.json unchanged');
        assert.ok(!existsSync(join(t.path, 'site_config.json.sqlite-backup')), 'no backup made');
      } finally {
        const fix = new Database(file);
        fix.prepare('DELETE FROM "tabToDo" WHERE "name" = ?').run('x'.repeat(200));
        fix.close();
      }
    });

    test('the CLI copies every table in one go, reports each, switches db_url and keeps a backup and the SQLite file', async () => {
      const result = await runCortado(['--site', t.path, 'migrate-to-postgres', target.url]);
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      for (const table of ['__Auth', '__Sessions', '__OAuthKeys', 'tabSeries', 'tabSingles', 'tabUser', 'tabLoan', 'tabLoan Item']) {
        assert.match(result.stdout, new RegExp(`^ {2}${table}: ${sqliteRows[table]} row\\(s\\)$`, 'm'), `progress for ${table}:\n${result.stdout}`);
      }
      assert.match(result.stdout, /^migrated \d+ table\(s\), \d+ row\(s\) to postgres:/m);
      assert.ok(!result.stdout.includes(ALICE_PASSWORD) && !result.stdout.includes(client.secret), 'no secret printed');

      const config = JSON.parse(readFileSync(join(t.path, 'site_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(config.db_url, target.url);
      assert.equal(readFileSync(join(t.path, 'site_config.json.sqlite-backup'), 'utf8'), configBefore, 'the backup is the old config');
      assert.ok(existsSync(join(t.path, 'site.sqlite3')), 'the SQLite file stays');
      // Every row of every SQLite table is in PostgreSQL.
      const counts = await rowCounts(target.url);
      for (const [table, n] of Object.entries(sqliteRows)) assert.equal(counts[table], n, `rows of ${table}`);
      assert.ok((sqliteRows.__Sessions ?? 0) >= 2 && (sqliteRows.__Auth ?? 0) >= 4 && (sqliteRows.__OAuthKeys ?? 0) >= 0);
    });

    test('on PostgreSQL: the same passwords, API keys, named key, session, bearer token, OAuth client, documents and settings', async () => {
      const site = await openServingSite(t.path, { logger: createLogger({ quiet: true }) });
      assert.equal(site.storage.dialect.name, 'postgres');
      await site.migrate();
      const app = await createServer(site);
      try {
        assert.equal(await whoami(app, { sid: aliceSid }), ALICE, 'the session carried over');
        assert.equal(await whoami(app, { auth: aliceToken }), ALICE, 'the Frappe API key');
        assert.equal(await whoami(app, { auth: namedToken }), ALICE, 'the named key');
        assert.equal(await whoami(app, { auth: `Bearer ${bearer}` }), ALICE, 'the bearer token');
        assert.equal(await whoami(app, { auth: `${aliceToken}x` }), 401, 'a wrong secret is still wrong');
        const bobSid = await login(app, BOB, BOB_PASSWORD);
        assert.equal(await whoami(app, { sid: bobSid }), BOB, 'a password login');
        const wrong = await request(app, '/api/method/login', { json: { usr: BOB, pwd: 'not-it' } });
        assert.equal(wrong.status, 401);
        const adminSid = await login(app, 'Administrator', ADMIN_PASSWORD);

        // The client secret (hashed) and a fresh token.
        const fresh = await clientCredentials(app, client);
        assert.equal(await whoami(app, { auth: `Bearer ${fresh}` }), ALICE);

        // Documents, child rows, an encrypted Password field, the naming series.
        const read = await request(app, `/api/resource/Loan/${loanName}`, { auth: aliceToken });
        assert.equal(read.status, 200, read.text);
        assert.deepEqual(read.body.data, loan);
        const secret = await request(app, '/api/method/frappe.client.get_password', { sid: adminSid, json: { doctype: 'Article', name: 'Dune', fieldname: 'vendor_password' } });
        assert.equal(secret.status, 200, secret.text);
        assert.equal(secret.body.message, VENDOR_SECRET, 'the encrypted value decrypts with the same key');
        const next = await request(app, '/api/resource/Loan', {
          auth: aliceToken,
          json: { member: loan.member, loan_date: '2025-03-02', items: [{ article: 'Emma', quantity: 1 }] },
        });
        assert.equal(next.status, 200, next.text);
        const nextName = String((next.body.data as { name: string }).name);
        assert.notEqual(nextName, loanName);
        assert.equal(nextName.slice(0, -4), loanName.slice(0, -4));
        assert.equal(Number(nextName.slice(-4)), Number(loanName.slice(-4)) + 1, 'the series continues');

        const settings = await request(app, '/api/resource/System Settings/System Settings', { sid: adminSid });
        assert.equal((settings.body.data as { allow_consecutive_login_attempts: number }).allow_consecutive_login_attempts, 7);
      } finally {
        await app.close();
        await site.close();
      }
    });

    test('refusals: a site already on PostgreSQL; a target holding cortado data without --force; --force replaces it', async () => {
      const otherConfig = readFileSync(join(other.path, 'site_config.json'), 'utf8');
      const before = await rowCounts(target.url);
      const [again, refused, bad] = await Promise.all([
        runCortado(['--site', t.path, 'migrate-to-postgres', target.url]),
        runCortado(['--site', other.path, 'migrate-to-postgres', target.url]),
        runCortado(['--site', other.path, 'migrate-to-postgres', 'mysql://localhost/x']),
      ]);
      assert.notEqual(again.code, 0);
      assert.ok(oneLine(again.stderr), again.stderr);
      assert.match(again.stderr, /already uses PostgreSQL/);

      assert.notEqual(refused.code, 0, refused.stdout);
      assert.ok(oneLine(refused.stderr), refused.stderr);
      assert.match(refused.stderr, /already holds cortado data .*--force/);
      assert.equal(refused.stdout, '');
      assert.deepEqual(await rowCounts(target.url), before, 'the target is untouched');
      assert.equal(readFileSync(join(other.path, 'site_config.json'), 'utf8'), otherConfig);

      assert.notEqual(bad.code, 0);
      assert.ok(oneLine(bad.stderr), bad.stderr);
      assert.match(bad.stderr, /db_url/);

      const forced = await runCortado(['--site', other.path, 'migrate-to-postgres', target.url, '--force']);
      assert.equal(forced.code, 0, `${forced.stdout}\n${forced.stderr}`);
      const after = await rowCounts(target.url);
      assert.equal(after.tabUser, 2, 'only the second site\'s Administrator and Guest');
      assert.equal(after.tabLoan ?? 0, 0, 'the first site\'s documents are gone');
    });
  });
}
