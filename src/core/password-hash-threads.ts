/**
 * The threads password hashes run on. argon2 and PBKDF2 are deliberately slow (milliseconds
 * of CPU each); computed on the event loop's thread they would stall every other request, and
 * on libuv's shared pool they compete with the event loop for the CPU as equals, so a login
 * storm on a busy core still delays every other request by whole scheduler time slices
 * (docs/performance.md). Here they run on worker threads whose nice value is raised: when
 * hashing and request handling want the same core, the kernel runs the requests first, and
 * hashing takes whatever CPU is left — all of it on an idle server.
 *
 * At most one thread per core this process may run on (`os.availableParallelism()`, which
 * follows the CPU affinity); further hashes wait in line, first come first served. Threads
 * start when first needed and do not keep the process alive while idle.
 */
import { availableParallelism, getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * How much the hashing threads' nice value is raised (0 is normal priority, 19 the lowest). At
 * +10 the kernel weighs a hashing thread at about a tenth of the event loop's thread: on a
 * saturated core the requests keep most of it and logins still progress, more slowly. The
 * bench's login storm (docs/performance.md): at +5 the read's p99 went from 2 to 7 ms while
 * logins got 29 of the 80/s asked; at +10, 2 to 5 ms, with 11 logins/s. On an idle core
 * hashing still takes all of it (over 100 logins/s either way).
 */
export const HASH_THREAD_NICE = 10;

/** Slow hashes computed at once, at most. */
export const MAX_CONCURRENT_HASHES = Math.max(1, availableParallelism());

/** Options of `@node-rs/argon2`'s `hashSync` that cortado sets. */
export interface Argon2HashOptions {
  algorithm: number;
  version: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  outputLen: number;
}

interface JobTypes {
  argon2Hash: { args: [password: string, options: Argon2HashOptions]; result: string };
  argon2Verify: { args: [stored: string, password: string]; result: boolean };
  pbkdf2Sha256: { args: [password: string, salt: Uint8Array, rounds: number, keyBytes: number]; result: Uint8Array };
}

type Op = keyof JobTypes;

interface Job {
  op: Op;
  args: unknown[];
  resolve(value: unknown): void;
  reject(error: Error): void;
}

type Reply = { ok: true; value: unknown } | { ok: false };

/**
 * No thread could compute the hash: one could not start, or stopped while working. A fault of
 * the server, not an answer about the password: callers must not report it as a wrong one.
 */
export class HashThreadUnavailable extends Error {
  override name = 'HashThreadUnavailable';
}

const WORKER_URL = new URL('./password-hash-worker.mjs', import.meta.url);

const queue: Job[] = [];
const idle: HashThread[] = [];
let running = 0;

class HashThread {
  private readonly worker: Worker;
  private job: Job | undefined;
  /** Why the thread stopped, when it failed (a module that would not load, …). */
  private failure: unknown;

  constructor() {
    // No execArgv: the worker is plain JavaScript and needs none of the main thread's loaders.
    this.worker = new Worker(WORKER_URL, { workerData: { nice: Math.min(19, getPriority() + HASH_THREAD_NICE) }, execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.finish(reply));
    // An 'error' is followed by 'exit'; the listener keeps it from being thrown.
    this.worker.on('error', (error) => void (this.failure = error));
    this.worker.on('exit', () => this.gone());
  }

  run(job: Job): void {
    this.job = job;
    // Referenced while it works, so a command waiting for a hash is not ended under it.
    this.worker.ref();
    this.worker.postMessage({ op: job.op, args: job.args });
  }

  private finish(reply: Reply): void {
    const job = this.job;
    this.job = undefined;
    this.worker.unref();
    idle.push(this);
    if (job) {
      if (reply.ok) job.resolve(reply.value);
      else job.reject(new Error(`${job.op} failed`));
    }
    dispatch();
  }

  private gone(): void {
    running -= 1;
    const at = idle.indexOf(this);
    if (at >= 0) idle.splice(at, 1);
    const job = this.job;
    this.job = undefined;
    job?.reject(new HashThreadUnavailable('the password hashing thread stopped', { cause: this.failure }));
    dispatch();
  }
}

function dispatch(): void {
  while (queue.length > 0) {
    let thread = idle.pop();
    if (!thread) {
      if (running >= MAX_CONCURRENT_HASHES) return;
      try {
        thread = new HashThread();
      } catch (error) {
        (queue.shift() as Job).reject(new HashThreadUnavailable('a password hashing thread could not start', { cause: error }));
        continue;
      }
      running += 1;
    }
    thread.run(queue.shift() as Job);
  }
}

/**
 * Runs one slow hash on a hashing thread. Rejects without detail when the hash throws, and
 * with `HashThreadUnavailable` when no thread could run it.
 */
export function onHashThread<K extends Op>(op: K, ...args: JobTypes[K]['args']): Promise<JobTypes[K]['result']> {
  return new Promise((resolve, reject) => {
    queue.push({ op, args, resolve: resolve as (value: unknown) => void, reject });
    dispatch();
  });
}
