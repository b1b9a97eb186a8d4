/**
 * The document operations as apps and API endpoints use them (Frappe's `frappe.get_doc`,
 * `frappe.get_list`, `frappe.db.get_value`, …), bound to one request's context so every call is
 * permission-checked as that request's user.
 */
import { frappeError } from '../core/errors.ts';
import type { Doc, DocumentContext } from './document/document-context.ts';
import { exists, getCount, getDoc, getList, type ListArgs } from './document/read-documents.ts';
import {
  amendDoc,
  cancelDoc,
  deleteDoc,
  insertDoc,
  renameDoc,
  saveDoc,
  submitDoc,
} from './document/write-documents.ts';

export interface DbApi {
  readonly user: string;
  getDoc(doctype: string, name: unknown): Promise<Doc>;
  getList(doctype: string, args?: ListArgs & { as_dict?: boolean }): Promise<Doc[] | unknown[][]>;
  getCount(doctype: string, filters?: unknown): Promise<number>;
  /** First matching row's field (or fields); `filters` may be a name. */
  getValue(doctype: string, filters: unknown, fieldname?: string | string[]): Promise<unknown>;
  exists(doctype: string, name: unknown): Promise<boolean>;
  insert(doc: Doc): Promise<Doc>;
  save(doc: Doc): Promise<Doc>;
  setValue(doctype: string, name: unknown, fieldname: string | Doc, value?: unknown): Promise<Doc>;
  delete(doctype: string, name: unknown): Promise<void>;
  submit(doctype: string, name: unknown): Promise<Doc>;
  cancel(doctype: string, name: unknown): Promise<Doc>;
  amend(doctype: string, name: unknown): Promise<Doc>;
  rename(doctype: string, oldName: unknown, newName: unknown): Promise<string>;
}

function requireDoctype(doc: Doc): string {
  if (typeof doc.doctype !== 'string' || doc.doctype === '') throw frappeError('ValidationError', 'doctype is required');
  return doc.doctype;
}

export function createDbApi(ctx: DocumentContext): DbApi {
  return {
    user: ctx.principal.user,
    getDoc: (doctype, name) => getDoc(doctype, name, ctx),
    async getList(doctype, args = {}) {
      const { rows, values } = await getList(doctype, args, ctx);
      return args.as_dict === false ? values : rows;
    },
    getCount: (doctype, filters) => getCount(doctype, { filters }, ctx),
    async getValue(doctype, filters, fieldname = 'name') {
      const meta = ctx.registry.get(doctype);
      const fields = Array.isArray(fieldname) ? fieldname : [fieldname];
      if (meta.issingle) {
        const doc = await getDoc(doctype, doctype, ctx);
        return Array.isArray(fieldname) ? Object.fromEntries(fields.map((f) => [f, doc[f] ?? null])) : (doc[fieldname] ?? null);
      }
      const byName = typeof filters === 'string' || typeof filters === 'number';
      const { rows } = await getList(
        doctype,
        { fields, filters: byName ? { name: filters } : filters, limit: 1, order_by: byName ? '' : undefined },
        ctx,
      );
      const row = rows[0];
      if (!row) return null;
      return Array.isArray(fieldname) ? row : (row[fieldname] ?? null);
    },
    exists: (doctype, name) => exists(doctype, name, ctx),
    insert: (doc) => insertDoc(requireDoctype(doc), doc, ctx),
    save: (doc) => saveDoc(requireDoctype(doc), doc.name, doc, ctx),
    setValue(doctype, name, fieldname, value) {
      const patch = typeof fieldname === 'string' ? { [fieldname]: value } : fieldname;
      return saveDoc(doctype, name, patch, ctx);
    },
    delete: (doctype, name) => deleteDoc(doctype, name, ctx),
    submit: (doctype, name) => submitDoc(doctype, name, ctx),
    cancel: (doctype, name) => cancelDoc(doctype, name, ctx),
    amend: (doctype, name) => amendDoc(doctype, name, ctx),
    rename: (doctype, oldName, newName) => renameDoc(doctype, oldName, newName, ctx),
  };
}
