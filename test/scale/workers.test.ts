/**
 * `cortado serve --workers N` (issue 7, multi-core on one machine): on SQLite more than one
 * worker is refused with one clear line; on PostgreSQL N processes share the port, a worker
 * that dies is replaced, and SIGTERM drains every worker before the primary exits 0.
 *
 * The cluster part needs PostgreSQL (CORTADO_TEST_PG_URL); without it a visibly skipped test
 * says so.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultWorkers, SQLITE_ONE_WRITER, workerCount } from '../../src/app/workers.ts';
import { createTestSite, PG_URL, type TestSite } from '../helpers/test-site.ts';
import { call, freePort, killAll, runCortado, ServeProcess } from './scale-helpers.ts';

const sites: TestSite[] = [];
after(async () => {
  killAll();
  for (const site of sites) await site.cleanup();
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('worker count: cores on PostgreSQL, one on SQLite, more than one refused on SQLite', () => {
  assert.equal(defaultWorkers({ db_url: 'postgres://db/x' }), availableParallelism());
  assert.equal(defaultWorkers({ db_url: undefined }), 1);
  assert.equal(workerCount({ db_url: undefined }, undefined), 1);
  assert.equal(workerCount({ db_url: undefined }, 1), 1);
  assert.equal(workerCount({ db_url: 'postgres://db/x' }, 3), 3);
  assert.throws(() => workerCount({ db_url: undefined }, 2), { message: SQLITE_ONE_WRITER });
});

test('serve --workers 2 on SQLite: refused with one line, nothing started or created', async () => {
  const t = await createTestSite({ db: 'sqlite' });
  sites.push(t);
  await t.site.close();
  const missing = join(t.path, '..', 'not-yet');
  const [refused, init, zero] = await Promise.all([
    runCortado(['--site', t.path, 'serve', '--port', String(await freePort()), '--workers', '2']),
    runCortado(['--site', missing, 'serve', '--init', '--port', String(await freePort()), '--workers', '4']),
    runCortado(['--site', t.path, 'serve', '--workers', '0']),
  ]);
  for (const result of [refused, init]) {
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, `error: ${SQLITE_ONE_WRITER}\n`);
    assert.equal(result.stdout, '');
  }
  assert.ok(!existsSync(missing), '--init created nothing');
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--workers.*must be a number of processes from 1 to 256/);
});

if (!PG_URL) {
  test('serve --workers 2 on PostgreSQL [postgres]', { skip: 'CORTADO_TEST_PG_URL is not set: PostgreSQL tests skipped' }, () => {});
} else {
  describe('serve --workers 2 on PostgreSQL', () => {
    test('two workers share the port; a killed worker is replaced; SIGTERM drains all and exits 0', async () => {
      const t = await createTestSite({ db: 'postgres' });
      sites.push(t);
      await t.site.close();
      const server = await ServeProcess.startOnFreePort(t.path, ['--workers', '2']);
      try {
        const [, first, second] = server.stdout.match(/^2 workers \(pids (\d+), (\d+)\)$/m) ?? [];
        const pids = [Number(first), Number(second)];
        assert.ok(pids.every((pid) => pid > 0 && alive(pid)), server.output);
        // Without redis_url the workers cannot share counters: the primary says so.
        assert.match(server.stderr, /redis_url/);
        for (let i = 0; i < 6; i++) assert.equal((await call(server.url, '/api/method/ping')).status, 200);

        process.kill(pids[0] as number, 'SIGKILL');
        const [, replacement] = await server.waitFor(/^worker (\d+) serving \(restarted\)$/m, 60_000);
        assert.match(server.stderr, new RegExp(`worker ${pids[0]} exited \\(signal SIGKILL\\): restarting in \\d+ ms`));
        assert.ok(alive(Number(replacement)) && Number(replacement) !== pids[0]);
        for (let i = 0; i < 6; i++) {
          const res = await call(server.url, '/readyz').catch(() => undefined);
          // A keep-alive connection the killed worker held may fail once; a new one is served.
          if (res) assert.equal(res.status, 200, res.text);
        }
        assert.equal((await call(server.url, '/api/method/ping')).status, 200);

        // As systemd's default KillMode or `kill -- -<pgid>` does: every process gets SIGTERM,
        // and the workers get it again from the primary. They drain once and exit 0.
        for (const pid of [pids[1] as number, Number(replacement)]) process.kill(pid, 'SIGTERM');
        const code = await server.stop('SIGTERM');
        assert.equal(code, 0, server.output);
        assert.match(server.stdout, /^SIGTERM received: finishing in-flight requests in 2 worker\(s\)$/m);
        assert.doesNotMatch(server.stderr, /while draining/, 'no worker was cut short');
        await sleep(100);
        for (const pid of [pids[1] as number, Number(replacement)]) assert.ok(!alive(pid), `worker ${pid} is gone`);
      } finally {
        await server.stop('SIGKILL');
      }
    });
  });
}
