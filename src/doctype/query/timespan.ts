/**
 * Dates for list filters: Frappe's named timespans (frappe/utils/data.py
 * `get_timespan_date_range`), the `previous`/`next` periods (frappe/model/db_query.py
 * `get_date_range`), and the normalisation of Date / Datetime / Time filter values to the text
 * cortado stores (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS.ffffff`, `HH:MM:SS`).
 *
 * All arithmetic is on calendar dates (no clock, no time zone): "today" is given by the caller,
 * which takes it from the injected clock (UTC wall time, as `src/core/clock.ts` stores it).
 */
import { frappeError } from '../../core/errors.ts';

/** A calendar date as `YYYY-MM-DD`. */
export type DateString = string;

interface Ymd {
  y: number;
  m: number; // 1..12
  d: number; // 1..31
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function ymd(date: DateString): Ymd {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) throw new TypeError(`not a YYYY-MM-DD date: ${date}`);
  return { y: Number(match[1]), m: Number(match[2]), d: Number(match[3]) };
}

function fmt({ y, m, d }: Ymd): DateString {
  return `${pad(y, 4)}-${pad(m)}-${pad(d)}`;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

export function daysInMonth(y: number, m: number): number {
  return [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] ?? 31;
}

/** The UTC calendar date of an instant. */
export function todayOf(now: Date): DateString {
  return `${pad(now.getUTCFullYear(), 4)}-${pad(now.getUTCMonth() + 1)}-${pad(now.getUTCDate())}`;
}

export function addDays(date: DateString, days: number): DateString {
  const { y, m, d } = ymd(date);
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d + days);
  return todayOf(t);
}

/** Adds months the way dateutil's relativedelta does: the day is clamped to the month's end. */
export function addMonths(date: DateString, months: number): DateString {
  const { y, m, d } = ymd(date);
  const index = y * 12 + (m - 1) + months;
  const year = Math.floor(index / 12);
  const month = index - year * 12 + 1;
  return fmt({ y: year, m: month, d: Math.min(d, daysInMonth(year, month)) });
}

export function addYears(date: DateString, years: number): DateString {
  return addMonths(date, years * 12);
}

export function firstDayOfMonth(date: DateString): DateString {
  return fmt({ ...ymd(date), d: 1 });
}

export function lastDayOfMonth(date: DateString): DateString {
  const { y, m } = ymd(date);
  return fmt({ y, m, d: daysInMonth(y, m) });
}

export function quarterStart(date: DateString): DateString {
  const { y, m } = ymd(date);
  return fmt({ y, m: Math.floor((m - 1) / 3) * 3 + 1, d: 1 });
}

export function quarterEnd(date: DateString): DateString {
  const { y, m } = ymd(date);
  const end = Math.floor((m - 1) / 3) * 3 + 3;
  return fmt({ y, m: end, d: daysInMonth(y, end) });
}

export function yearStart(date: DateString): DateString {
  return fmt({ y: ymd(date).y, m: 1, d: 1 });
}

export function yearEnd(date: DateString): DateString {
  return fmt({ y: ymd(date).y, m: 12, d: 31 });
}

/** Day of the week with Sunday = 0 (Frappe's "normalized weekday index"). */
export function weekday(date: DateString): number {
  const { y, m, d } = ymd(date);
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d);
  return t.getUTCDay();
}

/**
 * First day of the week holding `date`; `weekStart` is System Settings' `first_day_of_the_week`
 * as an index with Sunday = 0 (Frappe's default is Sunday).
 */
export function firstDayOfWeek(date: DateString, weekStart = 0): DateString {
  const offset = (weekday(date) - weekStart + 7) % 7;
  return addDays(date, -offset);
}

export function lastDayOfWeek(date: DateString, weekStart = 0): DateString {
  return addDays(firstDayOfWeek(date, weekStart), 6);
}

type Range = readonly [DateString, DateString];

const TIMESPANS: Record<string, (today: DateString, weekStart: number) => Range> = {
  'last week': (t, w) => [firstDayOfWeek(addDays(t, -7), w), lastDayOfWeek(addDays(t, -7), w)],
  'last month': (t) => [firstDayOfMonth(addMonths(t, -1)), lastDayOfMonth(addMonths(t, -1))],
  'last quarter': (t) => [quarterStart(addMonths(t, -3)), quarterEnd(addMonths(t, -3))],
  'last 6 months': (t) => [quarterStart(addMonths(t, -6)), quarterEnd(addMonths(t, -3))],
  'last year': (t) => [yearStart(addYears(t, -1)), yearEnd(addYears(t, -1))],
  yesterday: (t) => [addDays(t, -1), addDays(t, -1)],
  today: (t) => [t, t],
  tomorrow: (t) => [addDays(t, 1), addDays(t, 1)],
  'this week': (t, w) => [firstDayOfWeek(t, w), lastDayOfWeek(t, w)],
  'this month': (t) => [firstDayOfMonth(t), lastDayOfMonth(t)],
  'this quarter': (t) => [quarterStart(t), quarterEnd(t)],
  'this year': (t) => [yearStart(t), yearEnd(t)],
  'next week': (t, w) => [firstDayOfWeek(addDays(t, 7), w), lastDayOfWeek(addDays(t, 7), w)],
  'next month': (t) => [firstDayOfMonth(addMonths(t, 1)), lastDayOfMonth(addMonths(t, 1))],
  'next quarter': (t) => [quarterStart(addMonths(t, 3)), quarterEnd(addMonths(t, 3))],
  'next 6 months': (t) => [quarterStart(addMonths(t, 3)), quarterEnd(addMonths(t, 6))],
  'next year': (t) => [yearStart(addYears(t, 1)), yearEnd(addYears(t, 1))],
  // Rolling windows anchored on today (Frappe develop, "Last/Next {7,14,30} Days").
  'last 7 days': (t) => [addDays(t, -7), t],
  'last 14 days': (t) => [addDays(t, -14), t],
  'last 30 days': (t) => [addDays(t, -30), t],
  'next 7 days': (t) => [t, addDays(t, 7)],
  'next 14 days': (t) => [t, addDays(t, 14)],
  'next 30 days': (t) => [t, addDays(t, 30)],
};

/** The timespan names understood by the `timespan` operator. */
export const TIMESPAN_NAMES: readonly string[] = Object.freeze(Object.keys(TIMESPANS));

function normaliseName(value: string): string {
  return value.trim().toLowerCase().replace(/\s+/g, ' ');
}

/** `[from, to]` (inclusive dates) of a named timespan, or undefined when the name is unknown. */
export function getTimespanDateRange(timespan: string, today: DateString, weekStart = 0): Range | undefined {
  const name = normaliseName(timespan);
  const range = Object.hasOwn(TIMESPANS, name) ? TIMESPANS[name] : undefined;
  return range?.(today, weekStart);
}

const PERIODS: Record<string, string> = {
  '1 week': 'week',
  '1 month': 'month',
  '3 months': 'quarter',
  '6 months': '6 months',
  '1 year': 'year',
};

/** The values the `previous` / `next` operators accept. */
export const PERIOD_NAMES: readonly string[] = Object.freeze(Object.keys(PERIODS));

/**
 * `previous "1 week"` is Frappe's `last week`, `next "3 months"` its `next quarter` and so on
 * (db_query.get_date_range): calendar periods, not rolling windows.
 */
export function getPeriodDateRange(
  operator: 'previous' | 'next',
  value: string,
  today: DateString,
  weekStart = 0,
): Range | undefined {
  const name = normaliseName(value);
  const period = Object.hasOwn(PERIODS, name) ? PERIODS[name] : undefined;
  if (period === undefined) return undefined;
  return getTimespanDateRange(`${operator === 'previous' ? 'last' : 'next'} ${period}`, today, weekStart);
}

// ---------------------------------------------------------------------------------------------
// Filter values → stored text

export const FALLBACK_DATE = '0001-01-01';
export const FALLBACK_DATETIME = '0001-01-01 00:00:00.000000';
export const FALLBACK_TIME = '00:00:00';

export interface ParsedDatetime {
  date: DateString;
  /** `HH:MM:SS` */
  time: string;
  /** six digits */
  micro: string;
  /** false when the text held a date only */
  hasTime: boolean;
}

const DATETIME_RE =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses the date and datetime texts clients send: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.f]]`,
 * and ISO 8601 with `T` and an optional zone (converted to UTC, the zone cortado stores in).
 */
export function parseDatetime(text: string): ParsedDatetime | undefined {
  const match = DATETIME_RE.exec(text.trim());
  if (!match) return undefined;
  let y = Number(match[1]);
  let mo = Number(match[2]);
  let d = Number(match[3]);
  const hasTime = match[4] !== undefined;
  let h = hasTime ? Number(match[4]) : 0;
  let mi = hasTime ? Number(match[5]) : 0;
  const s = match[6] !== undefined ? Number(match[6]) : 0;
  const micro = (match[7] ?? '').slice(0, 6).padEnd(6, '0');
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const zone = match[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
    if (Math.abs(offset) > 18 * 60) return undefined;
    const t = new Date(0);
    t.setUTCFullYear(y, mo - 1, d);
    t.setUTCHours(h, mi - offset, 0, 0);
    y = t.getUTCFullYear();
    mo = t.getUTCMonth() + 1;
    d = t.getUTCDate();
    h = t.getUTCHours();
    mi = t.getUTCMinutes();
    if (y < 1 || y > 9999) return undefined;
  }
  return { date: fmt({ y, m: mo, d }), time: `${pad(h)}:${pad(mi)}:${pad(s)}`, micro, hasTime };
}

function invalidDate(value: unknown): never {
  const shown = typeof value === 'string' ? value.slice(0, 100) : JSON.stringify(value)?.slice(0, 100);
  throw frappeError('ValidationError', `${shown} is not a valid date string.`, { title: 'Invalid Date' });
}

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === '';
}

/** A Date filter value as `YYYY-MM-DD`; empty → Frappe's fallback `0001-01-01`. */
export function toDateString(value: unknown): DateString {
  if (isEmpty(value)) return FALLBACK_DATE;
  if (typeof value !== 'string') invalidDate(value);
  const parsed = parseDatetime(value);
  if (!parsed) invalidDate(value);
  return parsed.date;
}

/**
 * A Datetime filter value as `YYYY-MM-DD HH:MM:SS.ffffff`. A date-only value becomes the start of
 * the day, or its last microsecond when `endOfDay` (Frappe's `between` bounds).
 */
export function toDatetimeString(value: unknown, endOfDay = false): string {
  if (isEmpty(value)) return FALLBACK_DATETIME;
  if (typeof value !== 'string') invalidDate(value);
  const parsed = parseDatetime(value);
  if (!parsed) invalidDate(value);
  if (!parsed.hasTime && endOfDay) return `${parsed.date} 23:59:59.999999`;
  return `${parsed.date} ${parsed.time}.${parsed.micro}`;
}

const TIME_RE = /^(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?$/;

/** A Time filter value as `HH:MM:SS` (with `.ffffff` only when not zero); empty → `00:00:00`. */
export function toTimeString(value: unknown): string {
  if (isEmpty(value)) return FALLBACK_TIME;
  if (typeof value !== 'string') invalidDate(value);
  const text = value.trim();
  let h: number;
  let mi: number;
  let s: number;
  let micro: string;
  const match = TIME_RE.exec(text);
  if (match) {
    h = Number(match[1]);
    mi = Number(match[2]);
    s = match[3] !== undefined ? Number(match[3]) : 0;
    micro = (match[4] ?? '').slice(0, 6).padEnd(6, '0');
  } else {
    const parsed = parseDatetime(text);
    if (!parsed?.hasTime) invalidDate(value);
    [h, mi, s] = parsed.time.split(':').map(Number) as [number, number, number];
    micro = parsed.micro;
  }
  if (h > 23 || mi > 59 || s > 59) invalidDate(value);
  const base = `${pad(h)}:${pad(mi)}:${pad(s)}`;
  return /^0+$/.test(micro) ? base : `${base}.${micro}`;
}
