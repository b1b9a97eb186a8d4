/** The batched API Request Log writer on a real site (SQLite, and PostgreSQL when configured). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { formatDatetime, type Clock } from '../core/clock.ts';
import { openLineSpool } from '../core/line-spool.ts';
import { StorageUnavailable, type SqlExecutor, type SqlValue, type Storage } from '../storage/types.ts';
import { rejectsWith, runAs } from '../../test/helpers/run-as.ts';
import { createTestSite, forEachDatabase, type TestSite } from '../../test/helpers/test-site.ts';
import { clipText, DATA_LENGTH } from './activity-log.ts';
import { API_REQUEST_LOG_TABLE, createRequestLog, MAX_PATH_LENGTH, type ApiRequestLogEntry, type RequestLog, type RequestLogStats } from './request-log.ts';

/** The log's counters, without the bytes its recorded paths hold. */
function counts(log: RequestLog): Omit<RequestLogStats, 'recordedBytes'> {
  const { recordedBytes: _held, ...rest } = log.stats();
  return rest;
}

const SYSTEM_MANAGER = 'sysman@example.com';
const PLAIN_USER = 'plain@example.com';
const DAY_MS = 86_400_000;

type Row = Record<string, unknown>;

/** A clock the test moves. */
function testClock(start = Date.UTC(2025, 5, 1, 12, 0, 0, 0)): Clock & { set(ms: number): void } {
  let now = start;
  return { now: () => new Date(now), set: (ms) => (now = ms) };
}

function entry(overrides: Partial<ApiRequestLogEntry> = {}): ApiRequestLogEntry {
  return {
    path: '/api/resource/ToDo',
    method: 'GET',
    user: 'Administrator',
    status: 200,
    auth_method: 'session',
    ip: '127.0.0.1',
    duration_ms: 1.5,
    ...overrides,
  };
}

/** The storage, with `transaction`/`begin` calls counted and selected methods replaced. */
function instrumented(storage: Storage, replace: Partial<Record<keyof Storage, unknown>> = {}) {
  const counts = { transactions: 0 };
  const proxy = new Proxy(storage, {
    get(target, property) {
      if (Object.hasOwn(replace, property)) return replace[property as keyof Storage];
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'transaction' || property === 'begin') {
        return (...args: unknown[]) => {
          counts.transactions += 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { storage: proxy, counts };
}

async function rowsWhere(storage: Storage, where: string, params: (string | number)[] = []): Promise<Row[]> {
  return storage.all(`SELECT * FROM "${API_REQUEST_LOG_TABLE}" WHERE ${where}`, params);
}

async function count(storage: Storage, where: string, params: (string | number)[] = []): Promise<number> {
  const row = await storage.get<{ n: number | string }>(
    `SELECT COUNT(*) AS "n" FROM "${API_REQUEST_LOG_TABLE}" WHERE ${where}`,
    params,
  );
  return Number(row?.n ?? 0);
}

/** Polls `check` every 5 ms until it holds (at most 2 s). */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i += 1) {
    if (await check()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const spoolRoot = mkdtempSync(join(tmpdir(), 'cortado-log-spool-'));
after(() => rmSync(spoolRoot, { recursive: true, force: true }));
let spools = 0;
const spoolFolder = () => join(spoolRoot, String(++spools));

/** Parameters of one inserted row: name, creation, modified, then the row's eight columns. */
const INSERT_PARAMS = 11;

/** A storage without a database that keeps the parameters of every row inserted. */
function capturingStorage(): { storage: Storage; rows: SqlValue[][] } {
  const rows: SqlValue[][] = [];
  const tx = {
    run: async (_sql: string, params: readonly SqlValue[] = []) => {
      for (let i = 0; i < params.length; i += INSERT_PARAMS) rows.push(params.slice(i, i + INSERT_PARAMS));
      return { changes: params.length / INSERT_PARAMS };
    },
  } as unknown as SqlExecutor;
  const storage = { transaction: (fn: (executor: SqlExecutor) => Promise<unknown>) => fn(tx) } as unknown as Storage;
  return { storage, rows };
}

/**
 * A row as the log made it when each record clipped its own, before rows waited for the tick in
 * columns: what is written and spooled must not have changed.
 */
function referenceRow(entered: ApiRequestLogEntry, creation: number): unknown[] {
  const recorded = entered as unknown as Record<string, unknown>;
  const path = typeof recorded.path === 'string' ? recorded.path : String(recorded.path ?? '');
  const cut = path.search(/[?#]/);
  const status = Number(recorded.status);
  const duration = Number(recorded.duration_ms);
  return [
    creation,
    clipText(cut === -1 ? path : path.slice(0, cut), MAX_PATH_LENGTH) ?? '',
    clipText(recorded.method, DATA_LENGTH),
    clipText(recorded.user, DATA_LENGTH),
    Number.isFinite(status) && Math.abs(status) <= Number.MAX_SAFE_INTEGER ? Math.trunc(status) : null,
    clipText(recorded.auth_method, DATA_LENGTH),
    clipText(recorded.api_key, DATA_LENGTH),
    clipText(recorded.ip, DATA_LENGTH),
    Number.isFinite(duration) ? duration : null,
  ];
}

/** Entries to cut, clip or sanitise, and values that are not what the types say. */
function awkwardEntries(): ApiRequestLogEntry[] {
  const long = 'p'.repeat(MAX_PATH_LENGTH + 500);
  const overrides: Record<string, unknown>[] = [
    { path: '/api/resource/ToDo?sid=secret#fragment' },
    { path: '/api/method/login#fragment?sid=secret' },
    { path: `/api/${long}` },
    { path: `/api/${long}?sid=secret` },
    // A surrogate pair across the limit is dropped whole.
    { path: `/api/${'p'.repeat(MAX_PATH_LENGTH - 6)}🙂tail` },
    { path: '/api/x\u0000y"z\\w\n\ud800🙂' },
    { path: '' },
    { path: undefined },
    { path: 42 },
    { path: { toString: () => '/api/object?sid=secret' } },
    { method: null, user: undefined, api_key: undefined, ip: 42 },
    { user: `u\u0000${'🙂'.repeat(100)}`, method: 'G'.repeat(500), api_key: `${'k'.repeat(DATA_LENGTH - 1)}🙂` },
    { status: Number.NaN, duration_ms: Number.POSITIVE_INFINITY },
    { status: '201', duration_ms: '1.5' },
    { status: 404.7, duration_ms: null },
    { status: -3.5, duration_ms: -0 },
    { status: 2 ** 40, duration_ms: 1e-7 },
    { status: 1e20, duration_ms: Number.NaN },
    { status: null, duration_ms: 12345.678 },
  ];
  return overrides.map((override) => ({ ...entry(), ...override }) as unknown as ApiRequestLogEntry);
}

test('rows are written as recorded, clipped as before, past the first capacity and across batches', async () => {
  const { storage, rows } = capturingStorage();
  const clock = testClock();
  const log = createRequestLog(storage, clock, { flushIntervalMs: 60_000 });
  const batches = [
    [
      ...awkwardEntries(),
      // Paths up to past the limit: more rows and more path text than the first batch holds.
      ...Array.from({ length: 3000 }, (_, i) =>
        entry({ path: `/api/${'x'.repeat(i % 1200)}?i=${i}`, user: `user${i % 7}`, ip: `10.0.0.${i % 5}` }),
      ),
    ],
    Array.from({ length: 20 }, (_, i) => entry({ user: `user${(i + 3) % 9}`, method: i % 2 ? 'PUT' : 'POST' })),
  ];
  for (const batch of batches) {
    for (const recorded of batch) log.record(recorded);
    assert.equal(await log.flush(), batch.length);
  }
  await log.close();
  const creation = formatDatetime(clock.now());
  const expected = batches.flat().map((recorded) => [creation, creation, ...referenceRow(recorded, 0).slice(1)]);
  assert.deepEqual(rows.map((row) => row.slice(1)), expected);
});

test('the memory a burst of long paths took is let go once its rows are taken', async () => {
  const { storage, rows } = capturingStorage();
  const log = createRequestLog(storage, testClock(), { flushIntervalMs: 60_000 });
  const small = log.stats().recordedBytes;
  for (let i = 0; i < 5000; i++) log.record(entry({ path: `/api/${'p'.repeat(MAX_PATH_LENGTH)}` }));
  assert.ok(log.stats().recordedBytes >= 5000 * MAX_PATH_LENGTH, 'the paths are held until the tick');
  assert.equal(await log.flush(), 5000);
  assert.equal(log.stats().recordedBytes, small);
  await log.close();
  assert.equal(rows.length, 5000);
});

test('texts shared by the rows of a batch are kept once per batch: the next batch has its own', async () => {
  const { storage, rows } = capturingStorage();
  const log = createRequestLog(storage, testClock(), { flushIntervalMs: 60_000 });
  const users = [['a@example.com', 'b@example.com'], ['b@example.com', 'c@example.com', 'a@example.com']];
  for (const batch of users) {
    for (const user of batch) log.record(entry({ user }));
    await log.flush();
  }
  await log.close();
  assert.deepEqual(rows.map((row) => row[5]), users.flat());
});

test('spooled lines are the rows as recorded, clipped and serialised as before, byte for byte', async () => {
  const folder = spoolFolder();
  const clock = testClock();
  const log = createRequestLog(capturingStorage().storage, clock, {
    flushIntervalMs: 5, spool: openLineSpool(folder), busy: () => true,
  });
  const spooled = () =>
    readdirSync(folder).map((file) => readFileSync(join(folder, file), 'utf8')).join('').split('\n').slice(0, -1);
  // Every other row differs from the one before in one column only.
  const changes: Partial<ApiRequestLogEntry>[] = [
    { method: 'POST' }, { user: 'other' }, { status: 404 }, { auth_method: 'token' }, { api_key: 'key' }, { ip: '10.0.0.1' },
  ];
  const plain = Array.from({ length: 48 }, (_, i) =>
    entry({ path: `/api/resource/ToDo/${i}`, ...(i % 2 ? changes[(i >> 1) % changes.length] : {}) }),
  );
  // A batch with nothing to escape, then one with paths JSON escapes.
  const batches = [plain, awkwardEntries()];
  let count = 0;
  for (const batch of batches) {
    for (const recorded of batch) log.record(recorded);
    count += batch.length;
    await until(() => log.stats().pending === 0 && spooled().length === count, 'the batch spooled');
  }
  const lines = spooled();
  const names = lines.map((line) => (JSON.parse(line) as unknown[])[0]);
  const creation = clock.now().getTime();
  assert.deepEqual(lines, batches.flat().map((recorded, i) => JSON.stringify([names[i], ...referenceRow(recorded, creation)])));
  // Time-ordered names, in the order of the records.
  assert.ok(names.every((name, i) => /^[0-9a-f]{18}$/.test(String(name)) && (i === 0 || String(name) > String(names[i - 1]))));
  await log.close();
});

test('while the process is busy, rows recorded past maxQueue between two ticks are spooled, not dropped', async () => {
  let busy = true;
  const log = createRequestLog(capturingStorage().storage, testClock(), {
    flushIntervalMs: 5, maxQueue: 5, spool: openLineSpool(spoolFolder()), busy: () => busy,
  });
  log.record(entry());
  await until(() => log.stats().pending === 0 && log.stats().spooledBytes > 0, 'the first row spooled');
  for (let i = 0; i < 12; i += 1) log.record(entry());
  assert.ok(log.stats().pending <= 5);
  assert.equal(log.stats().dropped, 0);
  busy = false;
  // Written, and the spool's file gone (it is deleted after its last batch commits).
  await until(() => log.stats().written === 13 && log.stats().spooledBytes === 0, 'the rows written');
  assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 13, dropped: 0 });
  await log.close();
});

forEachDatabase('API Request Log', (db) => {
  let t: TestSite;

  before(async () => {
    t = await createTestSite({ db });
    await runAs(t.site, 'Administrator', async (api) => {
      await api.insert({ doctype: 'User', email: SYSTEM_MANAGER, first_name: 'Sys', roles: [{ role: 'System Manager' }] });
      await api.insert({ doctype: 'User', email: PLAIN_USER, first_name: 'Plain', roles: [] });
    });
  });
  after(async () => t.cleanup());

  test('a recorded request lands with every column once flushed', async () => {
    const clock = testClock();
    const log = createRequestLog(t.site.storage, clock);
    log.record(entry({
      path: '/api/method/frappe.auth.get_logged_user',
      method: 'POST',
      user: SYSTEM_MANAGER,
      status: 403,
      auth_method: 'token',
      api_key: 'key-id-1234',
      ip: '2001:db8::1',
      duration_ms: 12.25,
    }));
    assert.equal(log.stats().pending, 1);
    assert.equal(await count(t.site.storage, '"api_key" = ?', ['key-id-1234']), 0, 'record() writes nothing by itself');
    assert.equal(await log.flush(), 1);
    await log.close();
    const rows = await rowsWhere(t.site.storage, '"api_key" = ?', ['key-id-1234']);
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    // Time-ordered names (11 hex of the millisecond, 3 of a sequence, 4 of a per-process tag).
    assert.match(String(row.name), /^[0-9a-f]{18}$/);
    assert.equal(row.owner, 'Administrator');
    assert.equal(row.modified_by, 'Administrator');
    assert.equal(row.creation, '2025-06-01 12:00:00.000000');
    assert.equal(row.modified, row.creation);
    assert.equal(Number(row.docstatus), 0);
    assert.equal(row.path, '/api/method/frappe.auth.get_logged_user');
    assert.equal(row.method, 'POST');
    assert.equal(row.user, SYSTEM_MANAGER);
    assert.equal(Number(row.status), 403);
    assert.equal(row.auth_method, 'token');
    assert.equal(row.ip, '2001:db8::1');
    assert.equal(Number(row.duration_ms), 12.25);
    assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 1, dropped: 0 });
  });

  test('1,000 records are written in two transactions of multi-row INSERTs', async () => {
    const { storage, counts } = instrumented(t.site.storage);
    const log = createRequestLog(storage, testClock(), { flushIntervalMs: 60_000, maxBatch: 500 });
    for (let i = 0; i < 1000; i += 1) log.record(entry({ path: `/api/resource/Batch/${i}`, ip: 'batch' }));
    assert.equal(await log.flush(), 1000);
    assert.equal(counts.transactions, 2);
    assert.equal(await count(t.site.storage, '"ip" = ?', ['batch']), 1000);
    const distinct = await t.site.storage.get<{ n: number | string }>(
      `SELECT COUNT(DISTINCT "path") AS "n" FROM "${API_REQUEST_LOG_TABLE}" WHERE "ip" = ?`,
      ['batch'],
    );
    assert.equal(Number(distinct?.n), 1000);
    assert.equal(await log.flush(), 0, 'nothing left to write');
    await log.close();
  });

  test('the timer writes on its own; close() flushes what is left and later records are dropped', async () => {
    const timed = createRequestLog(t.site.storage, testClock(), { flushIntervalMs: 10 });
    timed.record(entry({ ip: 'timer' }));
    for (let i = 0; i < 100 && (await count(t.site.storage, '"ip" = ?', ['timer'])) === 0; i += 1) await sleep(10);
    assert.equal(await count(t.site.storage, '"ip" = ?', ['timer']), 1);
    await timed.close();

    const log = createRequestLog(t.site.storage, testClock(), { flushIntervalMs: 60_000 });
    for (let i = 0; i < 3; i += 1) log.record(entry({ ip: 'close' }));
    await log.close();
    assert.equal(await count(t.site.storage, '"ip" = ?', ['close']), 3);
    log.record(entry({ ip: 'close' }));
    await log.close();
    assert.equal(await log.flush(), 0);
    assert.equal(await count(t.site.storage, '"ip" = ?', ['close']), 3);
    assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 3, dropped: 1 });
  });

  test('a query string is never stored; long paths and hostile values are clipped, not fatal', async () => {
    const errors: unknown[] = [];
    const log = createRequestLog(t.site.storage, testClock(), { onError: (e) => errors.push(e) });
    log.record(entry({ path: '/api/resource/ToDo?sid=secret-session-id&fields=["*"]', ip: 'query' }));
    log.record(entry({ path: '/api/method/login#frag?sid=secret-session-id', ip: 'query' }));
    log.record(entry({ path: `/api/resource/${'p'.repeat(3000)}?sid=secret-session-id`, ip: 'query' }));
    log.record(entry({
      path: '/api/x\u0000y', user: `u\u0000${'🙂'.repeat(500)}`, method: 'G'.repeat(500), ip: 'query',
      status: Number.NaN, duration_ms: Number.POSITIVE_INFINITY,
    }));
    assert.equal(await log.flush(), 4);
    await log.close();
    assert.deepEqual(errors, []);
    const rows = await rowsWhere(t.site.storage, '"ip" = ?', ['query']);
    assert.equal(rows.length, 4);
    for (const row of rows) {
      assert.ok(!String(row.path).includes('?'));
      assert.ok(!JSON.stringify(row).includes('secret-session-id'));
      assert.ok(String(row.path).length <= MAX_PATH_LENGTH);
      assert.ok(String(row.user).length <= 140);
      assert.ok(String(row.method).length <= 140);
    }
    const paths = rows.map((r) => String(r.path)).sort();
    assert.ok(paths.includes('/api/resource/ToDo'));
    assert.ok(paths.includes('/api/method/login'));
    assert.ok(paths.includes('/api/x\uFFFDy'));
    assert.ok(paths.some((p) => p.length === MAX_PATH_LENGTH));
    const hostile = rows.find((r) => r.path === '/api/x\uFFFDy')!;
    assert.equal(hostile.status, null);
    assert.equal(hostile.duration_ms, null);
  });

  test('a failing storage never makes record() throw or crash; errors go to onError', async () => {
    // A storage that rejects everything.
    const failing = instrumented(t.site.storage, {
      transaction: () => Promise.reject(new Error('disk on fire')),
      begin: () => Promise.reject(new Error('disk on fire')),
    }).storage;
    const errors: unknown[] = [];
    const log = createRequestLog(failing, testClock(), { flushIntervalMs: 5, onError: (e) => errors.push(e) });
    assert.doesNotThrow(() => log.record(entry({ ip: 'failing' })));
    for (let i = 0; i < 100 && errors.length === 0; i += 1) await sleep(5);
    assert.ok(errors.length >= 1);
    assert.match(String(errors[0]), /disk on fire/);
    assert.equal(await log.flush(), 0);
    assert.equal(log.stats().dropped, 1);
    await log.close();

    // A sink that throws, a storage that throws synchronously, a malformed entry: still nothing escapes.
    const throwing = instrumented(t.site.storage, {
      transaction: () => { throw new Error('sync failure'); },
    }).storage;
    const quiet = createRequestLog(throwing, testClock(), { onError: () => { throw new Error('sink broken'); } });
    assert.doesNotThrow(() => quiet.record(null as unknown as ApiRequestLogEntry));
    assert.doesNotThrow(() => quiet.record(entry()));
    assert.equal(await quiet.flush(), 0);
    await quiet.close();

    // A closed storage (the site reopened; the old storage is closed).
    const closedStorage = t.site.storage;
    await t.reopen();
    const closedErrors: unknown[] = [];
    const closedLog = createRequestLog(closedStorage, testClock(), { flushIntervalMs: 5, onError: (e) => closedErrors.push(e) });
    assert.doesNotThrow(() => closedLog.record(entry({ ip: 'closed' })));
    for (let i = 0; i < 100 && closedErrors.length === 0; i += 1) await sleep(5);
    assert.ok(closedErrors.length >= 1);
    await closedLog.close();
    assert.equal(await count(t.site.storage, '"ip" = ?', ['closed']), 0);
  });

  test('an unreachable database keeps the rows for the next flush', async () => {
    let down = true;
    const flaky = instrumented(t.site.storage, {
      transaction: (fn: Parameters<Storage['transaction']>[0]) =>
        down ? Promise.reject(new StorageUnavailable('PostgreSQL unavailable: test')) : t.site.storage.transaction(fn),
    }).storage;
    const errors: unknown[] = [];
    const log = createRequestLog(flaky, testClock(), { flushIntervalMs: 60_000, onError: (e) => errors.push(e) });
    for (let i = 0; i < 5; i += 1) log.record(entry({ ip: 'flaky' }));
    assert.equal(await log.flush(), 0);
    assert.equal(errors.length, 1);
    assert.equal(log.stats().pending, 5);
    down = false;
    assert.equal(await log.flush(), 5);
    await log.close();
    assert.equal(await count(t.site.storage, '"ip" = ?', ['flaky']), 5);
    assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 5, dropped: 0 });
  });

  test('a full queue drops the oldest rows and counts them', async () => {
    const log = createRequestLog(t.site.storage, testClock(), { maxQueue: 10, flushIntervalMs: 60_000 });
    for (let i = 0; i < 25; i += 1) log.record(entry({ path: `/api/overflow/${i}`, ip: 'overflow' }));
    assert.deepEqual(counts(log), { pending: 10, spooledBytes: 0, written: 0, dropped: 15 });
    assert.equal(await log.flush(), 10);
    await log.close();
    const paths = (await rowsWhere(t.site.storage, '"ip" = ?', ['overflow'])).map((r) => Number(String(r.path).split('/').pop()));
    assert.deepEqual(paths.sort((a, b) => a - b), [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  });

  test('a name collision rolls the batch back and retries it with fresh names', async () => {
    const names = ['dddddddddd', 'dddddddddd'];
    const log = createRequestLog(t.site.storage, testClock(), { newName: () => names.shift() ?? Math.random().toString(16).slice(2, 12) });
    log.record(entry({ ip: 'collide' }));
    log.record(entry({ ip: 'collide' }));
    assert.equal(await log.flush(), 2);
    await log.close();
    assert.equal(await count(t.site.storage, '"ip" = ?', ['collide']), 2);
  });

  test('while the process is busy rows wait in the spool; the first idle tick writes them', async () => {
    let busy = true;
    const folder = spoolFolder();
    const log = createRequestLog(t.site.storage, testClock(), { flushIntervalMs: 5, spool: openLineSpool(folder), busy: () => busy });
    for (let i = 0; i < 3; i += 1) log.record(entry({ path: `/api/spooled/${i}`, ip: 'spooled' }));
    await until(() => log.stats().spooledBytes > 0, 'rows spooled');
    assert.equal(log.stats().pending, 0);
    // A record waits for the next tick, which spools it while the process stays busy.
    const before = log.stats().spooledBytes;
    log.record(entry({ path: '/api/spooled/3', ip: 'spooled' }));
    assert.equal(log.stats().pending, 1);
    await until(() => log.stats().pending === 0, 'the row spooled');
    assert.ok(log.stats().spooledBytes > before);
    await sleep(30);
    assert.equal(await count(t.site.storage, '"ip" = ?', ['spooled']), 0, 'nothing written while busy');
    busy = false;
    await until(() => log.stats().spooledBytes === 0, 'the spool written');
    assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 4, dropped: 0 });
    const paths = (await rowsWhere(t.site.storage, '"ip" = ?', ['spooled'])).map((r) => r.path).sort();
    assert.deepEqual(paths, ['/api/spooled/0', '/api/spooled/1', '/api/spooled/2', '/api/spooled/3']);
    await log.close();
    assert.deepEqual(readdirSync(folder), []);
  });

  test('past maxSpoolBytes rows are written even while the process stays busy', async () => {
    const log = createRequestLog(t.site.storage, testClock(), {
      flushIntervalMs: 5, spool: openLineSpool(spoolFolder()), busy: () => true, maxSpoolBytes: 1,
    });
    log.record(entry({ ip: 'over-bound' }));
    log.record(entry({ ip: 'over-bound' }));
    // Written, and the spool's file gone (it is deleted after its last batch commits).
    await until(async () => log.stats().spooledBytes === 0 && log.stats().written === 2, 'rows written');
    assert.equal(await count(t.site.storage, '"ip" = ?', ['over-bound']), 2);
    await log.close();
  });

  test('a spooled batch written again after the database failed adds no row twice', async () => {
    let transactions = 0;
    const flaky = instrumented(t.site.storage, {
      transaction: (fn: Parameters<Storage['transaction']>[0]) =>
        ++transactions === 2 ? Promise.reject(new StorageUnavailable('PostgreSQL unavailable: test')) : t.site.storage.transaction(fn),
    }).storage;
    const errors: unknown[] = [];
    const log = createRequestLog(flaky, testClock(), {
      flushIntervalMs: 5, maxBatch: 2, spool: openLineSpool(spoolFolder()), busy: () => true, onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 5; i += 1) log.record(entry({ path: `/api/replayed/${i}`, ip: 'replayed' }));
    await until(() => log.stats().spooledBytes > 0, 'rows spooled');
    assert.equal(await log.flush(), 2, 'the first batch, then the database went away');
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof StorageUnavailable);
    assert.ok(log.stats().spooledBytes > 0, 'the spool is kept');
    assert.equal(await log.flush(), 3, 'the whole spool again, the stored batch skipped');
    const paths = (await rowsWhere(t.site.storage, '"ip" = ?', ['replayed'])).map((r) => r.path).sort();
    assert.deepEqual(paths, [0, 1, 2, 3, 4].map((i) => `/api/replayed/${i}`));
    assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 5, dropped: 0 });
    await log.close();
  });

  test('a spool the disk refuses: the error is told once and rows are written as they come', async () => {
    const blocker = spoolFolder();
    writeFileSync(blocker, 'a file where the spool folder should be');
    const errors: unknown[] = [];
    const log = createRequestLog(t.site.storage, testClock(), {
      flushIntervalMs: 5, spool: openLineSpool(join(blocker, 'inner')), busy: () => true, onError: (e) => errors.push(e),
    });
    log.record(entry({ ip: 'unspooled' }));
    await until(async () => (await count(t.site.storage, '"ip" = ?', ['unspooled'])) === 1, 'row written');
    log.record(entry({ ip: 'unspooled' }));
    await until(() => log.stats().written === 2 && log.stats().spooledBytes === 0, 'second row written');
    assert.equal(await count(t.site.storage, '"ip" = ?', ['unspooled']), 2);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /ENOTDIR|EEXIST/);
    assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 2, dropped: 0 });
    await log.close();
  });

  test('close() writes what is spooled and what is queued', async () => {
    const folder = spoolFolder();
    const log = createRequestLog(t.site.storage, testClock(), { flushIntervalMs: 5, spool: openLineSpool(folder), busy: () => true });
    log.record(entry({ ip: 'closing' }));
    await until(() => log.stats().spooledBytes > 0, 'row spooled');
    log.record(entry({ ip: 'closing' }));
    await log.close();
    assert.equal(await count(t.site.storage, '"ip" = ?', ['closing']), 2);
    assert.deepEqual(readdirSync(folder), []);
  });

  test("rows a process spooled before it died are written by the next; lines that are not rows are dropped", async () => {
    const folder = spoolFolder();
    mkdirSync(folder, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';
    const creation = Date.UTC(2025, 0, 2, 3, 4, 5, 6);
    const row = (name: string) => JSON.stringify([name, creation, '/api/crashed', 'GET', 'Administrator', 200, 'token', 'k', 'crashed', 2.5]);
    const lines = [row('000crashed0001'), 'not json', '["short"]', JSON.stringify(['x', 'not a time', '/p', null, null, null, null, null, null, null]), row('000crashed0002')];
    writeFileSync(join(folder, `${host}~${dead}~gone.live`), `${lines.join('\n')}\n`);
    const log = createRequestLog(t.site.storage, testClock(), { flushIntervalMs: 60_000, spool: openLineSpool(folder) });
    assert.equal(await log.flush(), 2);
    const rows = await rowsWhere(t.site.storage, '"ip" = ?', ['crashed']);
    assert.deepEqual(rows.map((r) => r.name).sort(), ['000crashed0001', '000crashed0002']);
    assert.equal(rows[0]?.creation, '2025-01-02 03:04:05.006000');
    assert.equal(rows[0]?.api_key, 'k');
    assert.deepEqual(counts(log), { pending: 0, spooledBytes: 0, written: 2, dropped: 3 });
    await log.close();
    await t.site.storage.run(`DELETE FROM "${API_REQUEST_LOG_TABLE}" WHERE "ip" = ?`, ['crashed']);
  });

  test('purge deletes only rows older than the retention', async () => {
    const clock = testClock();
    const now = clock.now().getTime();
    const insert = (name: string, at: number) =>
      t.site.storage.run(
        `INSERT INTO "${API_REQUEST_LOG_TABLE}" ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", "path", "ip")
         VALUES (?, 'Administrator', ?, ?, 'Administrator', 0, 0, '/api/old', 'purge')`,
        [name, formatDatetime(new Date(at)), formatDatetime(new Date(at))],
      );
    await insert('purgeold01', now - 200 * DAY_MS);
    await insert('purgeold02', now - 91 * DAY_MS);
    await insert('purgekeep1', now - 89 * DAY_MS);
    const log = createRequestLog(t.site.storage, clock);
    log.record(entry({ ip: 'purge' }));
    await log.flush();
    const before = await count(t.site.storage, '1 = 1');
    assert.equal(await log.purge(90), 2);
    assert.equal(await count(t.site.storage, '1 = 1'), before - 2);
    const left = (await rowsWhere(t.site.storage, '"ip" = ?', ['purge'])).map((r) => r.name);
    assert.equal(left.length, 2);
    assert.ok(left.includes('purgekeep1'));
    assert.equal(await log.purge(90), 0);
    await assert.rejects(log.purge(0), RangeError);
    await assert.rejects(log.purge(Number.NaN), RangeError);
    await log.close();
  });

  test('purge works through many chunks', async () => {
    // Older than every other row of this suite, so only these are past the retention.
    const clock = testClock(Date.UTC(2024, 0, 1));
    const log = createRequestLog(t.site.storage, clock, { flushIntervalMs: 60_000 });
    for (let i = 0; i < 12_000; i += 1) log.record(entry({ ip: 'bulk-old' }));
    assert.equal(await log.flush(), 12_000);
    const others = await count(t.site.storage, '"ip" <> ?', ['bulk-old']);
    clock.set(clock.now().getTime() + 31 * DAY_MS);
    assert.equal(await log.purge(30), 12_000);
    assert.equal(await count(t.site.storage, '"ip" = ?', ['bulk-old']), 0);
    assert.equal(await count(t.site.storage, '"ip" <> ?', ['bulk-old']), others);
    await log.close();
  });

  test('readable by Administrator and System Manager, not creatable through the API, hidden from others', async () => {
    const log = createRequestLog(t.site.storage, testClock());
    log.record(entry({ ip: 'perm', user: SYSTEM_MANAGER, api_key: 'perm-key' }));
    await log.close();
    const rows = (await runAs(t.site, 'Administrator', (api) =>
      api.getList('API Request Log', { fields: ['*'], filters: { ip: 'perm' } }),
    )) as Row[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.api_key, 'perm-key');
    assert.equal(rows[0]!.auth_method, 'session');
    assert.equal(Number(rows[0]!.status), 200);
    const seen = (await runAs(t.site, SYSTEM_MANAGER, (api) =>
      api.getList('API Request Log', { fields: ['name', 'path'], filters: { ip: 'perm' } }),
    )) as Row[];
    assert.equal(seen.length, 1);
    await rejectsWith(
      runAs(t.site, SYSTEM_MANAGER, (api) => api.insert({ doctype: 'API Request Log', path: '/api/forged', method: 'GET', user: 'x' })),
      'PermissionError',
    );
    await rejectsWith(runAs(t.site, PLAIN_USER, (api) => api.getList('API Request Log', { fields: ['name'] })), 'PermissionError');
    assert.equal(await count(t.site.storage, '"path" = ?', ['/api/forged']), 0);
  });
});
