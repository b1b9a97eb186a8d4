/**
 * Compiled list queries remembered by their arguments. Parsing `fields`, `filters` and
 * `order_by` and compiling them took a ninth of a list page's CPU (docs/performance.md), and a
 * client asks for the same list again and again.
 *
 * What a compiled query depends on is all in its key or checked on every hit: the arguments
 * (text, numbers, or arrays and objects as JSON parses them; anything else is compiled every
 * time), the permission condition the
 * caller adds (it names the user for `if_owner` rules), the database dialect, "today" and the
 * first day of the week (timespan filters), and the fields the user may read of each DocType
 * the query touched (permlevels: compared with the current user's on every hit). Metadata
 * does not change under a cache: there is one per MetaRegistry, which is immutable.
 */
import type { DocTypeMeta } from '../meta/types.ts';
import { buildListQuery, type ListQuery, type ListQueryInput, type QueryContext } from './build-list-query.ts';
import { todayOf } from './timespan.ts';

type Readable = ReadonlySet<string> | undefined;

interface Entry {
  readonly query: ListQuery;
  /** Each DocType whose readable fields the compilation asked for, with the answer. */
  readonly readable: readonly (readonly [DocTypeMeta, Readable])[];
}

/** Distinct argument sets kept; beyond that the cache starts over (hot lists come back at once). */
const MAX_ENTRIES = 1000;

/** Arguments parsed from JSON (arrays and plain objects of text, numbers, booleans and null). */
function isPlainJson(value: unknown, depth = 0): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth > 8) return false;
  if (Array.isArray(value)) return value.every((item) => isPlainJson(item, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((item) => isPlainJson(item, depth + 1));
}

/** One argument as key text, with its type; undefined for values that are not cached. */
function keyPart(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'number':
      return `n${value}`;
    case 'undefined':
      return 'u';
    case 'object':
      if (value === null) return 'z';
      return isPlainJson(value) ? `j${JSON.stringify(value)}` : undefined;
    default:
      return undefined;
  }
}

function cacheKey(input: ListQueryInput, ctx: QueryContext): string | undefined {
  const parts = [
    keyPart(input.doctype),
    keyPart(input.fields),
    keyPart(input.filters),
    keyPart(input.or_filters),
    keyPart(input.order_by),
    keyPart(input.group_by),
    keyPart(input.limit_start),
    keyPart(input.limit),
    keyPart(input.parentDoctype),
  ];
  if (parts.includes(undefined)) return undefined;
  const extra = input.extraWhere;
  if (extra !== undefined) {
    const params = extra.params.map(keyPart);
    if (params.includes(undefined)) return undefined;
    parts.push(keyPart(extra.sql), ...params);
  }
  parts.push(ctx.dialect.name, todayOf(ctx.now()), String(ctx.firstDayOfWeek ?? 0), ctx.readableFields ? 'p' : 'a');
  // JSON escapes every character a value could use to fake a boundary between two parts.
  return JSON.stringify(parts);
}

function sameReadable(a: Readable, b: Readable): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.size !== b.size) return false;
  for (const name of a) if (!b.has(name)) return false;
  return true;
}

function frozen(query: ListQuery): ListQuery {
  Object.freeze(query.params);
  Object.freeze(query.columns);
  Object.freeze(query.keys);
  return Object.freeze(query);
}

export class ListQueryCache {
  readonly #entries = new Map<string, Entry>();

  /** `buildListQuery`, answered from the cache when the same list was compiled before. The result is frozen. */
  build(input: ListQueryInput, ctx: QueryContext): ListQuery {
    const key = cacheKey(input, ctx);
    if (key === undefined) return buildListQuery(input, ctx);
    const hit = this.#entries.get(key);
    const readableFields = ctx.readableFields;
    if (hit && hit.readable.every(([meta, answer]) => sameReadable(readableFields?.(meta), answer))) return hit.query;
    const readable: [DocTypeMeta, Readable][] = [];
    const tracked: QueryContext = readableFields
      ? {
          ...ctx,
          readableFields: (meta) => {
            const answer = readableFields(meta);
            readable.push([meta, answer]);
            return answer;
          },
        }
      : ctx;
    const query = frozen(buildListQuery(input, tracked));
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(key, { query, readable });
    return query;
  }
}
