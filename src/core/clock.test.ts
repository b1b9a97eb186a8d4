import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { datetimeAfter, epochMs, systemClock, type Clock } from './clock.ts';

test('datetimeAfter: the candidate when later, else one microsecond after the previous value', () => {
  assert.equal(datetimeAfter('2026-11-29 11:48:55.072000', '2026-11-29 11:48:55.073000'), '2026-11-29 11:48:55.073000');
  assert.equal(datetimeAfter('2026-11-29 11:48:55.072000', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072001');
  assert.equal(datetimeAfter('2026-11-29 11:48:55.072001', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072002');
  assert.equal(datetimeAfter('2026-12-31 23:59:59.999999', '2026-12-31 23:59:59.999000'), '2027-01-01 00:00:00.000000');
  assert.equal(datetimeAfter('', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072000', 'no previous value');
  assert.equal(datetimeAfter('2999-01-01', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072000', 'not in the stored shape: the clock wins');
});

describe('epochMs', () => {
  test('an injected clock without nowMs is read through now(), so tests that move time move every cache', () => {
    const moved: Clock = { now: () => new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 6)) };
    assert.equal(epochMs(moved), Date.UTC(2030, 0, 2, 3, 4, 5, 6));
  });

  test('a clock with nowMs is read through it', () => {
    const clock: Clock = { now: () => new Date(0), nowMs: () => 42 };
    assert.equal(epochMs(clock), 42);
  });

  test('the system clock answers the current time without a Date', () => {
    const before = Date.now();
    const value = epochMs(systemClock);
    assert.ok(value >= before && value <= Date.now());
    assert.equal(typeof systemClock.nowMs, 'function');
  });
});
