/**
 * A table row as the API shows it: numbers for Int/Check/Float, parsed JSON, `docstatus` and
 * `idx` as numbers. The conversion is compiled once per DocType and result shape into a
 * function returning one object literal: rows then share one hidden class and keep fast
 * properties, where adding twenty columns one keyed store at a time sent every document
 * through megamorphic stores into a slow dictionary object that `JSON.stringify` and
 * `Object.keys` then paid for again (docs/performance.md).
 */
import type { Row } from '../../storage/types.ts';
import type { DocField, DocTypeMeta } from '../meta/types.ts';
import type { Doc } from './document-context.ts';
import { fromDatabase, passesFromDatabase } from './field-values.ts';

type DocBuilder = (row: Row) => Doc;

interface Shape {
  readonly keys: readonly string[];
  readonly build: DocBuilder;
}

/** Result shapes compiled per DocType at most; further ones (ad-hoc list fields) convert in a loop. */
const MAX_SHAPES = 64;
const shapes = new WeakMap<DocTypeMeta, Map<string, Shape>>();
const lastShape = new WeakMap<DocTypeMeta, Shape>();

const standardNumber = (value: unknown): unknown => (value === null ? value : Number(value));
const autoincrementName = (value: unknown): unknown => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value);

function isAutoincrement(meta: DocTypeMeta): boolean {
  return meta.autoname.toLowerCase() === 'autoincrement';
}

/** The conversion, one key at a time: the reference the compiled builders follow. */
function convertRow(meta: DocTypeMeta, row: Row, keys: readonly string[]): Doc {
  const doc: Doc = {};
  for (const key of keys) {
    const value = row[key];
    const field = meta.fieldMap.get(key);
    let shown: unknown;
    if (field) shown = fromDatabase(field, value);
    else if (key === 'docstatus' || key === 'idx') shown = standardNumber(value);
    else if (key === 'name' && isAutoincrement(meta)) shown = autoincrementName(value);
    else shown = value;
    // `__proto__` is a column like any other, not the document's prototype.
    if (key === '__proto__') Object.defineProperty(doc, key, { value: shown, enumerable: true, writable: true, configurable: true });
    else doc[key] = shown;
  }
  return doc;
}

function compile(meta: DocTypeMeta, keys: readonly string[]): DocBuilder {
  const fields: (DocField | undefined)[] = [];
  const parts = keys.map((key, i) => {
    // The source holds only JSON string literals of the column names and array indexes.
    const name = JSON.stringify(key);
    const value = `r[${name}]`;
    const field = meta.fieldMap.get(key);
    fields.push(field);
    if (field) return `${name}: ${passesFromDatabase(field) ? `${value} ?? null` : `c(f[${i}], ${value})`}`;
    if (key === 'docstatus' || key === 'idx') return `${name}: n(${value})`;
    if (key === 'name' && isAutoincrement(meta)) return `${name}: a(${value})`;
    return `${name}: ${value}`;
  });
  const factory = new Function('f', 'c', 'n', 'a', `return (r) => ({${parts.join(', ')}});`) as (
    f: (DocField | undefined)[],
    c: typeof fromDatabase,
    n: typeof standardNumber,
    a: typeof autoincrementName,
  ) => DocBuilder;
  return factory(fields, fromDatabase, standardNumber, autoincrementName);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function shapeFor(meta: DocTypeMeta, keys: readonly string[]): Shape | undefined {
  const last = lastShape.get(meta);
  if (last && sameKeys(last.keys, keys)) return last;
  let known = shapes.get(meta);
  if (!known) shapes.set(meta, (known = new Map()));
  const id = keys.join('\u0000');
  let shape = known.get(id);
  if (!shape) {
    // As a literal key, `__proto__` would set the prototype instead of adding a property.
    if (known.size >= MAX_SHAPES || keys.includes('__proto__')) return undefined;
    shape = { keys: [...keys], build: compile(meta, keys) };
    known.set(id, shape);
  }
  lastShape.set(meta, shape);
  return shape;
}

/** Converts a table row to API values, its columns in the row's order. */
export function rowToDoc(meta: DocTypeMeta, row: Row): Doc {
  const keys = Object.keys(row);
  const shape = shapeFor(meta, keys);
  return shape ? shape.build(row) : convertRow(meta, row, keys);
}
