/**
 * Test sites log quietly (errors only on stderr). When `CORTADO_TEST_LOG_DIR` is set — as
 * scripts/run-tests.mjs does for every run — every line at every level is also appended to a
 * file there (one per test process), and the runner scans them for secret material after the
 * run (test/helpers/scan-test-logs.ts).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createLogger, type Logger } from '../../src/core/logger.ts';

let file: string | undefined | null = null;

function logFile(): string | undefined {
  if (file !== null) return file;
  const dir = process.env.CORTADO_TEST_LOG_DIR;
  if (!dir) return (file = undefined);
  mkdirSync(dir, { recursive: true });
  const script = basename(process.argv[1] ?? 'node').replace(/[^\w.-]/g, '_');
  return (file = join(dir, `${script}.${process.pid}.log`));
}

/** Appends a line to this process's log file, when a log folder is set; else does nothing. */
export function appendTestLog(line: string): void {
  const path = logFile();
  if (path) appendFileSync(path, `${line}\n`);
}

/** The logger of test sites: quiet on stderr, every line kept in the run's log folder. */
export function testLogger(also?: (line: string) => void): Logger {
  return createLogger({
    quiet: true,
    tee: (line) => {
      appendTestLog(line);
      also?.(line);
    },
  });
}
