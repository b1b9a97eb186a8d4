/**
 * `cortado serve --workers N`: N processes sharing one port through `node:cluster`. The
 * primary opens no database; it forks the workers (each one runs the same command line and
 * serves the site as a single process would), restarts a worker that dies with an increasing
 * delay, forwards SIGTERM/SIGINT so every worker drains its in-flight requests, and exits once
 * all of them have.
 *
 * Workers share nothing but the site's database and cache, as separate nodes do: on SQLite
 * (one writer) only one worker is allowed.
 */
import cluster, { type Worker } from 'node:cluster';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSiteConfig, type SiteConfig } from '../core/config.ts';
import { openServingSite, serve } from './create-server.ts';
import { CONFIG_FILE } from './site.ts';

export const SQLITE_ONE_WRITER = 'SQLite allows one writer: use --workers 1, or move to PostgreSQL with migrate-to-postgres';

/** The most workers `--workers` accepts. */
export const MAX_WORKERS = 256;

/** Default: one worker per core on PostgreSQL, one on SQLite. */
export function defaultWorkers(config: Pick<SiteConfig, 'db_url'>): number {
  return config.db_url ? availableParallelism() : 1;
}

/** The number of workers to run; throws (one line) when SQLite is asked for more than one. */
export function workerCount(config: Pick<SiteConfig, 'db_url'>, requested: number | undefined): number {
  const count = requested ?? defaultWorkers(config);
  if (!config.db_url && count > 1) throw new Error(SQLITE_ONE_WRITER);
  return count;
}

/** Whether this process is a worker forked by a `serve --workers` primary. */
export const isClusterWorker = (): boolean => cluster.isWorker;

export interface ServeProcessOptions {
  port: number;
  host: string;
  /** `--workers`, when given. */
  workers?: number;
  /** Lines for the operator (stdout). */
  announce: (line: string) => void;
  /** Warnings (stderr): a worker died and is restarted. */
  warn?: (line: string) => void;
}

/**
 * Serves the site at `sitePath`: in this process for one worker (or inside a forked worker),
 * else as the primary of a cluster. Resolves once serving (single process, worker) or, for a
 * primary, once every worker has exited — with the exit code the process should end with.
 */
export async function serveProcess(sitePath: string, options: ServeProcessOptions): Promise<number | undefined> {
  const path = resolve(sitePath);
  if (cluster.isWorker) {
    // The primary announces; a worker only serves and drains on SIGTERM.
    const site = await openServingSite(path);
    await serve(site, { port: options.port, host: options.host, handleSignals: true });
    // A worker may get a signal twice: from the primary and directly (systemd's default
    // KillMode, a terminal's Ctrl-C, `kill -- -<pgid>`). The first starts the drain; a later
    // one must not end the process mid-drain with the default action.
    const ignore = () => undefined;
    process.on('SIGTERM', ignore);
    process.on('SIGINT', ignore);
    return undefined;
  }
  // A missing or broken site fails below in openServingSite with its own message.
  const config = existsSync(join(path, CONFIG_FILE)) ? loadSiteConfig(join(path, CONFIG_FILE)) : { db_url: undefined, redis_url: undefined };
  const workers = workerCount(config, options.workers);
  if (workers === 1) {
    const site = await openServingSite(path);
    await serve(site, { port: options.port, host: options.host, announce: options.announce, handleSignals: true });
    return undefined;
  }
  const warn = options.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!config.redis_url) {
    warn(`warning: without redis_url each of the ${workers} workers keeps its own login-failure and rate-limit counters; set redis_url to share them`);
  }
  // A worker ends itself shutdown_timeout_ms after the signal; the primary kills one that does not, a little later.
  const drainTimeoutMs = 'shutdown_timeout_ms' in config ? config.shutdown_timeout_ms + 5_000 : undefined;
  return runPrimary({ ...options, warn, workers, sitePath: path, drainTimeoutMs });
}

export interface PrimaryOptions {
  workers: number;
  sitePath: string;
  host: string;
  port: number;
  announce: (line: string) => void;
  warn?: (line: string) => void;
  /** First restart delay after a crash; doubles per crash in a row (default 500 ms). */
  restartDelayMs?: number;
  /** Longest restart delay (default 15 s). */
  maxRestartDelayMs?: number;
  /** A worker that ran this long counts as stable: its next crash restarts quickly again (default 30 s). */
  stableAfterMs?: number;
  /** How long workers get to drain after SIGTERM before they are killed (default 30 s). */
  drainTimeoutMs?: number;
}

interface Slot {
  worker: Worker | undefined;
  startedAt: number;
  crashes: number;
  restart: NodeJS.Timeout | undefined;
}

function urlOf(address: { address?: string | null; port: number }, fallbackHost: string): string {
  const host = address.address && address.address !== '0.0.0.0' && address.address !== '::' ? address.address : fallbackHost;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

const describeExit = (code: number | null, signal: string | null) => (signal ? `signal ${signal}` : `code ${code ?? '?'}`);

/** The primary of `serve --workers N`; resolves with the exit code once every worker has exited. */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const warn = options.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const restartDelay = options.restartDelayMs ?? 500;
  const maxRestartDelay = options.maxRestartDelayMs ?? 15_000;
  const stableAfter = options.stableAfterMs ?? 30_000;
  const drainTimeout = options.drainTimeoutMs ?? 30_000;
  const slots: Slot[] = Array.from({ length: options.workers }, () => ({ worker: undefined, startedAt: 0, crashes: 0, restart: undefined }));
  const listened = new Set<number>();
  let started = false;
  let stopping = false;
  let failed = false;
  let killTimer: NodeJS.Timeout | undefined;

  return new Promise<number>((resolveExit) => {
    const live = () => slots.filter((slot) => slot.worker !== undefined);

    const finishIfDone = () => {
      if (!stopping || live().length > 0) return;
      clearTimeout(killTimer);
      process.removeListener('SIGTERM', onSigterm);
      process.removeListener('SIGINT', onSigint);
      cluster.removeListener('exit', onExit);
      cluster.removeListener('listening', onListening);
      resolveExit(failed ? 1 : 0);
    };

    const fork = (slot: Slot) => {
      slot.restart = undefined;
      slot.startedAt = Date.now();
      slot.worker = cluster.fork();
    };

    const stop = (reason: string | undefined) => {
      if (stopping) {
        // A second signal: do not wait for the drain.
        for (const slot of live()) slot.worker?.process.kill('SIGKILL');
        return;
      }
      stopping = true;
      if (reason) options.announce(`${reason}: finishing in-flight requests in ${live().length} worker(s)`);
      for (const slot of slots) clearTimeout(slot.restart);
      for (const slot of live()) slot.worker?.process.kill('SIGTERM');
      killTimer = setTimeout(() => {
        for (const slot of live()) {
          warn(`worker ${slot.worker?.process.pid ?? '?'} still running ${drainTimeout} ms after SIGTERM: killed`);
          slot.worker?.process.kill('SIGKILL');
        }
      }, drainTimeout);
      killTimer.unref();
      finishIfDone();
    };

    const onSigterm = () => stop('SIGTERM received');
    const onSigint = () => stop('SIGINT received');

    const onListening = (worker: Worker, address: { address?: string | null; port: number }) => {
      const slot = slots.find((s) => s.worker === worker);
      if (!slot || listened.has(worker.id)) return;
      listened.add(worker.id);
      if (started) options.announce(`worker ${worker.process.pid ?? '?'} serving (restarted)`);
      if (!started && slots.every((s) => s.worker !== undefined && listened.has(s.worker.id))) {
        started = true;
        const pids = slots.map((s) => s.worker?.process.pid).join(', ');
        options.announce(`${options.workers} workers (pids ${pids})`);
        options.announce(`cortado serving ${options.sitePath} on ${urlOf(address, options.host)}`);
      }
    };

    const onExit = (worker: Worker, code: number | null, signal: string | null) => {
      const slot = slots.find((s) => s.worker === worker);
      if (!slot) return;
      slot.worker = undefined;
      listened.delete(worker.id);
      const clean = code === 0 && !signal;
      if (stopping) {
        if (!clean && started) warn(`worker ${worker.process.pid ?? '?'} exited (${describeExit(code, signal)}) while draining`);
        if (!clean && signal !== 'SIGTERM') failed = true;
        finishIfDone();
        return;
      }
      if (!started) {
        // A worker that cannot start (bad config, database unreachable) will not start on a
        // retry either: stop them all; the worker has printed why.
        warn(`a worker exited while starting (${describeExit(code, signal)}): stopping`);
        failed = true;
        stop(undefined);
        return;
      }
      const ranFor = Date.now() - slot.startedAt;
      slot.crashes = ranFor >= stableAfter ? 1 : slot.crashes + 1;
      const delay = Math.min(maxRestartDelay, restartDelay * 2 ** (slot.crashes - 1));
      warn(`worker ${worker.process.pid ?? '?'} exited (${describeExit(code, signal)}): restarting in ${delay} ms`);
      slot.restart = setTimeout(() => {
        if (!stopping) fork(slot);
      }, delay);
    };

    process.on('SIGTERM', onSigterm);
    process.on('SIGINT', onSigint);
    cluster.on('exit', onExit);
    cluster.on('listening', onListening);
    for (const slot of slots) fork(slot);
  });
}
