/** A single DocType's stored values with defaults filled in, for server-side readers. */
import type { SqlExecutor } from '../storage/types.ts';
import { defaultValue, fromDatabase } from './document/field-values.ts';
import type { MetaRegistry } from './meta/meta-registry.ts';

export async function readSingle(db: SqlExecutor, registry: MetaRegistry, doctype: string): Promise<Record<string, unknown>> {
  const meta = registry.get(doctype);
  const rows = await db.all<{ field: string; value: string | null }>('SELECT "field", "value" FROM "tabSingles" WHERE "doctype" = ?', [doctype]);
  const stored = new Map(rows.map((r) => [r.field, r.value]));
  const values: Record<string, unknown> = {};
  for (const field of meta.valueFields) {
    const value = stored.has(field.fieldname) ? stored.get(field.fieldname) : defaultValue(field, { user: 'Administrator', now: new Date() });
    values[field.fieldname] = value === undefined ? null : fromDatabase(field, value);
  }
  return values;
}
