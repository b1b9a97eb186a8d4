/**
 * Frappe's `frappe.client.*` whitelisted methods (frappe/client.py) and the few desk methods
 * the clients call (`frappe.desk.search.search_link`, `frappe.desk.reportview.get_count`,
 * `frappe.desk.form.load.getdoctype`), under Frappe's names and with Frappe's verbs.
 *
 * Arguments arrive as JSON text (query strings, forms) or as native JSON (JSON bodies); both
 * are accepted. Malformed input is a ValidationError (417), never a server error. Documents
 * are answered as Frappe's `as_dict()`: with null fields. Every operation runs as the
 * request's user; `ignore_permissions` and `flags` are stripped by the method route and never
 * read from documents either.
 */
import { compileScopes } from '../../auth/oauth/scopes.ts';
import { asFrappeError, frappeError } from '../../core/errors.ts';
import { assertScope, type Doc, type DocumentContext, type RequestDb } from '../../doctype/document/document-context.ts';
import { getDecryptedField } from '../../doctype/document/password-fields.ts';
import { getCount, getList, loadRow, metaAsDoc, notFound, type ListArgs } from '../../doctype/document/read-documents.ts';
import { rowToDoc } from '../../doctype/document/row-to-doc.ts';
import { withoutNulls } from '../../doctype/document/without-nulls.ts';
import { TABLE_TYPES, type DocTypeMeta, type PermissionType } from '../../doctype/meta/types.ts';
import { doctypeAccess, hasDocPermission, permittedLevels } from '../../doctype/permissions.ts';
import { isAdministrator } from '../../doctype/principal.ts';
import { readSystemSettings } from '../../doctype/system-settings.ts';
import { StorageUnavailable, type Row, type SqlValue } from '../../storage/types.ts';
import { apiVersionOf } from '../error-response.ts';
import { jsonArg, sbool, type Args } from '../parse-args.ts';
import { FullBody, type MethodContext, type MethodDefinition, type MethodRegistry } from './method-registry.ts';

const WRITE_VERBS = ['POST', 'PUT'];

/** Frappe's `default_fields + child_table_fields`: never edited through set_value. */
const STANDARD_FIELDS: ReadonlySet<string> = new Set([
  'doctype', 'name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx',
  'parent', 'parentfield', 'parenttype',
]);

/** Frappe's `rights`, in its order (get_doc_permissions answers one key per right). */
const RIGHTS: readonly PermissionType[] = [
  'select', 'read', 'write', 'create', 'delete', 'submit', 'cancel', 'amend', 'print', 'email',
  'report', 'import', 'export', 'share',
];

/** Field types search_link matches `txt` against (frappe/desk/search.py). */
const SEARCH_FIELD_TYPES: ReadonlySet<string> = new Set(['Data', 'Text', 'Small Text', 'Long Text', 'Link', 'Select', 'Read Only', 'Text Editor']);

/** Frappe's SPECIAL_CHAR_PATTERN check on `searchfield`. */
const SEARCHFIELD = /^[A-Za-z0-9_ ]+$/;

/** Most documents one insert_many request may carry (Frappe's limit). */
export const MAX_INSERT_MANY = 200;

// ---------------------------------------------------------------------------------------------
// Arguments

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** Python truthiness, as Frappe's `if not value:` reads an argument. */
function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

/** A name-like argument (doctype, name, fieldname, …): text or a number, else undefined. */
function nameArg(args: Args, key: string): string | undefined {
  const value = args[key];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value !== '') return value;
  if (value === undefined || value === null || value === '') return undefined;
  throw frappeError('ValidationError', `${key} must be a string`);
}

function requiredName(args: Args, key: string): string {
  const value = nameArg(args, key);
  if (value === undefined) throw frappeError('ValidationError', `${key} is required`);
  return value;
}

function doctypeArg(ctx: MethodContext, args: Args, key = 'doctype'): DocTypeMeta {
  return ctx.documents.registry.get(requiredName(args, key));
}

/** A JSON object argument (`doc`): JSON text or a native object. */
function objectArg(value: unknown, name: string): Doc {
  const parsed = typeof value === 'string' && value.trim() !== '' ? parseJson(value, name) : value;
  if (!isPlainObject(parsed)) throw frappeError('ValidationError', `${name} must be a JSON object`);
  return { ...parsed };
}

/** A JSON list argument (`docs`): JSON text or a native list. */
function listArg(value: unknown, name: string): unknown[] {
  const parsed = typeof value === 'string' && value.trim() !== '' ? parseJson(value, name) : value;
  if (!Array.isArray(parsed)) throw frappeError('ValidationError', `${name} must be a JSON list`);
  return parsed;
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw frappeError('ValidationError', `${name} must be valid JSON`);
  }
}

/** A boolean argument: JSON booleans, "true"/"false"/"1"/"0", else Python truthiness. */
function boolArg(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  const parsed = sbool(value);
  return typeof parsed === 'boolean' ? parsed : truthy(parsed);
}

/** A non-negative integer argument (Frappe's `cint`, refusing garbage instead of reading 0). */
function countArg(value: unknown, name: string, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\s*\d{1,9}\s*$/.test(value)) return Number(value.trim());
  throw frappeError('ValidationError', `${name} must be a non-negative integer`);
}

// ---------------------------------------------------------------------------------------------
// Permissions

function isSystemManager(ctx: MethodContext): boolean {
  return isAdministrator(ctx.documents.principal) || ctx.roles.has('System Manager');
}

function noPermission(doctype: string): never {
  throw frappeError('PermissionError', `No permission for ${doctype}`, { title: 'Not Permitted', errorMessage: `No permission for ${doctype}` });
}

function canRead(ctx: MethodContext, meta: DocTypeMeta): boolean {
  const access = doctypeAccess(meta, 'read', ctx.documents.principal);
  return access.all || access.ownOnly;
}

/** Whether the request's scopes (OAuth, scoped keys) reach `doctype` for `ptype`. */
function inScope(ctx: MethodContext, doctype: string, ptype: PermissionType): boolean {
  try {
    assertScope(ctx.documents, doctype, ptype);
    return true;
  } catch {
    return false;
  }
}

/**
 * Frappe's `check_parent_permission`: a child-table DocType is reached through a parent that
 * really holds it, and the user must be able to read that parent.
 */
function parentMetaFor(ctx: MethodContext, child: DocTypeMeta, parent: unknown): DocTypeMeta {
  const parentMeta = typeof parent === 'string' ? ctx.documents.registry.find(parent) : undefined;
  if (!parentMeta || !parentMeta.tableFields.some((f) => f.options === child.name)) {
    throw frappeError('PermissionError', `Please specify a valid parent DocType for ${child.name}`, { title: 'Not Permitted' });
  }
  if (!canRead(ctx, parentMeta)) noPermission(parentMeta.name);
  return parentMeta;
}

/** Removes the fields of `meta` above the permlevels the user may read on `permissionMeta`. */
function stripByLevels(meta: DocTypeMeta, permissionMeta: DocTypeMeta, doc: Doc, ctx: MethodContext): Doc {
  const levels = permittedLevels(permissionMeta, 'read', ctx.documents.principal);
  for (const field of meta.fields) if (!levels.has(field.permlevel)) delete doc[field.fieldname];
  return doc;
}

/**
 * The stored row a document-level permission is evaluated on, with the DocType that carries the
 * permission rules: the parent's for a child row, a synthetic one for Singles. Missing → 404,
 * or 403 when the user may not read the DocType at all (no existence probing).
 */
async function permissionTarget(ctx: MethodContext, meta: DocTypeMeta, name: string): Promise<{ meta: DocTypeMeta; row: Row }> {
  const documents = ctx.documents;
  if (meta.issingle) return { meta, row: { name: meta.name, owner: 'Administrator' } };
  if (meta.is_virtual) {
    if (meta.name !== 'DocType' || !documents.registry.has(name)) notFound(meta.name, name);
    return { meta, row: { name, owner: 'Administrator' } };
  }
  const row = await loadRow(meta, name, documents);
  if (!row) {
    if (!meta.istable && !canRead(ctx, meta)) noPermission(meta.name);
    notFound(meta.name, name);
  }
  if (!meta.istable) return { meta, row };
  const parentMeta = documents.registry.find(String(row.parenttype ?? ''));
  const parentRow = parentMeta ? await loadRow(parentMeta, row.parent, documents) : undefined;
  if (!parentMeta || !parentRow) notFound(meta.name, name);
  return { meta: parentMeta, row: parentRow };
}

// ---------------------------------------------------------------------------------------------
// Debug (System Managers only): the SQL a method ran, in Frappe's `_debug_messages`

/** Wraps the request's database so the SELECTs a method runs are recorded (as list-query.ts does). */
function recordingContext(documents: DocumentContext, log: string[]): DocumentContext {
  const db = documents.db;
  const record = async <T>(sql: string, params: readonly SqlValue[] | undefined, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await run();
    const shown = JSON.stringify(params ?? [], (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    log.push(sql, `Parameters: ${shown}`, `Execution time: ${((performance.now() - started) / 1000).toFixed(4)} sec`);
    return result;
  };
  const recording: RequestDb = {
    dialect: db.dialect,
    begin: () => db.begin(),
    all: (sql, params) => record(sql, params, () => db.all(sql, params)),
    get: (sql, params) => record(sql, params, () => db.get(sql, params)),
    run: (sql, params) => db.run(sql, params),
  };
  return { ...documents, db: recording };
}

/**
 * Runs `fn` with the request's document context; with `debug` from a System Manager, the
 * statements it ran and their time are answered beside the result (v1 `_debug_messages`, a
 * JSON string; v2 `debug`, a list of `{message}`). Anyone else's `debug` is ignored.
 */
async function withDebug(ctx: MethodContext, debug: unknown, fn: (documents: DocumentContext) => Promise<unknown>): Promise<unknown> {
  if (!boolArg(debug, false) || !isSystemManager(ctx)) return fn(ctx.documents);
  const log: string[] = [];
  const result = await fn(recordingContext(ctx.documents, log));
  if (apiVersionOf(ctx.request.path) === 'v2') {
    return new FullBody({ ...(result === undefined ? {} : { data: result }), debug: log.map((message) => ({ message })) });
  }
  return new FullBody({ ...(result === undefined ? {} : { message: result }), _debug_messages: JSON.stringify(log) });
}

// ---------------------------------------------------------------------------------------------
// Reading

function listArgsFrom(args: Args): ListArgs {
  // Frappe's default page is 20; an explicit 0 (or null) means every row.
  const limit = args.limit_page_length === undefined ? 20 : args.limit_page_length === null ? 0 : args.limit_page_length;
  return {
    fields: jsonArg(args.fields, 'fields'),
    filters: jsonArg(args.filters, 'filters'),
    or_filters: jsonArg(args.or_filters, 'or_filters'),
    order_by: args.order_by === null ? undefined : args.order_by,
    group_by: args.group_by === null ? undefined : args.group_by,
    limit_start: args.limit_start,
    limit,
    parent: args.parent,
  };
}

async function getListMethod(args: Args, ctx: MethodContext): Promise<unknown> {
  const doctype = requiredName(args, 'doctype');
  const listArgs = listArgsFrom(args);
  const asDict = boolArg(args.as_dict, true);
  return withDebug(ctx, args.debug, async (documents) => {
    const result = await getList(doctype, listArgs, documents);
    return asDict ? result.rows : result.values;
  });
}

async function getCountMethod(args: Args, ctx: MethodContext): Promise<unknown> {
  const doctype = requiredName(args, 'doctype');
  const filters = jsonArg(args.filters, 'filters');
  return withDebug(ctx, args.debug, (documents) => getCount(doctype, { filters }, documents));
}

/** The first document matching `filters`, among those the user may list; else 404. */
async function firstMatch(ctx: MethodContext, meta: DocTypeMeta, filters: unknown, parent?: string): Promise<string> {
  const { values } = await getList(meta.name, { fields: ['name'], filters, limit: 1, parent }, ctx.documents);
  const name = values[0]?.[0];
  if (name === undefined || name === null) {
    throw frappeError('DoesNotExistError', `${meta.name} not found`, { title: 'Not Found' });
  }
  return String(name);
}

/** A child row read directly (`parent` names its parent DocType): read permission on the parent document. */
async function getChildDoc(ctx: MethodContext, meta: DocTypeMeta, args: Args): Promise<Doc> {
  const parentMeta = parentMetaFor(ctx, meta, args.parent);
  assertScope(ctx.documents, parentMeta.name, 'read');
  let name = nameArg(args, 'name');
  if (name === undefined && args.filters !== undefined && args.filters !== null && args.filters !== '') {
    name = await firstMatch(ctx, meta, jsonArg(args.filters, 'filters'), parentMeta.name);
  }
  if (name === undefined) notFound(meta.name, meta.name);
  const row = await loadRow(meta, name, ctx.documents);
  if (!row || row.parenttype !== parentMeta.name) notFound(meta.name, name);
  const parentRow = await loadRow(parentMeta, row.parent, ctx.documents);
  if (!parentRow) notFound(meta.name, name);
  if (!ctx.documents.ignorePermissions && !hasDocPermission(parentMeta, 'read', parentRow, ctx.documents.principal)) {
    noPermission(parentMeta.name);
  }
  const doc = { ...rowToDoc(meta, row), doctype: meta.name };
  return stripByLevels(meta, parentMeta, doc, ctx);
}

async function getMethod(args: Args, ctx: MethodContext): Promise<Doc> {
  const meta = doctypeArg(ctx, args);
  if (meta.istable) return getChildDoc(ctx, meta, args);
  const name = nameArg(args, 'name');
  if (name !== undefined) return ctx.db.getDoc(meta.name, name);
  // Frappe: `elif filters or filters == {}` — any given filters, even an empty object.
  if (args.filters !== undefined && args.filters !== null && args.filters !== '' && !meta.issingle) {
    return ctx.db.getDoc(meta.name, await firstMatch(ctx, meta, jsonArg(args.filters, 'filters')));
  }
  // Neither: a Single (any other DocType answers "<DocType> <DocType> not found", as Frappe).
  return ctx.db.getDoc(meta.name, meta.name);
}

/** `fieldname` of get_value: one name, a JSON list (text or native). The js-sdk sends `[]` when omitted. */
function fieldnameList(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return ['name'];
  if (typeof value === 'string') {
    const text = value.trim();
    if (!text.startsWith('[')) return [value];
    value = parseJson(text, 'fieldname');
  }
  if (!Array.isArray(value)) throw frappeError('ValidationError', 'fieldname must be a field name or a JSON list of field names');
  for (const entry of value) {
    if (typeof entry !== 'string') throw frappeError('ValidationError', 'fieldname must be a field name or a JSON list of field names');
  }
  return value as string[];
}

/** Frappe's `get_safe_filters` + get_value's rules: a name (text or number) means `{name: …}`; empty means none. */
function valueFilters(value: unknown): unknown {
  const parsed = jsonArg(value, 'filters');
  if (typeof parsed === 'string' || typeof parsed === 'number') return parsed === '' ? undefined : { name: String(parsed) };
  return truthy(parsed) ? parsed : undefined;
}

async function getValueMethod(args: Args, ctx: MethodContext): Promise<unknown> {
  const meta = doctypeArg(ctx, args);
  let parent: string | undefined;
  if (meta.istable) parent = parentMetaFor(ctx, meta, args.parent).name;
  else if (!canRead(ctx, meta)) noPermission(meta.name);
  const fields = fieldnameList(args.fieldname);
  const filters = valueFilters(args.filters);
  const asDict = boolArg(args.as_dict, true);

  if (meta.issingle) {
    const doc = await ctx.db.getDoc(meta.name, meta.name);
    const present = fields.filter((f) => Object.hasOwn(doc, f) && !TABLE_TYPES.has(meta.fieldMap.get(f)?.fieldtype ?? ''));
    if (asDict) return Object.fromEntries(present.map((f) => [f, doc[f] ?? null]));
    if (present.length === 0) return undefined;
    return fields.length > 1 ? present.map((f) => doc[f] ?? null) : (doc[present[0] as string] ?? null);
  }
  return withDebug(ctx, args.debug, async (documents) => {
    const { rows, values } = await getList(meta.name, { fields, filters, limit: 1, parent }, documents);
    if (asDict) return rows[0] ?? {};
    const first = values[0];
    // Frappe returns None (no `message` key) when nothing matches.
    if (!first) return undefined;
    return fields.length > 1 ? first : first[0];
  });
}

async function getSingleValueMethod(args: Args, ctx: MethodContext): Promise<unknown> {
  const meta = doctypeArg(ctx, args);
  const field = requiredName(args, 'field');
  if (!meta.issingle) throw frappeError('ValidationError', `${meta.name} is not a Single DocType`);
  if (!canRead(ctx, meta)) noPermission(meta.name);
  if (!meta.fieldMap.has(field) && !['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus', 'idx'].includes(field)) {
    throw frappeError('DoesNotExistError', `Field ${field} does not exist on ${meta.name}`);
  }
  const doc = await ctx.db.getDoc(meta.name, meta.name);
  if (!Object.hasOwn(doc, field)) noPermission(meta.name);
  const value = doc[field];
  return value === null ? undefined : value;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Locks a parent row (PostgreSQL) and lists one table's child row names in order. */
async function childNames(documents: DocumentContext, parentMeta: DocTypeMeta, parent: string, parentfield: string, childMeta: DocTypeMeta): Promise<string[]> {
  const db = documents.db;
  const q = db.dialect.quote;
  await db.begin();
  if (db.dialect.name === 'postgres') {
    await db.get(`SELECT ${q('name')} FROM ${q(parentMeta.tableName)} WHERE ${q('name')} = ? FOR UPDATE`, [parent]);
  }
  const rows = await db.all<{ name: string }>(
    `SELECT ${q('name')} FROM ${q(childMeta.tableName)} WHERE ${q('parent')} = ? AND ${q('parenttype')} = ? AND ${q('parentfield')} = ? ORDER BY ${q('idx')}`,
    [parent, parentMeta.name, parentfield],
  );
  return rows.map((r) => String(r.name));
}

function tableField(parentMeta: DocTypeMeta, parentfield: string, childMeta: DocTypeMeta) {
  const field = parentMeta.fieldMap.get(parentfield);
  if (!field || !TABLE_TYPES.has(field.fieldtype) || field.options !== childMeta.name) {
    throw frappeError('ValidationError', `${parentfield} is not a table of ${childMeta.name} in ${parentMeta.name}`);
  }
  return field;
}

/** Frappe's `insert_doc`: a child row is appended to its parent (the parent is answered). */
async function insertOne(ctx: MethodContext, input: Doc): Promise<Doc> {
  const doctype = nameArg(input, 'doctype');
  if (doctype === undefined) throw frappeError('ValidationError', 'doctype is required');
  const meta = ctx.documents.registry.get(doctype);
  const doc: Doc = { ...input };
  delete doc.flags;
  if (!meta.istable) {
    if (truthy(doc.__islocal)) delete doc.name;
    delete doc.__islocal;
    return ctx.db.insert(doc);
  }
  const parenttype = nameArg(doc, 'parenttype');
  const parent = nameArg(doc, 'parent');
  const parentfield = nameArg(doc, 'parentfield');
  if (!parenttype || !parent || !parentfield) {
    throw frappeError('ValidationError', 'Parenttype, Parent and Parentfield are required to insert a child record');
  }
  const parentMeta = ctx.documents.registry.get(parenttype);
  tableField(parentMeta, parentfield, meta);
  const existing = await childNames(ctx.documents, parentMeta, parent, parentfield, meta);
  const row: Doc = { ...doc };
  for (const key of STANDARD_FIELDS) delete row[key];
  delete row.__islocal;
  return ctx.db.save({ doctype: parentMeta.name, name: parent, [parentfield]: [...existing.map((name) => ({ name })), row] });
}

async function insertMethod(args: Args, ctx: MethodContext): Promise<Doc> {
  return insertOne(ctx, objectArg(args.doc, 'doc'));
}

async function insertManyMethod(args: Args, ctx: MethodContext): Promise<unknown[]> {
  const docs = listArg(args.docs, 'docs');
  if (docs.length > MAX_INSERT_MANY) throw frappeError('ValidationError', `Only ${MAX_INSERT_MANY} inserts allowed in one request`);
  const names: unknown[] = [];
  for (const [index, entry] of docs.entries()) {
    if (!isPlainObject(entry)) throw frappeError('ValidationError', `docs[${index}] must be a JSON object`);
    names.push((await insertOne(ctx, entry)).name);
  }
  return names;
}

function docOf(args: Args, ctx: MethodContext): { doc: Doc; meta: DocTypeMeta; isNew: boolean } {
  const doc = objectArg(args.doc, 'doc');
  delete doc.flags;
  const doctype = nameArg(doc, 'doctype');
  if (doctype === undefined) throw frappeError('ValidationError', 'doctype is required');
  const meta = ctx.documents.registry.get(doctype);
  return { doc, meta, isNew: truthy(doc.__islocal) || nameArg(doc, 'name') === undefined };
}

/** Frappe's `save(doc)`: a document without a name (or marked `__islocal`) is inserted. */
async function saveMethod(args: Args, ctx: MethodContext): Promise<Doc> {
  const { doc, meta, isNew } = docOf(args, ctx);
  if (isNew && !meta.issingle) {
    delete doc.name;
    delete doc.__islocal;
    return ctx.db.insert(doc);
  }
  return ctx.db.save({ ...doc, doctype: meta.name, name: meta.issingle ? meta.name : doc.name });
}

/** Frappe's `submit(doc)`: docstatus 1, then save (or insert, for a new document). */
async function submitMethod(args: Args, ctx: MethodContext): Promise<Doc> {
  const { doc, meta, isNew } = docOf(args, ctx);
  if (!meta.is_submittable) throw frappeError('ValidationError', `${meta.name} is not submittable`);
  if (isNew) {
    delete doc.name;
    delete doc.__islocal;
    return ctx.db.insert({ ...doc, docstatus: 1 });
  }
  return ctx.db.save({ ...doc, doctype: meta.name, docstatus: 1 });
}

async function cancelMethod(args: Args, ctx: MethodContext): Promise<Doc> {
  const meta = doctypeArg(ctx, args);
  return ctx.db.cancel(meta.name, requiredName(args, 'name'));
}

/** Frappe's `delete_doc`: a child row is removed through its parent (whose save runs). */
async function deleteMethod(args: Args, ctx: MethodContext): Promise<void> {
  const meta = doctypeArg(ctx, args);
  const name = requiredName(args, 'name');
  if (!meta.istable) {
    await ctx.db.delete(meta.name, name);
    return;
  }
  const row = await loadRow(meta, name, ctx.documents);
  if (!row) notFound(meta.name, name);
  const parentMeta = ctx.documents.registry.get(String(row.parenttype));
  const parentfield = String(row.parentfield);
  const rest = (await childNames(ctx.documents, parentMeta, String(row.parent), parentfield, meta)).filter((n) => n !== name);
  await ctx.db.save({ doctype: parentMeta.name, name: String(row.parent), [parentfield]: rest.map((n) => ({ name: n })) });
}

async function renameMethod(args: Args, ctx: MethodContext): Promise<string> {
  const meta = doctypeArg(ctx, args);
  const oldName = requiredName(args, 'old_name');
  const newName = requiredName(args, 'new_name');
  if (boolArg(args.merge, false)) throw frappeError('ValidationError', 'Merging documents on rename is not supported');
  return ctx.db.rename(meta.name, oldName, newName);
}

/** The values set_value writes: `fieldname` as one field (with `value`) or an object of fields. */
function setValueValues(fieldname: unknown, value: unknown): Doc {
  let values: Doc;
  if (isPlainObject(fieldname)) values = { ...fieldname };
  else if (typeof fieldname === 'string' && fieldname !== '') {
    if (STANDARD_FIELDS.has(fieldname)) throw frappeError('ValidationError', 'Cannot edit standard fields');
    if (truthy(value)) values = { [fieldname]: value };
    else if (fieldname.trim().startsWith('{')) values = objectArg(fieldname, 'fieldname');
    // Frappe: a falsy value with a plain field name sets that field to "".
    else values = { [fieldname]: '' };
  } else throw frappeError('ValidationError', 'fieldname is required');
  // Whole documents sent back as `fieldname` (frappe-ui) carry the standard keys: only
  // docstatus may change (submit/cancel through save, with their permission checks).
  for (const key of Object.keys(values)) if (STANDARD_FIELDS.has(key) && key !== 'docstatus') delete values[key];
  delete values.flags;
  delete values.__islocal;
  return values;
}

async function setValueMethod(args: Args, ctx: MethodContext): Promise<Doc> {
  const meta = doctypeArg(ctx, args);
  const values = setValueValues(args.fieldname, args.value);
  if (meta.issingle) return ctx.db.setValue(meta.name, meta.name, values);
  const name = requiredName(args, 'name');
  if (!meta.istable) return ctx.db.setValue(meta.name, name, values);
  // A child row is edited through its parent, which is saved and answered.
  const row = await loadRow(meta, name, ctx.documents);
  if (!row) notFound(meta.name, name);
  const parentMeta = ctx.documents.registry.get(String(row.parenttype));
  const parentfield = String(row.parentfield);
  delete values.docstatus;
  const names = await childNames(ctx.documents, parentMeta, String(row.parent), parentfield, meta);
  return ctx.db.save({
    doctype: parentMeta.name,
    name: String(row.parent),
    [parentfield]: names.map((n) => (n === name ? { ...values, name: n } : { name: n })),
  });
}

/** A failure of one bulk_update entry, as Frappe reports it (`exc`; no server internals). */
function describeFailure(error: unknown): string {
  const frappe = asFrappeError(error);
  if (frappe) return `frappe.exceptions.${frappe.excType}: ${frappe.message}`;
  return 'Exception: Internal Server Error';
}

/**
 * Frappe's `bulk_update`: each entry (`doctype`, `docname`, fields) is loaded, updated and
 * saved; failures are collected, not raised. Each entry runs inside its own savepoint, so a
 * failure after some of its writes (a hook throwing in on_update, …) leaves nothing of it
 * behind. A failed SQL statement (a unique violation) is collected the same way on SQLite; on
 * PostgreSQL the storage adapter refuses every statement after one failed, so there the whole
 * request fails with that error and nothing at all is applied.
 */
async function bulkUpdateMethod(args: Args, ctx: MethodContext): Promise<{ failed_docs: unknown[] }> {
  const docs = listArg(args.docs, 'docs');
  const db = ctx.documents.db;
  const failed: unknown[] = [];
  for (const [index, entry] of docs.entries()) {
    const savepoint = db.dialect.quote(`bulk_update_${index}`);
    const doc = isPlainObject(entry) ? { ...entry } : entry;
    if (isPlainObject(doc)) delete doc.flags;
    await db.run(`SAVEPOINT ${savepoint}`);
    try {
      if (!isPlainObject(doc)) throw frappeError('ValidationError', 'Each entry needs doctype and docname');
      const doctype = nameArg(doc, 'doctype');
      const docname = nameArg(doc, 'docname');
      if (doctype === undefined || docname === undefined) throw frappeError('ValidationError', 'Each entry needs doctype and docname');
      const patch: Doc = { ...doc };
      delete patch.docname;
      delete patch.name;
      delete patch.__islocal;
      await ctx.db.save({ ...patch, doctype, name: docname });
      await db.run(`RELEASE SAVEPOINT ${savepoint}`);
    } catch (error) {
      if (error instanceof StorageUnavailable) throw error;
      try {
        await db.run(`ROLLBACK TO SAVEPOINT ${savepoint}`);
        await db.run(`RELEASE SAVEPOINT ${savepoint}`);
      } catch {
        // The storage refuses to go on after a failed statement (the PostgreSQL adapter treats
        // the transaction as aborted): the whole request fails and nothing is applied.
        throw error;
      }
      failed.push({ doc, exc: describeFailure(error) });
    }
  }
  return { failed_docs: failed };
}

// ---------------------------------------------------------------------------------------------
// Permissions, passwords, settings

function permTypeArg(value: unknown): PermissionType {
  if (value === undefined || value === null || value === '') return 'read';
  const ptype = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (!(RIGHTS as readonly string[]).includes(ptype)) throw frappeError('ValidationError', `perm_type must be one of ${RIGHTS.join(', ')}`);
  return ptype as PermissionType;
}

async function hasPermissionMethod(args: Args, ctx: MethodContext): Promise<{ has_permission: boolean }> {
  const meta = doctypeArg(ctx, args);
  const ptype = permTypeArg(args.perm_type);
  const target = await permissionTarget(ctx, meta, requiredName(args, 'docname'));
  const granted = hasDocPermission(target.meta, ptype, target.row, ctx.documents.principal) && inScope(ctx, target.meta.name, ptype);
  return { has_permission: granted };
}

async function getDocPermissionsMethod(args: Args, ctx: MethodContext): Promise<{ permissions: Record<string, number> }> {
  const meta = doctypeArg(ctx, args);
  const target = await permissionTarget(ctx, meta, requiredName(args, 'docname'));
  const principal = ctx.documents.principal;
  return { permissions: Object.fromEntries(RIGHTS.map((right) => [right, hasDocPermission(target.meta, right, target.row, principal) && inScope(ctx, target.meta.name, right) ? 1 : 0])) };
}

/** System Managers only: the clear value of a Password field (never a login hash). */
async function getPasswordMethod(args: Args, ctx: MethodContext): Promise<string> {
  if (!isSystemManager(ctx)) throw frappeError('PermissionError', 'This action is only allowed for System Manager', { title: 'Not Permitted' });
  const meta = doctypeArg(ctx, args);
  assertScope(ctx.documents, meta.name, 'read');
  const name = meta.issingle ? meta.name : requiredName(args, 'name');
  const fieldname = requiredName(args, 'fieldname');
  const field = meta.fieldMap.get(fieldname);
  if (!field || field.fieldtype !== 'Password') throw frappeError('ValidationError', `${fieldname} is not a Password field of ${meta.name}`);
  if (!meta.issingle && !meta.is_virtual && !(await loadRow(meta, name, ctx.documents))) notFound(meta.name, name);
  const value = await getDecryptedField(ctx.documents.db, ctx.documents.cipher, meta.name, name, fieldname);
  if (value === undefined) {
    throw frappeError('DoesNotExistError', `Password not found for ${meta.name} ${name} ${fieldname}`, { title: 'Not Found' });
  }
  return value;
}

async function getTimeZoneMethod(_args: Args, ctx: MethodContext): Promise<{ time_zone: string }> {
  const settings = await readSystemSettings(ctx.documents.db, ctx.documents.registry);
  const zone = settings.raw.time_zone;
  return { time_zone: typeof zone === 'string' && zone !== '' ? zone : 'UTC' };
}

async function isDocumentAmendedMethod(args: Args, ctx: MethodContext): Promise<unknown> {
  const meta = doctypeArg(ctx, args);
  const docname = requiredName(args, 'docname');
  if (!canRead(ctx, meta) || !inScope(ctx, meta.name, 'read')) return false;
  if (meta.issingle || meta.is_virtual || !meta.fieldMap.has('amended_from')) return false;
  const q = ctx.documents.db.dialect.quote;
  const row = await ctx.documents.db.get<{ name: string }>(
    `SELECT ${q('name')} FROM ${q(meta.tableName)} WHERE ${q('amended_from')} = ? LIMIT 1`,
    [docname],
  );
  // Frappe answers `frappe.db.exists(...)`: the amending document's name, or None.
  return row ? rowToDoc(meta, row).name : undefined;
}

// ---------------------------------------------------------------------------------------------
// Desk: search_link, reportview.get_count, getdoctype

interface LinkResult {
  value: unknown;
  description: string;
  label?: string;
}

/** Frappe's `build_for_autosuggest`: value = first column, description = the rest, unique and non-empty. */
function autosuggest(rows: readonly unknown[][]): LinkResult[] {
  return rows.map((row) => {
    const parts: string[] = [];
    for (const part of row.slice(1)) {
      if (!truthy(part)) continue;
      const text = typeof part === 'string' ? part : JSON.stringify(part);
      if (!parts.includes(text)) parts.push(text);
    }
    return { value: row[0], description: parts.join(', ') };
  });
}

/** Frappe's `relevance_sorter`: names starting with `txt` first, then by name. */
function byRelevance(txt: string): (a: unknown[], b: unknown[]) => number {
  const needle = txt.toLowerCase();
  return (a, b) => {
    const [x, y] = [String(a[0] ?? ''), String(b[0] ?? '')];
    const rank = Number(!x.toLowerCase().startsWith(needle)) - Number(!y.toLowerCase().startsWith(needle));
    return rank !== 0 ? rank : x < y ? -1 : x > y ? 1 : 0;
  };
}

/** Equality filters (dict or `[field, "=", value]` list) on DocType metadata, for links to DocType. */
function matchesMetaFilters(doc: Doc, filters: unknown): boolean {
  const parsed = jsonArg(filters, 'filters');
  if (!truthy(parsed)) return true;
  const conditions: [string, unknown][] = [];
  if (isPlainObject(parsed)) conditions.push(...Object.entries(parsed));
  else if (Array.isArray(parsed)) {
    for (const entry of parsed) {
      if (!Array.isArray(entry)) throw frappeError('ValidationError', 'filters must be a list of conditions');
      const [field, operator, value] = entry.length >= 4 ? entry.slice(1) : entry.length === 2 ? [entry[0], '=', entry[1]] : entry;
      if (operator !== '=') throw frappeError('ValidationError', 'Only "=" filters are supported when searching DocTypes');
      conditions.push([String(field), value]);
    }
  } else throw frappeError('ValidationError', 'filters must be a JSON list or object');
  return conditions.every(([field, value]) => {
    if (!Object.hasOwn(doc, field)) throw frappeError('DataError', `Invalid filter field: ${field}`);
    const expected = Array.isArray(value) && value[0] === '=' ? value[1] : value;
    return String(doc[field] ?? '') === String(expected ?? '');
  });
}

async function searchDoctypes(ctx: MethodContext, txt: string, filters: unknown, pageLength: number): Promise<LinkResult[]> {
  const docTypeMeta = ctx.documents.registry.get('DocType');
  if (!canRead(ctx, docTypeMeta)) noPermission('DocType');
  assertScope(ctx.documents, 'DocType', 'read');
  const needle = txt.toLowerCase();
  const rows = ctx.documents.registry
    .all()
    .filter((meta) => meta.name.toLowerCase().includes(needle))
    .filter((meta) => matchesMetaFilters(metaAsDoc(meta), filters))
    .map((meta) => [meta.name])
    .sort(byRelevance(txt));
  return autosuggest(pageLength > 0 ? rows.slice(0, pageLength) : rows);
}

function makeSearchLink(registry: MethodRegistry) {
  return async function searchLinkMethod(args: Args, ctx: MethodContext): Promise<LinkResult[]> {
    const meta = doctypeArg(ctx, args);
    const txt = typeof args.txt === 'string' ? args.txt.trim() : typeof args.txt === 'number' ? String(args.txt) : '';
    const pageLength = countArg(args.page_length, 'page_length', 10);
    const searchfield = nameArg(args, 'searchfield');
    if (searchfield !== undefined && !SEARCHFIELD.test(searchfield)) {
      throw frappeError('DataError', `Invalid Search Field ${searchfield}`);
    }
    const query = nameArg(args, 'query');
    if (query !== undefined) return autosuggest(await customQuery(registry, query, ctx, { ...args, txt, searchfield: searchfield ?? 'name', page_len: pageLength }));
    if (meta.name === 'DocType') return searchDoctypes(ctx, txt, args.filters, pageLength);

    // Output columns: name, the title field, the searchfield (Frappe's get_std_fields_list).
    const fields = ['name'];
    if (meta.title_field && meta.fieldMap.has(meta.title_field) && !fields.includes(meta.title_field)) fields.push(meta.title_field);
    if (searchfield !== undefined && !fields.includes(searchfield)) {
      if (searchfield !== 'name' && !meta.fieldMap.has(searchfield)) throw frappeError('DataError', `Invalid Search Field ${searchfield}`);
      fields.push(searchfield);
    }
    const parsed = jsonArg(args.filters, 'filters');
    const filters: unknown[] = [];
    if (isPlainObject(parsed)) for (const [key, value] of Object.entries(parsed)) filters.push(Array.isArray(value) ? [key, ...value] : [key, '=', value]);
    else if (Array.isArray(parsed)) filters.push(...(parsed.length > 0 && typeof parsed[0] === 'string' ? [parsed] : parsed));
    else if (truthy(parsed)) throw frappeError('ValidationError', 'filters must be a JSON list or object');
    const check = (fieldname: string) => meta.fieldMap.get(fieldname)?.fieldtype === 'Check';
    if (check('enabled')) filters.push(['enabled', '=', 1]);
    if (check('disabled')) filters.push(['disabled', '!=', 1]);

    const orFilters: unknown[] = [];
    if (txt) {
      const searchFields = ['name'];
      if (meta.title_field && !searchFields.includes(meta.title_field)) searchFields.push(meta.title_field);
      for (const f of searchFields) {
        if (f === 'name' || SEARCH_FIELD_TYPES.has(meta.fieldMap.get(f)?.fieldtype ?? '')) orFilters.push([f, 'like', `%${txt}%`]);
      }
    }
    const list = (extra: unknown[], limit: number) =>
      getList(meta.name, { fields, filters: [...filters, ...extra], or_filters: orFilters, limit }, ctx.documents).then((r) => r.values);
    // Frappe ranks names that start with `txt` first: fetch those, then fill the page.
    let rows: unknown[][];
    if (!txt) rows = await list([], pageLength);
    else {
      rows = await list([['name', 'like', `${txt}%`]], pageLength);
      if (pageLength === 0 || rows.length < pageLength) {
        rows.push(...(await list([['name', 'not like', `${txt}%`]], pageLength === 0 ? 0 : pageLength - rows.length)));
      }
    }
    return autosuggest([...rows].sort(byRelevance(txt)));
  };
}

/** A registered search query method (`query`), called with Frappe's standard query arguments. */
async function customQuery(registry: MethodRegistry, name: string, ctx: MethodContext, args: Args): Promise<unknown[][]> {
  const method = registry.get(name);
  if (!method) throw frappeError('DoesNotExistError', 'Method not found', { title: 'Invalid Method' });
  // No way around a method's verbs (a POST-only method is not callable through a GET search),
  // nor around a token's scope: a `ToDo:read` token reaches search_link, not every method.
  if (!method.methods.has(ctx.request.method)) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
  if (ctx.auth.scopes && !compileScopes(ctx.auth.scopes).allowsMethod(name)) {
    throw frappeError('PermissionError', `The token's scope does not allow calling ${name}`, { title: 'Not Permitted' });
  }
  const callArgs: Args = {
    doctype: args.doctype,
    txt: args.txt,
    searchfield: args.searchfield,
    start: 0,
    page_len: args.page_len,
    filters: jsonArg(args.filters, 'filters'),
    as_dict: false,
    reference_doctype: args.reference_doctype,
    ignore_user_permissions: args.ignore_user_permissions,
  };
  if (method.params) for (const key of Object.keys(callArgs)) if (!method.params.has(key)) delete callArgs[key];
  const result = await method.handler(callArgs, ctx);
  if (!Array.isArray(result)) return [];
  return result.map((row) => (Array.isArray(row) ? row : isPlainObject(row) ? Object.values(row) : [row]));
}

async function reportviewCountMethod(args: Args, ctx: MethodContext): Promise<unknown> {
  const doctype = requiredName(args, 'doctype');
  const filters = jsonArg(args.filters, 'filters');
  const orFilters = jsonArg(args.or_filters, 'or_filters');
  const limit = countArg(args.limit, 'limit', 0);
  return withDebug(ctx, args.debug, async (documents) => {
    const count = await getCount(doctype, { filters, or_filters: orFilters, parent: args.parent }, documents);
    return limit > 0 ? Math.min(count, limit) : count;
  });
}

/** Frappe's `getdoctype`: the DocType and its child tables as documents, in the top-level `docs`. */
function getDoctypeMethod(args: Args, ctx: MethodContext): FullBody {
  const registry = ctx.documents.registry;
  const meta = doctypeArg(ctx, args);
  const body: Record<string, unknown> = {};
  let root = meta;
  if (boolArg(args.with_parent, false) && meta.istable) {
    const parent = registry.all().find((m) => m.tableFields.some((f) => f.options === meta.name));
    if (parent) {
      root = parent;
      body.parent_dt = parent.name;
    }
  }
  const bundle = [root];
  for (const field of root.tableFields) {
    const child = registry.get(field.options);
    if (!bundle.includes(child)) bundle.push(child);
  }
  body.user_settings = '{}';
  body.docs = bundle.map((m) => withoutNulls(metaAsDoc(m)));
  return new FullBody(body);
}

// ---------------------------------------------------------------------------------------------
// Registration

export function registerClientMethods(methods: MethodRegistry): void {
  const add = (name: string, definition: MethodDefinition) => methods.register(name, definition, 'frappe');

  add('frappe.client.get_list', {
    params: ['doctype', 'fields', 'filters', 'group_by', 'order_by', 'limit_start', 'limit_page_length', 'parent', 'debug', 'as_dict', 'or_filters'],
    handler: getListMethod,
  });
  add('frappe.client.get_count', { params: ['doctype', 'filters', 'debug', 'cache'], handler: getCountMethod });
  add('frappe.client.get', { params: ['doctype', 'name', 'filters', 'parent'], handler: getMethod });
  add('frappe.client.get_value', { params: ['doctype', 'fieldname', 'filters', 'as_dict', 'debug', 'parent'], handler: getValueMethod });
  add('frappe.client.get_single_value', { params: ['doctype', 'field'], handler: getSingleValueMethod });
  add('frappe.client.set_value', { methods: WRITE_VERBS, params: ['doctype', 'name', 'fieldname', 'value'], handler: setValueMethod });
  add('frappe.client.insert', { methods: WRITE_VERBS, params: ['doc'], handler: insertMethod });
  add('frappe.client.insert_many', { methods: WRITE_VERBS, params: ['docs'], handler: insertManyMethod });
  add('frappe.client.save', { methods: WRITE_VERBS, params: ['doc'], handler: saveMethod });
  add('frappe.client.rename_doc', { methods: WRITE_VERBS, params: ['doctype', 'old_name', 'new_name', 'merge'], handler: renameMethod });
  add('frappe.client.submit', { methods: WRITE_VERBS, params: ['doc'], handler: submitMethod });
  add('frappe.client.cancel', { methods: WRITE_VERBS, params: ['doctype', 'name'], handler: cancelMethod });
  add('frappe.client.delete', { methods: ['DELETE', 'POST'], params: ['doctype', 'name'], handler: deleteMethod });
  add('frappe.client.bulk_update', { methods: WRITE_VERBS, params: ['docs'], handler: bulkUpdateMethod });
  add('frappe.client.has_permission', { params: ['doctype', 'docname', 'perm_type'], handler: hasPermissionMethod });
  add('frappe.client.get_doc_permissions', { params: ['doctype', 'docname'], handler: getDocPermissionsMethod });
  add('frappe.client.get_password', { params: ['doctype', 'name', 'fieldname'], handler: getPasswordMethod });
  add('frappe.client.get_time_zone', { allowGuest: true, params: [], handler: getTimeZoneMethod });
  add('frappe.client.is_document_amended', { params: ['doctype', 'docname'], handler: isDocumentAmendedMethod });
  add('frappe.desk.search.search_link', {
    params: ['doctype', 'txt', 'query', 'filters', 'page_length', 'searchfield', 'reference_doctype', 'ignore_user_permissions'],
    handler: makeSearchLink(methods),
  });
  add('frappe.desk.reportview.get_count', { params: ['doctype', 'filters', 'or_filters', 'limit', 'distinct', 'parent', 'debug'], handler: reportviewCountMethod });
  add('frappe.desk.form.load.getdoctype', { params: ['doctype', 'with_parent', 'cached_timestamp'], handler: getDoctypeMethod });
}
