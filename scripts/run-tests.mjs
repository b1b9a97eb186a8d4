// Runs every *.test.ts under src/ and test/ with Node's test runner (Node 20 has no --test glob).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir, out) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (entry.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = ['src', 'test']
  .flatMap((dir) => collect(dir, []))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Test sites append every log line here; after the run the logs are scanned for secrets.
const logDir = join('test-output', 'logs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
mkdirSync(logDir, { recursive: true });
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  { stdio: 'inherit', env: { ...process.env, CORTADO_TEST_LOG_DIR: logDir } },
);
const scan = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/scan-test-logs.ts', logDir], { stdio: 'inherit' });
const testStatus = result.status ?? 1;
process.exit(testStatus !== 0 ? testStatus : (scan.status ?? 1));
