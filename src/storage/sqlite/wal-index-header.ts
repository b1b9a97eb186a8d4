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
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** The first copy of the wal-index header (SQLite writes the second copy first, then this one). */
const HEADER_BYTES = 48;

export class WalIndexHeader {
  readonly #fd: number;
  #last = Buffer.alloc(HEADER_BYTES);
  #current = Buffer.alloc(HEADER_BYTES);

  /** Opens `<database>-shm`; throws when it is missing (not a WAL database, or no connection open). */
  constructor(databasePath: string) {
    this.#fd = openSync(`${databasePath}-shm`, 'r');
    this.changed();
  }

  /** Whether the header differs from the one seen by the previous call. */
  changed(): boolean {
    const read = readSync(this.#fd, this.#current, 0, HEADER_BYTES, 0);
    if (read === HEADER_BYTES && this.#current.equals(this.#last)) return false;
    if (read < HEADER_BYTES) this.#current.fill(0, read);
    [this.#last, this.#current] = [this.#current, this.#last];
    return true;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
