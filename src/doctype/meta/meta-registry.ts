import { frappeError } from '../../core/errors.ts';
import { MetaError } from './load-meta.ts';
import type { DocTypeMeta } from './types.ts';

/** All DocTypes of a site: the core ones and those of its installed apps. */
export class MetaRegistry {
  readonly #metas = new Map<string, DocTypeMeta>();
  /** doctype → the Link fields (in any DocType) that point at it, for delete/rename. */
  readonly #linksTo = new Map<string, { doctype: string; fieldname: string; child: boolean }[]>();

  constructor(metas: Iterable<DocTypeMeta>) {
    for (const meta of metas) {
      if (this.#metas.has(meta.name)) {
        throw new MetaError(`DocType "${meta.name}" is defined by both ${this.#metas.get(meta.name)?.app} and ${meta.app}`);
      }
      this.#metas.set(meta.name, meta);
    }
    for (const meta of this.#metas.values()) {
      for (const field of meta.tableFields) {
        const child = this.#metas.get(field.options);
        if (!child) throw new MetaError(`${meta.name}: table field "${field.fieldname}" names unknown DocType "${field.options}"`);
        if (!child.istable) throw new MetaError(`${meta.name}: "${field.options}" of field "${field.fieldname}" is not a child table (istable)`);
      }
      for (const field of meta.valueFields) {
        if (field.fieldtype !== 'Link') continue;
        const list = this.#linksTo.get(field.options) ?? [];
        list.push({ doctype: meta.name, fieldname: field.fieldname, child: meta.istable });
        this.#linksTo.set(field.options, list);
      }
    }
  }

  has(doctype: string): boolean {
    return this.#metas.has(doctype);
  }

  find(doctype: string): DocTypeMeta | undefined {
    return this.#metas.get(doctype);
  }

  /** The meta of a DocType, or DoesNotExistError as Frappe answers for an unknown one. */
  get(doctype: string): DocTypeMeta {
    const meta = this.#metas.get(doctype);
    if (!meta) throw frappeError('DoesNotExistError', `DocType ${doctype} not found`);
    return meta;
  }

  all(): DocTypeMeta[] {
    return [...this.#metas.values()];
  }

  linksTo(doctype: string): readonly { doctype: string; fieldname: string; child: boolean }[] {
    return this.#linksTo.get(doctype) ?? [];
  }
}
