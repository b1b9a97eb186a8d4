/**
 * Tables from metadata: `tab<DocType>` with Frappe's standard columns, one column per value
 * field, unique and search indexes. Migration adds tables, columns and indexes, and drops only
 * the indexes of fields whose `unique` or `search_index` was turned off (as Frappe's schema
 * sync does), so a changed DocType never loses rows.
 */
import type { ColumnKind, ColumnSpec, IndexSpec, Storage, TableSpec } from '../storage/types.ts';
import type { MetaRegistry } from './meta/meta-registry.ts';
import type { DocField, DocTypeMeta } from './meta/types.ts';

const INT_TYPES = new Set(['Int', 'Check', 'Duration']);
const FLOAT_TYPES = new Set(['Float', 'Currency', 'Percent', 'Rating']);
const LONG_TEXT_TYPES = new Set([
  'Small Text', 'Text', 'Long Text', 'Text Editor', 'Markdown Editor', 'HTML Editor', 'Code', 'JSON',
  'Geolocation', 'Signature', 'Attach', 'Attach Image',
]);

export function columnKindOf(field: DocField): ColumnKind {
  if (INT_TYPES.has(field.fieldtype)) return 'bigint';
  if (FLOAT_TYPES.has(field.fieldtype)) return 'float';
  if (LONG_TEXT_TYPES.has(field.fieldtype)) return 'text';
  return 'varchar';
}

function fieldColumn(field: DocField): ColumnSpec {
  const kind = columnKindOf(field);
  const column: ColumnSpec = { name: field.fieldname, kind };
  if (kind === 'varchar') column.length = Math.max(field.length || 140, 140);
  // Check columns are never NULL in Frappe; a default keeps ADD COLUMN valid on full tables.
  if (field.fieldtype === 'Check') {
    column.notNull = true;
    column.defaultSql = '0';
  }
  return column;
}

const STANDARD: ColumnSpec[] = [
  { name: 'name', kind: 'varchar', length: 140, primaryKey: true, notNull: true },
  { name: 'owner', kind: 'varchar', length: 140 },
  { name: 'creation', kind: 'varchar', length: 32 },
  { name: 'modified', kind: 'varchar', length: 32 },
  { name: 'modified_by', kind: 'varchar', length: 140 },
  { name: 'docstatus', kind: 'int', notNull: true, defaultSql: '0' },
  { name: 'idx', kind: 'int', notNull: true, defaultSql: '0' },
];
const CHILD: ColumnSpec[] = [
  { name: 'parent', kind: 'varchar', length: 140 },
  { name: 'parentfield', kind: 'varchar', length: 140 },
  { name: 'parenttype', kind: 'varchar', length: 140 },
];

/** The table of a DocType; singles and virtual DocTypes have none. */
export function tableSpecFor(meta: DocTypeMeta): TableSpec | undefined {
  if (meta.issingle || meta.is_virtual) return undefined;
  const columns = [...STANDARD, ...(meta.istable ? CHILD : []), ...meta.valueFields.map(fieldColumn)];
  // Index names are global in PostgreSQL: prefix with the table.
  const indexes: IndexSpec[] = [
    { name: `${meta.tableName}_creation`, columns: ['creation'] },
    { name: `${meta.tableName}_modified`, columns: ['modified'] },
  ];
  if (meta.istable) indexes.push({ name: `${meta.tableName}_parent`, columns: ['parent'] });
  // As Frappe: unique and `search_index` fields only. Every index is one more B-tree page
  // written by each insert (docs/performance.md); a Link is not indexed for being a Link.
  const retiredIndexes: string[] = [];
  for (const field of meta.valueFields) {
    const plain = `${meta.tableName}_${field.fieldname}`;
    const unique = `${plain}_unique`;
    if (field.unique) indexes.push({ name: unique, columns: [field.fieldname], unique: true });
    else if (field.search_index) indexes.push({ name: plain, columns: [field.fieldname] });
    retiredIndexes.push(plain, unique);
  }
  const wanted = new Set(indexes.map((index) => index.name));
  return { name: meta.tableName, columns, indexes, retiredIndexes: retiredIndexes.filter((name) => !wanted.has(name)) };
}

/** Tables cortado keeps besides DocType tables (Frappe has the same three). */
export const SYSTEM_TABLES: TableSpec[] = [
  {
    name: 'tabSingles',
    columns: [
      { name: 'doctype', kind: 'varchar', length: 140, notNull: true },
      { name: 'field', kind: 'varchar', length: 140, notNull: true },
      { name: 'value', kind: 'text' },
    ],
    indexes: [{ name: 'tabSingles_doctype_field', columns: ['doctype', 'field'], unique: true }],
  },
  {
    name: 'tabSeries',
    columns: [
      { name: 'name', kind: 'varchar', length: 140, primaryKey: true, notNull: true },
      { name: 'current', kind: 'bigint', notNull: true, defaultSql: '0' },
    ],
  },
  {
    // Password field values: never in the DocType table. `encrypted` 1 = secret box, 0 = hash.
    name: '__Auth',
    columns: [
      { name: 'doctype', kind: 'varchar', length: 140, notNull: true },
      { name: 'name', kind: 'varchar', length: 140, notNull: true },
      { name: 'fieldname', kind: 'varchar', length: 140, notNull: true },
      { name: 'password', kind: 'text', notNull: true },
      { name: 'encrypted', kind: 'int', notNull: true, defaultSql: '0' },
    ],
    indexes: [{ name: '__Auth_doctype_name_fieldname', columns: ['doctype', 'name', 'fieldname'], unique: true }],
  },
  {
    // Login sessions, keyed by a hash of the sid (the sid itself is never stored).
    name: '__Sessions',
    columns: [
      { name: 'sid_hash', kind: 'varchar', length: 64, primaryKey: true, notNull: true },
      { name: 'user', kind: 'varchar', length: 140, notNull: true },
      { name: 'created', kind: 'varchar', length: 32, notNull: true },
      { name: 'last_active', kind: 'varchar', length: 32, notNull: true },
      { name: 'expires_at', kind: 'varchar', length: 32, notNull: true },
      { name: 'ip', kind: 'varchar', length: 64 },
      { name: 'device', kind: 'varchar', length: 32 },
      { name: 'user_agent', kind: 'text' },
      { name: 'data', kind: 'text' },
    ],
    indexes: [{ name: '__Sessions_user', columns: ['user'] }],
  },
  {
    // OpenID Connect signing keys: the private half encrypted under the site key.
    name: '__OAuthKeys',
    columns: [
      { name: 'kid', kind: 'varchar', length: 64, primaryKey: true, notNull: true },
      { name: 'alg', kind: 'varchar', length: 16, notNull: true },
      { name: 'public_jwk', kind: 'text', notNull: true },
      { name: 'private_jwk', kind: 'text', notNull: true },
      { name: 'created', kind: 'varchar', length: 32, notNull: true },
      { name: 'retired', kind: 'varchar', length: 32 },
    ],
  },
];

export interface MigrateProgress {
  (message: string): void;
}

/** Creates or extends every table of the site; returns the names of tables it touched. */
export async function migrateSchema(storage: Storage, registry: MetaRegistry, progress?: MigrateProgress): Promise<string[]> {
  const specs = [...SYSTEM_TABLES, ...registry.all().flatMap((meta) => tableSpecFor(meta) ?? [])];
  const touched: string[] = [];
  for (const spec of specs) {
    const before = await storage.columns(spec.name);
    const beforeIndexes = new Set(await storage.indexNames(spec.name));
    await storage.ensureTable(spec);
    const added = spec.columns.filter((c) => !before.some((b) => b.name === c.name)).map((c) => c.name);
    const newIndexes = (spec.indexes ?? []).filter((i) => !beforeIndexes.has(i.name));
    const dropped = (spec.retiredIndexes ?? []).filter((name) => beforeIndexes.has(name));
    if (before.length === 0) {
      touched.push(spec.name);
      progress?.(`created ${spec.name}`);
    } else if (added.length > 0 || newIndexes.length > 0 || dropped.length > 0) {
      touched.push(spec.name);
      const changes = [...added.map((c) => `+${c}`), ...newIndexes.map((i) => `+index ${i.name}`), ...dropped.map((name) => `-index ${name}`)];
      progress?.(`updated ${spec.name}: ${changes.join(', ')}`);
    }
  }
  return touched;
}
