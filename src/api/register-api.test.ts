// How storage and cache failures reach the client: as Frappe exceptions, never as a bare 500.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheUnavailable } from '../cache/types.ts';
import { StatementTimeout, StorageUnavailable, StorageValueError } from '../storage/types.ts';
import { toFrappeError } from './register-api.ts';

test('storage and cache failures become Frappe exceptions with their status', () => {
  const cases: [Error, string, number][] = [
    [new StatementTimeout('slow'), 'QueryTimeoutError', 500],
    [new StorageUnavailable('down'), 'ServiceUnavailable', 503],
    [new StorageValueError('NUL'), 'ValidationError', 417],
    [new CacheUnavailable('down'), 'ServiceUnavailable', 503],
  ];
  for (const [error, excType, status] of cases) {
    const frappe = toFrappeError(error);
    assert.equal(frappe?.excType, excType, error.name);
    assert.equal(frappe?.status, status, error.name);
    // The database's own words stay in the log.
    assert.doesNotMatch(frappe?.message ?? '', /slow|down|NUL/);
  }
});
