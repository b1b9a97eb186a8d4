import assert from 'node:assert/strict';
import { test } from 'node:test';
import { datetimeAfter } from './clock.ts';

test('datetimeAfter: the candidate when later, else one microsecond after the previous value', () => {
  assert.equal(datetimeAfter('2026-11-29 11:48:55.072000', '2026-11-29 11:48:55.073000'), '2026-11-29 11:48:55.073000');
  assert.equal(datetimeAfter('2026-11-29 11:48:55.072000', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072001');
  assert.equal(datetimeAfter('2026-11-29 11:48:55.072001', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072002');
  assert.equal(datetimeAfter('2026-12-31 23:59:59.999999', '2026-12-31 23:59:59.999000'), '2027-01-01 00:00:00.000000');
  assert.equal(datetimeAfter('', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072000', 'no previous value');
  assert.equal(datetimeAfter('2999-01-01', '2026-11-29 11:48:55.072000'), '2026-11-29 11:48:55.072000', 'not in the stored shape: the clock wins');
});
