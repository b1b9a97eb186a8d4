/**
 * Frappe list arguments (`fields`, `filters`, `or_filters`, `order_by`, `group_by`,
 * `limit_start`, `limit`) → one parameterised SELECT. Pure: it reads metadata and the clock
 * through the context and never touches the database.
 *
 * Safety rules: every identifier comes from metadata and goes through `Dialect.quote`; every
 * value (fallbacks, join keys and the offset included) is a `?` parameter, except the page
 * length, written as the integer it was checked to be (`LIMIT 20 + 0`); client text never
 * reaches the SQL. See parse-fields.ts for the field grammar, parse-filters.ts for conditions
 * and Frappe's NULL rules, parse-order.ts for ORDER BY / GROUP BY.
 */
import { frappeError } from '../../core/errors.ts';
import type { Dialect, SqlValue } from '../../storage/types.ts';
import type { DocTypeMeta } from '../meta/types.ts';
import { compileFields, normalizeFieldsParam, QueryScope, type SelectItem } from './parse-fields.ts';
import { compileFilters, normalizeFilters, type SqlFragment } from './parse-filters.ts';
import {
  compileGroupBy,
  compileOrderBy,
  defaultOrder,
  parseGroupBy,
  parseOrderBy,
  type AliasTarget,
} from './parse-order.ts';
import { todayOf } from './timespan.ts';

export interface QueryContext {
  dialect: Dialect;
  getMeta(doctype: string): DocTypeMeta | undefined;
  /** The clock; "today" for timespans and `between` bounds is its UTC date. */
  now(): Date;
  /**
   * Fields of `meta` the caller may read (permlevel). When it returns a set, other non-standard
   * fields are silently dropped from `fields` and `*` (as Frappe drops them); filters, order_by
   * and group_by may still use them, as in Frappe. `undefined` = all readable.
   */
  readableFields?(meta: DocTypeMeta): ReadonlySet<string> | undefined;
  /** System Settings' first day of the week for week timespans, Sunday = 0 (Frappe's default). */
  firstDayOfWeek?: number;
}

export interface ListQueryInput {
  doctype: string;
  fields?: unknown;
  filters?: unknown;
  or_filters?: unknown;
  order_by?: unknown;
  group_by?: unknown;
  limit_start?: unknown;
  /** Page length; 0 or absent = all rows (the API layer applies Frappe's default of 20). */
  limit?: unknown;
  /** Permission conditions ANDed in, written by the caller against the main table's name. */
  extraWhere?: { sql: string; params: SqlValue[] };
  /** For a child-table DocType: the parent DocType (`parent` argument); rows are limited to it. */
  parentDoctype?: string;
}

export interface ListQuery {
  sql: string;
  params: SqlValue[];
  /**
   * Output column names in order, as Frappe names them: the alias, else the column's name
   * (`status`, also for `tabX.status` and `items.status`), else an aggregate's text
   * (`count(name)`). Names may repeat (`name` and `items.name`); an as_dict row keeps the last.
   */
  columns: string[];
  /**
   * The SQL alias of each output column, i.e. the property of a database row holding
   * `columns[i]`. Equal to `columns[i]` except when that name cannot be an SQL alias (an
   * aggregate without `as`) or repeats an earlier column; always unique.
   */
  keys: string[];
}

/** Most parameters one query may carry (SQLite's limit is 32766, PostgreSQL's 65535). */
export const MAX_PARAMS = 30000;

const SAFE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseCount(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\s*\d{1,15}\s*$/.test(value)) return Number(value.trim());
  throw frappeError('ValidationError', `${name} must be a non-negative integer`);
}

function outputKeys(items: readonly SelectItem[]): string[] {
  const used = new Set<string>();
  return items.map((item, i) => {
    const safe = SAFE_KEY.test(item.name) && item.name.length <= 63 && item.name !== '__proto__';
    const base = safe ? item.name : `col${i + 1}`;
    let key = base;
    for (let n = 2; used.has(key); n++) key = `${base.slice(0, 55)}__${n}`;
    used.add(key);
    return key;
  });
}

/** SQL of an aggregate, as compileAggregate writes it. */
const AGGREGATE_SQL = /^(COUNT|SUM|AVG|MIN|MAX)\(/;

/** `"t1"."col"` → `"t1"`: the table part of a qualified column. */
function tableOf(sql: string): string | undefined {
  const dot = sql.lastIndexOf('."');
  return dot > 0 && sql.endsWith('"') ? sql.slice(0, dot) : undefined;
}

/**
 * PostgreSQL refuses a plain column next to aggregates or GROUP BY unless it is grouped (or its
 * table's primary key `name` is); MariaDB and SQLite pick any row's value. On PostgreSQL such a
 * query is a DataError naming the column, not a database error.
 */
function assertGroupedForPostgres(
  items: readonly SelectItem[],
  groupBy: readonly string[],
  orderBy: readonly string[],
  keys: readonly string[],
  q: (identifier: string) => string,
): void {
  const grouped = new Set(groupBy);
  const dependent = (sql: string): boolean => {
    if (grouped.has(sql)) return true;
    const table = tableOf(sql);
    return table !== undefined && grouped.has(`${table}.${q('name')}`);
  };
  for (const item of items) {
    if (!item.aggregate && !dependent(item.sql)) {
      throw frappeError('DataError', `${item.name} must be in group_by or inside an aggregate function`);
    }
  }
  const outputs = new Set(keys.map(q));
  for (const entry of orderBy) {
    const sql = entry.replace(/ (ASC|DESC)$/, '');
    if (outputs.has(sql) || AGGREGATE_SQL.test(sql) || dependent(sql)) continue;
    throw frappeError('DataError', `order_by ${sql.replace(/"/g, '')} must be in group_by or an aggregate`);
  }
}

/** Compiles a Frappe list query. Throws FrappeError (DataError / ValidationError, 417) on bad input. */
export function buildListQuery(input: ListQueryInput, ctx: QueryContext): ListQuery {
  if (typeof input.doctype !== 'string' || input.doctype === '') {
    throw frappeError('ValidationError', 'doctype is required');
  }
  const meta = ctx.getMeta(input.doctype);
  if (!meta) throw frappeError('DoesNotExistError', `DocType ${input.doctype} not found`);
  if (meta.issingle || meta.is_virtual) {
    throw frappeError('DataError', `${meta.name} has no table to list`);
  }
  const q = (identifier: string): string => ctx.dialect.quote(identifier);
  const scope = new QueryScope(ctx, meta);

  // SELECT
  let items = compileFields(normalizeFieldsParam(input.fields), scope);
  if (items.length === 0) {
    items = [{ sql: `${scope.main.ref}.${q('name')}`, name: 'name', alias: undefined, aggregate: false }];
  }
  const keys = outputKeys(items);
  const aliases = new Map<string, AliasTarget>();
  items.forEach((item, i) => {
    if (item.alias !== undefined && !aliases.has(item.alias)) {
      aliases.set(item.alias, { key: keys[i] ?? item.alias, sql: item.sql, aggregate: item.aggregate });
    }
  });

  // WHERE
  const options = {
    today: todayOf(ctx.now()),
    weekStart: Number.isInteger(ctx.firstDayOfWeek) ? ((ctx.firstDayOfWeek ?? 0) % 7 + 7) % 7 : 0,
    likeOperator: ctx.dialect.likeOperator,
  };
  const where: SqlFragment[] = compileFilters(normalizeFilters(input.filters, 'filters'), scope, options);
  const anyOf = compileFilters(normalizeFilters(input.or_filters, 'or_filters'), scope, options);
  if (anyOf.length > 0) {
    where.push({ sql: `(${anyOf.map((f) => f.sql).join(' OR ')})`, params: anyOf.flatMap((f) => f.params) });
  }
  if (meta.istable && typeof input.parentDoctype === 'string' && input.parentDoctype !== '') {
    where.push({ sql: `${scope.main.ref}.${q('parenttype')} = ?`, params: [input.parentDoctype] });
  }
  if (input.extraWhere !== undefined) {
    const { sql, params } = input.extraWhere;
    if (typeof sql !== 'string' || !Array.isArray(params)) throw new TypeError('extraWhere must be { sql, params }');
    if (sql.trim() !== '') where.push({ sql: `(${sql})`, params: [...params] });
  }

  // GROUP BY, ORDER BY
  const groupBy = compileGroupBy(parseGroupBy(input.group_by), scope, aliases);
  const requested = parseOrderBy(input.order_by);
  let orderBy: string[];
  if (groupBy.length === 0 && items.every((item) => item.aggregate)) {
    orderBy = []; // one row: Frappe leaves the order out for a lone aggregate
  } else if (requested === undefined) {
    orderBy = compileOrderBy(defaultOrder(meta), scope, aliases, q, true);
    if (groupBy.length > 0) {
      // Keep the default order only where it is grouped (valid SQL on every database).
      const grouped = new Set(groupBy);
      orderBy = orderBy.filter((item) => grouped.has(item.replace(/ (ASC|DESC)$/, '')));
    }
  } else {
    orderBy = compileOrderBy(requested, scope, aliases, q);
  }

  const aggregated = groupBy.length > 0 || items.some((item) => item.aggregate) || orderBy.some((o) => AGGREGATE_SQL.test(o));
  if (ctx.dialect.name === 'postgres' && aggregated) {
    assertGroupedForPostgres(items, groupBy, orderBy, keys, q);
  }
  // Without group_by or an aggregate field a query has one row per document, which an aggregate
  // cannot order: SQLite refuses it ("misuse of aggregate") as PostgreSQL does above.
  if (groupBy.length === 0 && !items.some((item) => item.aggregate) && orderBy.some((o) => AGGREGATE_SQL.test(o))) {
    throw frappeError('DataError', 'An aggregate in order_by needs group_by or an aggregate in fields');
  }

  // LIMIT
  const start = parseCount(input.limit_start, 'limit_start') ?? 0;
  const limit = parseCount(input.limit, 'limit') ?? 0;

  const joins = scope.joinSql();
  const parts = [
    `SELECT ${items.map((item, i) => `${item.sql} AS ${q(keys[i] ?? item.name)}`).join(', ')}`,
    `FROM ${scope.main.ref}`,
  ];
  const params: SqlValue[] = [...joins.params];
  if (joins.sql) parts.push(joins.sql);
  if (where.length > 0) {
    parts.push(`WHERE ${where.map((w) => w.sql).join(' AND ')}`);
    for (const w of where) params.push(...w.params);
  }
  if (groupBy.length > 0) parts.push(`GROUP BY ${groupBy.join(', ')}`);
  if (orderBy.length > 0) parts.push(`ORDER BY ${orderBy.join(', ')}`);
  if (limit > 0) {
    // Frappe ignores limit_start when there is no page length. The page length is written
    // into the SQL (parseCount made it a safe integer), as an expression: SQLite plans with a
    // LIMIT's value when it can, so a bound one re-prepared the statement on every run (a
    // quarter of a list page's SQL time), and a literal 1 or 2 is planned as a scan and sort
    // of the whole table instead of a walk of the ORDER BY's index (15 ms against 5 µs at
    // 200,000 rows; docs/performance.md). `n + 0` is neither. The offset stays bound.
    parts.push(`LIMIT ${limit} + 0 OFFSET ?`);
    params.push(start);
  }
  if (params.length > MAX_PARAMS) {
    throw frappeError('ValidationError', `Query too large (more than ${MAX_PARAMS} values)`);
  }
  return { sql: parts.join(' '), params, columns: items.map((item) => item.name), keys };
}
