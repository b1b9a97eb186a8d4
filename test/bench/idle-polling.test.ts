/** The bench's hold on idle polling: the PM QoS request written, kept until released, or why not. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpuidleDriver, holdIdlePolling, idleStatesLeft } from '../../scripts/bench/idle-polling.ts';
import { parseBenchOptions } from '../../scripts/bench/options.ts';

test('holding idle polling writes a 0 µs latency request and keeps it until released', () => {
  const folder = mkdtempSync(join(tmpdir(), 'cortado-idle-'));
  try {
    const device = join(folder, 'cpu_dma_latency');
    writeFileSync(device, 'previous');
    const idle = holdIdlePolling(device);
    assert.equal(idle.held, true);
    assert.match(idle.description, /poll instead of halting/);
    assert.deepEqual([...readFileSync(device)], [0, 0, 0, 0]);
    idle.release();
    // Released twice: the second is a no-op, not a double close.
    assert.doesNotThrow(() => idle.release());
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('without the device the bench says so and goes on', () => {
  const idle = holdIdlePolling(join(tmpdir(), 'no-such-folder-cortado', 'cpu_dma_latency'));
  assert.equal(idle.held, false);
  assert.match(idle.description, /not writable: ENOENT/);
  assert.doesNotThrow(() => idle.release());
  assert.match(idleStatesLeft('--no-idle-poll').description, /as the machine sets them \(--no-idle-poll\)/);
});

test('a device that refuses the request is closed and reported', { skip: existsSync('/dev/full') ? false : 'no /dev/full on this system' }, () => {
  // /dev/full opens for writing and refuses every write (ENOSPC).
  const idle = holdIdlePolling('/dev/full');
  assert.equal(idle.held, false);
  assert.match(idle.description, /refused the request: ENOSPC/);
});

test('--no-idle-poll is an option, off by default', () => {
  assert.equal(parseBenchOptions([]).noIdlePoll, false);
  assert.equal(parseBenchOptions(['--no-idle-poll']).noIdlePoll, true);
});

test('the cpuidle driver is read when Linux exposes it', () => {
  const folder = mkdtempSync(join(tmpdir(), 'cortado-idle-'));
  try {
    writeFileSync(join(folder, 'current_driver'), 'haltpoll\n');
    assert.equal(cpuidleDriver(join(folder, 'current_driver')), 'haltpoll');
    assert.equal(cpuidleDriver(join(folder, 'missing')), undefined);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
