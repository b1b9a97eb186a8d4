import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openLineSpool } from './line-spool.ts';

const root = mkdtempSync(join(tmpdir(), 'cortado-spool-'));
after(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
const freshFolder = () => join(root, `spool-${++folders}`);
const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  assert.ok(child.pid);
  return child.pid;
}

/** Drains the whole spool, returning its batches. */
async function drainAll(spool: ReturnType<typeof openLineSpool>, batchSize = 1000) {
  const batches: string[][] = [];
  const result = await spool.drain(batchSize, async (lines) => {
    batches.push([...lines]);
  });
  assert.equal(result.lines, batches.flat().length, 'the count of lines handed over');
  return { batches, lines: batches.flat(), torn: result.torn };
}

test('appended lines come back in order, in batches, and the files go once drained', async () => {
  const folder = freshFolder();
  const spool = openLineSpool(folder);
  assert.equal(existsSync(folder), false, 'nothing is created before the first append');
  await spool.append('a\nb\n');
  await spool.append(Buffer.from('c\n'));
  assert.equal(spool.bytes, 6);
  const [live] = readdirSync(folder);
  assert.equal(statSync(join(folder, live as string)).mode & 0o777, 0o600, 'readable by its owner only');
  const first = await drainAll(spool, 2);
  assert.deepEqual(first.batches, [['a', 'b'], ['c']]);
  assert.equal(first.torn, 0);
  assert.equal(spool.bytes, 0);
  await spool.append('d\n');
  assert.deepEqual((await drainAll(spool)).lines, ['d'], 'a new live file after a drain');
  assert.deepEqual(readdirSync(folder), []);
  await spool.close();
});

test('a handler that fails stops the drain and leaves the file whole for the next one', async () => {
  const spool = openLineSpool(freshFolder());
  await spool.append('1\n2\n3\n4\n');
  let calls = 0;
  await assert.rejects(
    spool.drain(2, async () => {
      calls += 1;
      if (calls === 2) throw new Error('database down');
    }),
    /database down/,
  );
  assert.equal(spool.bytes, 8);
  await spool.append('5\n');
  assert.deepEqual((await drainAll(spool)).lines, ['1', '2', '3', '4', '5']);
  await spool.close();
});

test('lines split across read chunks, multi-byte characters included, come back intact', async () => {
  const spool = openLineSpool(freshFolder());
  const lines = Array.from({ length: 40_000 }, (_, i) => `${i} ✓ ${'é'.repeat(i % 17)} ${'x'.repeat(20)}`);
  await spool.append(`${lines.join('\n')}\n`);
  assert.ok(spool.bytes > 1 << 20, 'more than one read chunk');
  assert.deepEqual((await drainAll(spool, 4096)).lines, lines);
  await spool.close();
});

test("files of this host's owners that are gone are taken over, with a torn last line dropped", async () => {
  const folder = freshFolder();
  mkdirSync(folder, { recursive: true });
  const dead = deadPid();
  writeFileSync(join(folder, `${host}~${dead}~aaa~1.ready`), 'old-1\nold-2\n');
  writeFileSync(join(folder, `${host}~${dead}~aaa.live`), 'old-3\nhalf-writ');
  writeFileSync(join(folder, `other-host~${dead}~bbb.live`), 'elsewhere\n');
  writeFileSync(join(folder, `${host}~${process.ppid}~ccc.live`), 'a running owner\n');
  writeFileSync(join(folder, 'notes.txt'), 'not a spool file\n');

  const spool = openLineSpool(folder);
  assert.equal(spool.bytes, 'old-1\nold-2\nold-3\nhalf-writ'.length);
  const drained = await drainAll(spool);
  assert.deepEqual(drained.lines, ['old-1', 'old-2', 'old-3']);
  assert.equal(drained.torn, 1);
  assert.deepEqual(readdirSync(folder).sort(), [`${host}~${process.ppid}~ccc.live`, 'notes.txt', `other-host~${dead}~bbb.live`].sort());
  await spool.close();
});

test('what a closed spool leaves is taken over by the next one, never by one still open', async () => {
  const folder = freshFolder();
  const first = openLineSpool(folder);
  await first.append('kept\n');
  const second = openLineSpool(folder);
  assert.equal(second.bytes, 0, 'the first is still open');
  await first.close();
  const third = openLineSpool(folder);
  assert.deepEqual((await drainAll(third)).lines, ['kept']);
  await Promise.all([second.close(), third.close()]);
  assert.deepEqual(readdirSync(folder), []);
});

test('an append the disk refuses rejects', async () => {
  const blocker = freshFolder();
  writeFileSync(blocker, 'a file where the folder should be');
  const spool = openLineSpool(join(blocker, 'inner'));
  await assert.rejects(spool.append('x\n'), /ENOTDIR|EEXIST/);
  await spool.close();
});

test('a spool file removed from outside is skipped, not a drain that fails for ever', async () => {
  const folder = freshFolder();
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, `${host}~${deadPid()}~gone.live`), 'lost\n');
  const spool = openLineSpool(folder);
  for (const name of readdirSync(folder)) rmSync(join(folder, name));
  await spool.append('kept\n');
  assert.deepEqual((await drainAll(spool)).lines, ['kept']);
  assert.equal(spool.bytes, 0);
  await spool.close();
});
