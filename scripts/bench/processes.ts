/**
 * The bench's child processes and its clean-up: every server is started through `startServer`
 * and every temporary thing registers an undo with `onCleanup`; `cleanup()` runs them all once,
 * last registered first, on success, on error and on SIGINT/SIGTERM/SIGHUP.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism } from 'node:os';

type Undo = () => Promise<void> | void;
const undos: { what: string; undo: Undo }[] = [];
let cleaning: Promise<void> | undefined;

/** Registers `undo` to run at clean-up (last registered runs first). */
export function onCleanup(what: string, undo: Undo): void {
  undos.push({ what, undo });
}

/** Runs every registered undo once; errors are reported, never thrown. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (undos.length > 0) {
      const { what, undo } = undos.pop() as { what: string; undo: Undo };
      try {
        await undo();
      } catch (error) {
        process.stderr.write(`bench: clean-up of ${what} failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  })();
  return cleaning;
}

let interruptedBy: number | undefined;

/** The exit code owed to a signal received (128 + its number), or undefined. */
export function interruptedExitCode(): number | undefined {
  return interruptedBy;
}

/** Throws once a signal has been received, so no figure measured while stopping is reported. */
export function assertNotInterrupted(): void {
  if (interruptedBy !== undefined) throw new Interrupted();
}

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** On a signal: clean up, then exit with 128 + the signal number. */
export function cleanUpOnSignals(): void {
  const codes: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  for (const [signal, code] of Object.entries(codes)) {
    process.once(signal, () => {
      interruptedBy = 128 + code;
      process.stderr.write(`\nbench: ${signal} received: stopping servers and removing temporary files\n`);
      // A second signal while cleaning up ends at once.
      process.once(signal, () => process.exit(128 + code));
      void cleanup().finally(() => process.exit(128 + code));
    });
  }
}

/** How the processes are placed on cores. */
export interface Pinning {
  /** Prefix for server commands (`taskset -c 0`), empty when not pinned. */
  serverPrefix: string[];
  /** Human description for the report. */
  description: string;
  /** True when this process runs pinned on its own core. */
  loadGeneratorPinned: boolean;
}

const PINNED_ENV = 'CORTADO_BENCH_PINNED';

function tasksetWorks(): boolean {
  const probe = spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' });
  return probe.status === 0;
}

/**
 * With taskset and at least two cores: servers on core 0, this process on core 1. The first
 * call re-executes the bench under `taskset -c 1` and returns the child's exit code; the
 * re-executed process (and a machine without taskset) gets the pinning to use.
 */
export async function pinOrReexec(noPin: boolean): Promise<{ exitCode: number } | Pinning> {
  const unpinned: Pinning = {
    serverPrefix: [],
    description: noPin ? 'not pinned (--no-pin): servers and load generator share all cores' : 'not pinned (taskset unavailable or fewer than 2 cores): servers and load generator share the machine',
    loadGeneratorPinned: false,
  };
  // Checked first: pinned to one core, this process sees one core only.
  if (!noPin && process.env[PINNED_ENV] === '1') {
    return { serverPrefix: ['taskset', '-c', '0'], description: 'servers pinned to core 0 (taskset -c 0), load generator to core 1 (taskset -c 1)', loadGeneratorPinned: true };
  }
  if (noPin || availableParallelism() < 2 || !tasksetWorks()) return unpinned;
  const script = process.argv[1] as string;
  const child = spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, script, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [PINNED_ENV]: '1' },
  });
  // Ctrl-C reaches the child directly (same process group); a SIGTERM sent to this process only
  // is passed on. Either way this process waits for the child to finish cleaning up.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  process.on('SIGHUP', () => child.kill('SIGHUP'));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { exitCode: code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1) };
}

/** A free TCP port on 127.0.0.1 (released again before the server takes it). */
export async function freePort(): Promise<number> {
  const probe = createNetServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (!address || typeof address !== 'object') throw new Error('could not find a free port');
  return address.port;
}

export interface ServerProcess {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Date.now() when the process was spawned. */
  readonly spawnedAt: number;
  /** The last output of the process, for error messages. */
  output(): string;
  /** Highest resident set size seen (sampled twice a second, and the kernel's high-water mark). */
  peakRssBytes(): number;
  /** CPU time (user + system, seconds) used so far by the process and its children (workers); undefined without /proc. */
  cpuSeconds(): number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

function readRss(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

let clockTicks: number | undefined;

/** Clock ticks per second, the unit of /proc/<pid>/stat times. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const answer = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const parsed = Number(answer.stdout?.trim());
    clockTicks = answer.status === 0 && parsed > 0 ? parsed : 100;
  }
  return clockTicks;
}

/** User + system CPU seconds of `pid` and, recursively, of its live children. */
function readCpuSeconds(pid: number, depth = 0): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces), from the 3rd on: utime is the 14th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let seconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  if (depth < 3) {
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ') : []) seconds += readCpuSeconds(Number(child), depth + 1) ?? 0;
    } catch {
      // No children file (older kernels): the process's own time only.
    }
  }
  return seconds;
}

/**
 * Waits until `pending()` is false and the server has used under 2 % of a core for a whole
 * second (checked 4 times a second, after at least `minMs`, at most `maxMs`), and resolves to
 * the CPU seconds it used from `since` (its CPU seconds then) until that quiet second: the work
 * it put off until its load ended. Undefined without /proc.
 */
export async function waitUntilQuiet(
  server: ServerProcess,
  since: number | undefined,
  pending: () => boolean,
  minMs = 1500,
  maxMs = 120_000,
): Promise<number | undefined> {
  if (since === undefined) return undefined;
  const began = Date.now();
  const samples: number[] = [since];
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = server.cpuSeconds();
    if (now === undefined) return undefined;
    samples.push(now);
    const secondAgo = samples.at(-5);
    const quiet = secondAgo !== undefined && now - secondAgo < 0.02 && !pending();
    if ((quiet && Date.now() - began >= minMs) || Date.now() - began >= maxMs) return (secondAgo ?? now) - since;
  }
}

export interface StartServerOptions {
  name: string;
  command: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  port: number;
  /** Path answered once the server is ready. */
  readyPath: string;
  timeoutMs?: number;
}

/** Spawns a server, waits until `readyPath` answers 200 and registers its stop for clean-up. */
export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const [command, ...args] = options.command as [string, ...string[]];
  const spawnedAt = Date.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: string) => (output = (output + chunk).slice(-8000));
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  let exited = false;
  const exitedPromise = once(child, 'exit').then(() => void (exited = true));
  let peak = 0;
  const sampler = setInterval(() => {
    const rss = child.pid ? readRss(child.pid) : undefined;
    if (rss) peak = Math.max(peak, rss.rss, rss.hwm);
  }, 500);
  sampler.unref();

  const stop = async (graceMs = 10_000) => {
    clearInterval(sampler);
    if (exited) return;
    const rss = child.pid ? readRss(child.pid) : undefined;
    if (rss) peak = Math.max(peak, rss.rss, rss.hwm);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exitedPromise;
    clearTimeout(timer);
    child.stdin?.destroy();
  };
  onCleanup(`server ${options.name}`, () => stop());
  const cpuSeconds = () => (child.pid && !exited ? readCpuSeconds(child.pid) : undefined);

  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`${options.name} exited before it was ready:\n${output}`);
    if (Date.now() > deadline) throw new Error(`${options.name} was not ready within ${options.timeoutMs ?? 60_000} ms:\n${output}`);
    try {
      const response = await fetch(url + options.readyPath, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { name: options.name, url, child, spawnedAt, output: () => output, peakRssBytes: () => peak, cpuSeconds, stop };
}
