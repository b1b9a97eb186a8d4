/**
 * The full-run log scan: `node --import tsx test/helpers/scan-test-logs.ts <folder>` reads every
 * log file the run's test sites wrote (test/helpers/test-log.ts) and fails — exit 1, naming the
 * file, the line and what leaked, never printing a secret in full — when one holds a fixed test
 * password or a credential-shaped string (test/helpers/known-secrets.ts). Run by
 * scripts/run-tests.mjs after the tests.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLeaks, literalTestPasswords } from './known-secrets.ts';

const folder = process.argv[2];
if (!folder || !existsSync(folder)) process.exit(0);
const known = literalTestPasswords();
const files = readdirSync(folder).filter((f) => f.endsWith('.log'));
let found = 0;
let lines = 0;
for (const file of files) {
  const text = readFileSync(join(folder, file), 'utf8');
  text.split('\n').forEach((line, index) => {
    if (!line) return;
    lines++;
    for (const leak of findLeaks(line, known)) {
      found++;
      if (found <= 50) console.error(`secret in test logs: ${join(folder, file)}:${index + 1}: ${leak.what}: ${leak.excerpt}`);
    }
  });
}
if (found > 0) {
  console.error(`\n${found} secret(s) found in the logs of this run (${files.length} files, ${lines} lines): a log line must never carry a password, secret, token or sid.`);
  process.exit(1);
}
console.log(`log scan: ${lines} log lines in ${files.length} files, no secret material`);
