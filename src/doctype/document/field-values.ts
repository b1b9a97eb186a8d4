/**
 * One value of one DocField: coercion and validation on the way in (as Frappe's
 * `BaseDocument._validate` / `get_valid_dict` do on insert and save), conversion on the way out
 * of the database, and Frappe's static defaults (`frappe/model/create_new.py`).
 *
 * Everything a client may send is refused with a FrappeError (ValidationError family, 417),
 * never with a crash: objects where text is expected, NaN and Infinity, impossible dates.
 * Values echoed in messages are shortened and HTML-escaped, since Frappe's clients render
 * messages as HTML.
 */
import { formatDate, formatDatetime } from '../../core/clock.ts';
import { frappeError, type FrappeError } from '../../core/errors.ts';
import { NO_VALUE_TYPES, TABLE_TYPES, type DocField } from '../meta/types.ts';

export type StoredValue = string | number | null;

export interface CoerceContext {
  /** The DocType being written, named in length errors as Frappe does. */
  doctype: string;
  /** The document's name, when known ("<DocType> <name>: …" in length errors). */
  name?: string;
  /** 1-based row number when the value belongs to a child row ("Row #3: …"). */
  rowIdx?: number;
}

export interface DefaultContext {
  user: string;
  now: Date;
  doctype?: string;
}

/** Text types stored as varchar(length || 140), whose length Frappe checks (`_validate_length`). */
const VARCHAR_TYPES: ReadonlySet<string> = new Set([
  'Data', 'Link', 'Dynamic Link', 'Select', 'Read Only', 'Color', 'Icon', 'Phone', 'Autocomplete',
]);

/** Types whose value is text, kept as given (an empty string stays ''). */
const TEXT_TYPES: ReadonlySet<string> = new Set([
  ...VARCHAR_TYPES,
  'Small Text', 'Text', 'Long Text', 'Text Editor', 'Markdown Editor', 'HTML Editor', 'Code',
  'Attach', 'Attach Image', 'Signature', 'Barcode', 'Password',
]);

const FLOAT_TYPES: ReadonlySet<string> = new Set(['Float', 'Currency', 'Percent', 'Rating']);
/** Types Frappe never stores as NULL: `get_valid_dict` runs them through cint/flt. */
const ZERO_WHEN_EMPTY: ReadonlySet<string> = new Set(['Int', 'Check', ...FLOAT_TYPES]);

const DEFAULT_VARCHAR_LENGTH = 140;
const MAX_INT = 2 ** 31 - 1;
/** Frappe switches an Int column to bigint for length > 11; JS numbers are exact to 2^53-1. */
const MAX_BIGINT = Number.MAX_SAFE_INTEGER;
/** Longest piece of a client's value echoed back in a message. */
const ECHO_LIMIT = 60;

// ---------------------------------------------------------------------------------------
// Messages

function labelOf(field: DocField): string {
  return field.label || field.fieldname;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A short, HTML-safe rendering of a client's value for an error message. */
function show(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else if (value === null || value === undefined) text = String(value);
  else if (Array.isArray(value)) text = 'a list';
  else if (value instanceof Date) text = Number.isNaN(value.getTime()) ? 'an invalid date' : value.toISOString();
  else text = 'an object';
  if (text.length > ECHO_LIMIT) text = `${text.slice(0, ECHO_LIMIT)}…`;
  return escapeHtml(text);
}

function rowPrefix(ctx: CoerceContext): string {
  return ctx.rowIdx === undefined ? '' : `Row #${ctx.rowIdx}: `;
}

function invalid(field: DocField, ctx: CoerceContext, detail: string): FrappeError {
  return frappeError('ValidationError', `${rowPrefix(ctx)}${detail}`, { title: 'Invalid Value' });
}

function invalidValue(field: DocField, ctx: CoerceContext, value: unknown, what: string): FrappeError {
  return invalid(field, ctx, `Invalid value for ${labelOf(field)}: "${show(value)}" is not ${what}`);
}

/** Frappe's `throw_length_exceeded_error`. */
function tooLong(field: DocField, ctx: CoerceContext, max: number, value: unknown): FrappeError {
  const reference =
    ctx.rowIdx !== undefined ? `${ctx.doctype}, Row ${ctx.rowIdx}` : `${ctx.doctype}${ctx.name ? ` ${ctx.name}` : ''}`;
  return frappeError(
    'CharacterLengthExceededError',
    `${reference}: '<strong>${escapeHtml(labelOf(field))}</strong>' (${show(value)}) will get truncated, as max characters allowed is ${max}`,
    { title: 'Value too big' },
  );
}

function refuseStructured(field: DocField, ctx: CoerceContext, value: unknown): FrappeError {
  if (Array.isArray(value)) return invalid(field, ctx, `Value for ${labelOf(field)} cannot be a list`);
  if (value instanceof Date) return invalid(field, ctx, `Value for ${labelOf(field)} cannot be a date object`);
  return invalid(field, ctx, `Value for ${labelOf(field)} cannot be an object`);
}

// ---------------------------------------------------------------------------------------
// Numbers

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Python's `float(s)` for the forms clients send (no inf/nan). Returns undefined for anything
 * that is not a finite number. `allowCommas` is Frappe's `flt`, which drops thousands commas.
 */
function parseNumber(value: unknown, allowCommas: boolean): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  if (typeof value !== 'string') return undefined;
  let text = value.trim();
  if (allowCommas) text = text.replaceAll(',', '');
  if (text.length > 400 || !NUMERIC.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** Rounds to the 9 decimals of Frappe's decimal(21,9) columns; never returns -0. */
function roundDecimals(n: number, places: number): number {
  const rounded = Math.abs(n) < 1e15 ? Number(n.toFixed(places)) : n;
  return rounded === 0 ? 0 : rounded;
}

function coerceInt(field: DocField, value: unknown, ctx: CoerceContext): number {
  const n = parseNumber(value, false);
  if (n === undefined) {
    if (typeof value === 'object' && value !== null) throw refuseStructured(field, ctx, value);
    throw invalidValue(field, ctx, value, 'a whole number');
  }
  // Frappe's cint: int(float(s)), truncating toward zero.
  const int = Math.trunc(n) || 0;
  const max = field.length > 11 ? MAX_BIGINT : MAX_INT;
  if (Math.abs(int) > max) throw tooLong(field, ctx, max, value);
  return int;
}

function coerceFloat(field: DocField, value: unknown, ctx: CoerceContext): number {
  const n = parseNumber(value, true);
  if (n === undefined) {
    if (typeof value === 'object' && value !== null) throw refuseStructured(field, ctx, value);
    throw invalidValue(field, ctx, value, 'a number');
  }
  if (field.fieldtype === 'Rating') {
    // Frappe's _fix_rating_value: a fraction of the stars, clamped to 0..1 (decimal(3,2)).
    return roundDecimals(Math.max(0, Math.min(n, 1)), 2);
  }
  return roundDecimals(n, 9);
}

function coerceCheck(field: DocField, value: unknown, ctx: CoerceContext): number {
  if (value === true || value === 1) return 1;
  if (value === false || value === 0) return 0;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === '1' || text === 'true') return 1;
    if (text === '0' || text === 'false') return 0;
  }
  if (typeof value === 'object' && value !== null) throw refuseStructured(field, ctx, value);
  throw invalid(field, ctx, `Invalid value for ${labelOf(field)}: "${show(value)}" (a checkbox is 0 or 1)`);
}

function coerceDuration(field: DocField, value: unknown, ctx: CoerceContext): number {
  const n = parseNumber(value, false);
  if (n === undefined) {
    if (typeof value === 'object' && value !== null) throw refuseStructured(field, ctx, value);
    throw invalidValue(field, ctx, value, 'a duration in seconds');
  }
  const seconds = Math.trunc(n) || 0;
  if (!Number.isSafeInteger(seconds)) throw invalidValue(field, ctx, value, 'a duration in seconds');
  return seconds;
}

// ---------------------------------------------------------------------------------------
// Dates and times

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_RE = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const DATETIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:\s?([Zz]|[+-]\d{2}(?::?\d{2})?))?)?$/;

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0..999999 */
  micro: number;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function validDate(year: number, month: number, day: number): boolean {
  return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function validTime(hour: number, minute: number, second: number): boolean {
  return hour <= 23 && minute <= 59 && second <= 59;
}

function microOf(fraction: string | undefined): number {
  return fraction ? Number(fraction.slice(0, 6).padEnd(6, '0')) : 0;
}

function partsOfDate(date: Date): Parts | undefined {
  const ms = date.getTime();
  if (Number.isNaN(ms)) return undefined;
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
    micro: date.getUTCMilliseconds() * 1000,
  };
}

/**
 * Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.f…]]][Z|±HH[:MM]]`. With `toUtc`, an offset is applied so
 * the result is UTC wall time; without, the literal fields are kept (a Date takes the written
 * date, as Frappe's getdate does).
 */
function parseDatetimeText(text: string, toUtc: boolean): Parts | undefined {
  const m = DATETIME_RE.exec(text);
  if (!m) return undefined;
  const parts: Parts = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4] ?? 0),
    minute: Number(m[5] ?? 0),
    second: Number(m[6] ?? 0),
    micro: microOf(m[7]),
  };
  if (!validDate(parts.year, parts.month, parts.day) || !validTime(parts.hour, parts.minute, parts.second)) return undefined;
  const offset = m[8];
  if (!offset || offset === 'Z' || offset === 'z' || !toUtc) {
    if (offset && offset !== 'Z' && offset !== 'z' && !validOffset(offset)) return undefined;
    return parts;
  }
  const minutes = validOffset(offset);
  if (minutes === undefined) return undefined;
  const shifted = new Date(0);
  shifted.setUTCFullYear(parts.year, parts.month - 1, parts.day);
  shifted.setUTCHours(parts.hour, parts.minute - minutes, parts.second, 0);
  const utc = partsOfDate(shifted);
  if (!utc || utc.year < 1 || utc.year > 9999) return undefined;
  return { ...utc, micro: parts.micro };
}

/** Minutes east of UTC for `+HH[:MM]` / `-HHMM`, or undefined when out of range. */
function validOffset(offset: string): number | undefined {
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset);
  if (!m) return undefined;
  const hours = Number(m[2]);
  const minutes = Number(m[3] ?? 0);
  if (hours > 23 || minutes > 59) return undefined;
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

function formatParts(p: Parts): string {
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}.${pad(p.micro, 6)}`;
}

function formatTimeParts(p: Pick<Parts, 'hour' | 'minute' | 'second' | 'micro'>): string {
  const base = `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
  return p.micro ? `${base}.${pad(p.micro, 6)}` : base;
}

function coerceDate(field: DocField, value: unknown, ctx: CoerceContext): string {
  if (value instanceof Date) {
    const p = partsOfDate(value);
    if (p && p.year >= 1 && p.year <= 9999) return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
    throw invalidValue(field, ctx, value, 'a valid date');
  }
  if (typeof value !== 'string') {
    if (typeof value === 'object' && value !== null) throw refuseStructured(field, ctx, value);
    throw invalidValue(field, ctx, value, 'a valid date (YYYY-MM-DD)');
  }
  const text = value.trim();
  const m = DATE_RE.exec(text);
  if (m) {
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (validDate(year, month, day)) return text;
  } else {
    const p = text.length <= 64 ? parseDatetimeText(text, false) : undefined;
    if (p) return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
  }
  throw invalidValue(field, ctx, value, 'a valid date (YYYY-MM-DD)');
}

function coerceDatetime(field: DocField, value: unknown, ctx: CoerceContext): string {
  if (value instanceof Date) {
    const p = partsOfDate(value);
    if (p && p.year >= 1 && p.year <= 9999) return formatParts(p);
    throw invalidValue(field, ctx, value, 'a valid date and time');
  }
  if (typeof value !== 'string') {
    if (typeof value === 'object' && value !== null) throw refuseStructured(field, ctx, value);
    throw invalidValue(field, ctx, value, 'a valid date and time (YYYY-MM-DD HH:MM:SS)');
  }
  const text = value.trim();
  const p = text.length <= 64 ? parseDatetimeText(text, true) : undefined;
  if (!p) throw invalidValue(field, ctx, value, 'a valid date and time (YYYY-MM-DD HH:MM:SS)');
  return formatParts(p);
}

function coerceTime(field: DocField, value: unknown, ctx: CoerceContext): string {
  if (value instanceof Date) {
    const p = partsOfDate(value);
    if (p) return formatTimeParts(p);
    throw invalidValue(field, ctx, value, 'a valid time');
  }
  if (typeof value !== 'string') {
    if (typeof value === 'object' && value !== null) throw refuseStructured(field, ctx, value);
    throw invalidValue(field, ctx, value, 'a valid time (HH:MM:SS)');
  }
  const text = value.trim();
  const m = text.length <= 64 ? TIME_RE.exec(text) : null;
  if (m) {
    const [hour, minute, second] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
    if (validTime(hour, minute, second)) return formatTimeParts({ hour, minute, second, micro: microOf(m[4]) });
  } else if (text.length <= 64 && /[Tt ]\d/.test(text)) {
    // A full datetime: Frappe's get_time keeps its (literal) time of day.
    const p = parseDatetimeText(text, false);
    if (p) return formatTimeParts(p);
  }
  throw invalidValue(field, ctx, value, 'a valid time (HH:MM:SS)');
}

// ---------------------------------------------------------------------------------------
// Text, Select, JSON

function coerceText(field: DocField, value: unknown, ctx: CoerceContext): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidValue(field, ctx, value, 'valid text');
    text = String(value);
  } else if (typeof value === 'bigint') text = value.toString();
  // What MariaDB stores for Python's True/False in a varchar column.
  else if (typeof value === 'boolean') text = value ? '1' : '0';
  else throw refuseStructured(field, ctx, value);
  if (text.includes('\u0000')) throw invalid(field, ctx, `Value for ${labelOf(field)} contains a NUL character`);
  if (field.fieldtype === 'Select') text = text.trim();
  if (VARCHAR_TYPES.has(field.fieldtype)) {
    const max = field.length > 0 ? field.length : DEFAULT_VARCHAR_LENGTH;
    // Python's len counts code points; a UTF-16 length at or under the limit is always fine.
    if (text.length > max && codePointLength(text, max) > max) throw tooLong(field, ctx, max, text);
  }
  if (field.fieldtype === 'Select') validateSelect(field, text, ctx);
  return text;
}

/** Code points in `text`, counting no further than `stopAfter + 1`. */
function codePointLength(text: string, stopAfter: number): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    if (++count > stopAfter) return count;
  }
  return count;
}

/** The options of a Select field, one per line (Frappe splits on "\n"). */
export function selectOptions(field: DocField): string[] {
  return field.options.split('\n').map((option) => option.replace(/\r$/, ''));
}

/** Frappe's `_validate_selects`: an empty value passes (reqd is the mandatory check's). */
function validateSelect(field: DocField, value: string, ctx: CoerceContext): void {
  if (value === '' || field.fieldname === 'naming_series' || field.options.trim() === '') return;
  const options = selectOptions(field);
  if (options.includes(value)) return;
  throw frappeError(
    'ValidationError',
    `${rowPrefix(ctx)}${labelOf(field)} cannot be "${show(value)}". It should be one of "${options.join('", "')}"`,
  );
}

function coerceJson(field: DocField, value: unknown, ctx: CoerceContext): string | null {
  if (typeof value === 'string') {
    if (value.trim() === '') return null;
    try {
      JSON.parse(value);
    } catch {
      throw invalid(field, ctx, `${labelOf(field)} is not valid JSON`);
    }
    return value;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw invalid(field, ctx, `${labelOf(field)} is not valid JSON`);
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
    throw invalid(field, ctx, `${labelOf(field)} is not valid JSON`);
  }
  let text: string | undefined;
  try {
    // Frappe: json.dumps(value, separators=(",", ":")).
    text = JSON.stringify(value);
  } catch {
    // Cycles, BigInt inside, or nesting deeper than the stack.
    throw invalid(field, ctx, `${labelOf(field)} is not valid JSON`);
  }
  if (text === undefined) throw invalid(field, ctx, `${labelOf(field)} is not valid JSON`);
  return text;
}

// ---------------------------------------------------------------------------------------
// Public API

function assertValueField(field: DocField): void {
  if (NO_VALUE_TYPES.has(field.fieldtype) || TABLE_TYPES.has(field.fieldtype)) {
    throw new TypeError(`${field.fieldtype} fields hold no value of their own`);
  }
}

/**
 * The value stored for `value` in `field`, or a FrappeError saying why it cannot be.
 *
 * Empty input (undefined, null, '' or only whitespace):
 * - Int, Float, Currency, Percent, Rating, Check → 0, as Frappe's `get_valid_dict` stores
 *   (cint/flt of None), except on mandatory fields, where it stays null so that the mandatory
 *   check reports it, as Frappe's `_validate_mandatory` does before that conversion;
 * - text types → null for undefined/null, '' kept as '' (Frappe stores what it is given);
 * - Date, Datetime, Time, Duration, JSON, Geolocation → null.
 */
export function coerceFieldValue(field: DocField, value: unknown, ctx: CoerceContext): StoredValue {
  assertValueField(field);
  const type = field.fieldtype;

  if (ZERO_WHEN_EMPTY.has(type) && isBlank(value)) return field.reqd ? null : 0;
  if (value === undefined || value === null) return null;
  if (TEXT_TYPES.has(type)) {
    const text = coerceText(field, value, ctx);
    return field.unique && text.trim() === '' ? null : text;
  }
  if (isBlank(value)) return null;

  switch (type) {
    case 'Int':
      return coerceInt(field, value, ctx);
    case 'Float':
    case 'Currency':
    case 'Percent':
    case 'Rating':
      return coerceFloat(field, value, ctx);
    case 'Check':
      return coerceCheck(field, value, ctx);
    case 'Date':
      return coerceDate(field, value, ctx);
    case 'Datetime':
      return coerceDatetime(field, value, ctx);
    case 'Time':
      return coerceTime(field, value, ctx);
    case 'Duration':
      return coerceDuration(field, value, ctx);
    case 'JSON':
    case 'Geolocation':
      return coerceJson(field, value, ctx);
    default:
      throw new TypeError(`no coercion for fieldtype ${String(type)}`);
  }
}

/** Frappe's `strip_html`: drops anything between `<` and `>` on one line. */
function stripHtml(text: string): string {
  return text.replace(/<.*?>/g, '');
}

/**
 * True when a mandatory field has no value (Frappe's `_get_missing_mandatory_fields`): null,
 * undefined, an empty list, or text that is empty once HTML tags and whitespace are removed
 * (Text Editor and HTML Code fields count an `<img` as content). Zero is a value.
 */
export function isEmptyValue(field: DocField, stored: unknown): boolean {
  if (stored === null || stored === undefined) return true;
  if (TABLE_TYPES.has(field.fieldtype)) return !Array.isArray(stored) || stored.length === 0;
  if (Array.isArray(stored)) return stored.length === 0;
  if (typeof stored !== 'string') return false;
  if (stripHtml(stored).trim() !== '') return false;
  const htmlField = field.fieldtype === 'Text Editor' || (field.fieldtype === 'Code' && field.options === 'HTML');
  return !(htmlField && stored.includes('<img'));
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

/**
 * A stored value as the API shows it: numbers for Int/Check/Float types and Duration (drivers
 * may hand back strings or bigints), parsed JSON (the raw text if it does not parse), dates
 * and times as text. A Datetime whose microseconds are zero is shown without them, as Python's
 * `str(datetime)` (and so Frappe) does. null stays null.
 */
/** The field types `fromDatabase` converts: its switch's cases. Every other type passes through. */
const CONVERTED_FROM_DATABASE: ReadonlySet<string> = new Set([
  'Int', 'Check', 'Duration', 'Float', 'Currency', 'Percent', 'Rating', 'JSON', 'Date', 'Datetime',
]);

/** Whether `fromDatabase` returns a stored value of this field as it is (null for undefined). */
export function passesFromDatabase(field: DocField): boolean {
  return !CONVERTED_FROM_DATABASE.has(field.fieldtype);
}

export function fromDatabase(field: DocField, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (field.fieldtype) {
    case 'Int':
    case 'Check':
    case 'Duration': {
      const n = toNumber(value);
      return n === undefined ? value : Math.trunc(n) || 0;
    }
    case 'Float':
    case 'Currency':
    case 'Percent':
    case 'Rating': {
      const n = toNumber(value);
      return n === undefined ? value : n;
    }
    case 'JSON': {
      if (typeof value !== 'string') return value;
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    }
    case 'Date':
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : formatDate(value);
      return value;
    case 'Datetime': {
      const text = value instanceof Date ? (Number.isNaN(value.getTime()) ? null : formatDatetime(value)) : value;
      return typeof text === 'string' && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.0{6}$/.test(text) ? text.slice(0, 19) : text;
    }
    default:
      return value;
  }
}

/** Keywords Frappe's Select default logic skips (`create_new.get_static_default_value`). */
const PLACEHOLDER_OPTIONS: ReadonlySet<string> = new Set(['[Select]', 'Loading...']);

/**
 * The value a new document gets for `field` when the client sends none (Frappe's
 * `get_static_default_value` and `set_dynamic_default_values`), or undefined for none:
 * - `__user` → the session user; `Today`/`today` → today's date; `Now`/`now` on a
 *   Datetime or Time field → the current time (UTC wall time, like every timestamp here);
 * - a literal default, coerced to the field's type (a bad default in the DocType throws);
 * - Check without a default → 0 (Frappe's new-document template runs cint over it);
 *   Int/Float types without a default → 0 unless mandatory (so the mandatory check fires);
 * - Select without a default → its first option (Frappe does this whether or not the field
 *   is mandatory; a leading empty option gives '').
 * Defaults that copy another document's value (`:DocType`) are not supported → undefined.
 */
export function defaultValue(field: DocField, ctx: DefaultContext): StoredValue | undefined {
  if (NO_VALUE_TYPES.has(field.fieldtype) || TABLE_TYPES.has(field.fieldtype)) return undefined;
  const coerceCtx: CoerceContext = { doctype: ctx.doctype ?? '' };
  const given = field.default === undefined || field.default === null ? '' : String(field.default);
  if (given !== '') {
    if (given === '__user') return coerceFieldValue(field, ctx.user, coerceCtx);
    if (given.startsWith(':')) return undefined;
    const keyword = given.toLowerCase();
    if (keyword === 'today') return coerceFieldValue(field, formatDate(ctx.now), coerceCtx);
    if (keyword === 'now' && (field.fieldtype === 'Datetime' || field.fieldtype === 'Time')) {
      return coerceFieldValue(field, formatDatetime(ctx.now), coerceCtx);
    }
    return coerceFieldValue(field, given, coerceCtx);
  }
  if (field.fieldtype === 'Check') return 0;
  if (ZERO_WHEN_EMPTY.has(field.fieldtype)) return field.reqd ? undefined : 0;
  if (field.fieldtype === 'Select' && field.options !== '' && !PLACEHOLDER_OPTIONS.has(field.options)) {
    const first = selectOptions(field)[0] ?? '';
    return coerceFieldValue(field, first, coerceCtx);
  }
  return undefined;
}
