/**
 * The soak (`npm run soak`, issue 9 item 5) in miniature, so every test run exercises it: a
 * 5-second mixed load at 20 connections against a real `cortado serve` on SQLite. It must exit
 * 0, with requests of every kind served, no 5xx, no lost acknowledged write, memory back near
 * its baseline and a clean SIGTERM exit. The full run is `npm run soak` (docs/reliability.md).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseSoakOptions } from '../../scripts/soak/options.ts';
import { childEnv, ROOT } from './scale-helpers.ts';

const SOAK = join(ROOT, 'scripts', 'soak.ts');
const folder = mkdtempSync(join(tmpdir(), 'cortado-soak-smoke-'));
after(() => rmSync(folder, { recursive: true, force: true }));

async function soak(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SOAK, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // SIGINT first: the soak then stops its server and removes its temporary site.
  const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

test('soak options: defaults of the full run; bad values refused with one line', () => {
  assert.deepEqual(parseSoakOptions([]), {
    duration: 60,
    connections: 200,
    db: 'sqlite',
    json: undefined,
    warmup: 10,
    settle: 10,
    loginRate: 2,
    refreshRate: 1,
    progressEvery: 5,
    help: false,
  });
  const short = parseSoakOptions(['--duration', '5', '--connections', '20', '--db', 'postgres']);
  assert.deepEqual([short.duration, short.connections, short.db, short.warmup, short.settle], [5, 20, 'postgres', 1, 2]);
  assert.throws(() => parseSoakOptions(['--db', 'mysql']), { message: '--db must be sqlite or postgres, not "mysql"' });
  assert.throws(() => parseSoakOptions(['--connections', '0']), /--connections must be a positive integer/);
  assert.throws(() => parseSoakOptions(['--refresh-rate', '5']), /--refresh-rate must be a positive number up to 2/);
  assert.throws(() => parseSoakOptions(['--address', '0.0.0.0']), /Unknown option '--address'/);
});

test('soak --duration 5 --connections 20 [sqlite]: passes, with requests served, no 5xx and no lost write', async () => {
  const json = join(folder, 'soak.json');
  const result = await soak(['--duration', '5', '--connections', '20', '--settle', '1', '--json', json], 90_000);
  const output = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.code, 0, output);
  assert.match(result.stdout, /^soak passed$/m);
  assert.match(result.stdout, /^ {2}PASS {2}no 5xx\s+0$/m);
  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    measured: { totals: { requests: number; ok: number; status5xx: number; errors: number }; kinds: Record<string, { requests: number }> };
    writes: { acknowledged: number; lost: number };
    memory: { baselineBytes: number; peakBytes: number; afterBytes: number };
    checks: { name: string; ok: boolean }[];
    passed: boolean;
  };
  assert.ok(report.measured.totals.requests > 0, output);
  assert.equal(report.measured.totals.ok, report.measured.totals.requests);
  assert.equal(report.measured.totals.status5xx, 0);
  assert.equal(report.measured.totals.errors, 0);
  for (const kind of ['token read', 'session read', 'list', 'write', 'login', 'refresh']) {
    assert.ok((report.measured.kinds[kind]?.requests ?? 0) > 0, `${kind} requests were made`);
  }
  assert.ok(report.writes.acknowledged > 0);
  assert.equal(report.writes.lost, 0);
  assert.ok(report.memory.baselineBytes > 0 && report.memory.afterBytes > 0, 'memory was sampled');
  assert.deepEqual(report.checks.filter((c) => !c.ok), []);
  assert.equal(report.passed, true);
  console.log(`soak smoke: ${report.measured.totals.requests} requests, 5xx ${report.measured.totals.status5xx}, writes acked ${report.writes.acknowledged}, lost ${report.writes.lost}`);
});
