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

/**
 * One request's DbApi: prototype methods over the request's context, not a set of closures made
 * for every request (docs/performance.md). Call them as methods (`db.getDoc(…)`).
 */
class RequestDbApi implements DbApi {
  readonly #ctx: DocumentContext;

  constructor(ctx: DocumentContext) {
    this.#ctx = ctx;
  }

  get user(): string {
    return this.#ctx.principal.user;
  }

  getDoc(doctype: string, name: unknown): Promise<Doc> {
    return getDoc(doctype, name, this.#ctx);
  }

  async getList(doctype: string, args: ListArgs & { as_dict?: boolean } = {}): Promise<Doc[] | unknown[][]> {
    const { rows, values } = await getList(doctype, args, this.#ctx);
    return args.as_dict === false ? values : rows;
  }

  getCount(doctype: string, filters?: unknown): Promise<number> {
    return getCount(doctype, { filters }, this.#ctx);
  }

  async getValue(doctype: string, filters: unknown, fieldname: string | string[] = 'name'): Promise<unknown> {
    const ctx = this.#ctx;
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
  }

  exists(doctype: string, name: unknown): Promise<boolean> {
    return exists(doctype, name, this.#ctx);
  }

  insert(doc: Doc): Promise<Doc> {
    return insertDoc(requireDoctype(doc), doc, this.#ctx);
  }

  save(doc: Doc): Promise<Doc> {
    return saveDoc(requireDoctype(doc), doc.name, doc, this.#ctx);
  }

  setValue(doctype: string, name: unknown, fieldname: string | Doc, value?: unknown): Promise<Doc> {
    const patch = typeof fieldname === 'string' ? { [fieldname]: value } : fieldname;
    return saveDoc(doctype, name, patch, this.#ctx);
  }

  delete(doctype: string, name: unknown): Promise<void> {
    return deleteDoc(doctype, name, this.#ctx);
  }

  submit(doctype: string, name: unknown): Promise<Doc> {
    return submitDoc(doctype, name, this.#ctx);
  }

  cancel(doctype: string, name: unknown): Promise<Doc> {
    return cancelDoc(doctype, name, this.#ctx);
  }

  amend(doctype: string, name: unknown): Promise<Doc> {
    return amendDoc(doctype, name, this.#ctx);
  }

  rename(doctype: string, oldName: unknown, newName: unknown): Promise<string> {
    return renameDoc(doctype, oldName, newName, this.#ctx);
  }
}

export function createDbApi(ctx: DocumentContext): DbApi {
  return new RequestDbApi(ctx);
}
