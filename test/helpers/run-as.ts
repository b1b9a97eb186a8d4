/** Runs document operations as a given user in one committed unit of work, as a request does. */
import assert from 'node:assert/strict';
import type { Site } from '../../src/app/site.ts';
import { FrappeError, type ExcType } from '../../src/core/errors.ts';
import { createDbApi, type DbApi } from '../../src/doctype/db-api.ts';
import { loadPrincipal } from '../../src/doctype/users.ts';
import { UnitOfWork } from '../../src/storage/unit-of-work.ts';

export async function runAs<T>(site: Site, user: string, fn: (db: DbApi) => Promise<T>): Promise<T> {
  const principal = await loadPrincipal(site.storage, user);
  if (!principal) throw new Error(`test user ${user} missing or disabled`);
  const uow = new UnitOfWork(site.storage);
  try {
    const result = await fn(createDbApi(site.documentContext(principal, uow)));
    await uow.finish(true);
    return result;
  } catch (error) {
    await uow.finish(false);
    throw error;
  }
}

/** Asserts that `promise` rejects with Frappe's `excType` (and so its HTTP status). */
export async function rejectsWith(promise: Promise<unknown>, excType: ExcType, status?: number, message?: RegExp): Promise<FrappeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FrappeError, `expected a FrappeError, got ${String(error)}`);
    assert.equal(error.excType, excType, `expected ${excType}, got ${error.excType}: ${error.message}`);
    if (status !== undefined) assert.equal(error.status, status);
    if (message) assert.match(error.message + ' ' + (error.errorMessage ?? ''), message);
    return error;
  }
  assert.fail(`expected ${excType}, but it succeeded`);
}
