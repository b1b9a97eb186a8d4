/**
 * Frappe's naming rules: `hash`, `field:<fieldname>`, `prompt`, `autoincrement`, naming
 * series (`TODO-.#####`, `naming_series:`) and `format:` patterns. Counters live in
 * `tabSeries` and are advanced inside the request's transaction.
 */
import { randomHex } from '../../core/crypto.ts';
import { frappeError } from '../../core/errors.ts';
import type { SqlExecutor } from '../../storage/types.ts';
import type { DocTypeMeta } from '../meta/types.ts';

type Doc = Record<string, unknown>;

export interface NamingContext {
  db: SqlExecutor;
  now: Date;
}

/** Advances a counter in tabSeries and returns the new value, atomically (one upsert). */
export async function nextSeriesValue(db: SqlExecutor, key: string): Promise<number> {
  const rows = await db.all<{ current: number | string }>(
    'INSERT INTO "tabSeries" ("name", "current") VALUES (?, 1) ON CONFLICT ("name") DO UPDATE SET "current" = "tabSeries"."current" + 1 RETURNING "current"',
    [key],
  );
  return Number(rows[0]?.current ?? 1);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function datePart(part: string, now: Date): string | undefined {
  switch (part) {
    case 'YYYY':
      return String(now.getUTCFullYear());
    case 'YY':
      return String(now.getUTCFullYear()).slice(-2);
    case 'MM':
      return pad(now.getUTCMonth() + 1);
    case 'DD':
      return pad(now.getUTCDate());
    default:
      return undefined;
  }
}

/** `PREFIX-.YYYY.-.#####` → next name, counting per resolved prefix as Frappe does. */
export async function nameFromSeries(pattern: string, doc: Doc, ctx: NamingContext): Promise<string> {
  let prefix = '';
  let digits = 0;
  for (const part of pattern.split('.')) {
    if (/^#+$/.test(part)) {
      digits = part.length;
      break;
    }
    const field = part.startsWith('{') && part.endsWith('}') ? String(doc[part.slice(1, -1)] ?? '') : undefined;
    prefix += datePart(part, ctx.now) ?? field ?? part;
  }
  // Frappe appends a 5-digit counter when the series has no hashes.
  const counter = await nextSeriesValue(ctx.db, prefix);
  return `${prefix}${pad(counter, digits || 5)}`;
}

/** `format:INV-{YYYY}-{customer}-{#####}` */
async function nameFromFormat(format: string, doc: Doc, ctx: NamingContext): Promise<string> {
  let prefix = '';
  let name = '';
  for (const piece of format.split(/(\{[^}]+\})/)) {
    const inner = piece.startsWith('{') && piece.endsWith('}') ? piece.slice(1, -1) : undefined;
    if (inner === undefined) {
      prefix += piece;
      name += piece;
    } else if (/^#+$/.test(inner)) {
      name += pad(await nextSeriesValue(ctx.db, prefix), inner.length);
    } else {
      const value = datePart(inner, ctx.now) ?? String(doc[inner] ?? '');
      prefix += value;
      name += value;
    }
  }
  return name;
}

function missingName(meta: DocTypeMeta, fieldname: string): never {
  const label = meta.fieldMap.get(fieldname)?.label ?? fieldname;
  throw frappeError('MandatoryError', `[${meta.name}, new]: ${fieldname}`, {
    title: 'Missing Fields',
    errorMessage: `Error: Value missing for ${meta.name}: ${label}`,
  });
}

/** Rules naming a document by their own pattern or a value; any other rule means a random hash. */
const NOT_HASH_PREFIXES = ['field:', 'naming_series:', 'format:'];

/**
 * Whether new documents of the DocType get a random hash name (`hash`, an empty autoname, or
 * a rule Frappe does not know): a clash with an existing name is then chance, and the insert
 * draws another name, as Frappe's `db_insert` does.
 */
export function namedByHash(meta: DocTypeMeta): boolean {
  const lower = meta.autoname.toLowerCase();
  if (meta.issingle || lower === 'prompt' || lower === 'autoincrement' || meta.autoname.includes('#')) return false;
  return !NOT_HASH_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** Gives a new document its name according to the DocType's autoname rule. */
export async function newName(meta: DocTypeMeta, doc: Doc, ctx: NamingContext): Promise<string | number> {
  if (namedByHash(meta)) return randomHex(10);
  const rule = meta.autoname;
  const lower = rule.toLowerCase();
  if (meta.issingle) return meta.name;
  if (lower === 'prompt') {
    const given = doc.__newname ?? doc.name;
    if (given === undefined || given === null || String(given).trim() === '') {
      throw frappeError('ValidationError', 'Please set the document name', { title: 'Name' });
    }
    return validateName(meta, String(given).trim());
  }
  if (lower === 'autoincrement') return nextSeriesValue(ctx.db, `__autoincrement:${meta.name}`);
  if (lower.startsWith('field:')) {
    const fieldname = rule.slice('field:'.length).trim();
    const value = doc[fieldname];
    if (value === undefined || value === null || String(value).trim() === '') missingName(meta, fieldname);
    return validateName(meta, String(value).trim());
  }
  if (lower.startsWith('naming_series:')) {
    const field = meta.fieldMap.get('naming_series');
    const pattern = String(doc.naming_series ?? field?.default ?? field?.options.split('\n')[0] ?? '').trim();
    if (!pattern) missingName(meta, 'naming_series');
    return nameFromSeries(pattern, doc, ctx);
  }
  if (lower.startsWith('format:')) return validateName(meta, await nameFromFormat(rule.slice('format:'.length), doc, ctx));
  return nameFromSeries(rule, doc, ctx);
}

/** Names Frappe refuses: empty, too long, control characters, "New <DocType>" prefixes. */
export function validateName(meta: DocTypeMeta, name: string): string {
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > 140 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw frappeError('InvalidNameError', `Invalid name: ${JSON.stringify(name.slice(0, 160))}`, { title: 'Invalid Name' });
  }
  if (name.startsWith(`New ${meta.name}`)) {
    throw frappeError('InvalidNameError', 'There were some errors setting the name, please contact the administrator', {
      title: 'Invalid Name',
    });
  }
  return name;
}
