// How storage and cache failures reach the client: as Frappe exceptions, never as a bare 500.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { CacheUnavailable } from '../cache/types.ts';
import { StatementTimeout, StorageUnavailable, StorageValueError } from '../storage/types.ts';
import { respondData, toFrappeError } from './register-api.ts';

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

test('a document answer kept as text still carries the messages and session_expired of its request', async () => {
  const app = Fastify();
  let state: Record<string, unknown> = {};
  app.get('/api/resource/ToDo/x', (request, reply) => {
    (request as unknown as { cortado: unknown }).cortado = state;
    return respondData(request, reply, '{"name":"x","description":"kept"}');
  });
  const uow = { inTransaction: false, finish: () => Promise.resolve() };
  const info = { path: '/api/resource/ToDo/x' };
  const read = async (extra: Record<string, unknown>) => {
    state = { uow, info, messages: [], auth: undefined, ...extra };
    return (await app.inject({ method: 'GET', url: '/api/resource/ToDo/x' })).json() as Record<string, unknown>;
  };
  try {
    const data = { name: 'x', description: 'kept' };
    assert.deepEqual(await read({}), { data });
    assert.deepEqual(await read({ auth: { sessionExpired: true } }), { data, session_expired: 1 });
    const withMessage = await read({ messages: [{ message: 'Note', title: undefined, indicator: undefined }] });
    assert.deepEqual(withMessage.data, data);
    assert.match(String(withMessage._server_messages), /Note/);
  } finally {
    await app.close();
  }
});
