/**
 * Writing documents: insert, save, delete, submit/cancel/amend, rename, singles. Every write
 * runs in the request's transaction, checks DocPerm, validates as Frappe does and fires the
 * document events apps registered.
 */
import { datetimeAfter, formatDatetime } from '../../core/clock.ts';
import type { FrappeError } from '../../core/errors.ts';
import { frappeError } from '../../core/errors.ts';
import { UniqueViolation, type Row, type SqlValue } from '../../storage/types.ts';
import type { DocTypeMeta, PermissionType } from '../meta/types.ts';
import { assertDocPermission, assertDoctypePermission, readableFieldnames } from '../permissions.ts';
import { assertScope, type Doc, type DocEvent, type DocumentContext } from './document-context.ts';
import { namedByHash, newName, validateName } from './naming.ts';
import { deleteAuthRows, setEncryptedField } from './password-fields.ts';
import { getDoc, getSingle, isStorableName, loadChildren, loadRow, notFound } from './read-documents.ts';
import { rowToDoc } from './row-to-doc.ts';
import { prepareChildRows, prepareValues, validateLinks, type PreparedChild, type PreparedValues } from './validate-values.ts';

async function fire(ctx: DocumentContext, event: DocEvent, doctype: string, doc: Doc): Promise<void> {
  if (ctx.runEvent) await ctx.runEvent(event, doctype, doc);
}

function check(ctx: DocumentContext, meta: DocTypeMeta, ptype: PermissionType, doc?: Row | Doc): void {
  if (ctx.ignorePermissions) return;
  assertScope(ctx, meta.name, ptype);
  if (doc) assertDocPermission(meta, ptype, doc, ctx.principal);
  else assertDoctypePermission(meta, ptype, ctx.principal);
}

/** A random name taken by another document is drawn again, up to five times, as in Frappe. */
const HASH_NAME_DRAWS = 6;

function duplicate(meta: DocTypeMeta, name: unknown, error: UniqueViolation): FrappeError {
  const field = error.column ? meta.fieldMap.get(error.column) : undefined;
  if (field) {
    return frappeError('DuplicateEntryError', `${field.label} must be unique: a ${meta.name} with this ${field.label} already exists`, {
      title: 'Duplicate Entry',
      cause: error,
    });
  }
  return frappeError('DuplicateEntryError', `${meta.name} ${String(name)} already exists`, { title: 'Duplicate Name', cause: error });
}

/**
 * Inserts the row; with `skipNameClash`, a row whose name is taken is not inserted (and false
 * returned) rather than failing the statement, which on PostgreSQL would abort the transaction.
 */
async function insertRow(ctx: DocumentContext, meta: DocTypeMeta, row: Record<string, SqlValue>, skipNameClash = false): Promise<boolean> {
  const q = ctx.db.dialect.quote;
  const columns = Object.keys(row);
  const result = await ctx.db.run(
    `INSERT INTO ${q(meta.tableName)} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})${skipNameClash ? ' ON CONFLICT ("name") DO NOTHING' : ''}`,
    columns.map((c) => row[c] ?? null),
  );
  return result.changes > 0;
}

async function writePasswords(ctx: DocumentContext, meta: DocTypeMeta, name: string, prepared: PreparedValues): Promise<void> {
  for (const [fieldname, plain] of Object.entries(prepared.passwords)) {
    await setEncryptedField(ctx.db, ctx.cipher, meta.name, name, fieldname, plain);
  }
}

async function writeChildren(
  ctx: DocumentContext,
  meta: DocTypeMeta,
  parent: string,
  children: Map<string, PreparedChild[]>,
  stamp: { modified: string; modified_by: string },
  docstatus: number,
): Promise<void> {
  const q = ctx.db.dialect.quote;
  for (const [fieldname, rows] of children) {
    const field = meta.fieldMap.get(fieldname);
    if (!field) continue;
    const childMeta = ctx.registry.get(field.options);
    await ctx.db.run(
      `DELETE FROM ${q(childMeta.tableName)} WHERE ${q('parent')} = ? AND ${q('parenttype')} = ? AND ${q('parentfield')} = ?`,
      [parent, meta.name, fieldname],
    );
    for (const child of rows) {
      await insertRow(ctx, childMeta, {
        name: child.name,
        owner: child.owner,
        creation: child.creation,
        modified: stamp.modified,
        modified_by: stamp.modified_by,
        docstatus,
        idx: child.idx,
        parent,
        parentfield: fieldname,
        parenttype: meta.name,
        ...child.prepared.values,
      });
      await writePasswords(ctx, childMeta, child.name, child.prepared);
    }
  }
}

async function prepareAllChildren(
  ctx: DocumentContext,
  meta: DocTypeMeta,
  doc: Doc,
  existingParent: string | undefined,
  timestamp: string,
  onlyGiven: boolean,
): Promise<Map<string, PreparedChild[]>> {
  const q = ctx.db.dialect.quote;
  const result = new Map<string, PreparedChild[]>();
  for (const field of meta.tableFields) {
    if (onlyGiven && !Object.hasOwn(doc, field.fieldname)) continue;
    const childMeta = ctx.registry.get(field.options);
    const existingRows = existingParent
      ? await ctx.db.all(
          `SELECT * FROM ${q(childMeta.tableName)} WHERE ${q('parent')} = ? AND ${q('parenttype')} = ? AND ${q('parentfield')} = ?`,
          [existingParent, meta.name, field.fieldname],
        )
      : [];
    const rows = prepareChildRows(meta, field, doc[field.fieldname], existingRows, ctx, timestamp);
    for (const row of rows) await validateLinks(childMeta, row.prepared.values, ctx, `Row #${row.idx}: `);
    result.set(field.fieldname, rows);
  }
  return result;
}

/** Only the keys a document may carry: value fields, table fields and `name`. */
function pickKnown(meta: DocTypeMeta, input: Doc): Doc {
  const doc: Doc = {};
  for (const [key, value] of Object.entries(input)) {
    if (meta.fieldMap.has(key) || key === 'name' || key === '__newname' || key === 'docstatus' || key === 'modified') doc[key] = value;
  }
  return doc;
}

function docstatusOf(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  if (n !== 0 && n !== 1 && n !== 2) throw frappeError('DocstatusTransitionError', `Invalid docstatus ${String(value)}`);
  return n;
}

/** Reads the stored document back as the caller may see it. */
async function readBack(meta: DocTypeMeta, name: unknown, ctx: DocumentContext): Promise<Doc> {
  const doc = await getDoc(meta.name, name, { ...ctx, ignorePermissions: true });
  const readable = ctx.ignorePermissions ? undefined : readableFieldnames(meta, ctx.principal);
  if (readable) for (const key of Object.keys(doc)) if (meta.fieldMap.has(key) && !readable.has(key)) delete doc[key];
  return doc;
}

export interface InsertOptions {
  /** Internal callers only: the name to give, whatever the DocType's naming rule says. */
  name?: string;
}

/** Frappe's `insert()`: create permission, defaults, events, validation, naming, child rows. */
export async function insertDoc(doctype: string, input: Doc, ctx: DocumentContext, options: InsertOptions = {}): Promise<Doc> {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle) return saveSingle(doctype, input, ctx);
  if (meta.is_virtual) throw frappeError('PermissionError', `Cannot create ${doctype} documents through the API`);
  if (meta.istable) throw frappeError('ValidationError', `${doctype} is a child table: insert it through its parent`);
  await ctx.db.begin();
  const doc = pickKnown(meta, input);
  const docstatus = docstatusOf(doc.docstatus, 0);
  if (docstatus === 2) throw frappeError('DocstatusTransitionError', 'Cannot create a cancelled document');
  if (docstatus === 1 && !meta.is_submittable) throw frappeError('ValidationError', `${doctype} is not submittable`);
  check(ctx, meta, 'create');
  if (docstatus === 1) check(ctx, meta, 'submit');
  doc.docstatus = docstatus;
  doc.owner = ctx.principal.user;
  doc.doctype = meta.name;

  await fire(ctx, 'before_insert', doctype, doc);
  await fire(ctx, 'validate', doctype, doc);
  await fire(ctx, 'before_save', doctype, doc);
  if (docstatus === 1) await fire(ctx, 'before_submit', doctype, doc);

  const timestamp = formatDatetime(ctx.clock.now());
  const prepared = prepareValues(meta, doc, undefined, ctx);
  await validateLinks(meta, prepared.values, ctx);
  const children = await prepareAllChildren(ctx, meta, doc, undefined, timestamp, false);
  const naming = { db: ctx.db, now: ctx.clock.now() };
  const drawsAgain = options.name === undefined && namedByHash(meta);
  const namingDoc = { ...doc, ...prepared.values };
  let name = options.name ?? (await newName(meta, namingDoc, naming));
  const stamp = { modified: timestamp, modified_by: ctx.principal.user };
  for (let draws = 1; ; draws++) {
    let inserted: boolean;
    try {
      inserted = await insertRow(ctx, meta, { name: String(name), owner: ctx.principal.user, creation: timestamp, ...stamp, docstatus, idx: 0, ...prepared.values }, drawsAgain);
    } catch (error) {
      if (error instanceof UniqueViolation) throw duplicate(meta, name, error);
      throw error;
    }
    // Only a drawn name that clashed is drawn again; a row a trigger chose not to insert is not a clash.
    if (inserted || !drawsAgain) break;
    if (draws === HASH_NAME_DRAWS) throw duplicate(meta, name, new UniqueViolation(meta.tableName, 'name'));
    name = await newName(meta, namingDoc, naming);
  }
  await writePasswords(ctx, meta, String(name), prepared);
  await writeChildren(ctx, meta, String(name), children, stamp, docstatus);

  const saved = await readBack(meta, name, ctx);
  await fire(ctx, 'after_insert', doctype, saved);
  await fire(ctx, 'on_update', doctype, saved);
  if (docstatus === 1) await fire(ctx, 'on_submit', doctype, saved);
  return saved;
}

function lockSuffix(ctx: DocumentContext): string {
  return ctx.db.dialect.name === 'postgres' ? ' FOR UPDATE' : '';
}

async function loadForUpdate(meta: DocTypeMeta, name: unknown, ctx: DocumentContext): Promise<Row> {
  await ctx.db.begin();
  const q = ctx.db.dialect.quote;
  const row = isStorableName(name) ? await ctx.db.get(`SELECT * FROM ${q(meta.tableName)} WHERE ${q('name')} = ?${lockSuffix(ctx)}`, [String(name)]) : undefined;
  if (!row) {
    if (!ctx.ignorePermissions) assertDoctypePermission(meta, 'read', ctx.principal);
    notFound(meta.name, name);
  }
  return row;
}

/**
 * Frappe's `save()` on an existing document: `patch` holds the changed keys; table fields
 * sent replace their rows. A `docstatus` of 1 submits a draft, 2 cancels a submitted one.
 */
export async function saveDoc(doctype: string, name: unknown, patch: Doc, ctx: DocumentContext): Promise<Doc> {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle) return saveSingle(doctype, patch, ctx);
  if (meta.is_virtual) throw frappeError('PermissionError', `Cannot change ${doctype} documents through the API`);
  if (meta.istable) throw frappeError('ValidationError', `${doctype} is a child table: save it through its parent`);
  const existing = await loadForUpdate(meta, name, ctx);
  const before = Number(existing.docstatus);
  const after = docstatusOf(patch.docstatus, before);
  check(ctx, meta, before === 0 && after === 0 ? 'write' : after === 1 && before === 0 ? 'submit' : after === 2 ? 'cancel' : 'write', existing);

  if (patch.modified !== undefined && patch.modified !== null && String(patch.modified) !== String(existing.modified)) {
    throw frappeError('TimestampMismatchError', 'Error: Document has been modified after you have opened it. Please refresh to get the latest document.', {
      title: 'Document Modified',
    });
  }
  if (before === 2) throw frappeError('DocstatusTransitionError', 'Cannot edit cancelled document');
  if (after !== before && !meta.is_submittable) throw frappeError('DocstatusTransitionError', `${doctype} is not submittable`);
  if (before === 1 && after === 0) throw frappeError('DocstatusTransitionError', 'Cannot change docstatus from 1 to 0');
  if (before === 0 && after === 2) throw frappeError('DocstatusTransitionError', 'Cannot change docstatus from 0 to 2');

  const current = rowToDoc(meta, existing);
  const changes = pickKnown(meta, patch);
  delete changes.name;
  delete changes.modified;
  delete changes.__newname;
  if (before === 1 && after === 1) {
    for (const [key, value] of Object.entries(changes)) {
      const field = meta.fieldMap.get(key);
      if (key === 'docstatus' || !field || field.allow_on_submit) continue;
      const same = sameJson(value, current[key]) || (field.fieldtype === 'Table' || field.fieldtype === 'Table MultiSelect');
      if (!same) throw frappeError('UpdateAfterSubmitError', `Not allowed to change ${field.label} after submission`, { title: 'Not Allowed' });
    }
  }
  for (const field of meta.valueFields) {
    if (!field.set_only_once || !Object.hasOwn(changes, field.fieldname)) continue;
    const old = existing[field.fieldname];
    if (old !== null && old !== '' && old !== undefined && String(changes[field.fieldname]) !== String(old)) {
      throw frappeError('CannotChangeConstantError', `Value cannot be changed for ${field.label}`);
    }
  }

  const doc: Doc = { ...current, ...(await loadChildren(meta, String(existing.name), { ...ctx, ignorePermissions: true })), ...changes };
  doc.doctype = meta.name;
  doc.docstatus = after;
  await fire(ctx, 'validate', doctype, doc);
  await fire(ctx, 'before_save', doctype, doc);
  if (after === 1 && before === 0) await fire(ctx, 'before_submit', doctype, doc);
  if (after === 2) await fire(ctx, 'before_cancel', doctype, doc);
  if (after === 2) await assertNotLinked(meta, String(existing.name), ctx, true);

  const timestamp = datetimeAfter(String(existing.modified ?? ''), formatDatetime(ctx.clock.now()));
  // Hooks may change any key; only what the caller could send is taken from them.
  const prepared = prepareValues(meta, { ...changes, ...diff(current, doc) }, existing, ctx);
  await validateLinks(meta, prepared.values, ctx);
  const children = await prepareAllChildren(ctx, meta, doc, String(existing.name), timestamp, true);
  const stamp = { modified: timestamp, modified_by: ctx.principal.user };
  const q = ctx.db.dialect.quote;
  const columns = { ...prepared.values, ...stamp, docstatus: after };
  try {
    await ctx.db.run(
      `UPDATE ${q(meta.tableName)} SET ${Object.keys(columns).map((c) => `${q(c)} = ?`).join(', ')} WHERE ${q('name')} = ?`,
      [...Object.values(columns), String(existing.name)],
    );
  } catch (error) {
    if (error instanceof UniqueViolation) throw duplicate(meta, existing.name, error);
    throw error;
  }
  await writePasswords(ctx, meta, String(existing.name), prepared);
  if (after !== before) {
    // Child rows follow their parent's docstatus even when the table was not sent.
    for (const field of meta.tableFields) {
      const childMeta = ctx.registry.get(field.options);
      await ctx.db.run(`UPDATE ${q(childMeta.tableName)} SET ${q('docstatus')} = ? WHERE ${q('parent')} = ? AND ${q('parenttype')} = ?`, [
        after,
        String(existing.name),
        meta.name,
      ]);
    }
  }
  await writeChildren(ctx, meta, String(existing.name), children, stamp, after);

  const saved = await readBack(meta, existing.name, ctx);
  await fire(ctx, 'on_update', doctype, saved);
  if (after === 1 && before === 0) await fire(ctx, 'on_submit', doctype, saved);
  if (after === 2) await fire(ctx, 'on_cancel', doctype, saved);
  return saved;
}

/**
 * Equal as JSON. A value JSON cannot write (nested deeper than the stack, as a client may send
 * it) is never equal: it is then kept as a change, and refused by the field's validation.
 */
function sameJson(a: unknown, b: unknown): boolean {
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

/** Keys whose value a hook changed (compared with the stored document). */
function diff(before: Doc, after: Doc): Doc {
  const changed: Doc = {};
  for (const [key, value] of Object.entries(after)) {
    if (!sameJson(value, before[key])) changed[key] = value;
  }
  return changed;
}

export async function setValue(doctype: string, name: unknown, values: Doc, ctx: DocumentContext): Promise<Doc> {
  return saveDoc(doctype, name, values, ctx);
}

export async function submitDoc(doctype: string, name: unknown, ctx: DocumentContext): Promise<Doc> {
  return saveDoc(doctype, name, { docstatus: 1 }, ctx);
}

export async function cancelDoc(doctype: string, name: unknown, ctx: DocumentContext): Promise<Doc> {
  return saveDoc(doctype, name, { docstatus: 2 }, ctx);
}

/** A new draft from a cancelled document, named `<name>-1`, `<name>-2`, … as Frappe does. */
export async function amendDoc(doctype: string, name: unknown, ctx: DocumentContext): Promise<Doc> {
  const meta = ctx.registry.get(doctype);
  const existing = await loadForUpdate(meta, name, ctx);
  check(ctx, meta, 'amend', existing);
  if (Number(existing.docstatus) !== 2) throw frappeError('ValidationError', 'Only cancelled documents can be amended');
  const source = await getDoc(doctype, existing.name, { ...ctx, ignorePermissions: true });
  const base = String(source.amended_from ? String(existing.name).replace(/-\d+$/, '') : existing.name);
  let counter = 1;
  const match = /-(\d+)$/.exec(String(existing.name));
  if (source.amended_from && match) counter = Number(match[1]) + 1;
  const copy: Doc = {};
  for (const field of meta.fields) {
    if (field.no_copy || !Object.hasOwn(source, field.fieldname)) continue;
    const value = source[field.fieldname];
    copy[field.fieldname] = Array.isArray(value) ? value.map((row) => ({ ...(row as Doc), name: undefined })) : value;
  }
  if (meta.fieldMap.has('amended_from')) copy.amended_from = existing.name;
  return insertDoc(doctype, copy, ctx, { name: validateName(meta, `${base}-${counter}`) });
}

/** Refuses when other documents link to this one (LinkExistsError), as Frappe's delete/cancel. */
async function assertNotLinked(meta: DocTypeMeta, name: string, ctx: DocumentContext, submittedOnly: boolean): Promise<void> {
  const q = ctx.db.dialect.quote;
  const candidates: { doctype: string; fieldname: string; where: string; params: SqlValue[] }[] = [];
  for (const link of ctx.registry.linksTo(meta.name)) {
    candidates.push({ doctype: link.doctype, fieldname: link.fieldname, where: `${q(link.fieldname)} = ?`, params: [name] });
  }
  for (const other of ctx.registry.all()) {
    for (const field of other.valueFields) {
      if (field.fieldtype !== 'Dynamic Link' || !other.fieldMap.has(field.options)) continue;
      candidates.push({
        doctype: other.name,
        fieldname: field.fieldname,
        where: `${q(field.options)} = ? AND ${q(field.fieldname)} = ?`,
        params: [meta.name, name],
      });
    }
  }
  for (const candidate of candidates) {
    const linking = ctx.registry.get(candidate.doctype);
    if (linking.issingle || linking.is_virtual) continue;
    const select = linking.istable ? `${q('name')}, ${q('parent')}, ${q('parenttype')}, ${q('docstatus')}` : `${q('name')}, ${q('docstatus')}`;
    const rows = await ctx.db.all<{ name: string; parent?: string; parenttype?: string; docstatus: number | string }>(
      `SELECT ${select} FROM ${q(linking.tableName)} WHERE ${candidate.where} LIMIT 20`,
      candidate.params,
    );
    for (const row of rows) {
      const [doctype, docname] = linking.istable ? [row.parenttype ?? '', row.parent ?? ''] : [linking.name, row.name];
      if (doctype === meta.name && docname === name) continue;
      if (Number(row.docstatus) === 2) continue;
      if (submittedOnly && Number(row.docstatus) !== 1) continue;
      throw frappeError('LinkExistsError', `Cannot delete or cancel because ${meta.name} ${name} is linked with ${doctype} ${docname}`, {
        title: 'Cannot Delete or Cancel',
      });
    }
  }
}

/** Frappe's `delete_doc`: delete permission, not submitted, not linked, events, child rows. */
export async function deleteDoc(doctype: string, name: unknown, ctx: DocumentContext): Promise<void> {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle || meta.is_virtual) throw frappeError('ValidationError', `${doctype} documents cannot be deleted`);
  const existing = await loadForUpdate(meta, name, ctx);
  check(ctx, meta, 'delete', existing);
  if (Number(existing.docstatus) === 1) {
    throw frappeError('ValidationError', 'Submitted Record cannot be deleted. You must Cancel it first.');
  }
  const docName = String(existing.name);
  await assertNotLinked(meta, docName, ctx, false);
  const doc = await getDoc(doctype, docName, { ...ctx, ignorePermissions: true });
  await fire(ctx, 'on_trash', doctype, doc);
  const q = ctx.db.dialect.quote;
  for (const field of meta.tableFields) {
    const childMeta = ctx.registry.get(field.options);
    await ctx.db.run(`DELETE FROM ${q(childMeta.tableName)} WHERE ${q('parent')} = ? AND ${q('parenttype')} = ?`, [docName, meta.name]);
  }
  await ctx.db.run(`DELETE FROM ${q(meta.tableName)} WHERE ${q('name')} = ?`, [docName]);
  await deleteAuthRows(ctx.db, meta.name, docName);
  await fire(ctx, 'after_delete', doctype, doc);
}

/** Frappe's `rename_doc`: the new name must be free; Link values pointing at it follow. */
export async function renameDoc(doctype: string, oldName: unknown, newNameInput: unknown, ctx: DocumentContext): Promise<string> {
  const meta = ctx.registry.get(doctype);
  if (meta.issingle || meta.is_virtual || meta.istable) throw frappeError('ValidationError', `${doctype} documents cannot be renamed`);
  const existing = await loadForUpdate(meta, oldName, ctx);
  check(ctx, meta, 'write', existing);
  if (!meta.allow_rename && !ctx.ignorePermissions) throw frappeError('ValidationError', `${doctype} not allowed to be renamed`);
  if (typeof newNameInput !== 'string' && typeof newNameInput !== 'number') {
    throw frappeError('ValidationError', 'Please provide a new name');
  }
  const from = String(existing.name);
  const to = validateName(meta, String(newNameInput).trim());
  if (from === to) return to;
  if (await loadRow(meta, to, ctx)) {
    throw frappeError('DuplicateEntryError', `Another ${doctype} with name ${to} exists, select another name`, { title: 'Duplicate Name' });
  }
  const doc = rowToDoc(meta, existing);
  doc.doctype = meta.name;
  await fire(ctx, 'before_rename', doctype, { ...doc, old_name: from, new_name: to });
  const q = ctx.db.dialect.quote;
  await ctx.db.run(`UPDATE ${q(meta.tableName)} SET ${q('name')} = ? WHERE ${q('name')} = ?`, [to, from]);
  for (const field of meta.tableFields) {
    const childMeta = ctx.registry.get(field.options);
    await ctx.db.run(`UPDATE ${q(childMeta.tableName)} SET ${q('parent')} = ? WHERE ${q('parent')} = ? AND ${q('parenttype')} = ?`, [to, from, meta.name]);
  }
  for (const link of ctx.registry.linksTo(meta.name)) {
    const linking = ctx.registry.get(link.doctype);
    if (linking.issingle) {
      await ctx.db.run('UPDATE "tabSingles" SET "value" = ? WHERE "doctype" = ? AND "field" = ? AND "value" = ?', [to, linking.name, link.fieldname, from]);
    } else if (!linking.is_virtual) {
      await ctx.db.run(`UPDATE ${q(linking.tableName)} SET ${q(link.fieldname)} = ? WHERE ${q(link.fieldname)} = ?`, [to, from]);
    }
  }
  for (const other of ctx.registry.all()) {
    if (other.issingle || other.is_virtual) continue;
    for (const field of other.valueFields) {
      if (field.fieldtype !== 'Dynamic Link' || !other.fieldMap.has(field.options)) continue;
      await ctx.db.run(`UPDATE ${q(other.tableName)} SET ${q(field.fieldname)} = ? WHERE ${q(field.options)} = ? AND ${q(field.fieldname)} = ?`, [
        to,
        meta.name,
        from,
      ]);
    }
  }
  await ctx.db.run('UPDATE "__Auth" SET "name" = ? WHERE "doctype" = ? AND "name" = ?', [to, meta.name, from]);
  await fire(ctx, 'after_rename', doctype, { ...doc, name: to, old_name: from, new_name: to });
  return to;
}

/** Saves a single DocType's values into tabSingles. */
export async function saveSingle(doctype: string, patch: Doc, ctx: DocumentContext): Promise<Doc> {
  const meta = ctx.registry.get(doctype);
  check(ctx, meta, 'write', { owner: 'Administrator', name: doctype });
  await ctx.db.begin();
  const rows = await ctx.db.all<{ field: string; value: string | null }>('SELECT "field", "value" FROM "tabSingles" WHERE "doctype" = ?', [doctype]);
  const stored: Row = Object.fromEntries(rows.map((r) => [r.field, r.value]));
  const hasStored = rows.length > 0;
  const changes = pickKnown(meta, patch);
  const current = await getSingle(doctype, { ...ctx, ignorePermissions: true });
  const doc: Doc = { ...current, ...changes, doctype, name: doctype };
  await fire(ctx, 'validate', doctype, doc);
  const prepared = prepareValues(meta, { ...changes, ...diff(current, doc) }, hasStored ? stored : undefined, ctx);
  await validateLinks(meta, prepared.values, ctx);
  const timestamp = formatDatetime(ctx.clock.now());
  const values: Record<string, SqlValue> = { ...prepared.values, modified: timestamp, modified_by: ctx.principal.user };
  if (!hasStored) values.creation = timestamp;
  for (const [field, value] of Object.entries(values)) {
    await ctx.db.run('DELETE FROM "tabSingles" WHERE "doctype" = ? AND "field" = ?', [doctype, field]);
    await ctx.db.run('INSERT INTO "tabSingles" ("doctype", "field", "value") VALUES (?, ?, ?)', [doctype, field, value === null ? null : String(value)]);
  }
  await writePasswords(ctx, meta, doctype, prepared);
  const children = await prepareAllChildren(ctx, meta, doc, doctype, timestamp, true);
  await writeChildren(ctx, meta, doctype, children, { modified: timestamp, modified_by: ctx.principal.user }, 0);
  const saved = await getDoc(doctype, doctype, ctx);
  await fire(ctx, 'on_update', doctype, saved);
  return saved;
}
