/**
 * An append-only spool of text lines on disk, one file per process, for work put off while the
 * process is busy (the API Request Log's rows: docs/performance.md). Appended lines are in the
 * operating system's page cache once `append` resolves, so a process that crashes loses none
 * of them; they are not fsync'd, so a machine that crashes may.
 *
 * Files live in one folder, named after their owner `<host>~<pid>~<token>`: the owner appends
 * to `<owner>.live`; `drain()` renames that to `<owner>~<n>.ready` (the next append opens a new
 * live file) and hands every ready file's lines to the caller in batches, deleting a file once
 * all its lines are handled. A drain that stops leaves the file, to be handed over again from
 * its start, so the caller's handling must tolerate lines it has seen (the request log's
 * INSERTs skip names already stored). On open, the files of owners on this host that are no
 * longer running are renamed to this owner and drained with its own: a rename is atomic, so no
 * two processes take the same file.
 */
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { randomHex } from './crypto.ts';

export interface DrainResult {
  /** Complete lines handed to the handler. */
  lines: number;
  /** Unterminated last lines (a crash mid-append), dropped. */
  torn: number;
}

export interface LineSpool {
  /** Bytes appended or taken over and not yet drained. */
  readonly bytes: number;
  /** Appends whole lines (`data` ends with a newline); rejects when the file cannot be written. */
  append(data: string | Uint8Array): Promise<void>;
  /**
   * Hands every line spooled so far to `handle`, oldest file first, in batches of at most
   * `batchSize`. A rejection of `handle` stops the drain and rejects with it; the file being
   * read stays, whole.
   */
  drain(batchSize: number, handle: (lines: string[]) => Promise<void>): Promise<DrainResult>;
  /** Closes the live file (an empty one is deleted); what is left stays for a later owner. */
  close(): Promise<void>;
}

const FILE_NAME = /^([^~]+)~(\d+)~([0-9a-z]+)(?:~(\d+))?\.(live|ready)$/;
const READ_CHUNK_BYTES = 1 << 20;
/** Owner tokens of the spools open in this process (a pid alone is reused, e.g. 1 in containers). */
const openTokens = new Set<string>();

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Opens the spool in `folder` (created at the first append) and takes over the files of this
 * host's owners that are gone.
 */
export function openLineSpool(folder: string): LineSpool {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';
  const token = Date.now().toString(36) + randomHex(6);
  const owner = `${host}~${process.pid}~${token}`;
  openTokens.add(token);
  const livePath = join(folder, `${owner}.live`);
  /** Ready files in drain order, with their sizes. */
  const ready: { path: string; size: number }[] = [];
  let sequence = 0;
  let liveBytes = 0;
  let live: FileHandle | undefined;
  let tail: Promise<unknown> = Promise.resolve();

  const nextReadyPath = () => join(folder, `${owner}~${++sequence}.ready`);

  function takeOver(): void {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return;
    }
    const orphans = names
      .map((name) => ({ name, match: FILE_NAME.exec(name) }))
      .filter((file): file is { name: string; match: RegExpExecArray } => {
        const { match } = file;
        if (!match || match[1] !== host || openTokens.has(match[3] as string)) return false;
        const pid = Number(match[2]);
        return pid === process.pid || !isRunning(pid);
      })
      // An owner's ready files in their order, then its live file.
      .map(({ name, match }) => ({ name, owner: `${match[2]}~${match[3]}`, n: match[4] === undefined ? Infinity : Number(match[4]) }))
      .sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.n - b.n));
    for (const { name } of orphans) {
      const path = nextReadyPath();
      try {
        renameSync(join(folder, name), path);
      } catch {
        // Another process took it first.
        continue;
      }
      ready.push({ path, size: sizeOf(path) });
    }
  }

  /** Ends the live file as a ready one. Runs in the append chain. */
  async function seal(): Promise<void> {
    if (!live) return;
    const handle = live;
    live = undefined;
    await handle.close();
    const path = nextReadyPath();
    renameSync(livePath, path);
    ready.push({ path, size: liveBytes });
    liveBytes = 0;
  }

  function inOrder<T>(step: () => Promise<T>): Promise<T> {
    const run = tail.then(step);
    tail = run.catch(() => undefined);
    return run;
  }

  async function drainFile(path: string, batchSize: number, handle: (lines: string[]) => Promise<void>, result: DrainResult) {
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (error) {
      // Removed from outside: nothing left to hand over, and a drain must not stop on it for ever.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const decoder = new StringDecoder('utf8');
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      let rest = '';
      let batch: string[] = [];
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        const parts = (rest + decoder.write(buffer.subarray(0, bytesRead))).split('\n');
        rest = parts.pop() as string;
        for (const line of parts) {
          if (line === '') continue;
          batch.push(line);
          if (batch.length >= batchSize) {
            await handle(batch);
            result.lines += batch.length;
            batch = [];
          }
        }
      }
      if (batch.length > 0) {
        await handle(batch);
        result.lines += batch.length;
      }
      if ((rest + decoder.end()).length > 0) result.torn += 1;
    } finally {
      await file.close();
    }
    await rm(path, { force: true });
  }

  takeOver();

  return {
    get bytes() {
      return liveBytes + ready.reduce((sum, file) => sum + file.size, 0);
    },

    append(data) {
      return inOrder(async () => {
        if (!live) {
          // Only this user may read it: the lines hold what the caller logs (users, addresses).
          mkdirSync(folder, { recursive: true, mode: 0o700 });
          live = await open(livePath, 'a', 0o600);
        }
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
        // Counted first: bytes of a failed write may still be in the file.
        liveBytes += bytes.length;
        await live.write(bytes);
      });
    },

    async drain(batchSize, handle) {
      await inOrder(seal);
      const result: DrainResult = { lines: 0, torn: 0 };
      while (ready.length > 0) {
        const file = ready[0] as { path: string; size: number };
        await drainFile(file.path, batchSize, handle, result);
        ready.shift();
      }
      return result;
    },

    close() {
      return inOrder(async () => {
        if (live) {
          if (liveBytes === 0) {
            await live.close();
            live = undefined;
            await rm(livePath, { force: true });
          } else await seal();
        }
        openTokens.delete(token);
      });
    },
  };
}
