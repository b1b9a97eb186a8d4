import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { eventLoopBusy } from './event-loop-busy.ts';

/** Keeps the event loop running JavaScript for `ms`. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('busy after the loop ran without pause, idle after it waited, each call a new period', async () => {
  const busy = eventLoopBusy(0.5);
  spin(150);
  assert.equal(busy(), true);
  await sleep(150);
  assert.equal(busy(), false);
  spin(150);
  assert.equal(busy(), true, 'the idle period before does not count');
});

test('the threshold is a share between 0 and 1', () => {
  assert.throws(() => eventLoopBusy(1.5), RangeError);
  assert.throws(() => eventLoopBusy(Number.NaN), RangeError);
  assert.equal(eventLoopBusy(0)(), true);
});
