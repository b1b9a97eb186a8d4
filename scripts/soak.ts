/**
 * `npm run soak`: a long mixed load against a real `cortado serve` (issue 9, item 5).
 *
 * Makes a temporary site (SQLite, or PostgreSQL + Redis with --db postgres), seeds users with
 * passwords and API keys, their ToDos and an OAuth client with refresh tokens, starts cortado
 * as a child process on 127.0.0.1 (one worker), and drives it: `--connections` keep-alive loops
 * of token reads, session reads, list queries and writes (POST ToDo, every acknowledged name
 * recorded), plus password logins and OAuth refresh-token grants at fixed modest rates. First a
 * warm-up, then the baseline memory sample, then the measured run (RSS sampled twice a second),
 * then a quiet settle period and the "after" sample. Finally SIGTERM (the server must drain and
 * exit 0) and a direct read of the database: every acknowledged write must be there.
 *
 * Prints progress every few seconds, a table by kind of request and the checks; exits 0 when
 * every check passes, 1 otherwise. Everything it made is removed at the end, on error and on
 * Ctrl-C. See docs/reliability.md and `npm run soak -- --help`.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { randomHex } from '../src/core/crypto.ts';
import { cleanup, freePort, startServer } from './bench/processes.ts';
import { emptyStats, KINDS, loginFor, mergeStats, startLoad, type LoadStats } from './soak/load.ts';
import { parseSoakOptions, USAGE, type SoakOptions } from './soak/options.ts';
import { evaluateChecks, formatChecks, formatMemory, formatTable, MEMORY_RULE, MIB, percentile, totals, type Memory } from './soak/report.ts';
import { createSoakSite, openSoakSite } from './soak/site.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'cortado.mjs');

const say = (line: string) => process.stdout.write(`${line}\n`);

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.CORTADO_ADMIN_PASSWORD;
  return env;
}

/** VmRSS and VmHWM of a process, in bytes (Linux /proc); undefined once it has gone. */
function memoryOf(pid: number | undefined): { rss: number; hwm: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

let interruptedBy: string | undefined;

function onSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      interruptedBy = signal;
      process.stderr.write(`\nsoak: ${signal} received: stopping the server and removing temporary files\n`);
      process.once(signal, () => process.exit(130));
      void cleanup().finally(() => process.exit(130));
    });
  }
}

function summarise(stats: LoadStats) {
  return Object.fromEntries(
    KINDS.map((kind) => {
      const k = stats.kinds[kind];
      return [kind, { requests: k.requests, status: k.status, errors: k.errors, firstError: k.firstError, p50Ms: percentile(k.latencies, 50), p99Ms: percentile(k.latencies, 99), maxMs: Math.max(0, ...k.latencies) }];
    }),
  );
}

async function run(options: SoakOptions): Promise<number> {
  const startedAt = new Date();
  const loadAtStart = loadavg()[0] ?? 0;
  const pgUrl = process.env.CORTADO_TEST_PG_URL || undefined;
  const redisUrl = process.env.CORTADO_TEST_REDIS_URL || undefined;
  if (options.db === 'postgres' && !pgUrl) throw new Error('--db postgres needs CORTADO_TEST_PG_URL (and CORTADO_TEST_REDIS_URL for Redis)');

  say(`cortado soak: ${options.duration} s at ${options.connections} connections (+ ${options.loginRate} logins/s, ${options.refreshRate} refresh grants/s), warm-up ${options.warmup} s, settle ${options.settle} s`);
  const site = await createSoakSite({ db: options.db, pgUrl, redisUrl, users: 4, todosPerUser: 50, refreshChains: 2 });
  say(`site: ${site.database}, ${site.users.length} users with API keys and 50 ToDos each, an OAuth client with ${site.oauth.refreshTokens.length} refresh tokens`);

  const port = await freePort();
  const server = await startServer({
    name: 'cortado',
    // Loopback only; one process, so its memory is the server's.
    command: [process.execPath, BIN, '--site', site.path, 'serve', '--port', String(port), '--host', '127.0.0.1', '--workers', '1'],
    cwd: ROOT,
    env: childEnv(),
    port,
    readyPath: '/readyz',
  });
  const pid = server.child.pid;
  say(`server: pid ${pid ?? '?'} on ${server.url}`);

  const sids = new Map<string, string>();
  for (const user of site.users) sids.set(user.email, await loginFor(server.url, user));
  const refreshTokens: (string | undefined)[] = [...site.oauth.refreshTokens];
  const runId = randomHex(6);
  const common = { url: server.url, site, sids, connections: options.connections, loginRate: options.loginRate, refreshRate: options.refreshRate, refreshTokens, runId };
  // Warm-up and measured run together, for the checks.
  const all = emptyStats();
  const acked: { name: string; description: string }[] = [];

  if (options.warmup > 0) {
    say(`warm-up: ${options.warmup} s`);
    const warm = startLoad({ ...common, seconds: options.warmup });
    await warm.done;
    mergeStats(all, warm.stats);
    acked.push(...warm.acked);
    const t = totals(warm.stats);
    say(`warm-up done: ${t.requests.toLocaleString('en-US')} requests, 5xx ${t.status5xx}, no answer ${t.errors}`);
  }
  // A short quiet moment, then the baseline.
  await sleep(Math.min(3, options.settle) * 1000);
  const baseline = memoryOf(pid)?.rss ?? 0;
  say(`baseline RSS ${(baseline / MIB).toFixed(1)} MiB; measured run: ${options.duration} s`);

  let peak = baseline;
  const sampler = setInterval(() => {
    const m = memoryOf(pid);
    if (m) peak = Math.max(peak, m.rss);
  }, 500);
  const measured = startLoad({ ...common, seconds: options.duration });
  const runStarted = Date.now();
  let lastCount = 0;
  let lastAt = runStarted;
  const progress = setInterval(() => {
    const t = totals(measured.stats);
    const now = Date.now();
    const rate = ((t.requests - lastCount) * 1000) / Math.max(1, now - lastAt);
    lastCount = t.requests;
    lastAt = now;
    const rss = memoryOf(pid)?.rss ?? 0;
    peak = Math.max(peak, rss);
    say(
      `  [${String(Math.round((now - runStarted) / 1000)).padStart(4)} s] ${t.requests.toLocaleString('en-US')} requests (${rate.toFixed(0)}/s now), 5xx ${t.status5xx}, other non-200 ${t.other}, no answer ${t.errors}, writes acked ${measured.acked.length.toLocaleString('en-US')}, RSS ${(rss / MIB).toFixed(1)} MiB (peak ${(peak / MIB).toFixed(1)})`,
    );
  }, options.progressEvery * 1000);
  try {
    await measured.done;
  } finally {
    clearInterval(progress);
    clearInterval(sampler);
  }
  mergeStats(all, measured.stats);
  acked.push(...measured.acked);

  say(`load stopped; settling ${options.settle} s`);
  await sleep(options.settle * 1000);
  const end = memoryOf(pid);
  const memory: Memory = { baselineBytes: baseline, peakBytes: Math.max(peak, end?.rss ?? 0), afterBytes: end?.rss ?? 0, highWaterBytes: end?.hwm ?? 0 };

  // SIGTERM: the server drains and exits 0.
  await server.stop(40_000);
  const exitCode = server.child.exitCode;
  const exitSignal = server.child.signalCode;

  // Every acknowledged write, read back from the database itself.
  const check = await openSoakSite(site.path);
  let lost: { name: string; description: string }[] = [];
  try {
    const rows = await check.storage.all<{ name: string; description: string }>('SELECT "name", "description" FROM "tabToDo"');
    const stored = new Map(rows.map((r) => [r.name, r.description]));
    lost = acked.filter((w) => stored.get(w.name) !== w.description);
  } finally {
    await check.close();
  }
  if (interruptedBy) return 130;

  const checks = evaluateChecks({ all, acked: acked.length, lost: lost.length, memory, exitCode, exitSignal });
  say('');
  say(`measured run: ${measured.stats.seconds.toFixed(1)} s, ${options.connections} connections, ${site.database}`);
  say(formatTable(measured.stats));
  if (measured.stats.skipped.login + measured.stats.skipped.refresh > 0) {
    say(`fixed-rate requests skipped while earlier ones were still running: login ${measured.stats.skipped.login}, refresh ${measured.stats.skipped.refresh}`);
  }
  say(`writes acknowledged (warm-up + run): ${acked.length.toLocaleString('en-US')}, lost: ${lost.length}${lost.length ? ` (e.g. ${lost.slice(0, 3).map((w) => w.name).join(', ')})` : ''}`);
  say(formatMemory(memory));
  say(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 1073741824)} GiB; load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end; the load generator runs on the same machine`);
  say('\nchecks:');
  say(formatChecks(checks));
  const passed = checks.every((c) => c.ok);
  say(passed ? '\nsoak passed' : '\nsoak FAILED');

  if (options.json) {
    const report = {
      meta: {
        date: startedAt.toISOString(),
        command: `npm run soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
        node: process.version,
        database: site.database,
        machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 1073741824) },
        loadAverage: { start: loadAtStart, end: loadavg()[0] ?? 0 },
        options,
      },
      measured: { seconds: measured.stats.seconds, kinds: summarise(measured.stats), totals: totals(measured.stats), skipped: measured.stats.skipped },
      all: { totals: totals(all), brokenRefreshChains: all.brokenChains },
      writes: { acknowledged: acked.length, lost: lost.length, lostNames: lost.slice(0, 20).map((w) => w.name) },
      memory: { ...memory, rule: MEMORY_RULE },
      server: { exitCode, exitSignal },
      checks,
      passed,
    };
    writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
    say(`report: ${options.json}`);
  }
  return passed ? 0 : 1;
}

async function main(): Promise<number> {
  let options: SoakOptions;
  try {
    options = parseSoakOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`soak: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    say(USAGE);
    return 0;
  }
  onSignals();
  try {
    return await run(options);
  } catch (error) {
    if (interruptedBy) return 130;
    process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exit(await main());
