import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrappeError } from '../../core/errors.ts';
import {
  addDays,
  addMonths,
  addYears,
  firstDayOfWeek,
  getPeriodDateRange,
  getTimespanDateRange,
  lastDayOfWeek,
  parseDatetime,
  PERIOD_NAMES,
  quarterEnd,
  quarterStart,
  TIMESPAN_NAMES,
  toDateString,
  toDatetimeString,
  todayOf,
  toTimeString,
  weekday,
} from './timespan.ts';

const TODAY = '2024-05-15'; // a Wednesday

function validationError(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof FrappeError && error.excType === 'ValidationError');
}

test('todayOf takes the UTC calendar date', () => {
  assert.equal(todayOf(new Date(Date.UTC(2024, 0, 1, 23, 59, 59))), '2024-01-01');
  assert.equal(todayOf(new Date(Date.UTC(2024, 11, 31, 0, 0, 0))), '2024-12-31');
});

test('addDays crosses months, years and leap days', () => {
  assert.equal(addDays('2024-02-28', 1), '2024-02-29');
  assert.equal(addDays('2023-02-28', 1), '2023-03-01');
  assert.equal(addDays('2024-01-01', -1), '2023-12-31');
  assert.equal(addDays('2024-12-25', 7), '2025-01-01');
});

test('addMonths clamps the day like relativedelta', () => {
  assert.equal(addMonths('2024-01-31', 1), '2024-02-29');
  assert.equal(addMonths('2023-01-31', 1), '2023-02-28');
  assert.equal(addMonths('2024-03-31', -1), '2024-02-29');
  assert.equal(addMonths('2024-05-15', -6), '2023-11-15');
  assert.equal(addMonths('2024-11-30', 3), '2025-02-28');
  assert.equal(addYears('2024-02-29', 1), '2025-02-28');
  assert.equal(addYears('2024-02-29', -4), '2020-02-29');
});

test('quarters', () => {
  assert.equal(quarterStart('2024-05-15'), '2024-04-01');
  assert.equal(quarterEnd('2024-05-15'), '2024-06-30');
  assert.equal(quarterStart('2024-12-31'), '2024-10-01');
  assert.equal(quarterEnd('2024-01-01'), '2024-03-31');
});

test('weeks start on Sunday by default, on any day when asked', () => {
  assert.equal(weekday(TODAY), 3);
  assert.equal(firstDayOfWeek(TODAY), '2024-05-12');
  assert.equal(lastDayOfWeek(TODAY), '2024-05-18');
  assert.equal(firstDayOfWeek(TODAY, 1), '2024-05-13');
  assert.equal(lastDayOfWeek(TODAY, 1), '2024-05-19');
  // On the first day itself
  assert.equal(firstDayOfWeek('2024-05-12'), '2024-05-12');
  assert.equal(firstDayOfWeek('2024-05-12', 1), '2024-05-06');
});

test('named timespans (frappe get_timespan_date_range)', () => {
  const expected: Record<string, [string, string]> = {
    today: [TODAY, TODAY],
    yesterday: ['2024-05-14', '2024-05-14'],
    tomorrow: ['2024-05-16', '2024-05-16'],
    'this week': ['2024-05-12', '2024-05-18'],
    'last week': ['2024-05-05', '2024-05-11'],
    'next week': ['2024-05-19', '2024-05-25'],
    'this month': ['2024-05-01', '2024-05-31'],
    'last month': ['2024-04-01', '2024-04-30'],
    'next month': ['2024-06-01', '2024-06-30'],
    'this quarter': ['2024-04-01', '2024-06-30'],
    'last quarter': ['2024-01-01', '2024-03-31'],
    'next quarter': ['2024-07-01', '2024-09-30'],
    'last 6 months': ['2023-10-01', '2024-03-31'],
    'next 6 months': ['2024-07-01', '2024-12-31'],
    'this year': ['2024-01-01', '2024-12-31'],
    'last year': ['2023-01-01', '2023-12-31'],
    'next year': ['2025-01-01', '2025-12-31'],
    'last 7 days': ['2024-05-08', TODAY],
    'last 14 days': ['2024-05-01', TODAY],
    'last 30 days': ['2024-04-15', TODAY],
    'next 7 days': [TODAY, '2024-05-22'],
    'next 14 days': [TODAY, '2024-05-29'],
    'next 30 days': [TODAY, '2024-06-14'],
  };
  for (const [name, range] of Object.entries(expected)) {
    assert.deepEqual(getTimespanDateRange(name, TODAY), range, name);
  }
  assert.deepEqual([...TIMESPAN_NAMES].sort(), Object.keys(expected).sort());
});

test('timespans at year boundaries', () => {
  assert.deepEqual(getTimespanDateRange('last month', '2024-01-10'), ['2023-12-01', '2023-12-31']);
  assert.deepEqual(getTimespanDateRange('next month', '2024-12-31'), ['2025-01-01', '2025-01-31']);
  assert.deepEqual(getTimespanDateRange('last quarter', '2024-02-29'), ['2023-10-01', '2023-12-31']);
  assert.deepEqual(getTimespanDateRange('last week', '2024-01-03'), ['2023-12-24', '2023-12-30']);
  assert.deepEqual(getTimespanDateRange('this week', '2024-05-15', 1), ['2024-05-13', '2024-05-19']);
});

test('timespan names are matched case- and space-insensitively; unknown names give undefined', () => {
  assert.deepEqual(getTimespanDateRange('  This   Week ', TODAY), ['2024-05-12', '2024-05-18']);
  for (const bad of ['', 'last 8 days', 'constructor', '__proto__', 'toString', "today' OR 1=1", 'last  week;']) {
    assert.equal(getTimespanDateRange(bad, TODAY), undefined, bad);
  }
});

test('previous / next map to calendar periods (frappe get_date_range)', () => {
  assert.deepEqual(getPeriodDateRange('previous', '1 week', TODAY), getTimespanDateRange('last week', TODAY));
  assert.deepEqual(getPeriodDateRange('previous', '1 month', TODAY), ['2024-04-01', '2024-04-30']);
  assert.deepEqual(getPeriodDateRange('previous', '3 months', TODAY), getTimespanDateRange('last quarter', TODAY));
  assert.deepEqual(getPeriodDateRange('previous', '6 months', TODAY), getTimespanDateRange('last 6 months', TODAY));
  assert.deepEqual(getPeriodDateRange('previous', '1 year', TODAY), ['2023-01-01', '2023-12-31']);
  assert.deepEqual(getPeriodDateRange('next', '1 week', TODAY), ['2024-05-19', '2024-05-25']);
  assert.deepEqual(getPeriodDateRange('next', '3 Months', TODAY), ['2024-07-01', '2024-09-30']);
  assert.deepEqual(getPeriodDateRange('next', '1 year', TODAY), ['2025-01-01', '2025-12-31']);
  assert.equal(getPeriodDateRange('next', '2 weeks', TODAY), undefined);
  assert.equal(getPeriodDateRange('next', 'constructor', TODAY), undefined);
  assert.deepEqual(PERIOD_NAMES, ['1 week', '1 month', '3 months', '6 months', '1 year']);
});

test('parseDatetime reads Frappe and ISO texts', () => {
  assert.deepEqual(parseDatetime('2024-05-15'), { date: '2024-05-15', time: '00:00:00', micro: '000000', hasTime: false });
  assert.deepEqual(parseDatetime('2024-05-15 10:11'), { date: '2024-05-15', time: '10:11:00', micro: '000000', hasTime: true });
  assert.deepEqual(parseDatetime('2024-05-15 10:11:12.5'), { date: '2024-05-15', time: '10:11:12', micro: '500000', hasTime: true });
  assert.deepEqual(parseDatetime('2024-5-1T1:02:03.1234567'), { date: '2024-05-01', time: '01:02:03', micro: '123456', hasTime: true });
  // Zones are converted to UTC, the zone cortado stores datetimes in.
  assert.equal(parseDatetime('2024-01-01T02:00:00+05:30')?.date, '2023-12-31');
  assert.equal(parseDatetime('2024-01-01T02:00:00+05:30')?.time, '20:30:00');
  assert.equal(parseDatetime('2024-12-31T23:30:00-01:00')?.date, '2025-01-01');
  assert.equal(parseDatetime('2024-05-15T10:00:00Z')?.time, '10:00:00');
  for (const bad of ['', '2024-02-30', '2023-02-29', '2024-13-01', '2024-00-10', '0000-01-01', '2024-05-15 24:00', '2024-05-15 10:60', 'today', '2024/05/15', "2024-05-15' OR '1'='1", '2024-05-15; DROP TABLE x', '2024-05-15T10:00:00+99:00']) {
    assert.equal(parseDatetime(bad), undefined, bad);
  }
});

test('toDateString / toDatetimeString / toTimeString', () => {
  assert.equal(toDateString('2024-05-15 10:11:12'), '2024-05-15');
  assert.equal(toDateString(''), '0001-01-01');
  assert.equal(toDateString(null), '0001-01-01');
  assert.equal(toDatetimeString('2024-05-15'), '2024-05-15 00:00:00.000000');
  assert.equal(toDatetimeString('2024-05-15', true), '2024-05-15 23:59:59.999999');
  assert.equal(toDatetimeString('2024-05-15 08:00', true), '2024-05-15 08:00:00.000000');
  assert.equal(toDatetimeString(undefined), '0001-01-01 00:00:00.000000');
  assert.equal(toTimeString('9:05'), '09:05:00');
  assert.equal(toTimeString('10:00:00.250'), '10:00:00.250000');
  assert.equal(toTimeString('2024-05-15 10:11:12'), '10:11:12');
  assert.equal(toTimeString(''), '00:00:00');
  for (const bad of ['tomorrow', '2024-02-30', "1' OR 1=1"]) validationError(() => toDateString(bad));
  for (const bad of [20240515, true, ['2024-05-15'], { d: 1 }]) validationError(() => toDatetimeString(bad));
  for (const bad of ['25:00', '10:61', 'noon', '2024-05-15', 1000]) validationError(() => toTimeString(bad));
});
