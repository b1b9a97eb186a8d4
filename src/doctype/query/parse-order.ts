/**
 * `order_by` and `group_by` of a Frappe list query.
 *
 * Both are comma lists. An order item is `expr [asc|desc]`, where expr is a column reference
 * (`modified`, `tabToDo.modified`, `` `tabToDo`.`modified` ``, `items.qty`, `owner_link.full_name`),
 * an alias given in `fields`, or an allowed aggregate (`count(name)`); a group item is a column
 * reference or the alias of a plain field. Nothing else — no functions, sub-queries, `nulls
 * first`, comments or numbers — is accepted (DataError naming the bad part).
 */
import { frappeError } from '../../core/errors.ts';
import type { DocTypeMeta } from '../meta/types.ts';
import {
  compileAggregate,
  invalidField,
  parseColumnRef,
  parseFieldExpression,
  shown,
  type ColumnRef,
  type FieldExpression,
  type QueryScope,
} from './parse-fields.ts';

/** Most items accepted in `order_by` or `group_by`. */
export const MAX_ORDER_ITEMS = 50;

export type Direction = 'ASC' | 'DESC';

export interface OrderItem {
  expression: Exclude<FieldExpression, { kind: 'star' }>;
  direction: Direction | undefined;
}

/** `undefined` = the DocType's default order; `[]` = no ORDER BY (an empty string). */
export type OrderBy = OrderItem[] | undefined;

function splitList(value: string, name: string): string[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.length > MAX_ORDER_ITEMS) {
    throw frappeError('DataError', `Too many items in ${name} (at most ${MAX_ORDER_ITEMS})`);
  }
  for (const item of items) if (item === '') throw frappeError('DataError', `Invalid ${name}: ${shown(value)}`);
  return items;
}

const DIRECTION_RE = /^([\s\S]*?)\s+(asc|desc)$/i;

/** Parses `order_by`. Absent (undefined / null) → default order; blank string → none. */
export function parseOrderBy(value: unknown): OrderBy {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw frappeError('ValidationError', 'order_by must be a string');
  if (value.trim() === '') return [];
  return splitList(value, 'order_by').map((item) => {
    const match = DIRECTION_RE.exec(item);
    const text = match ? (match[1] ?? '') : item;
    const direction = match ? ((match[2] ?? '').toUpperCase() as Direction) : undefined;
    const expression = parseFieldExpression(text);
    if (expression.kind === 'star') throw invalidField(item);
    return { expression, direction };
  });
}

/** Parses `group_by`: absent or blank → no GROUP BY. */
export function parseGroupBy(value: unknown): ColumnRef[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'string') throw frappeError('ValidationError', 'group_by must be a string');
  if (value.trim() === '') return [];
  return splitList(value, 'group_by').map((item) => parseColumnRef(item));
}

/** The DocType's default order: `sort_field` / `sort_order` (comma lists allowed), else `creation desc`. */
export function defaultOrder(meta: DocTypeMeta): OrderItem[] {
  const items: OrderItem[] = [];
  const sortField = (meta.sort_field ?? '').trim();
  if (sortField.includes(',')) {
    for (const part of sortField.split(',')) {
      const [name, dir] = part.trim().split(/\s+/);
      if (!name) continue;
      const direction = dir && /^(asc|desc)$/i.test(dir) ? (dir.toUpperCase() as Direction) : undefined;
      items.push({ expression: { kind: 'column', ref: { column: name, text: name }, text: name }, direction });
    }
  } else {
    const name = sortField || 'creation';
    const direction: Direction = sortField ? (meta.sort_order === 'ASC' ? 'ASC' : 'DESC') : 'DESC';
    items.push({ expression: { kind: 'column', ref: { column: name, text: name }, text: name }, direction });
  }
  return items;
}

/** What `fields` defined under an alias, for references from order_by / group_by. */
export interface AliasTarget {
  /** The output column's SQL alias. */
  key: string;
  /** Its SQL expression. */
  sql: string;
  aggregate: boolean;
}

/**
 * ORDER BY items as SQL. A bare name that is an alias from `fields` refers to that output
 * column (as MariaDB resolves ORDER BY); otherwise it must be a column in metadata.
 * `lenient` (the default order) skips items that do not resolve instead of failing.
 */
export function compileOrderBy(
  items: readonly OrderItem[],
  scope: QueryScope,
  aliases: ReadonlyMap<string, AliasTarget>,
  quote: (identifier: string) => string,
  lenient = false,
): string[] {
  const out: string[] = [];
  for (const item of items) {
    let sql: string | null;
    try {
      sql = compileOrderExpression(item.expression, scope, aliases, quote);
    } catch (error) {
      if (lenient) continue;
      throw error;
    }
    if (sql === null) continue;
    out.push(item.direction ? `${sql} ${item.direction}` : sql);
  }
  return out;
}

function compileOrderExpression(
  expression: OrderItem['expression'],
  scope: QueryScope,
  aliases: ReadonlyMap<string, AliasTarget>,
  quote: (identifier: string) => string,
): string | null {
  if (expression.kind === 'aggregate') return compileAggregate(expression, scope, { dropUnreadable: false });
  const ref = expression.ref;
  if (ref.prefix === undefined) {
    const alias = aliases.get(ref.column);
    if (alias) return quote(alias.key);
  }
  return scope.resolve(ref)?.sql ?? null;
}

/** GROUP BY items as SQL: columns first (as MariaDB resolves GROUP BY), then plain-field aliases. */
export function compileGroupBy(
  refs: readonly ColumnRef[],
  scope: QueryScope,
  aliases: ReadonlyMap<string, AliasTarget>,
): string[] {
  const out: string[] = [];
  for (const ref of refs) {
    try {
      const column = scope.resolve(ref);
      if (column !== null) out.push(column.sql);
      continue;
    } catch (error) {
      const alias = ref.prefix === undefined ? aliases.get(ref.column) : undefined;
      if (!alias || alias.aggregate) throw error;
      out.push(alias.sql);
    }
  }
  return out;
}
