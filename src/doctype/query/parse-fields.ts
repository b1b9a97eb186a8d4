/**
 * The `fields` list of a Frappe list query, and the column references shared by filters,
 * order_by and group_by.
 *
 * A field is parsed by a strict grammar, never by pattern-matching SQL:
 *
 *   field     := expr [ "as" alias ]
 *   expr      := "*" | ref | agg
 *   agg       := ("count"|"sum"|"avg"|"min"|"max") "(" ( "*" | ["distinct"] ref ) ")"
 *   ref       := part [ "." ( part | "*" ) ]
 *   part      := identifier | "`" name "`"
 *
 * and every name in it must exist in metadata: `fieldname` on the queried DocType,
 * `` `tabX`.`f` `` / `tabX.f` (X the queried DocType or one of its child DocTypes),
 * `table_field.col` (joins that child table) or `link_field.col` (joins the linked DocType).
 * Anything else (functions, sub-queries, comments, quotes, keywords) is a DataError.
 * Identifiers reach the SQL only through `Dialect.quote`, and only as spelled in metadata.
 */
import { frappeError, type FrappeError } from '../../core/errors.ts';
import type { SqlValue } from '../../storage/types.ts';
import {
  CHILD_COLUMNS,
  NO_VALUE_TYPES,
  STANDARD_COLUMNS,
  TABLE_TYPES,
  type DocField,
  type DocTypeMeta,
} from '../meta/types.ts';
import type { QueryContext } from './build-list-query.ts';

export const AGGREGATE_FUNCTIONS = ['count', 'sum', 'avg', 'min', 'max'] as const;
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

/**
 * Columns Frappe adds to a table only when a feature uses them. Frappe silently drops them from
 * fields and filters when the table lacks them (model/db_query.py `set_optional_columns`);
 * cortado does the same unless the DocType's metadata declares them.
 */
export const OPTIONAL_COLUMNS: ReadonlySet<string> = new Set(['_user_tags', '_comments', '_assign', '_liked_by', '_seen']);

/** Longest field / order / group item accepted, in characters. */
export const MAX_ITEM_LENGTH = 300;
/** Most entries accepted in `fields`. */
export const MAX_FIELDS = 500;
/** Most tables a query may join. */
export const MAX_JOINS = 32;

const BARE = /^[A-Za-z0-9_]+$/;
const QUOTED_CONTENT = /^[A-Za-z0-9_][A-Za-z0-9_ -]*$/;
const ALIAS = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Shortens user text quoted back in an error message. */
export function shown(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function invalidField(part: string): FrappeError {
  return frappeError('DataError', `Invalid field name: ${shown(part)}`);
}

function notPermitted(part: string): FrappeError {
  return frappeError('DataError', `Field not permitted in query: ${shown(part)}`);
}

/** `part` or `prefix.part`, names without their backticks. */
export interface ColumnRef {
  prefix?: string;
  /** A column name, or `*` (only where `allowStar` was given). */
  column: string;
  /** The text it was parsed from, for messages. */
  text: string;
}

export type FieldExpression =
  | { kind: 'star'; prefix?: string; text: string }
  | { kind: 'column'; ref: ColumnRef; text: string }
  | { kind: 'aggregate'; fn: AggregateFunction; distinct: boolean; arg: ColumnRef | '*'; text: string };

export type FieldSpec = FieldExpression & { alias?: string };

function parsePart(text: string, whole: string): string {
  if (text.startsWith('`')) {
    if (text.length < 3 || !text.endsWith('`')) throw invalidField(whole);
    const inner = text.slice(1, -1);
    if (inner.length > 140 || !QUOTED_CONTENT.test(inner)) throw invalidField(whole);
    return inner;
  }
  if (!BARE.test(text) || text.length > 140) throw invalidField(whole);
  return text;
}

/** Splits `a.b` on the one dot outside backticks; more than one dot is refused. */
function splitDot(text: string, whole: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '`') quoted = !quoted;
    else if (c === '.' && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) throw invalidField(whole);
  parts.push(text.slice(start));
  if (parts.length > 2) throw invalidField(whole);
  return parts;
}

/** Parses a column reference: `f`, `` `f` ``, `tabX.f`, `` `tabX`.`f` ``, `table_field.col`, `link_field.col`. */
export function parseColumnRef(text: string, options: { allowStar?: boolean } = {}): ColumnRef {
  const whole = text;
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.length > MAX_ITEM_LENGTH) throw invalidField(whole);
  const parts = splitDot(trimmed, whole);
  if (parts.length === 1) {
    return { column: parsePart(parts[0] ?? '', whole), text: trimmed };
  }
  const prefix = parsePart(parts[0] ?? '', whole);
  const last = parts[1] ?? '';
  if (last === '*') {
    if (!options.allowStar) throw invalidField(whole);
    return { prefix, column: '*', text: trimmed };
  }
  return { prefix, column: parsePart(last, whole), text: trimmed };
}

const AGGREGATE_RE = /^([A-Za-z_][A-Za-z0-9_]*)\s*\(([\s\S]*)\)$/;

/** Parses an expression without alias: `*`, a column reference or an allowed aggregate. */
export function parseFieldExpression(text: string, options: { allowStar?: boolean } = {}): FieldExpression {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.length > MAX_ITEM_LENGTH) throw invalidField(text);
  if (trimmed === '*') {
    if (!options.allowStar) throw invalidField(text);
    return { kind: 'star', text: trimmed };
  }
  const call = AGGREGATE_RE.exec(trimmed);
  if (call) {
    const fn = (call[1] ?? '').toLowerCase();
    if (!(AGGREGATE_FUNCTIONS as readonly string[]).includes(fn)) {
      throw frappeError('DataError', `Use of function ${shown(call[1] ?? '')} in fields is restricted`);
    }
    const inner = (call[2] ?? '').trim();
    if (inner === '*') {
      if (fn !== 'count') throw invalidField(trimmed);
      return { kind: 'aggregate', fn: 'count', distinct: false, arg: '*', text: trimmed };
    }
    const distinct = /^distinct\s+([\s\S]+)$/i.exec(inner);
    if (distinct) {
      if (fn !== 'count') throw invalidField(trimmed);
      const arg = parseColumnRef(distinct[1] ?? '');
      return { kind: 'aggregate', fn, distinct: true, arg, text: trimmed };
    }
    try {
      return { kind: 'aggregate', fn: fn as AggregateFunction, distinct: false, arg: parseColumnRef(inner), text: trimmed };
    } catch {
      throw invalidField(trimmed);
    }
  }
  const ref = parseColumnRef(trimmed, { allowStar: options.allowStar });
  if (ref.column === '*') return { kind: 'star', prefix: ref.prefix, text: trimmed };
  return { kind: 'column', ref, text: trimmed };
}

const ALIAS_RE = /^([\s\S]+?)\s+as\s+(\S+)$/i;

/** Parses one entry of `fields`: an expression with an optional `as alias`. */
export function parseFieldSpec(text: string): FieldSpec {
  if (typeof text !== 'string') throw invalidField(String(text));
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.length > MAX_ITEM_LENGTH) throw invalidField(text);
  const aliased = ALIAS_RE.exec(trimmed);
  if (aliased) {
    let alias = aliased[2] ?? '';
    if (alias.startsWith('`') && alias.endsWith('`') && alias.length > 2) alias = alias.slice(1, -1);
    if (!ALIAS.test(alias) || alias.length > 63) {
      throw frappeError('DataError', `Invalid alias: ${shown(aliased[2] ?? '')}`);
    }
    const expression = parseFieldExpression(aliased[1] ?? '');
    return { ...expression, alias };
  }
  return parseFieldExpression(trimmed, { allowStar: true });
}

/**
 * The `fields` argument as a list of strings: a JSON list (string or native), `"*"`, or — as
 * Frappe's DatabaseQuery does for a string that is not JSON — a comma-separated list.
 */
export function normalizeFieldsParam(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return ['name'];
  let list: unknown = value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (text === '*') return ['*'];
    try {
      list = JSON.parse(text);
    } catch {
      list = text.split(',').map((part) => part.trim());
    }
    if (typeof list === 'string') list = [list];
  }
  if (!Array.isArray(list)) throw frappeError('DataError', 'fields must be a list of field names');
  if (list.length === 0) return ['name'];
  if (list.length > MAX_FIELDS) throw frappeError('DataError', `Too many fields (at most ${MAX_FIELDS})`);
  return list.map((entry) => {
    if (typeof entry !== 'string') throw invalidField(shown(JSON.stringify(entry) ?? String(entry)));
    return entry;
  });
}

// ---------------------------------------------------------------------------------------------
// Resolution against metadata

/** How a column's values compare: text, number, 0/1, or Frappe's date/time texts. */
export type ValueKind = 'text' | 'number' | 'check' | 'date' | 'datetime' | 'time';

export interface ResolvedColumn {
  /** Qualified, quoted SQL: `"tabToDo"."status"` or `"t1"."qty"`. */
  sql: string;
  /** The column's name as in metadata. */
  column: string;
  /** The DocType whose table holds the column. */
  meta: DocTypeMeta;
  field: DocField | undefined;
  kind: ValueKind;
  /**
   * False for columns Frappe never wraps in `ifnull()`: `name`, `creation`, `modified`, the
   * numeric standard columns, and Check / Int / Float / Currency / Percent fields.
   */
  nullable: boolean;
  /** False when `readableFields` hides it (permlevel). */
  readable: boolean;
  /** Stored as an integer (Int, Check, Duration, docstatus, idx). */
  integer: boolean;
}

const NOT_NULL_NUMERIC: ReadonlySet<string> = new Set(['Check', 'Int', 'Float', 'Currency', 'Percent']);
/** Field types stored in integer columns (src/doctype/schema.ts). */
const INTEGER_TYPES: ReadonlySet<string> = new Set(['Check', 'Int', 'Duration']);

function kindOfField(field: DocField): ValueKind {
  switch (field.fieldtype) {
    case 'Check':
      return 'check';
    case 'Int':
    case 'Float':
    case 'Currency':
    case 'Percent':
    case 'Rating':
    case 'Duration':
      return 'number';
    case 'Date':
      return 'date';
    case 'Datetime':
      return 'datetime';
    case 'Time':
      return 'time';
    default:
      return 'text';
  }
}

interface ColumnInfo {
  field: DocField | undefined;
  kind: ValueKind;
  nullable: boolean;
  standard: boolean;
  integer?: boolean;
}

const valueFieldCache = new WeakMap<DocTypeMeta, Map<string, DocField>>();

function valueFieldsOf(meta: DocTypeMeta): Map<string, DocField> {
  let map = valueFieldCache.get(meta);
  if (!map) {
    map = new Map();
    for (const field of meta.valueFields) {
      if (!NO_VALUE_TYPES.has(field.fieldtype) && !TABLE_TYPES.has(field.fieldtype)) map.set(field.fieldname, field);
    }
    valueFieldCache.set(meta, map);
  }
  return map;
}

/** What `column` is in `meta`'s table, or undefined when the table has no such column. */
export function columnInfo(meta: DocTypeMeta, column: string): ColumnInfo | undefined {
  if ((STANDARD_COLUMNS as readonly string[]).includes(column)) {
    switch (column) {
      case 'name':
        return { field: undefined, kind: 'text', nullable: false, standard: true };
      case 'creation':
      case 'modified':
        return { field: undefined, kind: 'datetime', nullable: false, standard: true };
      case 'docstatus':
      case 'idx':
        return { field: undefined, kind: 'number', nullable: false, standard: true, integer: true };
      default:
        return { field: undefined, kind: 'text', nullable: true, standard: true };
    }
  }
  if (meta.istable && (CHILD_COLUMNS as readonly string[]).includes(column)) {
    return { field: undefined, kind: 'text', nullable: true, standard: true };
  }
  const field = valueFieldsOf(meta).get(column);
  if (!field) return undefined;
  return {
    field,
    kind: kindOfField(field),
    nullable: !NOT_NULL_NUMERIC.has(field.fieldtype),
    standard: false,
    integer: INTEGER_TYPES.has(field.fieldtype),
  };
}

/** Every column of a DocType's table, in Frappe's order: standard, child, then value fields. */
export function allColumns(meta: DocTypeMeta): string[] {
  const columns: string[] = [...STANDARD_COLUMNS];
  if (meta.istable) columns.push(...CHILD_COLUMNS);
  for (const name of valueFieldsOf(meta).keys()) if (!columns.includes(name)) columns.push(name);
  return columns;
}

interface Join {
  alias: string;
  meta: DocTypeMeta;
  sql: string;
  params: SqlValue[];
}

interface Table {
  /** Quoted SQL name or alias of the table. */
  ref: string;
  meta: DocTypeMeta;
}

/**
 * The tables of one query: the queried DocType's table and the LEFT JOINs that field, filter and
 * order references add (each join made once, in order of first use).
 */
export class QueryScope {
  readonly meta: DocTypeMeta;
  readonly main: Table;
  readonly #ctx: QueryContext;
  readonly #joins = new Map<string, Join>();
  readonly #readable = new Map<DocTypeMeta, ReadonlySet<string> | undefined>();

  constructor(ctx: QueryContext, meta: DocTypeMeta) {
    this.#ctx = ctx;
    this.meta = meta;
    this.main = { ref: ctx.dialect.quote(meta.tableName), meta };
  }

  get joinCount(): number {
    return this.#joins.size;
  }

  /** The JOIN clauses with their parameters, in order. */
  joinSql(): { sql: string; params: SqlValue[] } {
    const joins = [...this.#joins.values()];
    return { sql: joins.map((j) => j.sql).join(' '), params: joins.flatMap((j) => j.params) };
  }

  isReadable(meta: DocTypeMeta, column: string): boolean {
    const info = columnInfo(meta, column);
    if (!info || info.standard) return true;
    if (!this.#readable.has(meta)) this.#readable.set(meta, this.#ctx.readableFields?.(meta));
    const set = this.#readable.get(meta);
    return set === undefined || set.has(column);
  }

  #q(identifier: string): string {
    return this.#ctx.dialect.quote(identifier);
  }

  #newAlias(): string {
    if (this.#joins.size >= MAX_JOINS) throw frappeError('DataError', `Too many joined tables (at most ${MAX_JOINS})`);
    return `t${this.#joins.size + 1}`;
  }

  #listableMeta(doctype: string, part: string): DocTypeMeta {
    const meta = this.#ctx.getMeta(doctype);
    if (!meta) throw notPermitted(part);
    if (meta.issingle || meta.is_virtual) {
      throw frappeError('DataError', `Cannot join ${shown(doctype)}: it has no table`);
    }
    return meta;
  }

  /** The child table of a Table field of the queried DocType, joined on first use. */
  childByField(field: DocField, part: string): Table {
    const key = `field:${field.fieldname}`;
    let join = this.#joins.get(key);
    if (!join) {
      const childMeta = this.#listableMeta(field.options, part);
      const alias = this.#newAlias();
      const a = this.#q(alias);
      join = {
        alias,
        meta: childMeta,
        sql:
          `LEFT JOIN ${this.#q(childMeta.tableName)} AS ${a} ON ${a}.${this.#q('parent')} = ${this.main.ref}.${this.#q('name')}` +
          ` AND ${a}.${this.#q('parenttype')} = ? AND ${a}.${this.#q('parentfield')} = ?`,
        params: [this.meta.name, field.fieldname],
      };
      this.#joins.set(key, join);
    }
    return { ref: this.#q(join.alias), meta: join.meta };
  }

  /**
   * A child DocType of the queried DocType, as named by `` `tabChild`.f `` or a
   * `[Child, field, op, value]` filter. When one Table field uses it, this is that field's join;
   * when several do, one join on parent and parenttype covers them all (Frappe's join).
   */
  childByDoctype(doctype: string, part: string): Table | undefined {
    const fields = this.meta.tableFields.filter((f) => TABLE_TYPES.has(f.fieldtype) && f.options === doctype);
    if (fields.length === 0) return undefined;
    if (fields.length === 1 && fields[0]) return this.childByField(fields[0], part);
    const key = `doctype:${doctype}`;
    let join = this.#joins.get(key);
    if (!join) {
      const childMeta = this.#listableMeta(doctype, part);
      const alias = this.#newAlias();
      const a = this.#q(alias);
      join = {
        alias,
        meta: childMeta,
        sql:
          `LEFT JOIN ${this.#q(childMeta.tableName)} AS ${a} ON ${a}.${this.#q('parent')} = ${this.main.ref}.${this.#q('name')}` +
          ` AND ${a}.${this.#q('parenttype')} = ?`,
        params: [this.meta.name],
      };
      this.#joins.set(key, join);
    }
    return { ref: this.#q(join.alias), meta: join.meta };
  }

  /** The DocType a Link field points at, joined on its name. */
  linkByField(field: DocField, part: string): Table {
    const key = `link:${field.fieldname}`;
    let join = this.#joins.get(key);
    if (!join) {
      const target = this.#listableMeta(field.options, part);
      const alias = this.#newAlias();
      const a = this.#q(alias);
      join = {
        alias,
        meta: target,
        sql: `LEFT JOIN ${this.#q(target.tableName)} AS ${a} ON ${a}.${this.#q('name')} = ${this.main.ref}.${this.#q(field.fieldname)}`,
        params: [],
      };
      this.#joins.set(key, join);
    }
    return { ref: this.#q(join.alias), meta: join.meta };
  }

  /** The table a `prefix.` names: `tabX` (X this DocType or a child of it), a Table or a Link field. */
  tableOf(prefix: string, part: string): Table {
    if (prefix.startsWith('tab')) {
      const doctype = prefix.slice(3);
      if (doctype === this.meta.name) return this.main;
      const child = this.childByDoctype(doctype, part);
      if (child) return child;
    }
    const field = this.meta.fieldMap.get(prefix);
    if (field && TABLE_TYPES.has(field.fieldtype)) {
      return this.childByField(field, part);
    }
    if (field && field.fieldtype === 'Link') {
      return this.linkByField(field, part);
    }
    throw notPermitted(part);
  }

  #column(table: Table, column: string, part: string): ResolvedColumn {
    const info = columnInfo(table.meta, column);
    if (!info) throw notPermitted(part);
    return {
      sql: `${table.ref}.${this.#q(column)}`,
      column,
      meta: table.meta,
      field: info.field,
      kind: info.kind,
      nullable: info.nullable,
      readable: this.isReadable(table.meta, column),
      integer: info.integer === true,
    };
  }

  /**
   * Resolves a column reference. Returns null for an optional column (`_assign`, …) the table
   * does not have, which callers drop silently as Frappe does. With `searchChildTables`, a bare
   * name not on the DocType is looked up on its child tables (Frappe's filter rule).
   */
  resolve(ref: ColumnRef, options: { searchChildTables?: boolean } = {}): ResolvedColumn | null {
    if (ref.column === '*') throw invalidField(ref.text);
    if (ref.prefix === undefined) {
      if (columnInfo(this.meta, ref.column)) return this.#column(this.main, ref.column, ref.text);
      if (OPTIONAL_COLUMNS.has(ref.column)) return null;
      if (options.searchChildTables) {
        for (const field of this.meta.tableFields) {
          if (!TABLE_TYPES.has(field.fieldtype)) continue;
          const childMeta = this.#ctx.getMeta(field.options);
          if (childMeta && columnInfo(childMeta, ref.column) && !columnInfo(childMeta, ref.column)?.standard) {
            return this.#column(this.childByField(field, ref.text), ref.column, ref.text);
          }
        }
      }
      throw notPermitted(ref.text);
    }
    const table = this.tableOf(ref.prefix, ref.text);
    if (!columnInfo(table.meta, ref.column) && OPTIONAL_COLUMNS.has(ref.column)) return null;
    return this.#column(table, ref.column, ref.text);
  }

  /** `[doctype, field, …]` filters: the column `column` of `doctype` (this DocType or a child). */
  resolveIn(doctype: string, ref: ColumnRef): ResolvedColumn | null {
    if (ref.prefix !== undefined || ref.column === '*') throw invalidField(ref.text);
    if (doctype === this.meta.name) return this.resolve(ref, { searchChildTables: true });
    const child = this.childByDoctype(doctype, `${doctype}.${ref.text}`);
    if (!child) throw frappeError('DataError', `Invalid filter DocType: ${shown(doctype)}`);
    if (!columnInfo(child.meta, ref.column) && OPTIONAL_COLUMNS.has(ref.column)) return null;
    return this.#column(child, ref.column, ref.text);
  }

  /** The columns `*` or `prefix.*` stands for, readable ones only. */
  expandStar(prefix: string | undefined, part: string): ResolvedColumn[] {
    const table = prefix === undefined ? this.main : this.tableOf(prefix, part);
    return allColumns(table.meta)
      .map((column) => this.#column(table, column, part))
      .filter((c) => c.readable);
  }
}

// ---------------------------------------------------------------------------------------------
// SELECT list

export interface SelectItem {
  /** The SQL expression, without alias. */
  sql: string;
  /** The name Frappe gives the output column: the alias, the column name, or the aggregate text. */
  name: string;
  /** The alias written by the client, if any. */
  alias: string | undefined;
  aggregate: boolean;
}

/** Compiles an aggregate expression, or returns null when its argument must be dropped. */
export function compileAggregate(
  expression: Extract<FieldExpression, { kind: 'aggregate' }>,
  scope: QueryScope,
  options: { dropUnreadable: boolean },
): string | null {
  const fn = expression.fn.toUpperCase();
  if (expression.arg === '*') return `${fn}(*)`;
  const column = scope.resolve(expression.arg);
  if (column === null) return null;
  if (options.dropUnreadable && !column.readable) return null;
  return `${fn}(${expression.distinct ? 'DISTINCT ' : ''}${column.sql})`;
}

/** The SELECT items of `fields`, unreadable and absent optional columns dropped. */
export function compileFields(specs: readonly string[], scope: QueryScope): SelectItem[] {
  const items: SelectItem[] = [];
  for (const text of specs) {
    const spec = parseFieldSpec(text);
    switch (spec.kind) {
      case 'star': {
        for (const column of scope.expandStar(spec.prefix, spec.text)) {
          items.push({ sql: column.sql, name: column.column, alias: undefined, aggregate: false });
        }
        break;
      }
      case 'column': {
        const column = scope.resolve(spec.ref);
        if (column === null || !column.readable) break;
        items.push({ sql: column.sql, name: spec.alias ?? column.column, alias: spec.alias, aggregate: false });
        break;
      }
      case 'aggregate': {
        const sql = compileAggregate(spec, scope, { dropUnreadable: true });
        if (sql === null) break;
        items.push({ sql, name: spec.alias ?? spec.text, alias: spec.alias, aggregate: true });
        break;
      }
    }
  }
  return items;
}
