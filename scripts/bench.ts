/**
 * `npm run bench`: cortado against a bare node:http server, side by side (issue 8).
 *
 * Seeds a temporary site (embedded SQLite; also PostgreSQL + Redis when configured), starts
 * `cortado serve` and a bare node:http server as separate processes pinned to core 0, and
 * drives them from this process, pinned to core 1, with autocannon: for each round and each
 * scenario, bare then cortado, each after a warm-up. Prints a table (medians over the rounds,
 * ratio to bare) and the issue's targets as met / not met, and writes the report as JSON (and
 * the table as Markdown) to `.bench/`. Everything it started or made is removed at the end,
 * on error and on Ctrl-C. See docs/performance.md and `npm run bench -- --help`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { measureArgon2Ceiling, type Argon2Ceiling } from './bench/argon2-ceiling.ts';
import { cpuidleDriver, holdIdlePolling, idleStatesLeft } from './bench/idle-polling.ts';
import { mergeMeasurements, runLoad, type Measurement, type RequestSpec } from './bench/load.ts';
import { parseBenchOptions, USAGE, type BenchOptions } from './bench/options.ts';
import {
  assertNotInterrupted,
  cleanup,
  cleanUpOnSignals,
  freePort,
  Interrupted,
  interruptedExitCode,
  onCleanup,
  pinOrReexec,
  startServer,
  waitUntilQuiet,
  type Pinning,
  type ServerProcess,
} from './bench/processes.ts';
import { formatProfile, summariseProfile, type ProfileSummary } from './bench/profile.ts';
import {
  alternatedCost,
  bareSummary,
  compareScale,
  evaluateTargets,
  formatScale,
  formatMarkdownTable,
  formatTable,
  formatTargets,
  summariseScenario,
  type Alternated,
  type RunRecord,
  type ScaleReport,
  type ScenarioReport,
} from './bench/report.ts';
import {
  NOT_IMPLEMENTED,
  READ_SCENARIOS,
  SCENARIOS,
  selectScenarios,
  type Scenario,
  type ScenarioContext,
  type ServerHandle,
  type ServerKind,
} from './bench/scenarios.ts';
import { BENCH_USER, SCALE, seedScale, seedSite, type BenchSite } from './bench/seed.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'cortado.mjs');
const BARE_SERVER = join(ROOT, 'scripts', 'bench', 'bare-server.mjs');

const say = (line: string) => process.stdout.write(`${line}\n`);

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.CORTADO_ADMIN_PASSWORD;
  delete env.CORTADO_BENCH_PINNED;
  return env;
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(join(ROOT, 'package.json'));
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function gitInfo(): { commit: string; dirty: boolean } {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return { commit: head.status === 0 ? head.stdout.trim() : 'unknown', dirty: status.status === 0 && status.stdout.trim() !== '' };
}

/** A password login over HTTP; returns the `sid` cookie. */
async function login(url: string, usr: string, pwd: string): Promise<string> {
  const response = await fetch(`${url}/api/method/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ usr, pwd }),
  });
  const text = await response.text();
  const sid = response.headers
    .getSetCookie()
    .map((cookie) => /^sid=([^;]*)/.exec(cookie)?.[1])
    .find((value) => value && value !== 'Guest');
  if (!response.ok || !sid) throw new Error(`login as ${usr} failed: HTTP ${response.status} ${text.slice(0, 300)}`);
  return sid;
}

async function fetchOnce(url: string, request: RequestSpec): Promise<{ status: number; body: string }> {
  const response = await fetch(url + request.path, { method: request.method, headers: request.headers, body: request.body });
  return { status: response.status, body: await response.text() };
}

async function startCortado(name: string, bench: BenchSite, pinning: Pinning, profileDir?: string, extraArgs: string[] = []): Promise<ServerProcess> {
  const port = await freePort();
  const nodeFlags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  return startServer({
    name,
    command: [...pinning.serverPrefix, process.execPath, ...nodeFlags, BIN, '--site', bench.path, 'serve', '--port', String(port), '--host', '127.0.0.1', ...extraArgs],
    cwd: ROOT,
    env: childEnv(),
    port,
    readyPath: '/api/method/ping',
  });
}

/** Windows with the switched-on work per round (each between two without it). */
const ALTERNATING_WINDOWS = 5;

function describeAlternated(alternated: Alternated): string {
  const cost = alternatedCost(alternated);
  return `alternating: without ${alternated.off.map((m) => m.rps.toFixed(0)).join('/')} req/s, with ${alternated.on.map((m) => m.rps.toFixed(0)).join('/')} req/s, cost ${(cost * 100).toFixed(1)}%`;
}

function describeRun(m: Measurement): string {
  const failed = m.non2xx + m.errors + m.timeouts;
  const cpu = m.cpuUsPerRequest === undefined ? '' : ` cpu ${m.cpuUsPerRequest.toFixed(1)} µs/req`;
  return `${m.rps.toFixed(0).padStart(6)} req/s p50 ${m.p50.toFixed(1)} ms p99 ${m.p99.toFixed(1)} ms${cpu}${failed ? ` FAILED ${failed} (${JSON.stringify(m.statusCodes)})` : ''}`;
}

async function run(options: BenchOptions, pinning: Pinning): Promise<void> {
  const started = new Date();
  const loadAtStart = loadavg();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const scenarios = selectScenarios(options.only);
  const skipped: { id: string; title: string; reason: string }[] = [];
  const pgUrl = process.env.CORTADO_BENCH_PG_URL || process.env.CORTADO_TEST_PG_URL || undefined;
  const redisUrl = process.env.CORTADO_BENCH_REDIS_URL || process.env.CORTADO_TEST_REDIS_URL || undefined;
  let selected = scenarios;
  const onPg = (s: Scenario) => s.server === 'pg' || s.server === 'pg2';
  if (!pgUrl && scenarios.some(onPg)) {
    for (const s of scenarios.filter(onPg)) skipped.push({ id: s.id, title: s.title, reason: 'PostgreSQL not configured (set CORTADO_BENCH_PG_URL or CORTADO_TEST_PG_URL)' });
    selected = scenarios.filter((s) => !onPg(s));
  }
  if (options.only.length === 0 || options.only.some((id) => id.startsWith('pg'))) skipped.push(...NOT_IMPLEMENTED);
  if (selected.length === 0) throw new Error('no scenario to run');

  const totalRuns = selected.length * 2 * options.rounds;
  say(`cortado bench: ${selected.length} scenarios × ${options.rounds} rounds, ${options.connections} connections, ${options.duration} s runs after ${options.warmup} s warm-up (≈ ${Math.ceil((totalRuns * (options.duration + options.warmup)) / 60)} min)`);
  say(`placement: ${pinning.description}`);
  const idle = options.noIdlePoll ? idleStatesLeft('--no-idle-poll') : holdIdlePolling();
  onCleanup('idle polling', () => idle.release());
  say(`idle: ${idle.description}`);

  say(`seeding a SQLite site (${options.todos} ToDo rows, users, keys, named key, OAuth token)`);
  const sqliteBench = await seedSite({ label: 'sqlite', todos: options.todos, full: true, readCacheMb: options.readCacheMb });
  let pgBench: BenchSite | undefined;
  const wantPg = selected.some(onPg);
  if (wantPg && pgUrl) {
    say(`seeding a PostgreSQL site${redisUrl ? ' with Redis' : ' (no Redis configured: in-process cache)'}`);
    pgBench = await seedSite({ label: 'pg', dbUrl: pgUrl, redisUrl, todos: options.todos, full: false });
  }

  const profileDir = options.cpuProf ? join(ROOT, '.bench', 'profiles', stamp) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const cortado = await startCortado('cortado (SQLite)', sqliteBench, pinning, profileDir);
  const cortadoPg = pgBench ? await startCortado('cortado (PostgreSQL)', pgBench, pinning) : undefined;
  // The same site as a 2-worker cluster (node:cluster); pinned like every server, so on a
  // 2-core machine both workers share the server's core.
  const cortadoPg2 =
    pgBench && selected.some((s) => s.server === 'pg2') ? await startCortado('cortado (PostgreSQL, 2 workers)', pgBench, pinning, undefined, ['--workers', '2']) : undefined;
  const sqlite: ServerHandle = {
    url: cortado.url,
    bench: sqliteBench,
    adminSid: await login(cortado.url, 'Administrator', sqliteBench.adminPassword),
    userSid: await login(cortado.url, BENCH_USER, sqliteBench.userPassword),
  };
  const pg: ServerHandle | undefined =
    cortadoPg && pgBench ? { url: cortadoPg.url, bench: pgBench, adminSid: '', userSid: '' } : undefined;
  const pg2: ServerHandle | undefined =
    cortadoPg2 && pgBench ? { url: cortadoPg2.url, bench: pgBench, adminSid: '', userSid: '' } : undefined;
  const ctx: ScenarioContext = { sqlite, pg, pg2, loginRate: options.loginRate };
  const urlOf = (kind: ServerKind): string => {
    const handle = kind === 'pg' ? pg : kind === 'pg2' ? pg2 : ctx.sqlite;
    if (!handle) throw new Error(`no ${kind} server`);
    return handle.url;
  };
  const serverOf = (kind: ServerKind): ServerProcess => {
    const server = kind === 'pg' ? cortadoPg : kind === 'pg2' ? cortadoPg2 : cortado;
    if (!server) throw new Error(`no ${kind} server`);
    return server;
  };

  // The bare server answers with exactly the body of the measured document read.
  const read = await fetchOnce(sqlite.url, { method: 'GET', path: `/api/resource/ToDo/${encodeURIComponent(sqliteBench.docName)}`, headers: { authorization: `token ${sqliteBench.adminKeys.api_key}:${sqliteBench.adminKeys.api_secret}` } });
  if (read.status !== 200) throw new Error(`the document read answered HTTP ${read.status}: ${read.body.slice(0, 300)}`);
  const bodyFile = join(dirname(sqliteBench.path), 'bare-body.json');
  writeFileSync(bodyFile, read.body);
  const barePort = await freePort();
  const bare = await startServer({
    name: 'bare node:http',
    command: [...pinning.serverPrefix, process.execPath, BARE_SERVER, bodyFile, String(barePort)],
    cwd: ROOT,
    env: childEnv(),
    port: barePort,
    readyPath: '/',
  });

  // Every scenario must work before anything is measured.
  for (const scenario of selected) {
    const request = scenario.request(ctx);
    const answer = await fetchOnce(urlOf(scenario.server), request);
    if (answer.status < 200 || answer.status >= 300) throw new Error(`scenario ${scenario.id}: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
    await scenario.finish?.(ctx);
  }
  say(`document read body: ${Buffer.byteLength(read.body)} bytes; every scenario answers 2xx\n`);

  const bareRequest: RequestSpec = { method: 'GET', path: `/api/resource/ToDo/${encodeURIComponent(sqliteBench.docName)}` };
  const runs = new Map<string, RunRecord[]>(selected.map((s) => [s.id, []]));
  const measure = async (server: ServerProcess, request: RequestSpec, connections: number, storm?: ReturnType<NonNullable<Scenario['storm']>>) => {
    const baseUrl = server.url;
    const warmup = options.warmup > 0 ? await runLoad({ baseUrl, request, connections, duration: options.warmup }) : undefined;
    // With a storm: the same read alone first, so its p99 with and without are measured side by side.
    const alone = storm ? await runLoad({ baseUrl, request, connections, duration: options.duration }) : undefined;
    // The storm's logins are CPU of the same server: its CPU per request is not the read's alone.
    const main = runLoad({ baseUrl, request, connections, duration: options.duration, ...(storm ? {} : { cpuSeconds: server.cpuSeconds }) });
    const side = storm ? runLoad({ baseUrl, request: storm.request, connections: storm.connections, duration: options.duration, overallRate: storm.rate }) : undefined;
    return { measured: await main, storm: side ? await side : undefined, alone, warmupRequests: warmup?.requests ?? 0 };
  };
  // A scenario that switches something on (the request log) is measured in windows alternating
  // without and with it, on the same server under the same load: off, on, off, …, off. Each
  // window with it is judged against the two without beside it, so the machine's drift cancels
  // without going through the bare server, whose own runs differ by up to a fifth.
  const measureAlternating = async (server: ServerProcess, scenario: Scenario) => {
    const request = scenario.request(ctx);
    const baseUrl = server.url;
    const connections = scenario.connections ?? options.connections;
    const windows = Math.max(1, Math.min(ALTERNATING_WINDOWS, Math.floor(options.duration / 2)));
    const duration = options.duration / windows;
    const window = () => runLoad({ baseUrl, request, connections, duration, cpuSeconds: server.cpuSeconds });
    const warmup = options.warmup > 0 ? await runLoad({ baseUrl, request, connections, duration: options.warmup }) : undefined;
    const off: Measurement[] = [];
    const on: Measurement[] = [];
    for (let i = 0; i < windows; i++) {
      await scenario.finish?.(ctx);
      off.push(await window());
      await scenario.prepare?.(ctx);
      on.push(await window());
    }
    await scenario.finish?.(ctx);
    off.push(await window());
    return { measured: mergeMeasurements(on), alternated: { off, on }, warmupRequests: warmup?.requests ?? 0 };
  };
  // When load ran against the SQLite server (the profile is summarised over this window).
  let loadWindow: { from: number; to: number } | undefined;
  for (let round = 1; round <= options.rounds; round++) {
    for (const scenario of selected) {
      const baseline = await measure(bare, bareRequest, options.connections);
      const server = serverOf(scenario.server);
      await scenario.prepare?.(ctx);
      let result;
      let cpuAtEnd: number | undefined;
      const from = Date.now();
      try {
        result = scenario.alternate
          ? await measureAlternating(server, scenario)
          : await measure(server, scenario.request(ctx), scenario.connections ?? options.connections, scenario.storm?.(ctx));
        cpuAtEnd = server.cpuSeconds();
      } finally {
        await scenario.finish?.(ctx);
      }
      const { deferredWork } = scenario;
      const deferred = deferredWork ? await waitUntilQuiet(server, cpuAtEnd, () => deferredWork(ctx)) : undefined;
      assertNotInterrupted();
      if (scenario.server === 'sqlite') loadWindow = { from: loadWindow?.from ?? from, to: Date.now() };
      const record: RunRecord = { round, bare: baseline.measured, measured: result.measured, ratio: result.measured.rps / baseline.measured.rps };
      if ('alternated' in result) record.alternated = result.alternated;
      else {
        record.storm = result.storm;
        record.withoutStorm = result.alone;
      }
      const logged = result.warmupRequests + result.measured.requests;
      if (deferred !== undefined && logged > 0) record.deferredCpuUs = (deferred * 1e6) / logged;
      runs.get(scenario.id)?.push(record);
      const deferredNote = record.deferredCpuUs === undefined ? '' : ` | then ${record.deferredCpuUs.toFixed(1)} µs/req of deferred work`;
      const alternatedNote = record.alternated ? ` | ${describeAlternated(record.alternated)}` : '';
      const stormNote = record.storm ? ` | storm ${describeRun(record.storm)} | read alone just before: ${describeRun(record.withoutStorm as Measurement)}` : '';
      say(`round ${round}/${options.rounds}  ${scenario.id.padEnd(12)}  bare ${describeRun(baseline.measured)} | cortado ${describeRun(result.measured)} | ratio ${record.ratio.toFixed(3)}${alternatedNote}${deferredNote}${stormNote}`);
    }
  }

  assertNotInterrupted();
  const reports: ScenarioReport[] = selected.map((s) => summariseScenario(s, runs.get(s.id) ?? [], options.loginRate));
  const baseline = bareSummary(reports);
  // Stop the SQLite server now: its peak RSS is final and, with --cpu-prof, its profile is written.
  await cortado.stop(30_000);
  let peakRssBytes = cortado.peakRssBytes();
  let profile: ProfileSummary | undefined;
  if (profileDir) {
    const files = readdirSync(profileDir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(profileDir, f))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    const window = loadWindow ? { fromMs: loadWindow.from - cortado.spawnedAt, toMs: loadWindow.to - cortado.spawnedAt } : undefined;
    if (files[0]) profile = summariseProfile(files[0], window);
    else say(`no .cpuprofile was written in ${profileDir}`);
  }
  assertNotInterrupted();
  // The login target's ceiling on this machine, measured with nothing else running.
  let argon2: Argon2Ceiling | undefined;
  if (selected.some((s) => s.id === 'login' || s.id === 'login-storm')) {
    argon2 = await measureArgon2Ceiling();
    say(`argon2id verification alone: ${argon2.verifyCpuMs.toFixed(1)} ms of CPU, at most ${argon2.perSecond.toFixed(1)}/s on one core of this machine`);
  }

  // --scale: the same site with a million rows, 100k users with keys and 100k sessions more,
  // served by a fresh process; the read scenarios run again, each after its own bare run.
  let scale: ScaleReport | undefined;
  const scaleScenarios = selected.filter((s) => READ_SCENARIOS.includes(s.id));
  if (options.scale && scaleScenarios.length === 0) say('\n--scale: none of the selected scenarios is a read scenario; nothing to run again');
  if (options.scale && scaleScenarios.length > 0) {
    const f = options.scaleFactor;
    say(`\n--scale: seeding ${Math.round(SCALE.todos * f).toLocaleString('en')} ToDo rows, ${Math.round(SCALE.users * f).toLocaleString('en')} users with API keys, ${Math.round(SCALE.sessions * f).toLocaleString('en')} sessions`);
    // The site at its seeded size, copied before it grows and served beside the scaled one: each
    // round measures both sizes after the same bare run, so a change of the machine's phase
    // between the bench's two parts does not read as the data's.
    const smallPath = `${sqliteBench.path}-seeded-size`;
    cpSync(sqliteBench.path, smallPath, { recursive: true });
    const seeded = await seedScale(sqliteBench, f, say);
    say(`  seeded in ${seeded.seconds.toFixed(0)} s`);
    assertNotInterrupted();
    const scaled = await startCortado('cortado (SQLite, scaled)', sqliteBench, pinning);
    const small = await startCortado('cortado (SQLite, seeded size)', { ...sqliteBench, path: smallPath }, pinning);
    ctx.sqlite = { ...sqlite, url: scaled.url };
    // A fresh process runs its first requests before the JIT has compiled the request path;
    // the first server was warmed by the scenarios before its first measured run, so these
    // get the same: each scenario once, for the warm-up time, unmeasured.
    for (const server of [scaled, small]) {
      for (const scenario of scaleScenarios) {
        await runLoad({ baseUrl: server.url, request: scenario.request(ctx), connections: scenario.connections ?? options.connections, duration: Math.max(options.warmup, 1) });
      }
    }
    const scaleRuns = new Map<string, RunRecord[]>(scaleScenarios.map((s) => [s.id, []]));
    const smallRuns = new Map<string, RunRecord[]>(scaleScenarios.map((s) => [s.id, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const scenario of scaleScenarios) {
        const baseline = await measure(bare, bareRequest, options.connections);
        const atSeededSize = await measure(small, scenario.request(ctx), scenario.connections ?? options.connections);
        const result = await measure(scaled, scenario.request(ctx), scenario.connections ?? options.connections);
        assertNotInterrupted();
        const smallRecord: RunRecord = { round, bare: baseline.measured, measured: atSeededSize.measured, ratio: atSeededSize.measured.rps / baseline.measured.rps };
        const record: RunRecord = { round, bare: baseline.measured, measured: result.measured, ratio: result.measured.rps / baseline.measured.rps };
        smallRuns.get(scenario.id)?.push(smallRecord);
        scaleRuns.get(scenario.id)?.push(record);
        say(`scaled round ${round}/${options.rounds}  ${scenario.id.padEnd(12)}  bare ${describeRun(baseline.measured)} | seeded size ${describeRun(atSeededSize.measured)} | scaled ${describeRun(result.measured)} | ratios ${smallRecord.ratio.toFixed(3)} → ${record.ratio.toFixed(3)}`);
      }
    }
    await scaled.stop(30_000);
    await small.stop(30_000);
    peakRssBytes = Math.max(peakRssBytes, scaled.peakRssBytes(), small.peakRssBytes());
    const scaledReports = scaleScenarios.map((s) => summariseScenario(s, scaleRuns.get(s.id) ?? [], options.loginRate));
    const smallReports = scaleScenarios.map((s) => summariseScenario(s, smallRuns.get(s.id) ?? [], options.loginRate));
    scale = { factor: f, seeded, scenarios: scaledReports, seededSize: smallReports, comparison: compareScale(smallReports, scaledReports) };
  }
  assertNotInterrupted();
  const targets = evaluateTargets({ all: SCENARIOS, reports, peakRssBytes, scale, argon2 });

  const git = gitInfo();
  const meta = {
    date: started.toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    node: process.version,
    cortado: git.commit + (git.dirty ? ' (uncommitted changes in the work tree)' : ''),
    versions: { fastify: packageVersion('fastify'), 'better-sqlite3': packageVersion('better-sqlite3'), autocannon: packageVersion('autocannon'), pg: packageVersion('pg'), ioredis: packageVersion('ioredis') },
    // Cores of the machine (this process may be pinned to one of them).
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 1073741824), kernel: release(), cpuidle: cpuidleDriver() },
    // 1-minute load average before and after: other work on the machine skews every figure.
    loadAverage: { start: Math.round(loadAtStart[0]! * 100) / 100, end: Math.round(loadavg()[0]! * 100) / 100 },
    placement: pinning.description,
    idle: { polling: idle.held, description: idle.description },
    options: {
      duration: options.duration,
      warmup: options.warmup,
      rounds: options.rounds,
      connections: options.connections,
      loginRate: options.loginRate,
      todos: options.todos,
      only: options.only,
      ...(options.readCacheMb === undefined ? {} : { readCacheMb: options.readCacheMb }),
      scale: options.scale,
      ...(options.scale ? { scaleFactor: options.scaleFactor } : {}),
    },
    bodyBytes: Buffer.byteLength(read.body),
    postgres: pgBench ? { redis: Boolean(redisUrl) } : undefined,
  };
  const report = { meta, bare: baseline, scenarios: reports, scale, targets, skipped, memory: { peakRssBytes }, argon2, profile };

  say('');
  say(formatTable(reports, baseline));
  if (reports.some((r) => r.storm)) {
    for (const r of reports.filter((x) => x.storm)) {
      const s = r.storm!;
      say(`\nlogin storm: ${s.achievedRps.toFixed(1)} logins/s achieved of ${s.rate}/s asked (login p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms, ${s.failures} failed); the token read's p99 ${r.p99.toFixed(1)} ms with the storm, ${s.readAloneP99.toFixed(1)} ms alone just before`);
    }
  }
  if (scale) say(`\n${formatScale(scale)}`);
  for (const s of skipped) say(`skipped ${s.id} (${s.title}): ${s.reason}`);
  say(`\ntargets (issue 8):\n${formatTargets(targets)}`);
  if (profile) say(`\n${formatProfile(profile)}`);

  const out = options.out ?? join(ROOT, '.bench', `bench-${stamp}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(out.replace(/\.json$/, '') + '.md', `${formatMarkdownTable(reports, baseline)}\n${scale ? `\n${formatScale(scale, true)}\n` : ''}`);
  say(`\nreport: ${relative(process.cwd(), out) || out}`);
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    say(USAGE);
    return 0;
  }
  const pinning = await pinOrReexec(options.noPin);
  if ('exitCode' in pinning) return pinning.exitCode;
  cleanUpOnSignals();
  try {
    await run(options, pinning);
    return 0;
  } catch (error) {
    if (error instanceof Interrupted || interruptedExitCode() !== undefined) {
      await cleanup();
      return interruptedExitCode() ?? 130;
    }
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exit(await main());
