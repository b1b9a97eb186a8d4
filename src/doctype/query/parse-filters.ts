/**
 * `filters` / `or_filters` of a Frappe list query → parameterised SQL conditions.
 *
 * Accepted forms (as a JSON string or as native JSON):
 *   dict   `{"status": "Open", "modified": [">", "2024-01-01"]}`
 *   list   `[["status", "=", "Open"], ["Child DocType", "qty", ">", 1], ["status", "Open"]]`
 *   one    `["status", "=", "Open"]`
 * Entries longer than four are truncated (Frappe's desk sends a fifth "hidden" flag).
 *
 * Each condition follows frappe/model/db_query.py `prepare_filter_condition`: the value is
 * coerced by field type; the column is compared through `coalesce(col, fallback)` — so that
 * `!= "x"` also matches NULL and `= ""` matches NULL — except for numeric / Check columns,
 * `name`, `creation`, `modified`, and `=` / `like` with a non-empty value. Every value, fallback
 * included, is a parameter.
 */
import { frappeError, type FrappeError } from '../../core/errors.ts';
import type { SqlValue } from '../../storage/types.ts';
import { invalidField, parseColumnRef, shown, type QueryScope, type ResolvedColumn, type ValueKind } from './parse-fields.ts';
import {
  FALLBACK_DATE,
  FALLBACK_DATETIME,
  FALLBACK_TIME,
  getPeriodDateRange,
  getTimespanDateRange,
  toDateString,
  toDatetimeString,
  toTimeString,
} from './timespan.ts';

/** Most conditions accepted in one `filters` (or `or_filters`) argument. */
export const MAX_CONDITIONS = 500;
/** Most values accepted in one `in` / `not in` list. */
export const MAX_IN_VALUES = 5000;

export const OPERATORS = [
  '=', '!=', '<>', '>', '<', '>=', '<=', 'like', 'not like', 'in', 'not in', 'is', 'between',
  'timespan', 'previous', 'next',
  'descendants of', 'ancestors of', 'not descendants of', 'not ancestors of', 'descendants of (inclusive)',
] as const;
export type Operator = (typeof OPERATORS)[number];

const TREE_OPERATORS: ReadonlySet<string> = new Set([
  'descendants of', 'ancestors of', 'not descendants of', 'not ancestors of', 'descendants of (inclusive)',
]);

/** One filter before resolution: `[doctype?, field, operator, value]`. */
export interface RawCondition {
  doctype?: string;
  field: string;
  operator: unknown;
  value: unknown;
}

export interface SqlFragment {
  sql: string;
  params: SqlValue[];
}

export interface FilterOptions {
  /** Today's date, `YYYY-MM-DD` (from the context's clock). */
  today: string;
  /** First day of the week, Sunday = 0. */
  weekStart: number;
  /** `like` or `ilike`. */
  likeOperator: string;
}

function invalidFilter(detail: string): FrappeError {
  return frappeError('ValidationError', `Invalid filter: ${shown(detail)}`);
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fromDict(dict: Record<string, unknown>, out: RawCondition[]): void {
  for (const [field, value] of Object.entries(dict)) {
    if (Array.isArray(value)) out.push({ field, operator: value[0], value: value[1] });
    else out.push({ field, operator: '=', value });
  }
}

function fromList(entry: unknown[], out: RawCondition[]): void {
  const parts = entry.length > 4 ? entry.slice(0, 4) : entry;
  const text = (v: unknown, what: string): string => {
    if (typeof v !== 'string') throw frappeError('DataError', `Invalid filter ${what}: ${shown(describe(v))}`);
    return v;
  };
  switch (parts.length) {
    case 2:
      out.push({ field: text(parts[0], 'field'), operator: '=', value: parts[1] });
      return;
    case 3:
      out.push({ field: text(parts[0], 'field'), operator: parts[1], value: parts[2] });
      return;
    case 4:
      out.push({ doctype: text(parts[0], 'DocType'), field: text(parts[1], 'field'), operator: parts[2], value: parts[3] });
      return;
    default:
      throw invalidFilter(describe(entry));
  }
}

/** Turns `filters` / `or_filters` in any accepted form into a list of raw conditions. */
export function normalizeFilters(value: unknown, name = 'filters'): RawCondition[] {
  if (value === undefined || value === null || value === '') return [];
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw frappeError('ValidationError', `${name} must be a JSON list or object`);
    }
  }
  const out: RawCondition[] = [];
  if (isPlainObject(parsed)) {
    fromDict(parsed, out);
  } else if (Array.isArray(parsed)) {
    if (parsed.length > 0 && typeof parsed[0] === 'string') {
      fromList(parsed, out);
    } else {
      for (const entry of parsed) {
        if (Array.isArray(entry)) fromList(entry, out);
        else if (isPlainObject(entry)) fromDict(entry, out);
        else throw invalidFilter(describe(entry));
        if (out.length > MAX_CONDITIONS) break;
      }
    }
  } else {
    throw frappeError('ValidationError', `${name} must be a list or an object`);
  }
  if (out.length > MAX_CONDITIONS) {
    throw frappeError('ValidationError', `Too many conditions in ${name} (at most ${MAX_CONDITIONS})`);
  }
  return out;
}

/**
 * Lower-cased, trimmed operator, or the ValidationError (417) Frappe answers. A missing or
 * empty operator is `=`, as in frappe.utils.get_filter.
 */
export function normalizeOperator(operator: unknown): Operator {
  if (operator === undefined || operator === null || operator === '') return '=';
  const op = typeof operator === 'string' ? operator.trim().toLowerCase().replace(/\s+/g, ' ') : undefined;
  if (op !== undefined && (OPERATORS as readonly string[]).includes(op)) return op as Operator;
  throw frappeError('ValidationError', `Operator must be one of ${OPERATORS.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Values

/** Python truthiness, as Frappe tests `f.value`. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

/** Frappe's `flt`: a number, commas ignored, anything unparseable 0. */
export function flt(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : 0;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') {
    const text = value.replace(/,/g, '').trim();
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return 0;
    const n = Number(text);
    return Number.isFinite(n) ? n : 0;
  }
  return 0;
}

function fallbackOf(kind: ValueKind): SqlValue {
  switch (kind) {
    case 'number':
    case 'check':
      return 0;
    case 'date':
      return FALLBACK_DATE;
    case 'datetime':
      return FALLBACK_DATETIME;
    case 'time':
      return FALLBACK_TIME;
    default:
      return '';
  }
}

/**
 * NUL cannot be stored in PostgreSQL text and ends a pattern early in SQLite's LIKE (so that
 * `like "%\0x"` would match everything): refused in every value.
 */
function refuseNul(text: string, column: string): string {
  if (text.includes('\u0000')) throw frappeError('ValidationError', `Invalid value for ${column}: NUL character`);
  return text;
}

/** A scalar filter value as the column stores it. */
export function coerceValue(column: ResolvedColumn, value: unknown): SqlValue {
  if (typeof value === 'object' && value !== null) {
    throw frappeError('ValidationError', `Invalid value for ${column.column}: ${shown(describe(value))}`);
  }
  if (typeof value === 'string') refuseNul(value, column.column);
  switch (column.kind) {
    case 'number':
      return flt(value);
    case 'check': {
      if (typeof value === 'string') {
        const lower = value.trim().toLowerCase();
        if (lower === 'true') return 1;
        if (lower === 'false') return 0;
      }
      return flt(value);
    }
    case 'date':
      return toDateString(value);
    case 'datetime':
      return toDatetimeString(value);
    case 'time':
      return toTimeString(value);
    default:
      return value === null || value === undefined ? '' : String(value);
  }
}

function listOf(value: unknown): unknown[] {
  if (value === null || value === undefined || value === '') return [];
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return value.split(',');
  return [value];
}

/**
 * Longest `like` pattern accepted, in UTF-8 bytes: SQLite's SQLITE_MAX_LIKE_PATTERN_LENGTH, past
 * which it fails the query ("LIKE or GLOB pattern too complex"); refused on every database alike.
 */
export const MAX_LIKE_PATTERN_BYTES = 50_000;

/** A `like` pattern that cannot end in a lone escape character (PostgreSQL refuses those). */
function likePattern(value: unknown, column: string): string {
  if (typeof value === 'object' && value !== null) {
    throw frappeError('ValidationError', `Invalid value for ${column}: ${shown(describe(value))}`);
  }
  const text = refuseNul(value === null || value === undefined ? '' : String(value), column);
  const trailing = /\\+$/.exec(text)?.[0].length ?? 0;
  const pattern = trailing % 2 === 1 ? `${text}\\` : text;
  if (Buffer.byteLength(pattern) > MAX_LIKE_PATTERN_BYTES) {
    throw frappeError('ValidationError', `Invalid value for ${column}: a like pattern may not exceed ${MAX_LIKE_PATTERN_BYTES} bytes`);
  }
  return pattern;
}

// ---------------------------------------------------------------------------------------------
// Conditions

/**
 * The placeholder of a value. A fractional (or huge) number compared with an integer column is cast, or
 * PostgreSQL would try to read the parameter as an integer (`qty > 1.5` must not fail).
 */
function placeholder(column: ResolvedColumn, value: SqlValue): string {
  return column.integer && typeof value === 'number' && !Number.isSafeInteger(value) ? 'CAST(? AS DOUBLE PRECISION)' : '?';
}

function lhs(column: ResolvedColumn, canBeNull: boolean, params: SqlValue[]): string {
  if (!canBeNull || !column.nullable) return column.sql;
  params.push(fallbackOf(column.kind));
  return `coalesce(${column.sql}, ?)`;
}

function resolveCondition(condition: RawCondition, scope: QueryScope): ResolvedColumn | null {
  const ref = parseColumnRef(condition.field);
  if (condition.doctype !== undefined) return scope.resolveIn(condition.doctype, ref);
  return scope.resolve(ref, { searchChildTables: true });
}

function betweenBounds(value: unknown): unknown[] {
  if (value === null || value === undefined || value === '') return [];
  if (Array.isArray(value)) {
    if (value.length > 2) throw invalidFilter(`between needs [from, to], got ${describe(value)}`);
    return value;
  }
  if (typeof value === 'string') {
    const parts = value.split(',');
    if (parts.length > 2) throw invalidFilter(`between needs [from, to], got ${describe(value)}`);
    return parts.map((p) => p.trim());
  }
  throw invalidFilter(`between needs [from, to], got ${describe(value)}`);
}

function dateRange(column: ResolvedColumn, from: unknown, to: unknown, params: SqlValue[]): string {
  if (column.kind === 'datetime') {
    params.push(toDatetimeString(from, false), toDatetimeString(to, true));
  } else {
    params.push(toDateString(from), toDateString(to));
  }
  // A range never matches NULL, so the column is compared as is (and its index stays usable).
  return `${column.sql} BETWEEN ? AND ?`;
}

/** One condition as SQL, or null when it names an optional column the table lacks. */
export function compileCondition(condition: RawCondition, scope: QueryScope, options: FilterOptions): SqlFragment | null {
  const op = normalizeOperator(condition.operator);
  const column = resolveCondition(condition, scope);
  if (column === null) return null;
  if (TREE_OPERATORS.has(op)) {
    throw frappeError('DataError', `Operator "${op}" is not supported`);
  }
  const value = condition.value;
  const params: SqlValue[] = [];

  switch (op) {
    case 'in':
    case 'not in': {
      const items = listOf(value);
      if (items.length > MAX_IN_VALUES) {
        throw frappeError('ValidationError', `Too many values for "${op}" (at most ${MAX_IN_VALUES})`);
      }
      const values = items.map((item) => {
        const v = column.kind === 'text' && typeof item === 'string' ? item.trim() : item;
        return coerceValue(column, v);
      });
      // `in` needs the coalesce only when it looks for empty values; `not in` always does.
      const canBeNull =
        op === 'not in' || items.length === 0 || items.some((item) => item === null || item === undefined || item === '');
      if (values.length === 0) values.push(fallbackOf(column.kind));
      const left = lhs(column, canBeNull, params);
      params.push(...values);
      const list = values.map((v) => placeholder(column, v)).join(', ');
      return { sql: `${left} ${op === 'in' ? 'IN' : 'NOT IN'} (${list})`, params };
    }

    case 'is': {
      const wanted = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
      if (wanted !== 'set' && wanted !== 'not set') {
        throw invalidFilter(`"is" takes "set" or "not set", got ${describe(value)}`);
      }
      const empty: SqlValue = column.kind === 'number' || column.kind === 'check' ? 0 : '';
      params.push(empty, empty);
      return { sql: `coalesce(${column.sql}, ?) ${wanted === 'set' ? '<>' : '='} ?`, params };
    }

    case 'timespan':
    case 'previous':
    case 'next': {
      if (column.kind !== 'date' && column.kind !== 'datetime') {
        throw invalidFilter(`"${op}" needs a Date or Datetime field, not ${column.column}`);
      }
      const text = typeof value === 'string' ? value : '';
      const range =
        op === 'timespan'
          ? getTimespanDateRange(text, options.today, options.weekStart)
          : getPeriodDateRange(op, text, options.today, options.weekStart);
      if (!range) throw invalidFilter(`unknown ${op} value ${describe(value)}`);
      return { sql: dateRange(column, range[0], range[1], params), params };
    }

    case 'between': {
      const bounds = betweenBounds(value);
      if (column.kind === 'date' || column.kind === 'datetime') {
        // A missing bound is today (frappe get_between_date_filter).
        const from = bounds.length >= 1 ? bounds[0] : options.today;
        const to = bounds.length >= 2 ? bounds[1] : options.today;
        return { sql: dateRange(column, from, to, params), params };
      }
      if (bounds.length !== 2) throw invalidFilter(`between needs [from, to], got ${describe(value)}`);
      const from = coerceValue(column, bounds[0]);
      const to = coerceValue(column, bounds[1]);
      const left = lhs(column, true, params);
      params.push(from, to);
      return { sql: `${left} BETWEEN ${placeholder(column, from)} AND ${placeholder(column, to)}`, params };
    }

    case 'like':
    case 'not like': {
      const pattern = likePattern(value, column.column);
      const canBeNull = !(op === 'like' && truthy(value));
      let left = lhs(column, canBeNull, params);
      if (column.kind === 'number' || column.kind === 'check') left = `CAST(${left} AS TEXT)`;
      params.push(pattern, '\\');
      const like = `${op === 'not like' ? 'NOT ' : ''}${options.likeOperator}`;
      return { sql: `${left} ${like} ? ESCAPE ?`, params };
    }

    default: {
      // =, !=, <>, <, >, <=, >=
      const coerced = coerceValue(column, value);
      const canBeNull = !(op === '=' && truthy(value));
      const left = lhs(column, canBeNull, params);
      params.push(coerced);
      const sqlOp = op === '!=' ? '<>' : op;
      return { sql: `${left} ${sqlOp} ${placeholder(column, coerced)}`, params };
    }
  }
}

/** All conditions of one argument, each as SQL (optional columns the table lacks dropped). */
export function compileFilters(conditions: readonly RawCondition[], scope: QueryScope, options: FilterOptions): SqlFragment[] {
  const out: SqlFragment[] = [];
  for (const condition of conditions) {
    if (typeof condition.field !== 'string') throw invalidField(describe(condition.field));
    const fragment = compileCondition(condition, scope, options);
    if (fragment) out.push(fragment);
  }
  return out;
}
