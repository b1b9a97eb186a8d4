/**
 * DocType metadata and the user's rights on it (`cortado.desk.meta`, `cortado.desk.doctypes`),
 * fetched once per page load: metadata only changes with a migration.
 */
import { call } from './api.ts';
import { boot } from './boot.ts';

export interface DocField {
  fieldname: string;
  fieldtype: string;
  label: string;
  options: string;
  reqd: number;
  read_only: number;
  hidden: number;
  permlevel: number;
  in_list_view: number;
  default?: string;
}

export interface DocTypeDoc {
  name: string;
  module: string;
  istable: number;
  issingle: number;
  is_submittable: number;
  autoname: string;
  title_field: string;
  sort_field: string;
  sort_order: string;
  fields: DocField[];
}

/** 'all', 'own' (only documents the user owns), or null. */
export type Right = 'all' | 'own' | null;

export interface Rights {
  read: Right;
  write: Right;
  create: Right;
  delete: Right;
}

export interface DeskMeta {
  doctype: string;
  slug: string;
  rights: Rights;
  read_levels: number[];
  write_levels: number[];
  /** The DocType first, then its child DocTypes. */
  docs: DocTypeDoc[];
}

export interface DoctypeEntry {
  name: string;
  slug: string;
  module: string;
  issingle: number;
  rights: Rights;
}

/** Field types that only lay out a form. */
export const LAYOUT_TYPES = new Set(['Section Break', 'Column Break', 'Tab Break', 'HTML', 'Button', 'Image', 'Heading', 'Fold']);
export const TABLE_TYPES = new Set(['Table', 'Table MultiSelect']);

const bySlug = new Map<string, Promise<DeskMeta>>();
const byDoctype = new Map<string, Promise<DeskMeta>>();

function remember(key: string, map: Map<string, Promise<DeskMeta>>, load: () => Promise<DeskMeta>): Promise<DeskMeta> {
  let pending = map.get(key);
  if (!pending) {
    pending = load();
    map.set(key, pending);
    // A failure is not remembered: the next visit asks again.
    pending.catch(() => map.delete(key));
  }
  return pending;
}

export function metaForSlug(slug: string): Promise<DeskMeta> {
  return remember(slug, bySlug, () => call<DeskMeta>('cortado.desk.meta', { slug }));
}

export function metaFor(doctype: string): Promise<DeskMeta> {
  return remember(doctype, byDoctype, () => call<DeskMeta>('cortado.desk.meta', { doctype }));
}

let doctypes: Promise<DoctypeEntry[]> | undefined;

export function readableDoctypes(): Promise<DoctypeEntry[]> {
  doctypes ??= call<DoctypeEntry[]>('cortado.desk.doctypes');
  doctypes.catch(() => (doctypes = undefined));
  return doctypes;
}

export function mainDoc(meta: DeskMeta): DocTypeDoc {
  const doc = meta.docs[0];
  if (!doc) throw new Error(`No metadata for ${meta.doctype}`);
  return doc;
}

export function childDoc(meta: DeskMeta, doctype: string): DocTypeDoc | undefined {
  return meta.docs.find((d) => d.name === doctype);
}

export function canReadField(meta: DeskMeta, field: DocField): boolean {
  return meta.read_levels.includes(field.permlevel);
}

/** Whether the user may change `doc` (a new document when it has no `name` yet). */
export function canWriteDoc(meta: DeskMeta, doc: { name?: unknown; owner?: unknown }, isNew: boolean): boolean {
  const right = isNew ? meta.rights.create : meta.rights.write;
  return right === 'all' || (right === 'own' && (isNew || doc.owner === boot.user));
}

export function canWriteField(meta: DeskMeta, field: DocField): boolean {
  return !field.read_only && field.fieldtype !== 'Read Only' && meta.write_levels.includes(field.permlevel);
}

/** Select options: one per line. */
export function selectOptions(field: DocField): string[] {
  return field.options.split('\n');
}

/** Value fields shown as list columns: those flagged `in_list_view`, else the first few. */
export function listFields(meta: DeskMeta): DocField[] {
  const fields = mainDoc(meta).fields.filter((f) => !LAYOUT_TYPES.has(f.fieldtype) && !TABLE_TYPES.has(f.fieldtype) && f.fieldtype !== 'Password' && !f.hidden && canReadField(meta, f));
  const flagged = fields.filter((f) => f.in_list_view);
  return (flagged.length > 0 ? flagged : fields).slice(0, 5);
}
