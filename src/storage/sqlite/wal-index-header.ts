/**
 * Tells, with one `pread` and no lock, whether any connection — another process, or this
 * one's writer — has committed to a WAL-mode database since the last look: every commit
 * rewrites the wal-index header at the start of the `-shm` file (its change counter, last
 * frame, checksums; salts when the WAL restarts), the first thing any SQLite reader consults
 * to find the committed state. The header's layout is part of SQLite's documented file format
 * (https://www.sqlite.org/walformat.html §2.1), fixed so that every version can share a
 * database with every other. Starting a read transaction instead costs file-lock system calls,
 * the most expensive part of a primary-key read (docs/performance.md).
 *
 * A header read while another process rewrites it may come out torn: it then differs from the
 * last one (a spurious "changed"), or equals it because the rewrite has not reached it yet —
 * the commit is then not visible to readers either.
 *
 * One descriptor per `-shm` file per process, shared, and closed only when its last user
 * closes: POSIX drops every lock a process holds on a file when any of its descriptors for
 * that file is closed, SQLite's own included — closing a descriptor of ours while SQLite
 * connections of this process still use the file would let another process believe nobody
 * reads it, and check-point or reset the WAL under them.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** The first copy of the wal-index header (SQLite writes the second copy first, then this one). */
const HEADER_BYTES = 48;

interface SharedFile {
  readonly fd: number;
  users: number;
}

/** By device and inode: a path may name a new file once every connection to the old one closed. */
const openFiles = new Map<string, SharedFile>();

function acquire(path: string): { key: string; file: SharedFile } {
  const { dev, ino } = statSync(path);
  let key = `${dev}:${ino}`;
  let file = openFiles.get(key);
  if (!file) {
    const fd = openSync(path, 'r');
    const opened = fstatSync(fd);
    // Replaced between the stat and the open: keyed by what was opened. Should another user
    // have opened that file meanwhile, this descriptor is left open, never closed: closing it
    // would drop the locks.
    key = `${opened.dev}:${opened.ino}`;
    file = openFiles.get(key) ?? { fd, users: 0 };
    openFiles.set(key, file);
  }
  file.users += 1;
  return { key, file };
}

export class WalIndexHeader {
  readonly #key: string;
  readonly #file: SharedFile;
  #closed = false;
  #last = Buffer.alloc(HEADER_BYTES);
  #current = Buffer.alloc(HEADER_BYTES);

  /** Opens `<database>-shm`; throws when it is missing (not a WAL database, or no connection open). */
  constructor(databasePath: string) {
    ({ key: this.#key, file: this.#file } = acquire(`${databasePath}-shm`));
    this.changed();
  }

  /** Whether the header differs from the one seen by the previous call. */
  changed(): boolean {
    const read = readSync(this.#file.fd, this.#current, 0, HEADER_BYTES, 0);
    if (read === HEADER_BYTES && this.#current.equals(this.#last)) return false;
    if (read < HEADER_BYTES) this.#current.fill(0, read);
    [this.#last, this.#current] = [this.#current, this.#last];
    return true;
  }

  /** Call once this Storage's own connections are closed: the last user closes the descriptor. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.users -= 1;
    if (this.#file.users > 0) return;
    if (openFiles.get(this.#key) === this.#file) openFiles.delete(this.#key);
    closeSync(this.#file.fd);
  }
}
