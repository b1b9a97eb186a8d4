/**
 * Turns a document's submitted values into the values stored, as Frappe's `_validate` does:
 * coercion by field type, permlevels the user may not write, mandatory fields, links, and
 * child rows. Throws Frappe's exceptions; never writes.
 */
import { randomHex } from '../../core/crypto.ts';
import { frappeError } from '../../core/errors.ts';
import type { Row, SqlValue } from '../../storage/types.ts';
import type { DocField, DocTypeMeta } from '../meta/types.ts';
import { childPermissionMeta, permittedLevels } from '../permissions.ts';
import { isAdministrator } from '../principal.ts';
import { coerceFieldValue, defaultValue, isEmptyValue } from './field-values.ts';
import type { Doc, DocumentContext } from './document-context.ts';

export const PASSWORD_MASK = '********';

/** A password value that means "unchanged": Frappe sends back the mask it served. */
export function isMask(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && /^\*+$/.test(value);
}

export interface PreparedValues {
  /** Column → stored value, for value fields only. */
  values: Record<string, SqlValue>;
  /** Password fields to (re-)encrypt: fieldname → plain text. */
  passwords: Record<string, string>;
}

function writableLevels(meta: DocTypeMeta, ctx: DocumentContext): ReadonlySet<number> | undefined {
  if (ctx.ignorePermissions || isAdministrator(ctx.principal)) return undefined;
  return permittedLevels(meta, 'write', ctx.principal);
}

/**
 * Stored values of one document (or child row). `existing` is the stored row when saving;
 * fields the user may not write keep their stored value (new documents: their default).
 */
export function prepareValues(
  meta: DocTypeMeta,
  doc: Doc,
  existing: Row | undefined,
  ctx: DocumentContext,
  rowLabel?: string,
): PreparedValues {
  const levels = writableLevels(meta, ctx);
  const values: Record<string, SqlValue> = {};
  const passwords: Record<string, string> = {};
  const missing: DocField[] = [];
  const now = ctx.clock.now();
  for (const field of meta.valueFields) {
    const name = field.fieldname;
    const writable = !levels || levels.has(field.permlevel);
    const given = writable && Object.hasOwn(doc, name) ? doc[name] : undefined;
    if (field.fieldtype === 'Password') {
      const hasStored = existing !== undefined && isMask(existing[name]);
      if (given !== undefined && given !== null && given !== '' && !isMask(given)) {
        if (typeof given !== 'string') throw frappeError('ValidationError', `Invalid value for ${field.label}`);
        passwords[name] = given;
        values[name] = PASSWORD_MASK;
      } else if (given === null || given === '') {
        values[name] = null;
      } else {
        values[name] = hasStored ? PASSWORD_MASK : null;
      }
      if (field.reqd && values[name] === null) missing.push(field);
      continue;
    }
    let stored: SqlValue;
    if (given !== undefined) stored = coerceFieldValue(field, given, { doctype: meta.name });
    else if (existing) stored = (existing[name] ?? null) as SqlValue;
    else stored = defaultValue(field, { user: ctx.principal.user, now }) ?? null;
    // An empty unique value is NULL, so that many documents may leave it empty.
    if (field.unique && stored === '') stored = null;
    if (field.reqd && isEmptyValue(field, stored)) missing.push(field);
    values[name] = stored;
  }
  if (missing.length > 0) {
    const where = rowLabel ? `${rowLabel}: ` : '';
    throw frappeError('MandatoryError', `[${meta.name}, ${String(doc.name ?? 'new')}]: ${missing.map((f) => f.fieldname).join(', ')}`, {
      title: 'Missing Fields',
      errorMessage: `${where}Error: Value missing for ${meta.name}: ${missing.map((f) => f.label).join(', ')}`,
    });
  }
  return { values, passwords };
}

export interface PreparedChild {
  name: string;
  idx: number;
  prepared: PreparedValues;
  owner: string;
  creation: string;
}

/** Child rows of one table field: a list of objects; names kept for rows that already exist. */
export function prepareChildRows(
  parentMeta: DocTypeMeta,
  field: DocField,
  rows: unknown,
  existingRows: readonly Row[],
  ctx: DocumentContext,
  timestamp: string,
): PreparedChild[] {
  if (rows === null || rows === undefined) rows = [];
  if (!Array.isArray(rows)) {
    throw frappeError('ValidationError', `${field.label} (${field.fieldname}) must be a list of rows`);
  }
  const childMeta = ctx.registry.get(field.options);
  const byName = new Map(existingRows.map((row) => [String(row.name), row]));
  const seen = new Set<string>();
  return rows.map((raw, index) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw frappeError('ValidationError', `Row #${index + 1} of ${field.label} must be an object`);
    }
    const row = raw as Doc;
    const givenName = typeof row.name === 'string' ? row.name : undefined;
    const existing = givenName ? byName.get(givenName) : undefined;
    const name = existing && givenName && !seen.has(givenName) ? givenName : randomHex(10);
    seen.add(name);
    const prepared = prepareValues(childPermissionMeta(childMeta, parentMeta), row, existing, ctx, `Row #${index + 1}`);
    return {
      name,
      idx: index + 1,
      prepared,
      owner: String(existing?.owner ?? ctx.principal.user),
      creation: String(existing?.creation ?? timestamp),
    };
  });
}

/** Link and Dynamic Link values must name existing documents (LinkValidationError). */
export async function validateLinks(meta: DocTypeMeta, values: Record<string, SqlValue>, ctx: DocumentContext, rowLabel = ''): Promise<void> {
  const q = ctx.db.dialect.quote;
  for (const field of meta.valueFields) {
    const value = values[field.fieldname];
    if (value === null || value === undefined || value === '') continue;
    let target: string | undefined;
    if (field.fieldtype === 'Link') target = field.options;
    else if (field.fieldtype === 'Dynamic Link') {
      const doctype = values[field.options];
      if (typeof doctype !== 'string' || doctype === '') continue;
      target = doctype;
    } else continue;
    const targetMeta = ctx.registry.find(target);
    let found: boolean;
    if (!targetMeta) found = false;
    else if (targetMeta.issingle) found = String(value) === targetMeta.name;
    else if (targetMeta.is_virtual) found = targetMeta.name === 'DocType' && ctx.registry.has(String(value));
    else {
      const row = await ctx.db.get<{ docstatus: number | string }>(
        `SELECT ${q('docstatus')} FROM ${q(targetMeta.tableName)} WHERE ${q('name')} = ?`,
        [String(value)],
      );
      found = row !== undefined;
      if (row && Number(row.docstatus) === 2 && meta.is_submittable && field.fieldname !== 'amended_from') {
        throw frappeError('CancelledLinkError', `${rowLabel}Cannot link cancelled document: ${target} ${String(value)}`, { title: 'Invalid Link' });
      }
    }
    if (!found) {
      throw frappeError('LinkValidationError', `${rowLabel}Could not find ${field.label}: ${String(value)}`, { title: 'Invalid Link' });
    }
  }
}
