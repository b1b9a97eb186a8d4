/**
 * Reading documents: one document with its child rows, singles, lists, counts and values,
 * with role permissions and field permlevels applied.
 */
import { frappeError } from '../../core/errors.ts';
import type { Row, SqlValue } from '../../storage/types.ts';
import type { DocTypeMeta } from '../meta/types.ts';
import {
  assertDocPermission,
  childPermissionMeta,
  doctypeAccess,
  readableFieldnames,
} from '../permissions.ts';
import type { MetaRegistry } from '../meta/meta-registry.ts';
import type { ListQuery } from '../query/build-list-query.ts';
import { ListQueryCache } from '../query/list-query-cache.ts';
import { defaultValue, fromDatabase } from './field-values.ts';
import { rowToDoc } from './row-to-doc.ts';
import { withoutNulls } from './without-nulls.ts';
import { assertScope, type Doc, type DocumentContext } from './document-context.ts';

function stripUnreadable(meta: DocTypeMeta, doc: Doc, ctx: DocumentContext): Doc {
  if (ctx.ignorePermissions) return doc;
  const readable = readableFieldnames(meta, ctx.principal);
  if (!readable) return doc;
  for (const key of Object.keys(doc)) {
    if (meta.fieldMap.has(key) && !readable.has(key)) delete doc[key];
  }
  return doc;
}

export function notFound(doctype: string, name: unknown): never {
  throw frappeError('DoesNotExistError', `${doctype} ${String(name)} not found`, { title: 'Not Found' });
}

/**
 * Whether `name` could be stored at all: names never hold NUL (naming refuses control
 * characters), and PostgreSQL refuses NUL in any text parameter, so such a name is simply not found.
 */
export function isStorableName(name: unknown): boolean {
  return !String(name).includes('\u0000');
}

/** Throws Frappe's 403 before any existence check when the user cannot read the DocType at all. */
function assertCanReadDoctype(meta: DocTypeMeta, ctx: DocumentContext, ptype: 'read' | 'select' = 'read'): void {
  if (ctx.ignorePermissions) return;
  assertScope(ctx, meta.name, ptype);
  const access = doctypeAccess(meta, ptype, ctx.principal);
  if (!access.all && !access.ownOnly) {
    throw frappeError('PermissionError', `No permission for ${meta.name}`, {
      title: 'Not Permitted',
      errorMessage: `No permission for ${meta.name}`,
    });
  }
}

/**
 * The primary-key read of each DocType, built once: the same string every time lets the
 * statement caches below find it by a hash V8 has already computed.
 */
const rowByName = new WeakMap<DocTypeMeta, string>();

const NO_ROW: Promise<undefined> = Promise.resolve(undefined);
const firstRow = (rows: readonly Row[]): Row | undefined => rows[0];

/**
 * The reads below are built from metadata and parsed arguments only — no clock or randomness
 * in their SQL — so they may be answered from memory where the executor can tell nothing was
 * committed since (`SqlExecutor.allCached`).
 */
function stableRead(ctx: DocumentContext, sql: string, params: readonly SqlValue[]): Promise<readonly Row[]> {
  return ctx.db.allCached ? ctx.db.allCached(sql, params) : ctx.db.all(sql, params);
}

/** Not `async`: the read's own promise is handed on (this runs for every document read). */
export function loadRow(meta: DocTypeMeta, name: unknown, ctx: DocumentContext): Promise<Row | undefined> {
  if (!isStorableName(name)) return NO_ROW;
  let sql = rowByName.get(meta);
  if (sql === undefined) {
    const q = ctx.db.dialect.quote;
    rowByName.set(meta, (sql = `SELECT * FROM ${q(meta.tableName)} WHERE ${q('name')} = ?`));
  }
  return stableRead(ctx, sql, [String(name)]).then(firstRow);
}

export async function loadChildren(meta: DocTypeMeta, parent: string, ctx: DocumentContext): Promise<Record<string, Doc[]>> {
  return childDocs(meta, await loadChildRows(meta, parent, ctx), ctx);
}

/** The stored rows of each table field, in the order of `meta.tableFields`. */
async function loadChildRows(meta: DocTypeMeta, parent: string, ctx: DocumentContext): Promise<(readonly Row[])[]> {
  const q = ctx.db.dialect.quote;
  const tables: (readonly Row[])[] = [];
  for (const field of meta.tableFields) {
    const childMeta = ctx.registry.get(field.options);
    tables.push(
      await stableRead(
        ctx,
        `SELECT * FROM ${q(childMeta.tableName)} WHERE ${q('parent')} = ? AND ${q('parenttype')} = ? AND ${q('parentfield')} = ? ORDER BY ${q('idx')}`,
        [parent, meta.name, field.fieldname],
      ),
    );
  }
  return tables;
}

function childDocs(meta: DocTypeMeta, tables: readonly (readonly Row[])[], ctx: DocumentContext): Record<string, Doc[]> {
  const children: Record<string, Doc[]> = {};
  meta.tableFields.forEach((field, i) => {
    const childMeta = ctx.registry.get(field.options);
    const permissionView = childPermissionMeta(childMeta, meta);
    children[field.fieldname] = (tables[i] ?? []).map((row) => ({ ...stripUnreadable(permissionView, rowToDoc(childMeta, row), ctx), doctype: childMeta.name }));
  });
  return children;
}

/** A whole document as Frappe's `as_dict()`: columns, `doctype`, and child tables. */
export async function getDoc(doctype: string, name: unknown, ctx: DocumentContext): Promise<Doc> {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle) return getSingle(doctype, ctx);
  if (meta.is_virtual) return getVirtual(meta, name, ctx);
  const { row, tables } = await readableRows(meta, name, ctx);
  return docOf(meta, row, tables, ctx);
}

/** A stored document's row and child rows, once the scope, DocType and row permissions allow it. */
async function readableRows(meta: DocTypeMeta, name: unknown, ctx: DocumentContext): Promise<{ row: Row; tables: (readonly Row[])[] }> {
  assertCanReadDoctype(meta, ctx);
  const row = await loadRow(meta, name, ctx);
  if (!row) notFound(meta.name, name);
  if (!ctx.ignorePermissions) assertDocPermission(meta, 'read', row, ctx.principal);
  return { row, tables: meta.tableFields.length > 0 ? await loadChildRows(meta, String(row.name), ctx) : [] };
}

/** The document those rows make, fields the reader may not read left out. */
function docOf(meta: DocTypeMeta, row: Row, tables: readonly (readonly Row[])[], ctx: DocumentContext): Doc {
  const doc = rowToDoc(meta, row);
  if (tables.length > 0) Object.assign(doc, childDocs(meta, tables, ctx));
  doc.doctype = meta.name;
  return stripUnreadable(meta, doc, ctx);
}

/** Texts of a document already answered, kept beside its shared cached row (`allCached`). */
interface AnsweredTexts {
  /** The metadata they were built with (a DocType changed in memory gives new metadata). */
  readonly meta: DocTypeMeta;
  /** Per view of the fields: the metadata when the reader may read every field, else the reader. */
  readonly byView: Map<object, string>;
}

/**
 * A row is replaced on any commit, and its texts go with it; so are its child rows, which are
 * therefore the same as when the texts were built.
 */
const answeredTexts = new WeakMap<Row, AnsweredTexts>();
/** Views kept per row: past this many readers with field-level restrictions, start again. */
const VIEWS_PER_ROW = 8;

/** Whether the principal reads every field of the document and of its child rows. */
function readsEveryField(meta: DocTypeMeta, ctx: DocumentContext): boolean {
  if (ctx.ignorePermissions) return true;
  if (readableFieldnames(meta, ctx.principal)) return false;
  return meta.tableFields.every((field) => !readableFieldnames(childPermissionMeta(ctx.registry.get(field.options), meta), ctx.principal));
}

/**
 * `getDoc` serialised as Frappe answers a document read, `as_dict(no_nulls=True)`. The scope,
 * DocType and row permission checks run on every call; converting and serialising a document
 * whose rows are shared cached ones (frozen: `allCached`) runs once per view of its fields
 * until anyone commits (docs/performance.md).
 */
export async function getDocJson(doctype: string, name: unknown, ctx: DocumentContext): Promise<string> {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle || meta.is_virtual) return JSON.stringify(withoutNulls(await getDoc(doctype, name, ctx)));
  const { row, tables } = await readableRows(meta, name, ctx);
  const shared = Object.isFrozen(row) && tables.every((rows) => Object.isFrozen(rows));
  const view = readsEveryField(meta, ctx) ? meta : ctx.principal;
  let answered = shared ? answeredTexts.get(row) : undefined;
  if (answered?.meta !== meta) answered = undefined;
  const kept = answered?.byView.get(view);
  if (kept !== undefined) return kept;
  const text = JSON.stringify(withoutNulls(docOf(meta, row, tables, ctx)));
  if (shared) {
    if (!answered || answered.byView.size >= VIEWS_PER_ROW) answeredTexts.set(row, (answered = { meta, byView: new Map() }));
    answered.byView.set(view, text);
  }
  return text;
}

/** The metadata of a DocType, served as the virtual `DocType` document. */
function getVirtual(meta: DocTypeMeta, name: unknown, ctx: DocumentContext): Doc {
  if (meta.name !== 'DocType') throw frappeError('DoesNotExistError', `${meta.name} ${String(name)} not found`);
  assertCanReadDoctype(meta, ctx);
  const target = ctx.registry.find(String(name));
  if (!target) notFound('DocType', name);
  return metaAsDoc(target);
}

export function metaAsDoc(meta: DocTypeMeta): Doc {
  const flag = (b: boolean) => (b ? 1 : 0);
  return {
    name: meta.name,
    doctype: 'DocType',
    module: meta.module,
    app: meta.app,
    istable: flag(meta.istable),
    issingle: flag(meta.issingle),
    is_submittable: flag(meta.is_submittable),
    is_virtual: flag(meta.is_virtual),
    autoname: meta.autoname,
    title_field: meta.title_field,
    sort_field: meta.sort_field || 'creation',
    sort_order: meta.sort_order,
    track_changes: flag(meta.track_changes),
    docstatus: 0,
    fields: meta.fields.map((f, idx) => ({
      doctype: 'DocField',
      idx: idx + 1,
      fieldname: f.fieldname,
      fieldtype: f.fieldtype,
      label: f.label,
      options: f.options,
      reqd: flag(f.reqd),
      unique: flag(f.unique),
      default: f.default ?? null,
      read_only: flag(f.read_only),
      hidden: flag(f.hidden),
      permlevel: f.permlevel,
      length: f.length,
      in_list_view: flag(f.in_list_view),
      allow_on_submit: flag(f.allow_on_submit),
    })),
    permissions: meta.permissions.map((p, idx) => ({ doctype: 'DocPerm', idx: idx + 1, ...p, if_owner: flag(p.if_owner) })),
  };
}

/** Singles live in tabSingles as (doctype, field, value) rows, as in Frappe. */
export async function getSingle(doctype: string, ctx: DocumentContext): Promise<Doc> {
  const meta = ctx.registry.get(doctype);
  assertCanReadDoctype(meta, ctx);
  const rows = await ctx.db.all<{ field: string; value: string | null }>(
    'SELECT "field", "value" FROM "tabSingles" WHERE "doctype" = ?',
    [doctype],
  );
  const stored = new Map(rows.map((r) => [r.field, r.value]));
  const doc: Doc = { name: doctype, doctype, owner: 'Administrator', docstatus: 0, idx: 0 };
  for (const field of meta.valueFields) {
    if (stored.has(field.fieldname)) doc[field.fieldname] = fromDatabase(field, stored.get(field.fieldname));
    else {
      const fallback = defaultValue(field, { user: ctx.principal.user, now: ctx.clock.now() });
      doc[field.fieldname] = fallback === undefined ? null : fromDatabase(field, fallback);
    }
  }
  for (const key of ['creation', 'modified', 'modified_by']) doc[key] = stored.get(key) ?? null;
  Object.assign(doc, await loadChildren(meta, doctype, ctx));
  return stripUnreadable(meta, doc, ctx);
}

export interface ListArgs {
  fields?: unknown;
  filters?: unknown;
  or_filters?: unknown;
  order_by?: unknown;
  group_by?: unknown;
  limit_start?: unknown;
  limit?: unknown;
  /** For child-table DocTypes: the parent DocType whose permission applies. */
  parent?: unknown;
}

export interface ListResult {
  /** One object per row (as_dict); a repeated column name keeps its last value. */
  rows: Doc[];
  /** One array per row in `fields` order (as_dict=false). */
  values: unknown[][];
  columns: string[];
}

/** Compiled list queries, per registry (the metadata they were compiled against). */
const listQueries = new WeakMap<MetaRegistry, ListQueryCache>();

function listQueryCache(registry: MetaRegistry): ListQueryCache {
  let cache = listQueries.get(registry);
  if (!cache) listQueries.set(registry, (cache = new ListQueryCache()));
  return cache;
}

/** The list query of Frappe's `get_list`: only rows the user may read, permlevels applied. */
export async function getList(doctype: string, args: ListArgs, ctx: DocumentContext): Promise<ListResult> {
  const { meta, built } = compileList(doctype, args, ctx);
  return listResult(meta, built, await stableRead(ctx, built.sql, built.params));
}

/** Texts of list pages already answered, kept beside the shared cached answer (`allCached`). */
interface ListedTexts {
  /** The compiled query that read it: the same one gives the same columns (ListQueryCache). */
  readonly query: ListQuery;
  asDict?: string;
  values?: string;
}

/** An answer is replaced on any commit, and its texts go with it. */
const listedTexts = new WeakMap<readonly Row[], ListedTexts>();

/**
 * `getList`'s rows (`asDict`) or values serialised. Permissions are applied as `getList`
 * applies them, on every call; converting and serialising a page read from a shared cached
 * answer (frozen: `allCached`) with a remembered compiled query runs once per shape until
 * anyone commits (docs/performance.md).
 */
export async function getListJson(doctype: string, args: ListArgs, ctx: DocumentContext, asDict: boolean): Promise<string> {
  const { meta, built } = compileList(doctype, args, ctx);
  const raw = await stableRead(ctx, built.sql, built.params);
  const shared = Object.isFrozen(raw);
  let listed = shared ? listedTexts.get(raw) : undefined;
  if (listed?.query !== built) listed = undefined;
  const kept = asDict ? listed?.asDict : listed?.values;
  if (kept !== undefined) return kept;
  const result = listResult(meta, built, raw);
  const text = JSON.stringify(asDict ? result.rows : result.values);
  if (shared) {
    if (!listed) listedTexts.set(raw, (listed = { query: built }));
    if (asDict) listed.asDict = text;
    else listed.values = text;
  }
  return text;
}

function compileList(doctype: string, args: ListArgs, ctx: DocumentContext): { meta: DocTypeMeta; built: ListQuery } {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle || meta.is_virtual) {
    throw frappeError('ValidationError', `${doctype} is not a list DocType`);
  }
  let permissionMeta = meta;
  if (meta.istable) {
    const parent = typeof args.parent === 'string' ? ctx.registry.find(args.parent) : undefined;
    if (!parent || !parent.tableFields.some((f) => f.options === meta.name)) {
      throw frappeError('PermissionError', `Please specify a valid parent DocType for ${doctype}`, { title: 'Not Permitted' });
    }
    permissionMeta = parent;
  }
  assertCanReadDoctype(permissionMeta, ctx, 'select');
  const q = ctx.db.dialect.quote;
  const access = doctypeAccess(permissionMeta, 'select', ctx.principal);
  const ownOnly = !ctx.ignorePermissions && access.ownOnly;
  let extraWhere: { sql: string; params: string[] } | undefined;
  if (ownOnly && !meta.istable) extraWhere = { sql: `${q(meta.tableName)}.${q('owner')} = ?`, params: [ctx.principal.user] };
  else if (meta.istable) {
    const parentTable = q(permissionMeta.tableName);
    const ownerCheck = ownOnly ? ` AND ${parentTable}.${q('owner')} = ?` : '';
    extraWhere = {
      sql: `${q(meta.tableName)}.${q('parenttype')} = ? AND EXISTS (SELECT 1 FROM ${parentTable} WHERE ${parentTable}.${q('name')} = ${q(meta.tableName)}.${q('parent')}${ownerCheck})`,
      params: ownOnly ? [permissionMeta.name, ctx.principal.user] : [permissionMeta.name],
    };
  }
  const built = listQueryCache(ctx.registry).build(
    {
      doctype,
      fields: args.fields,
      filters: args.filters,
      or_filters: args.or_filters,
      order_by: args.order_by,
      group_by: args.group_by,
      limit_start: args.limit_start,
      limit: args.limit,
      extraWhere,
    },
    {
      dialect: ctx.db.dialect,
      // Method shorthand: tsx's keepNames wraps a named arrow in a defineProperty per call.
      getMeta(name) {
        return ctx.registry.find(name);
      },
      now() {
        return ctx.clock.now();
      },
      readableFields: ctx.ignorePermissions ? undefined : (m) => readableFieldnames(m, ctx.principal),
    },
  );
  return { meta, built };
}

function listResult(meta: DocTypeMeta, built: ListQuery, raw: readonly Row[]): ListResult {
  const { keys, columns } = built;
  // One pass per row, properties added in column order: every row of the page shares one
  // hidden class (Object.fromEntries over pairs built per row cost a list page more than its
  // SQL; docs/performance.md).
  const values: unknown[][] = new Array(raw.length);
  const rows: Doc[] = new Array(raw.length);
  for (let r = 0; r < raw.length; r++) {
    const converted = rowToDoc(meta, raw[r] as Row);
    const rowValues = new Array<unknown>(keys.length);
    const row: Doc = {};
    for (let i = 0; i < keys.length; i++) {
      const value = converted[keys[i] as string] ?? null;
      rowValues[i] = value;
      const column = columns[i] as string;
      // An alias `__proto__` is a column like any other, not the row's prototype.
      if (column === '__proto__') Object.defineProperty(row, column, { value, enumerable: true, writable: true, configurable: true });
      else row[column] = value;
    }
    values[r] = rowValues;
    rows[r] = row;
  }
  return { rows, values, columns };
}

export async function getCount(doctype: string, args: Pick<ListArgs, 'filters' | 'or_filters' | 'parent'>, ctx: DocumentContext): Promise<number> {
  const result = await getList(
    doctype,
    { ...args, fields: ['count(*) as count'], order_by: '', limit: 0 },
    ctx,
  );
  return Number(result.rows[0]?.count ?? 0);
}

export async function exists(doctype: string, name: unknown, ctx: DocumentContext): Promise<boolean> {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle) return true;
  if (meta.is_virtual) return ctx.registry.has(String(name));
  return (await loadRow(meta, name, ctx)) !== undefined;
}
