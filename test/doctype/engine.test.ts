/** The DocType engine end to end on a real site (SQLite, and PostgreSQL when configured). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addUser } from '../../src/app/user-admin.ts';
import type { Site } from '../../src/app/site.ts';
import type { DbApi } from '../../src/doctype/db-api.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../helpers/test-site.ts';
import { rejectsWith, runAs } from '../helpers/run-as.ts';

const LIBRARY_APP = fileURLToPath(new URL('../fixtures/library-app', import.meta.url));
const ADMIN = 'Administrator';
const LIBRARIAN = 'librarian@example.com';
const MEMBER = 'member@example.com';
const CONTRIBUTOR = 'contributor@example.com';
const CONTRIBUTOR2 = 'contributor2@example.com';

async function seedUsers(site: Site): Promise<void> {
  await runAs(site, ADMIN, async (db) => {
    for (const role of ['Librarian', 'Library Member', 'Contributor']) await db.insert({ doctype: 'Role', role_name: role });
  });
  await addUser(site, { email: LIBRARIAN, roles: ['Librarian'] });
  await addUser(site, { email: MEMBER, roles: ['Library Member'], userType: 'Website User' });
  await addUser(site, { email: CONTRIBUTOR, roles: ['Contributor'] });
  await addUser(site, { email: CONTRIBUTOR2, roles: ['Contributor'] });
}

forEachDatabase('DocType engine', (dbKind) => {
  let t: TestSite;
  let site: Site;
  const admin = <T>(fn: (db: DbApi) => Promise<T>) => runAs(site, ADMIN, fn);

  before(async () => {
    t = await createTestSite({ db: dbKind, apps: [LIBRARY_APP] });
    site = t.site;
    await seedUsers(site);
  });
  after(async () => t.cleanup());

  test('every field type round-trips through insert, get and list', async () => {
    const input = {
      doctype: 'Article',
      article_name: '  Round Trip  ',
      author: 'Ada "Quotes" O\'Neil ✓',
      status: 'Issued',
      pages: '321',
      price: 12.5,
      rating: 0.8,
      discount: '7.5',
      weight: 1.25,
      is_reference: true,
      published_on: '2024-02-29',
      catalogued_at: '2024-03-01T10:20:30Z',
      reading_time: '01:30:00',
      summary: 'short',
      description: '<p>rich</p>',
      notes: 'line1\nline2',
      full_text: 'x'.repeat(5000),
      snippet: '{"a": 1}',
      metadata: { tags: ['a', 'b'], n: 1 },
      image: '/files/cover.png',
      attachment: '/private/files/scan.pdf',
      shelf_code: 'A-1',
      added_by: ADMIN,
      reference_doctype: 'ToDo',
      vendor_password: 'vendor-secret',
      tags: [{ quantity: 1, note: 'first' }],
    };
    const created = await admin((db) => db.insert(input));
    assert.equal(created.name, 'Round Trip', 'validate hook trimmed the title, field:article_name named it');
    const expected = {
      article_name: 'Round Trip',
      author: input.author,
      status: 'Issued',
      pages: 321,
      price: 12.5,
      rating: 0.8,
      discount: 7.5,
      weight: 1.25,
      is_reference: 1,
      published_on: '2024-02-29',
      catalogued_at: '2024-03-01 10:20:30',
      reading_time: '01:30:00',
      summary: 'short',
      description: '<p>rich</p>',
      notes: 'line1\nline2',
      full_text: input.full_text,
      snippet: '{"a": 1}',
      metadata: { tags: ['a', 'b'], n: 1 },
      image: '/files/cover.png',
      attachment: '/private/files/scan.pdf',
      shelf_code: 'A-1',
      added_by: ADMIN,
      reference_doctype: 'ToDo',
    };
    const fetched = await admin((db) => db.getDoc('Article', 'Round Trip'));
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(fetched[key], value, `get: ${key}`);
    assert.equal(fetched.doctype, 'Article');
    assert.equal(fetched.docstatus, 0);
    assert.equal(fetched.owner, ADMIN);
    assert.match(String(fetched.creation), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    assert.notEqual(fetched.vendor_password, 'vendor-secret', 'Password fields are masked');
    assert.match(String(fetched.vendor_password), /^\*+$/);
    const tags = fetched.tags as Record<string, unknown>[];
    assert.equal(tags.length, 1);
    assert.equal(tags[0]?.quantity, 1);
    assert.equal(tags[0]?.parent, 'Round Trip');
    assert.equal(tags[0]?.parentfield, 'tags');
    assert.equal(tags[0]?.parenttype, 'Article');
    assert.equal(tags[0]?.idx, 1);
    const [listed] = (await admin((db) =>
      db.getList('Article', { fields: ['*'], filters: { name: 'Round Trip' } }),
    )) as Record<string, unknown>[];
    assert.ok(listed);
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(listed[key], value, `list: ${key}`);
  });

  test('list rows: columns in field order, an alias `__proto__` is a column, and as_dict=false gives the same values', async () => {
    const inserted = await admin((db) => db.insert({ doctype: 'Article', article_name: 'Aliased' }));
    const args = { fields: ['article_name', 'name as __proto__', 'article_name as t2'], filters: { article_name: 'Aliased' } };
    const [row] = (await admin((db) => db.getList('Article', args))) as Record<string, unknown>[];
    assert.ok(row);
    assert.equal(Object.getPrototypeOf(row), Object.prototype);
    assert.deepEqual(Object.keys(row), ['article_name', '__proto__', 't2']);
    assert.equal(Object.getOwnPropertyDescriptor(row, '__proto__')?.value, inserted.name);
    const [values] = (await admin((db) => db.getList('Article', { ...args, as_dict: false }))) as unknown[][];
    assert.deepEqual(values, ['Aliased', inserted.name, 'Aliased']);
  });

  test('Password values never reach the DocType table; __Auth holds them encrypted', async () => {
    const row = await site.storage.get<{ vendor_password: string }>('SELECT "vendor_password" FROM "tabArticle" WHERE "name" = ?', ['Round Trip']);
    assert.match(String(row?.vendor_password), /^\*+$/);
    const auth = await site.storage.all<{ password: string; encrypted: number }>('SELECT "password", "encrypted" FROM "__Auth" WHERE "doctype" = ?', ['Article']);
    assert.equal(auth.length, 1);
    assert.equal(Number(auth[0]?.encrypted), 1);
    assert.ok(!auth[0]?.password.includes('vendor-secret'));
    const { getDecryptedField } = await import('../../src/doctype/document/password-fields.ts');
    assert.equal(await getDecryptedField(site.storage, site.cipher, 'Article', 'Round Trip', 'vendor_password'), 'vendor-secret');
    const users = await site.storage.all<{ password: string }>('SELECT "password" FROM "__Auth" WHERE "doctype" = ? AND "fieldname" = ?', ['User', 'password']);
    assert.ok(users.every((u) => u.password.startsWith('$argon2id$')), 'login passwords are argon2id hashes');
  });

  test('validation errors carry Frappe exc_type and status', async () => {
    await rejectsWith(admin((db) => db.insert({ doctype: 'Library Member', last_name: 'x' })), 'MandatoryError', 417, /First Name/);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Round Trip' })), 'DuplicateEntryError', 409);
    await admin((db) => db.insert({ doctype: 'Library Member', first_name: 'A', email_address: 'a@example.com' }));
    await rejectsWith(admin((db) => db.insert({ doctype: 'Library Member', first_name: 'B', email_address: 'a@example.com' })), 'DuplicateEntryError', 409);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Bad Select', status: 'Lost' })), 'ValidationError', 417, /Status/);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Bad Link', added_by: 'nobody@example.com' })), 'LinkValidationError', 417);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Bad Dyn', reference_doctype: 'ToDo', reference_name: 'missing' })), 'LinkValidationError', 417);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Bad Int', pages: 'many' })), 'ValidationError', 417);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Bad Float', weight: 'heavy' })), 'ValidationError', 417);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Bad Date', published_on: '2023-02-30' })), 'ValidationError', 417);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'Bad Datetime', catalogued_at: 'yesterday-ish' })), 'ValidationError', 417);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'forbidden' })), 'ValidationError', 417, /not allowed/);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Article', article_name: 'x'.repeat(200) })), 'CharacterLengthExceededError', 417);
    const doc = await admin((db) => db.getDoc('Article', 'Round Trip'));
    await admin((db) => db.save({ doctype: 'Article', name: 'Round Trip', modified: doc.modified, author: 'Changed' }));
    await rejectsWith(
      admin((db) => db.save({ doctype: 'Article', name: 'Round Trip', modified: doc.modified, author: 'Stale' })),
      'TimestampMismatchError',
      417,
    );
    assert.equal((await admin((db) => db.getDoc('Article', 'Round Trip'))).author, 'Changed', 'a refused save changes nothing');
    await rejectsWith(admin((db) => db.getDoc('Article', 'No Such Article')), 'DoesNotExistError', 404);
  });

  test('a value nested deeper than the stack is refused as a ValidationError, not a crash (found by fuzzing)', async () => {
    const todo = await admin((db) => db.insert({ doctype: 'ToDo', description: 'deep' }));
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = { description: deep };
    // Comparing the new values with the stored ones used JSON.stringify, which overflowed (a 500).
    await rejectsWith(admin((db) => db.save({ doctype: 'ToDo', name: todo.name, description: deep })), 'ValidationError', 417, /Description/);
    assert.equal((await admin((db) => db.getDoc('ToDo', String(todo.name)))).description, 'deep');
  });

  test('naming rules: series, field, format, hash, autoincrement', async () => {
    const first = await admin((db) => db.insert({ doctype: 'Library Member', first_name: 'S1' }));
    const second = await admin((db) => db.insert({ doctype: 'Library Member', first_name: 'S2' }));
    assert.match(String(first.name), /^LIB-MEM-\d{5}$/);
    assert.equal(Number(String(second.name).slice(-5)), Number(String(first.name).slice(-5)) + 1);
    const todo = await admin((db) => db.insert({ doctype: 'ToDo', description: 'hash named' }));
    assert.match(String(todo.name), /^[0-9a-f]{10}$/);
    const loan = await admin((db) => db.insert({ doctype: 'Loan', member: first.name, items: [] }));
    assert.equal(loan.name, `LOAN-${new Date().getUTCFullYear()}-0001`);
    const v1 = await admin((db) => db.insert({ doctype: 'Visit Log', visitor: 'a' }));
    const v2 = await admin((db) => db.insert({ doctype: 'Visit Log', visitor: 'b' }));
    assert.equal(typeof v1.name, 'number');
    assert.equal(v2.name, Number(v1.name) + 1);
    const note = await admin((db) => db.insert({ doctype: 'Note', title: 'Named by title' }));
    assert.equal(note.name, 'Named by title');
    await rejectsWith(admin((db) => db.insert({ doctype: 'Note', title: 'Named by title' })), 'DuplicateEntryError', 409);
  });

  test('child tables: insert, replace on save, keep row names, delete with parent', async () => {
    const member = await admin((db) => db.insert({ doctype: 'Library Member', first_name: 'Borrower' }));
    await admin((db) => db.insert({ doctype: 'Article', article_name: 'Child A' }));
    await admin((db) => db.insert({ doctype: 'Article', article_name: 'Child B' }));
    const loan = await admin((db) =>
      db.insert({ doctype: 'Loan', member: member.name, items: [{ article: 'Child A', quantity: 1 }, { article: 'Child B', quantity: 2 }] }),
    );
    const items = loan.items as Record<string, unknown>[];
    assert.deepEqual(items.map((i) => [i.article, i.quantity, i.idx]), [['Child A', 1, 1], ['Child B', 2, 2]]);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Loan', member: member.name, items: [{ article: 'Child A' }] })), 'MandatoryError', 417, /Quantity/);
    await rejectsWith(admin((db) => db.insert({ doctype: 'Loan', member: member.name, items: [{ article: 'Nope', quantity: 1 }] })), 'LinkValidationError', 417);
    const keep = items[1];
    const saved = await admin((db) => db.save({ doctype: 'Loan', name: loan.name, items: [{ ...keep, quantity: 5 }, { article: 'Child A', quantity: 3 }] }));
    const savedItems = saved.items as Record<string, unknown>[];
    assert.equal(savedItems.length, 2);
    assert.equal(savedItems[0]?.name, keep?.name, 'an existing row keeps its name');
    assert.equal(savedItems[0]?.quantity, 5);
    assert.equal(savedItems[0]?.idx, 1);
    const untouched = await admin((db) => db.save({ doctype: 'Loan', name: loan.name, remarks: 'no table sent' }));
    assert.equal((untouched.items as unknown[]).length, 2, 'a save without the table keeps its rows');
    const childList = await admin((db) => db.getList('Loan Item', { fields: ['article', 'quantity'], parent: 'Loan', filters: { parent: loan.name } }));
    assert.equal(childList.length, 2);
    await admin((db) => db.delete('Loan', loan.name));
    const left = await site.storage.all('SELECT "name" FROM "tabLoan Item" WHERE "parent" = ?', [String(loan.name)]);
    assert.equal(left.length, 0);
  });

  test('singles keep their values in tabSingles', async () => {
    const settings = await admin((db) => db.getDoc('System Settings', 'System Settings'));
    assert.equal(settings.session_expiry, '170:00');
    assert.equal(settings.allow_consecutive_login_attempts, 10);
    await admin((db) => db.save({ doctype: 'System Settings', name: 'System Settings', allow_consecutive_login_attempts: 3, session_expiry: '06:00' }));
    const saved = await admin((db) => db.getDoc('System Settings', 'System Settings'));
    assert.equal(saved.allow_consecutive_login_attempts, 3);
    assert.equal(saved.session_expiry, '06:00');
    assert.equal(await admin((db) => db.getValue('System Settings', 'System Settings', 'session_expiry')), '06:00');
    await rejectsWith(runAs(site, LIBRARIAN, (db) => db.getDoc('System Settings', 'System Settings')), 'PermissionError', 403);
  });

  test('role permissions: read, write, create, delete per role', async () => {
    await rejectsWith(runAs(site, MEMBER, (db) => db.insert({ doctype: 'Article', article_name: 'By Member' })), 'PermissionError', 403);
    const byLibrarian = await runAs(site, LIBRARIAN, (db) => db.insert({ doctype: 'Article', article_name: 'By Librarian' }));
    assert.equal(byLibrarian.owner, LIBRARIAN);
    const read = await runAs(site, MEMBER, (db) => db.getDoc('Article', 'By Librarian'));
    assert.equal(read.name, 'By Librarian');
    await rejectsWith(runAs(site, MEMBER, (db) => db.save({ doctype: 'Article', name: 'By Librarian', author: 'x' })), 'PermissionError', 403);
    await rejectsWith(runAs(site, MEMBER, (db) => db.delete('Article', 'By Librarian')), 'PermissionError', 403);
    await rejectsWith(runAs(site, MEMBER, (db) => db.getList('Loan')), 'PermissionError', 403);
    await rejectsWith(runAs(site, MEMBER, (db) => db.getDoc('Loan', 'whatever')), 'PermissionError', 403, /Loan/);
    await rejectsWith(runAs(site, 'Guest', (db) => db.getList('ToDo')), 'PermissionError', 403);
  });

  test('if_owner: contributors see and change only their own documents', async () => {
    await runAs(site, CONTRIBUTOR, (db) => db.insert({ doctype: 'Article', article_name: 'Mine' }));
    await runAs(site, CONTRIBUTOR2, (db) => db.insert({ doctype: 'Article', article_name: 'Theirs' }));
    const listed = (await runAs(site, CONTRIBUTOR, (db) => db.getList('Article', { fields: ['name', 'owner'], limit: 0 }))) as Record<string, unknown>[];
    assert.deepEqual(listed.map((r) => r.name), ['Mine']);
    assert.equal(await runAs(site, CONTRIBUTOR, (db) => db.getCount('Article')), 1);
    await rejectsWith(runAs(site, CONTRIBUTOR, (db) => db.getDoc('Article', 'Theirs')), 'PermissionError', 403);
    await rejectsWith(runAs(site, CONTRIBUTOR, (db) => db.save({ doctype: 'Article', name: 'Theirs', author: 'me' })), 'PermissionError', 403);
    await rejectsWith(runAs(site, CONTRIBUTOR, (db) => db.delete('Article', 'Theirs')), 'PermissionError', 403);
    await runAs(site, CONTRIBUTOR, (db) => db.save({ doctype: 'Article', name: 'Mine', author: 'me' }));
    await runAs(site, CONTRIBUTOR, (db) => db.delete('Article', 'Mine'));
  });

  test('permlevel: higher-level fields are hidden on read and kept on write', async () => {
    await admin((db) => db.insert({ doctype: 'Article', article_name: 'Costly', internal_cost: 99 }));
    const byLibrarian = await runAs(site, LIBRARIAN, (db) => db.getDoc('Article', 'Costly'));
    assert.equal(byLibrarian.internal_cost, 99, 'Librarian has read at level 1');
    const byMember = await runAs(site, MEMBER, (db) => db.getDoc('Article', 'Costly'));
    assert.ok(!('internal_cost' in byMember), 'Member has no level-1 access');
    const listed = (await runAs(site, MEMBER, (db) => db.getList('Article', { fields: ['*'], filters: { name: 'Costly' } }))) as Record<string, unknown>[];
    assert.ok(listed[0] && !('internal_cost' in listed[0]));
    await runAs(site, LIBRARIAN, (db) => db.save({ doctype: 'Article', name: 'Costly', internal_cost: 1, author: 'Z' }));
    const after = await admin((db) => db.getDoc('Article', 'Costly'));
    assert.equal(after.internal_cost, 99, 'write without level-1 write access keeps the stored value');
    assert.equal(after.author, 'Z');
  });

  test('submit, update after submit, cancel and amend', async () => {
    const member = await admin((db) => db.insert({ doctype: 'Library Member', first_name: 'Submitter' }));
    const loan = await admin((db) => db.insert({ doctype: 'Loan', member: member.name, items: [] }));
    await rejectsWith(admin((db) => db.cancel('Loan', loan.name)), 'DocstatusTransitionError', 417);
    const submitted = await admin((db) => db.submit('Loan', loan.name));
    assert.equal(submitted.docstatus, 1);
    await rejectsWith(admin((db) => db.save({ doctype: 'Loan', name: loan.name, member: member.name, loan_date: '2020-01-01' })), 'UpdateAfterSubmitError', 417);
    const remarked = await admin((db) => db.save({ doctype: 'Loan', name: loan.name, remarks: 'allowed on submit' }));
    assert.equal(remarked.remarks, 'allowed on submit');
    await rejectsWith(admin((db) => db.delete('Loan', loan.name)), 'ValidationError', 417, /Cancel/);
    await rejectsWith(admin((db) => db.delete('Library Member', member.name)), 'LinkExistsError', 417, /Loan/);
    await rejectsWith(runAs(site, LIBRARIAN, (db) => db.cancel('Loan', loan.name)), 'PermissionError', 403);
    const cancelled = await admin((db) => db.cancel('Loan', loan.name));
    assert.equal(cancelled.docstatus, 2);
    await rejectsWith(admin((db) => db.save({ doctype: 'Loan', name: loan.name, remarks: 'x' })), 'DocstatusTransitionError', 417);
    const amended = await admin((db) => db.amend('Loan', loan.name));
    assert.equal(amended.name, `${String(loan.name)}-1`);
    assert.equal(amended.amended_from, loan.name);
    assert.equal(amended.docstatus, 0);
  });

  test('delete is refused while other documents link to it', async () => {
    const member = await admin((db) => db.insert({ doctype: 'Library Member', first_name: 'Linked' }));
    await admin((db) => db.insert({ doctype: 'Visit Log', member: member.name }));
    await rejectsWith(admin((db) => db.delete('Library Member', member.name)), 'LinkExistsError', 417, /Visit Log/);
    assert.ok(await admin((db) => db.exists('Library Member', member.name)), 'nothing was deleted');
  });

  test('rename moves the document and the links that point at it', async () => {
    await admin((db) => db.insert({ doctype: 'Article', article_name: 'Old Title' }));
    const member = await admin((db) => db.insert({ doctype: 'Library Member', first_name: 'Renamer' }));
    const loan = await admin((db) => db.insert({ doctype: 'Loan', member: member.name, items: [{ article: 'Old Title', quantity: 1 }] }));
    assert.equal(await admin((db) => db.rename('Article', 'Old Title', 'New Title')), 'New Title');
    const moved = await admin((db) => db.getDoc('Loan', loan.name));
    assert.equal((moved.items as Record<string, unknown>[])[0]?.article, 'New Title');
    await rejectsWith(admin((db) => db.getDoc('Article', 'Old Title')), 'DoesNotExistError', 404);
    await rejectsWith(admin((db) => db.rename('Article', 'New Title', 'Round Trip')), 'DuplicateEntryError', 409);
  });

  test('DocType metadata is readable as the virtual DocType document', async () => {
    const meta = await runAs(site, LIBRARIAN, (db) => db.getDoc('DocType', 'Article'));
    assert.equal(meta.name, 'Article');
    assert.equal(meta.module, 'Library Management');
    assert.ok((meta.fields as { fieldname: string }[]).some((f) => f.fieldname === 'internal_cost'));
  });
});
