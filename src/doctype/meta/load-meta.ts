/**
 * Reads Frappe's doctype JSON as Frappe exports it (unknown keys ignored) into frozen
 * DocTypeMeta. A malformed definition is refused with a message naming the DocType and key.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deepFreeze } from '../../core/config.ts';
import {
  FIELD_TYPES,
  NO_VALUE_TYPES,
  STANDARD_COLUMNS,
  CHILD_COLUMNS,
  TABLE_TYPES,
  type DocField,
  type DocPerm,
  type DocTypeMeta,
  type FieldType,
} from './types.ts';

export class MetaError extends Error {
  override name = 'MetaError';
}

const FIELDNAME = /^[a-z_][a-z0-9_]*$/i;
const DOCTYPE_NAME = /^[A-Za-z][A-Za-z0-9 _-]{0,60}$/;
const FIELD_TYPE_SET: ReadonlySet<string> = new Set(FIELD_TYPES);
const RESERVED: ReadonlySet<string> = new Set([...STANDARD_COLUMNS, ...CHILD_COLUMNS, 'doctype']);

const flag = (value: unknown): boolean => value === 1 || value === true || value === '1';
const text = (value: unknown): string => (typeof value === 'string' ? value : value == null ? '' : String(value));
const int = (value: unknown): number => {
  const n = typeof value === 'number' ? value : Number.parseInt(text(value), 10);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
};

function normalizeField(raw: unknown, doctype: string, index: number): DocField {
  if (typeof raw !== 'object' || raw === null) throw new MetaError(`${doctype}: fields[${index}] is not an object`);
  const r = raw as Record<string, unknown>;
  const fieldtype = text(r.fieldtype) || 'Data';
  if (!FIELD_TYPE_SET.has(fieldtype)) {
    throw new MetaError(`${doctype}: field ${text(r.fieldname) || index}: unknown fieldtype "${fieldtype}"`);
  }
  const fieldname = text(r.fieldname);
  if (!NO_VALUE_TYPES.has(fieldtype)) {
    if (!FIELDNAME.test(fieldname) || fieldname.length > 64) {
      throw new MetaError(`${doctype}: fields[${index}]: invalid fieldname "${fieldname}"`);
    }
    if (RESERVED.has(fieldname)) {
      throw new MetaError(`${doctype}: field "${fieldname}" clashes with a standard column`);
    }
  }
  return {
    fieldname,
    fieldtype: fieldtype as FieldType,
    label: text(r.label) || fieldname,
    options: text(r.options),
    reqd: flag(r.reqd),
    unique: flag(r.unique),
    default: r.default == null || r.default === '' ? undefined : text(r.default),
    read_only: flag(r.read_only),
    hidden: flag(r.hidden),
    permlevel: int(r.permlevel),
    length: int(r.length),
    in_list_view: flag(r.in_list_view),
    allow_on_submit: flag(r.allow_on_submit),
    set_only_once: flag(r.set_only_once),
    search_index: flag(r.search_index),
    no_copy: flag(r.no_copy),
  };
}

function normalizePerm(raw: unknown, doctype: string, index: number): DocPerm {
  if (typeof raw !== 'object' || raw === null) throw new MetaError(`${doctype}: permissions[${index}] is not an object`);
  const r = raw as Record<string, unknown>;
  const role = text(r.role);
  if (!role) throw new MetaError(`${doctype}: permissions[${index}] has no role`);
  return {
    role,
    permlevel: int(r.permlevel),
    if_owner: flag(r.if_owner),
    select: flag(r.select),
    read: flag(r.read),
    write: flag(r.write),
    create: flag(r.create),
    delete: flag(r.delete),
    submit: flag(r.submit),
    cancel: flag(r.cancel),
    amend: flag(r.amend),
    report: flag(r.report),
    export: flag(r.export),
    import: flag(r.import),
    share: flag(r.share),
    print: flag(r.print),
    email: flag(r.email),
  };
}

/** Normalises one doctype JSON object. `app` is the app that ships it. */
export function normalizeDocType(raw: unknown, app: string): DocTypeMeta {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MetaError('doctype definition is not an object');
  const r = raw as Record<string, unknown>;
  const name = text(r.name);
  if (!DOCTYPE_NAME.test(name)) throw new MetaError(`invalid DocType name "${name}"`);
  if (r.doctype !== undefined && r.doctype !== 'DocType') throw new MetaError(`${name}: "doctype" must be "DocType"`);
  const rawFields = r.fields ?? [];
  if (!Array.isArray(rawFields)) throw new MetaError(`${name}: fields must be a list`);
  const rawPerms = r.permissions ?? [];
  if (!Array.isArray(rawPerms)) throw new MetaError(`${name}: permissions must be a list`);
  const fields = rawFields.map((f, i) => normalizeField(f, name, i));
  const seen = new Set<string>();
  for (const field of fields) {
    if (NO_VALUE_TYPES.has(field.fieldtype)) continue;
    if (seen.has(field.fieldname)) throw new MetaError(`${name}: duplicate fieldname "${field.fieldname}"`);
    seen.add(field.fieldname);
    if ((TABLE_TYPES.has(field.fieldtype) || field.fieldtype === 'Link') && !field.options) {
      throw new MetaError(`${name}: field "${field.fieldname}" (${field.fieldtype}) needs options naming a DocType`);
    }
  }
  const valueFields = fields.filter((f) => !NO_VALUE_TYPES.has(f.fieldtype) && !TABLE_TYPES.has(f.fieldtype));
  const tableFields = fields.filter((f) => TABLE_TYPES.has(f.fieldtype));
  const sortOrder = text(r.sort_order).toUpperCase() === 'ASC' ? 'ASC' : 'DESC';
  const sortField = text(r.sort_field);
  return deepFreeze({
    name,
    module: text(r.module) || 'Custom',
    app,
    fields,
    permissions: rawPerms.map((p, i) => normalizePerm(p, name, i)),
    autoname: text(r.autoname).trim(),
    naming_rule: text(r.naming_rule),
    istable: flag(r.istable),
    issingle: flag(r.issingle),
    is_submittable: flag(r.is_submittable),
    title_field: text(r.title_field),
    sort_field: sortField === 'modified' && !seen.has('modified') ? 'modified' : sortField,
    sort_order: sortOrder,
    track_changes: flag(r.track_changes),
    is_virtual: flag(r.is_virtual),
    allow_rename: flag(r.allow_rename),
    valueFields,
    tableFields,
    fieldMap: new Map(fields.filter((f) => !NO_VALUE_TYPES.has(f.fieldtype)).map((f) => [f.fieldname, f])),
    tableName: `tab${name}`,
  } satisfies DocTypeMeta);
}

/**
 * Loads doctype JSON files from a folder: either `*.json` directly, or Frappe's layout
 * `<module>/doctype/<name>/<name>.json` (any depth).
 */
export function loadDocTypeFolder(folder: string, app: string): DocTypeMeta[] {
  const metas: DocTypeMeta[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) {
        if (entry !== 'node_modules' && !entry.startsWith('.')) visit(path);
      } else if (entry.endsWith('.json')) {
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(path, 'utf8'));
        } catch (error) {
          throw new MetaError(`${path}: not valid JSON (${(error as Error).message})`);
        }
        // Frappe folders also hold other JSON (fixtures, reports): only DocType definitions count.
        if (typeof raw === 'object' && raw !== null && (raw as { doctype?: unknown }).doctype === 'DocType') {
          try {
            metas.push(normalizeDocType(raw, app));
          } catch (error) {
            throw new MetaError(`${path}: ${(error as Error).message}`);
          }
        }
      }
    }
  };
  visit(folder);
  return metas;
}
