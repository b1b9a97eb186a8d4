/**
 * Shared fixtures for the list-query tests: a few DocTypes built by hand (the metadata loader is
 * not needed), a context, and helpers that create their tables in SQLite and insert rows.
 * Imported by the other test files; its own tests check the fixtures themselves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHILD_COLUMNS, NO_VALUE_TYPES, STANDARD_COLUMNS, TABLE_TYPES } from '../meta/types.ts';
import type { DocField, DocTypeMeta, FieldType } from '../meta/types.ts';
// The compiled SQL is run on the real SQLite adapter; tests may pick an adapter, the code may not.
 
import { SqliteStorage } from '../../storage/sqlite/sqlite-storage.ts';
import type { ColumnSpec, SqlValue, Storage } from '../../storage/types.ts';
import type { QueryContext } from './build-list-query.ts';

type FieldInput = { fieldname: string; fieldtype: FieldType } & Partial<DocField>;

export function field(input: FieldInput): DocField {
  return {
    label: input.fieldname,
    options: '',
    reqd: false,
    unique: false,
    default: undefined,
    read_only: false,
    hidden: false,
    permlevel: 0,
    length: 140,
    in_list_view: false,
    allow_on_submit: false,
    set_only_once: false,
    search_index: false,
    no_copy: false,
    ...input,
  };
}

export function makeMeta(
  name: string,
  fields: FieldInput[],
  extra: Partial<Pick<DocTypeMeta, 'istable' | 'issingle' | 'is_virtual' | 'sort_field' | 'sort_order'>> = {},
): DocTypeMeta {
  const all = fields.map(field);
  return Object.freeze({
    name,
    module: 'Test',
    app: 'test',
    fields: all,
    permissions: [],
    autoname: 'hash',
    naming_rule: 'Random',
    istable: extra.istable ?? false,
    issingle: extra.issingle ?? false,
    is_submittable: false,
    title_field: '',
    sort_field: extra.sort_field ?? 'modified',
    sort_order: extra.sort_order ?? 'DESC',
    track_changes: false,
    is_virtual: extra.is_virtual ?? false,
    allow_rename: false,
    valueFields: all.filter((f) => !NO_VALUE_TYPES.has(f.fieldtype) && !TABLE_TYPES.has(f.fieldtype)),
    tableFields: all.filter((f) => TABLE_TYPES.has(f.fieldtype)),
    fieldMap: new Map(all.map((f) => [f.fieldname, f])),
    tableName: `tab${name}`,
  });
}

export const Task = makeMeta('Task', [
  { fieldname: 'subject', fieldtype: 'Data' },
  { fieldname: 'status', fieldtype: 'Select', options: 'Open\nClosed' },
  { fieldname: 'priority', fieldtype: 'Select' },
  { fieldname: 'description', fieldtype: 'Small Text' },
  { fieldname: 'sb1', fieldtype: 'Section Break' },
  { fieldname: 'due_date', fieldtype: 'Date' },
  { fieldname: 'reminder_at', fieldtype: 'Datetime' },
  { fieldname: 'start_time', fieldtype: 'Time' },
  { fieldname: 'qty', fieldtype: 'Int' },
  { fieldname: 'amount', fieldtype: 'Currency' },
  { fieldname: 'rating', fieldtype: 'Rating' },
  { fieldname: 'done', fieldtype: 'Check' },
  { fieldname: 'assigned_to', fieldtype: 'Link', options: 'Member' },
  { fieldname: 'secret', fieldtype: 'Data', permlevel: 1 },
  { fieldname: 'items', fieldtype: 'Table', options: 'Task Item' },
]);

export const TaskItem = makeMeta(
  'Task Item',
  [
    { fieldname: 'item_code', fieldtype: 'Data' },
    { fieldname: 'qty', fieldtype: 'Float' },
    { fieldname: 'rate', fieldtype: 'Currency' },
  ],
  { istable: true, sort_field: 'idx', sort_order: 'ASC' },
);

export const Member = makeMeta(
  'Member',
  [
    { fieldname: 'full_name', fieldtype: 'Data' },
    { fieldname: 'email', fieldtype: 'Data' },
    { fieldname: 'age', fieldtype: 'Int' },
    { fieldname: 'salary', fieldtype: 'Currency', permlevel: 2 },
  ],
  { sort_field: 'full_name', sort_order: 'ASC' },
);

/** Two Table fields on one child DocType, a Dynamic Link, a comma-list default order. */
export const Order = makeMeta(
  'Sales Order',
  [
    { fieldname: 'customer', fieldtype: 'Data' },
    { fieldname: 'ref_type', fieldtype: 'Link', options: 'DocType' },
    { fieldname: 'ref_name', fieldtype: 'Dynamic Link', options: 'ref_type' },
    { fieldname: 'lines', fieldtype: 'Table', options: 'Order Line' },
    { fieldname: 'extra_lines', fieldtype: 'Table', options: 'Order Line' },
  ],
  { sort_field: 'idx desc, creation asc' },
);

export const OrderLine = makeMeta(
  'Order Line',
  [
    { fieldname: 'product', fieldtype: 'Data' },
    { fieldname: 'qty', fieldtype: 'Int' },
  ],
  { istable: true },
);

export const Settings = makeMeta('Task Settings', [{ fieldname: 'x', fieldtype: 'Data' }], { issingle: true });

export const ALL_METAS = [Task, TaskItem, Member, Order, OrderLine, Settings];

/** 2024-05-15 10:30 UTC, a Wednesday. */
export const NOW = new Date(Date.UTC(2024, 4, 15, 10, 30, 0));

export function makeContext(storage: { dialect: QueryContext['dialect'] }, extra: Partial<QueryContext> = {}): QueryContext {
  const byName = new Map(ALL_METAS.map((m) => [m.name, m]));
  return {
    dialect: storage.dialect,
    getMeta: (doctype) => byName.get(doctype),
    now: () => NOW,
    ...extra,
  };
}

function columnKind(fieldtype: string): ColumnSpec['kind'] {
  if (['Int', 'Check'].includes(fieldtype)) return 'int';
  if (['Float', 'Currency', 'Percent', 'Rating', 'Duration'].includes(fieldtype)) return 'float';
  if (['Small Text', 'Text', 'Long Text'].includes(fieldtype)) return 'text';
  return 'varchar';
}

export async function createTable(storage: Storage, meta: DocTypeMeta): Promise<void> {
  const columns: ColumnSpec[] = STANDARD_COLUMNS.map((name) => ({
    name,
    kind: name === 'docstatus' || name === 'idx' ? 'int' : 'varchar',
    primaryKey: name === 'name',
  }));
  if (meta.istable) for (const name of CHILD_COLUMNS) columns.push({ name, kind: 'varchar' });
  for (const f of meta.valueFields) columns.push({ name: f.fieldname, kind: columnKind(f.fieldtype) });
  await storage.ensureTable({ name: meta.tableName, columns });
}

export async function insert(storage: Storage, meta: DocTypeMeta, row: Record<string, SqlValue>): Promise<void> {
  const q = storage.dialect.quote;
  const full: Record<string, SqlValue> = {
    owner: 'Administrator',
    creation: '2024-01-01 00:00:00.000000',
    modified: '2024-01-01 00:00:00.000000',
    modified_by: 'Administrator',
    docstatus: 0,
    idx: 0,
    ...row,
  };
  const names = Object.keys(full);
  await storage.run(
    `INSERT INTO ${q(meta.tableName)} (${names.map(q).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
    names.map((n) => full[n] ?? null),
  );
}

/**
 * A populated database:
 *   Task  t1..t6 with NULLs in most columns of t5/t6, child rows on t1/t2, links to m1/m2.
 *   Member m1, m2.  Sales Order so1 with lines in two Table fields.
 */
export async function seed(): Promise<SqliteStorage> {
  const storage = new SqliteStorage({ path: ':memory:' });
  await seedInto(storage);
  return storage;
}

/** Creates the fixture tables in `storage` and inserts the rows described at `seed`. */
export async function seedInto(storage: Storage): Promise<void> {
  for (const meta of ALL_METAS) if (!meta.issingle) await createTable(storage, meta);
  const tasks: Record<string, SqlValue>[] = [
    { name: 't1', subject: 'Write spec', status: 'Open', priority: 'High', due_date: '2024-05-15', reminder_at: '2024-05-15 09:00:00.000000', start_time: '09:00:00', qty: 5, amount: 100.5, rating: 0.8, done: 0, assigned_to: 'm1', secret: 's1', creation: '2024-05-10 08:00:00.000000', modified: '2024-05-14 12:00:00.000000', idx: 1 },
    { name: 't2', subject: 'Review spec', status: 'Closed', priority: 'Low', due_date: '2024-05-14', reminder_at: '2024-05-14 23:59:59.500000', start_time: '14:30:00', qty: 2, amount: 20, rating: 0.4, done: 1, assigned_to: 'm2', secret: 's2', creation: '2024-05-11 08:00:00.000000', modified: '2024-05-15 08:00:00.000000', idx: 2 },
    { name: 't3', subject: '100% done', status: 'Open', priority: 'Low', due_date: '2024-05-20', reminder_at: '2024-05-20 00:00:00.000000', start_time: '18:00:00', qty: 0, amount: 0, rating: 1, done: 1, assigned_to: 'm1', creation: '2024-05-12 08:00:00.000000', modified: '2024-05-13 08:00:00.000000', idx: 3 },
    { name: 't4', subject: 'under_score', status: 'Cancelled', priority: '', due_date: '2024-04-30', reminder_at: '2024-04-30 12:00:00.000000', start_time: '00:00:00', qty: 10, amount: 5.25, done: 0, assigned_to: 'nobody', creation: '2024-04-01 08:00:00.000000', modified: '2024-04-02 08:00:00.000000', idx: 4 },
    { name: 't5', subject: null, status: null, priority: null, due_date: null, reminder_at: null, start_time: null, qty: null, amount: null, rating: null, done: null, assigned_to: null, creation: '2024-05-15 07:00:00.000000', modified: '2024-05-15 07:00:00.000000', idx: 5 },
    { name: 't6', subject: '', status: '', priority: null, due_date: null, qty: 7, amount: 7, done: 0, creation: '2023-12-31 23:00:00.000000', modified: '2023-12-31 23:00:00.000000', idx: 6 },
  ];
  for (const row of tasks) await insert(storage, Task, row);
  const items: Record<string, SqlValue>[] = [
    { name: 'i1', parent: 't1', parenttype: 'Task', parentfield: 'items', idx: 1, item_code: 'A', qty: 1, rate: 10 },
    { name: 'i2', parent: 't1', parenttype: 'Task', parentfield: 'items', idx: 2, item_code: 'B', qty: 2, rate: 20 },
    { name: 'i3', parent: 't2', parenttype: 'Task', parentfield: 'items', idx: 1, item_code: 'A', qty: 3, rate: 30 },
    // A row of the same child DocType under another parent type: never joined.
    { name: 'i4', parent: 't1', parenttype: 'Other', parentfield: 'items', idx: 1, item_code: 'Z', qty: 99, rate: 99 },
  ];
  for (const row of items) await insert(storage, TaskItem, row);
  await insert(storage, Member, { name: 'm1', full_name: 'Ada Lovelace', email: 'ada@example.com', age: 36, salary: 1000 });
  await insert(storage, Member, { name: 'm2', full_name: 'Alan Turing', email: 'alan@example.com', age: 41, salary: 2000 });
  await insert(storage, Order, { name: 'so1', customer: 'ACME', idx: 1 });
  await insert(storage, Order, { name: 'so2', customer: 'Globex', idx: 2 });
  await insert(storage, OrderLine, { name: 'l1', parent: 'so1', parenttype: 'Sales Order', parentfield: 'lines', idx: 1, product: 'P', qty: 1 });
  await insert(storage, OrderLine, { name: 'l2', parent: 'so1', parenttype: 'Sales Order', parentfield: 'extra_lines', idx: 1, product: 'Q', qty: 2 });
}

// Registered only when this file is the test file run, not when another test imports it.
const isMain = process.argv.some((arg) => arg.endsWith('fixtures.test.ts'));

if (isMain) {
  test('fixtures: metadata is consistent', () => {
    assert.deepEqual(Task.tableFields.map((f) => f.fieldname), ['items']);
    assert.ok(!Task.valueFields.some((f) => f.fieldname === 'sb1' || f.fieldname === 'items'));
    assert.equal(Order.tableFields.length, 2);
  });

  test('fixtures: seeded tables hold the rows', async () => {
    const storage = await seed();
    try {
      const rows = await storage.all<{ c: number }>('SELECT count(*) AS c FROM "tabTask"');
      assert.equal(rows[0]?.c, 6);
    } finally {
      await storage.close();
    }
  });
}
