import type { Doc } from './document-context.ts';

/** A document as Frappe's `as_dict(no_nulls=True)`: null fields left out, also in child rows. */
export function withoutNulls(doc: Doc): Doc {
  const out: Doc = {};
  for (const key of Object.keys(doc)) {
    const value = doc[key];
    if (value === null || value === undefined) continue;
    out[key] = Array.isArray(value) ? value.map((row) => (row && typeof row === 'object' && !Array.isArray(row) ? withoutNulls(row as Doc) : row)) : value;
  }
  return out;
}
