/**
 * Document reads and list pages answered again from the read cache: the text kept beside the
 * cached rows is the one built afresh, for each reader's view of the fields, the permission
 * checks run on every read, and a change shows in the next read (the library fixture app: Lena, a Librarian,
 * reads `internal_cost` at permlevel 1; Max, a Library Member, does not; Mallory, a Contributor,
 * reads only her own Articles).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { generateUserKeys } from '../../src/auth/api-keys.ts';
import { getDocJson, getList, getListJson } from '../../src/doctype/document/read-documents.ts';
import { withoutNulls } from '../../src/doctype/document/without-nulls.ts';
import { loadPrincipal } from '../../src/doctype/users.ts';
import { UnitOfWork } from '../../src/storage/unit-of-work.ts';
import { runAs } from '../helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const USERS = { admin: 'Administrator', lena: 'lena@example.com', max: 'max@example.com', mallory: 'mallory@example.com' } as const;
type Who = keyof typeof USERS;
const COSTLY = 'Costly Book';
const OTHERS = 'Victim Book';
const OWN = 'Mallory Book';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Reads a text twice, a turn apart, and asserts the second read serialised nothing to give it
 * (a list's compiled query serialises its arguments on every call: only the answer counts).
 */
async function assertGivenAgain(readText: () => Promise<string>): Promise<void> {
  const first = await readText();
  await nextTurn();
  const stringify = JSON.stringify;
  let calls = 0;
  JSON.stringify = ((...args: Parameters<typeof stringify>) => {
    const text = stringify(...args);
    if (text === first) calls++;
    return text;
  }) as typeof stringify;
  let second: string;
  try {
    second = await readText();
  } finally {
    JSON.stringify = stringify;
  }
  assert.equal(second, first);
  assert.equal(calls, 0, 'the kept text was given');
}

forEachDatabase('document reads answered again', (db) => {
  let t: TestSite;
  let app: FastifyInstance;
  const auth = {} as Record<Who, string>;

  before(async () => {
    t = await createTestSite({ db, apps: [LIBRARY_APP] });
    await runAs(t.site, 'Administrator', async (api) => {
      for (const role of ['Librarian', 'Library Member', 'Contributor']) await api.insert({ doctype: 'Role', role_name: role });
    });
    await addUser(t.site, { email: USERS.lena, roles: ['Librarian'] });
    await addUser(t.site, { email: USERS.max, roles: ['Library Member'] });
    await addUser(t.site, { email: USERS.mallory, roles: ['Contributor'] });
    await addUser(t.site, { email: 'victim@example.com', roles: ['Contributor'] });
    const hashKey = authServicesFor(t.site).deps.hashKey;
    for (const who of Object.keys(USERS) as Who[]) {
      const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, USERS[who], hashKey));
      auth[who] = `token ${keys.api_key}:${keys.api_secret}`;
    }
    await runAs(t.site, 'Administrator', (api) => api.insert({ doctype: 'Article', article_name: COSTLY, internal_cost: 99, pages: 300, status: 'Available' }));
    await runAs(t.site, 'victim@example.com', (api) => api.insert({ doctype: 'Article', article_name: OTHERS, pages: 10, status: 'Available' }));
    await runAs(t.site, USERS.mallory, (api) => api.insert({ doctype: 'Article', article_name: OWN, pages: 20, status: 'Available' }));
    app = await createServer(t.site);
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  const read = (who: Who, name: string) =>
    app.inject({ method: 'GET', url: `/api/resource/Article/${encodeURIComponent(name)}`, headers: { authorization: auth[who] } });
  /** The answer as built without any kept text: the document API's own read. */
  const built = async (who: Who, name: string) => JSON.stringify({ data: withoutNulls(await runAs(t.site, USERS[who], (api) => api.getDoc('Article', name))) });

  test("each reader gets the answer built for their view of the fields, in any order of readers", async () => {
    const order: Who[] = ['admin', 'admin', 'max', 'lena', 'max', 'admin', 'lena', 'max'];
    for (const who of order) {
      await nextTurn();
      const res = await read(who, COSTLY);
      assert.equal(res.statusCode, 200, `${who}: ${res.body}`);
      assert.equal(res.body, await built(who, COSTLY), `${who}: the answer built afresh`);
      const data = (res.json() as { data: Record<string, unknown> }).data;
      if (who === 'max') assert.equal(data.internal_cost, undefined, 'a permlevel 1 field stays hidden from a Library Member');
      else assert.equal(data.internal_cost, 99, `${who} reads internal_cost`);
    }
  });

  test('the row permission check runs on every read, whoever read the document before', async () => {
    for (let i = 0; i < 2; i++) {
      await nextTurn();
      assert.equal((await read('admin', OTHERS)).statusCode, 200);
      const refused = await read('mallory', OTHERS);
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal((refused.json() as { exc_type: string }).exc_type, 'PermissionError');
      const own = await read('mallory', OWN);
      assert.equal(own.statusCode, 200, own.body);
      assert.equal(own.body, await built('mallory', OWN));
    }
  });

  test('a document read again from the read cache is not serialised again (SQLite)', { skip: db !== 'sqlite' && 'PostgreSQL has no read cache' }, async () => {
    const principal = await loadPrincipal(t.site.storage, USERS.lena);
    assert.ok(principal);
    const readText = () => getDocJson('Article', COSTLY, t.site.documentContext(principal, new UnitOfWork(t.site.storage)));
    await assertGivenAgain(readText);
  });

  const list = (who: Who, query: Record<string, string>) =>
    app.inject({ method: 'GET', url: '/api/resource/Article', query, headers: { authorization: auth[who] } });
  const listBuilt = async (who: Who, args: Parameters<typeof getList>[1], asDict: boolean) => {
    const principal = await loadPrincipal(t.site.storage, USERS[who]);
    assert.ok(principal);
    const result = await getList('Article', args, t.site.documentContext(principal, new UnitOfWork(t.site.storage)));
    return JSON.stringify({ data: asDict ? result.rows : result.values });
  };

  test('each reader gets the list page built for their rows and view of the fields, as dicts or as values', async () => {
    const fields = ['name', 'pages', 'internal_cost'];
    const args = { fields, filters: [['status', '=', 'Available']], order_by: 'name asc', limit: 20 };
    const order: Who[] = ['admin', 'max', 'admin', 'lena', 'mallory', 'max', 'mallory', 'admin'];
    for (const who of order) {
      for (const asDict of [true, false]) {
        await nextTurn();
        const res = await list(who, { fields: JSON.stringify(fields), filters: JSON.stringify(args.filters), order_by: 'name asc', limit_page_length: '20', as_dict: asDict ? '1' : '0' });
        assert.equal(res.statusCode, 200, `${who}: ${res.body}`);
        assert.equal(res.body, await listBuilt(who, args, asDict), `${who}, as_dict ${asDict}: the page built afresh`);
        const names = (res.json() as { data: (Record<string, unknown> | unknown[])[] }).data.map((row) => (Array.isArray(row) ? row[0] : row.name));
        if (who === 'mallory') assert.deepEqual(names, [OWN], 'if_owner: her own Articles only');
        else assert.ok(names.includes(OTHERS) && names.includes(OWN), `${who} lists every Article`);
      }
    }
    const hidden = (await list('max', { fields: JSON.stringify(fields) })).json() as { data: Record<string, unknown>[] };
    assert.ok(hidden.data.every((row) => !('internal_cost' in row)), 'a permlevel 1 field is not listed for a Library Member');
  });

  test('two lists that read the same rows under other column names each get their own names', async () => {
    for (let i = 0; i < 2; i++) {
      await nextTurn();
      for (const field of ['count(name)', 'COUNT(name)', 'Count( name )']) {
        const res = (await list('admin', { fields: JSON.stringify([field]) })).json() as { data: Record<string, unknown>[] };
        assert.deepEqual(Object.keys(res.data[0] ?? {}), [field]);
      }
    }
  });

  test('a list page asked with debug by a System Manager still shows its SQL; anyone else gets the page alone', async () => {
    for (let i = 0; i < 2; i++) {
      await nextTurn();
      const debugged = (await list('admin', { debug: '1' })).json() as { data: unknown[]; _debug_messages?: string };
      assert.ok(debugged.data.length > 0);
      assert.match(String(debugged._debug_messages), /SELECT/);
      const ignored = (await list('max', { debug: '1' })).json() as Record<string, unknown>;
      assert.ok(!('_debug_messages' in ignored), 'debug is ignored for other users');
    }
  });

  test('a list page read again from the read cache is not serialised again (SQLite)', { skip: db !== 'sqlite' && 'PostgreSQL has no read cache' }, async () => {
    const principal = await loadPrincipal(t.site.storage, USERS.lena);
    assert.ok(principal);
    const args = { fields: ['name', 'internal_cost'], filters: [['status', '=', 'Available']], limit: 20 };
    const readText = () => getListJson('Article', args, t.site.documentContext(principal, new UnitOfWork(t.site.storage)), true);
    await assertGivenAgain(readText);
  });

  test('a change shows in the very next read', async () => {
    await read('admin', COSTLY);
    await nextTurn();
    await read('admin', COSTLY);
    const saved = await app.inject({
      method: 'PUT',
      url: `/api/resource/Article/${encodeURIComponent(COSTLY)}`,
      headers: { authorization: auth.admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ pages: 301, author: null }),
    });
    assert.equal(saved.statusCode, 200, saved.body);
    const res = await read('admin', COSTLY);
    assert.equal((res.json() as { data: { pages: number } }).data.pages, 301);
    assert.equal(res.body, await built('admin', COSTLY));
    const listed = (await list('admin', { fields: '["pages"]', filters: JSON.stringify({ name: COSTLY }) })).json() as { data: { pages: number }[] };
    assert.deepEqual(listed.data, [{ pages: 301 }]);
    await t.site.storage.run('UPDATE "tabArticle" SET "pages" = ? WHERE "name" = ?', [302, COSTLY]);
    const again = (await list('admin', { fields: '["pages"]', filters: JSON.stringify({ name: COSTLY }) })).json() as { data: { pages: number }[] };
    assert.deepEqual(again.data, [{ pages: 302 }]);
  });
});
