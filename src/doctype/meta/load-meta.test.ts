import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FrappeError } from '../../core/errors.ts';
import { loadDocTypeFolder, MetaError, normalizeDocType } from './load-meta.ts';
import { MetaRegistry } from './meta-registry.ts';
import type { DocTypeMeta } from './types.ts';

/** A doctype JSON shaped like Frappe's export, with the noise Frappe writes around it. */
function exported(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    actions: [],
    allow_rename: 1,
    creation: '2024-01-01 00:00:00.000000',
    doctype: 'DocType',
    engine: 'InnoDB',
    field_order: ['title', 'section_break_1', 'status', 'items'],
    index_web_pages_for_search: 1,
    links: [],
    modified: '2024-02-01 00:00:00.000000',
    modified_by: 'Administrator',
    module: 'Library Management',
    name: 'Library Book',
    naming_rule: 'Expression',
    autoname: ' format:BOOK-{####} ',
    owner: 'Administrator',
    is_submittable: 1,
    track_changes: 0,
    sort_field: 'modified',
    sort_order: 'ASC',
    states: [],
    fields: [
      { fieldname: 'title', fieldtype: 'Data', label: 'Title', reqd: 1, in_list_view: 1, unique: 0, bold: 1, permlevel: '1' },
      { fieldname: 'section_break_1', fieldtype: 'Section Break' },
      { fieldname: 'status', fieldtype: 'Select', options: 'Open\nClosed', default: 'Open', read_only: '1', hidden: true },
      { fieldname: 'member', fieldtype: 'Link', options: 'Library Member', length: 200 },
      { fieldname: 'items', fieldtype: 'Table', options: 'Library Book Item' },
      { fieldname: 'column_break_x', fieldtype: 'Column Break' },
      { fieldname: 'tags', fieldtype: 'Table MultiSelect', options: 'Library Book Tag' },
    ],
    permissions: [
      { role: 'Librarian', read: 1, write: 1, create: 1, delete: 0, submit: 1, print: 1, docstatus: 0, doctype: 'DocPerm' },
      { role: 'Library Member', read: 1, if_owner: 1, permlevel: 0 },
    ],
    ...extra,
  };
}

function refuses(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MetaError, `expected MetaError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe('normalizeDocType', () => {
  const meta = normalizeDocType(exported(), 'library');

  it('keeps the DocType-level keys and ignores unknown ones', () => {
    assert.equal(meta.name, 'Library Book');
    assert.equal(meta.module, 'Library Management');
    assert.equal(meta.app, 'library');
    assert.equal(meta.autoname, 'format:BOOK-{####}');
    assert.equal(meta.naming_rule, 'Expression');
    assert.equal(meta.is_submittable, true);
    assert.equal(meta.istable, false);
    assert.equal(meta.issingle, false);
    assert.equal(meta.track_changes, false);
    assert.equal(meta.sort_field, 'modified');
    assert.equal(meta.sort_order, 'ASC');
    assert.equal(meta.allow_rename, true, 'allow_rename is kept: rename checks it');
    for (const key of ['engine', 'actions', 'links', 'field_order', 'owner', 'creation']) {
      assert.ok(!(key in meta), `unknown key ${key} leaked into the meta`);
    }
    assert.ok(!('bold' in (meta.fieldMap.get('title') ?? {})));
    assert.ok(!('docstatus' in (meta.permissions[0] ?? {})));
  });

  it('turns Frappe 0/1 flags (numbers, strings, booleans) into booleans', () => {
    const title = meta.fieldMap.get('title');
    const status = meta.fieldMap.get('status');
    assert.ok(title && status);
    assert.equal(title.reqd, true);
    assert.equal(title.in_list_view, true);
    assert.equal(title.unique, false);
    assert.equal(title.hidden, false);
    assert.equal(title.permlevel, 1);
    assert.equal(status.read_only, true);
    assert.equal(status.hidden, true);
    assert.equal(status.default, 'Open');
    assert.equal(status.options, 'Open\nClosed');
    assert.equal(meta.fieldMap.get('member')?.length, 200);
    const [librarian, member] = meta.permissions;
    assert.ok(librarian && member);
    assert.deepEqual(
      [librarian.read, librarian.write, librarian.create, librarian.delete, librarian.submit, librarian.if_owner, librarian.permlevel],
      [true, true, true, false, true, false, 0],
    );
    assert.equal(member.if_owner, true);
    assert.equal(member.write, false);
  });

  it('defaults a missing fieldtype to Data, a missing label to the fieldname, and module to Custom', () => {
    const m = normalizeDocType({ name: 'Bare', fields: [{ fieldname: 'note' }] }, 'app');
    assert.equal(m.fieldMap.get('note')?.fieldtype, 'Data');
    assert.equal(m.fieldMap.get('note')?.label, 'note');
    assert.equal(m.module, 'Custom');
    assert.equal(m.sort_order, 'DESC');
    assert.deepEqual(m.permissions, []);
  });

  it('leaves layout fields out of valueFields and fieldMap but keeps them in fields', () => {
    assert.deepEqual(
      meta.fields.map((f) => f.fieldname),
      ['title', 'section_break_1', 'status', 'member', 'items', 'column_break_x', 'tags'],
    );
    assert.deepEqual(meta.valueFields.map((f) => f.fieldname), ['title', 'status', 'member']);
    assert.deepEqual(meta.tableFields.map((f) => f.fieldname), ['items', 'tags']);
    assert.deepEqual([...meta.fieldMap.keys()], ['title', 'status', 'member', 'items', 'tags']);
    assert.equal(meta.fieldMap.has('section_break_1'), false);
    assert.equal(meta.tableName, 'tabLibrary Book');
  });

  it('lets layout fields repeat or go unnamed (Frappe only names value fields)', () => {
    const m = normalizeDocType(
      {
        name: 'Layout',
        fields: [
          { fieldtype: 'Section Break' },
          { fieldtype: 'Column Break', fieldname: 'cb' },
          { fieldtype: 'Column Break', fieldname: 'cb' },
          { fieldname: 'x', fieldtype: 'Int' },
        ],
      },
      'app',
    );
    assert.deepEqual(m.valueFields.map((f) => f.fieldname), ['x']);
  });

  it('returns deep-frozen metadata', () => {
    assert.ok(Object.isFrozen(meta));
    assert.ok(Object.isFrozen(meta.fields));
    assert.ok(Object.isFrozen(meta.fields[0]));
    assert.ok(Object.isFrozen(meta.permissions[0]));
    assert.throws(() => {
      (meta.fields as unknown as unknown[]).push({});
    }, TypeError);
  });

  it('refuses an unknown fieldtype, naming the DocType and field', () => {
    refuses(
      () => normalizeDocType({ name: 'Broken', fields: [{ fieldname: 'x', fieldtype: 'Datum' }] }, 'app'),
      /^Broken: field x: unknown fieldtype "Datum"$/,
    );
  });

  it('refuses bad fieldnames', () => {
    for (const fieldname of ['', '1abc', 'has space', 'semi;colon', 'quote"', 'a-b', 'x'.repeat(65)]) {
      refuses(
        () => normalizeDocType({ name: 'Broken', fields: [{ fieldname, fieldtype: 'Data' }] }, 'app'),
        /^Broken: fields\[0\]: invalid fieldname/,
      );
    }
    // 64 characters is still fine.
    assert.ok(normalizeDocType({ name: 'Ok', fields: [{ fieldname: 'x'.repeat(64) }] }, 'app').fieldMap.has('x'.repeat(64)));
  });

  it('refuses a duplicate fieldname', () => {
    refuses(
      () =>
        normalizeDocType(
          { name: 'Broken', fields: [{ fieldname: 'title' }, { fieldname: 'other' }, { fieldname: 'title', fieldtype: 'Int' }] },
          'app',
        ),
      /^Broken: duplicate fieldname "title"$/,
    );
  });

  it('refuses fieldnames that clash with standard and child columns', () => {
    for (const fieldname of ['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx', 'parent', 'parentfield', 'parenttype', 'doctype']) {
      refuses(
        () => normalizeDocType({ name: 'Broken', fields: [{ fieldname, fieldtype: 'Data' }] }, 'app'),
        new RegExp(`^Broken: field "${fieldname}" clashes with a standard column$`),
      );
    }
  });

  it('refuses a Link or Table field without options', () => {
    refuses(
      () => normalizeDocType({ name: 'Broken', fields: [{ fieldname: 'customer', fieldtype: 'Link' }] }, 'app'),
      /^Broken: field "customer" \(Link\) needs options naming a DocType$/,
    );
    refuses(
      () => normalizeDocType({ name: 'Broken', fields: [{ fieldname: 'rows', fieldtype: 'Table', options: '' }] }, 'app'),
      /^Broken: field "rows" \(Table\) needs options naming a DocType$/,
    );
  });

  it('refuses input that is not an object', () => {
    for (const raw of [null, undefined, 'ToDo', 42, [], [{ name: 'ToDo' }]]) {
      refuses(() => normalizeDocType(raw, 'app'), /^doctype definition is not an object$/);
    }
  });

  it('refuses a bad DocType name', () => {
    for (const name of [undefined, '', '1ToDo', 'To"Do', 'To;Do', 'x'.repeat(62), 'To\nDo', ' ToDo']) {
      refuses(() => normalizeDocType({ name, fields: [] }, 'app'), /^invalid DocType name/);
    }
  });

  it('refuses a "doctype" key other than DocType, and fields/permissions that are not lists', () => {
    refuses(() => normalizeDocType({ name: 'Thing', doctype: 'Report' }, 'app'), /^Thing: "doctype" must be "DocType"$/);
    refuses(() => normalizeDocType({ name: 'Thing', fields: {} }, 'app'), /^Thing: fields must be a list$/);
    refuses(() => normalizeDocType({ name: 'Thing', permissions: 'all' }, 'app'), /^Thing: permissions must be a list$/);
    refuses(() => normalizeDocType({ name: 'Thing', fields: ['x'] }, 'app'), /^Thing: fields\[0\] is not an object$/);
    refuses(() => normalizeDocType({ name: 'Thing', permissions: [{ read: 1 }] }, 'app'), /^Thing: permissions\[0\] has no role$/);
  });
});

describe('loadDocTypeFolder', () => {
  const roots: string[] = [];
  after(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  function tree(files: Record<string, string | object>): string {
    const root = mkdtempSync(join(tmpdir(), 'cortado-meta-'));
    roots.push(root);
    for (const [relative, content] of Object.entries(files)) {
      const path = join(root, relative);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 1));
    }
    return root;
  }

  it("reads Frappe's <module>/doctype/<name>/<name>.json layout and ignores other JSON", () => {
    const root = tree({
      'library_management/doctype/article/article.json': { doctype: 'DocType', name: 'Article', fields: [{ fieldname: 'title' }] },
      'library_management/doctype/loan_item/loan_item.json': { doctype: 'DocType', name: 'Loan Item', istable: 1, fields: [] },
      'library_management/doctype/article/article_dashboard.json': { doctype: 'Dashboard Chart', name: 'x' },
      'library_management/report/overdue/overdue.json': { doctype: 'Report', name: 'Overdue', ref_doctype: 'Article' },
      'library_management/fixtures/list.json': [{ doctype: 'DocType', name: 'In A List' }],
      'library_management/doctype/article/article.py': 'not json at all {',
      'library_management/doctype/article/article.js': '{',
      'node_modules/pkg/doctype/x/x.json': { doctype: 'DocType', name: 'Hidden Dep' },
      '.git/doctype/y/y.json': { doctype: 'DocType', name: 'Hidden Git' },
      'modules.txt': 'Library Management',
    });
    const metas = loadDocTypeFolder(root, 'library');
    assert.deepEqual(metas.map((m) => m.name).sort(), ['Article', 'Loan Item']);
    assert.ok(metas.every((m) => m.app === 'library'));
    assert.equal(metas.find((m) => m.name === 'Loan Item')?.istable, true);
  });

  it('loads the test fixture app folder', () => {
    const folder = new URL('../../../test/fixtures/library-app/library', import.meta.url).pathname;
    const metas = loadDocTypeFolder(folder, 'library');
    assert.ok(metas.length >= 5);
    assert.doesNotThrow(() => new MetaRegistry(metas));
  });

  it('names the file when a JSON file is malformed', () => {
    const root = tree({
      'mod/doctype/good/good.json': { doctype: 'DocType', name: 'Good' },
      'mod/doctype/bad/bad.json': '{"doctype": "DocType", "name": ',
    });
    const bad = join(root, 'mod/doctype/bad/bad.json');
    refuses(() => loadDocTypeFolder(root, 'app'), new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid JSON`));
  });

  it('names the file when a DocType definition is invalid', () => {
    const root = tree({ 'mod/doctype/bad/bad.json': { doctype: 'DocType', name: 'Bad', fields: [{ fieldname: 'owner' }] } });
    refuses(() => loadDocTypeFolder(root, 'app'), /mod\/doctype\/bad\/bad\.json: Bad: field "owner" clashes with a standard column$/);
  });
});

describe('MetaRegistry', () => {
  const meta = (raw: Record<string, unknown>, app = 'app'): DocTypeMeta => normalizeDocType(raw, app);
  const member = meta({ name: 'Library Member', fields: [{ fieldname: 'full_name' }] });
  const item = meta({
    name: 'Loan Item',
    istable: 1,
    fields: [{ fieldname: 'article', fieldtype: 'Link', options: 'Article' }],
  });
  const article = meta({ name: 'Article', fields: [{ fieldname: 'title' }] });
  const loan = meta({
    name: 'Loan',
    fields: [
      { fieldname: 'member', fieldtype: 'Link', options: 'Library Member' },
      { fieldname: 'witness', fieldtype: 'Link', options: 'Library Member' },
      // Only Link fields are links: a Select or Dynamic Link whose options name a DocType is not.
      { fieldname: 'kind', fieldtype: 'Select', options: 'Article' },
      { fieldname: 'ref_type', fieldtype: 'Data' },
      { fieldname: 'ref_name', fieldtype: 'Dynamic Link', options: 'ref_type' },
      { fieldname: 'items', fieldtype: 'Table', options: 'Loan Item' },
    ],
  });

  it('finds, gets and lists DocTypes', () => {
    const registry = new MetaRegistry([member, item, article, loan]);
    assert.equal(registry.has('Loan'), true);
    assert.equal(registry.has('loan'), false);
    assert.equal(registry.find('Nope'), undefined);
    assert.equal(registry.get('Loan'), loan);
    assert.deepEqual(registry.all().map((m) => m.name), ['Library Member', 'Loan Item', 'Article', 'Loan']);
  });

  it('answers get() of an unknown DocType with DoesNotExistError', () => {
    const registry = new MetaRegistry([member]);
    assert.throws(
      () => registry.get('Ghost'),
      (error: unknown) => {
        assert.ok(error instanceof FrappeError);
        assert.equal(error.excType, 'DoesNotExistError');
        assert.equal(error.status, 404);
        assert.equal(error.message, 'DocType Ghost not found');
        return true;
      },
    );
  });

  it('refuses a DocType defined by two apps, naming both', () => {
    assert.throws(
      () => new MetaRegistry([meta({ name: 'Article' }, 'library'), meta({ name: 'Article' }, 'shop')]),
      (error: unknown) => error instanceof MetaError && /"Article" is defined by both library and shop/.test(error.message),
    );
  });

  it('refuses a table field naming a missing DocType', () => {
    assert.throws(
      () => new MetaRegistry([member, article, loan]),
      (error: unknown) => error instanceof MetaError && error.message === 'Loan: table field "items" names unknown DocType "Loan Item"',
    );
  });

  it('refuses a table field naming a DocType that is not istable', () => {
    const notChild = meta({ name: 'Loan Item', fields: [] });
    assert.throws(
      () => new MetaRegistry([member, notChild, article, loan]),
      (error: unknown) => error instanceof MetaError && /"Loan Item" of field "items" is not a child table/.test(error.message),
    );
  });

  it('indexes the Link fields pointing at each DocType', () => {
    const registry = new MetaRegistry([member, item, article, loan]);
    assert.deepEqual(registry.linksTo('Library Member'), [
      { doctype: 'Loan', fieldname: 'member', child: false },
      { doctype: 'Loan', fieldname: 'witness', child: false },
    ]);
    assert.deepEqual(registry.linksTo('Article'), [{ doctype: 'Loan Item', fieldname: 'article', child: true }]);
    // Table fields are not links; unknown or unlinked DocTypes have none.
    assert.deepEqual(registry.linksTo('Loan Item'), []);
    assert.deepEqual(registry.linksTo('Loan'), []);
    assert.deepEqual(registry.linksTo('Ghost'), []);
    assert.deepEqual(registry.linksTo('ref_type'), []);
  });
});
