import { fileURLToPath } from 'node:url';
import { loadDocTypeFolder } from './meta/load-meta.ts';
import type { DocTypeMeta } from './meta/types.ts';

/** The DocTypes every site has (User, Role, System Settings, ToDo, Note, …), as doctype JSON. */
export function coreDocTypes(): DocTypeMeta[] {
  return loadDocTypeFolder(fileURLToPath(new URL('./core-doctypes/', import.meta.url)), 'frappe');
}
