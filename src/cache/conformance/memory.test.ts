// The cache conformance suite on the in-process adapter, with a fake clock.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MemoryCache } from '../memory/memory-cache.ts';
import { runCacheConformance } from './cache.suite.ts';

runCacheConformance('memory', async () => {
  let now = Date.UTC(2024, 0, 1);
  const cache = new MemoryCache({ now: () => now, onHandlerError: () => {} });
  return {
    cache,
    advance: async (ms) => {
      now += ms;
    },
    cleanup: () => cache.close(),
  };
});

test('memory cache: the sweeper drops expired entries without being asked', async () => {
  let now = 0;
  const cache = new MemoryCache({ now: () => now, sweepIntervalMs: 5 });
  try {
    await cache.set('a', '1', 1);
    await cache.set('b', '2');
    now += 1500;
    assert.equal(cache.size, 2);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(cache.size, 1);
    assert.equal(await cache.get('b'), '2');
    assert.equal(await cache.get('a'), undefined);
  } finally {
    await cache.close();
  }
});

test('memory cache: a handler error goes to onHandlerError with the channel', async () => {
  const errors: Array<[unknown, string]> = [];
  const cache = new MemoryCache({ onHandlerError: (error, channel) => errors.push([error, channel]) });
  try {
    const failure = new Error('boom');
    await cache.subscribe('ch', () => {
      throw failure;
    });
    await cache.publish('ch', 'm');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(errors, [[failure, 'ch']]);
  } finally {
    await cache.close();
  }
});

test('memory cache: an unclosed cache does not keep the process alive', () => {
  const module = fileURLToPath(new URL('../memory/memory-cache.ts', import.meta.url));
  const script = `const { MemoryCache } = await import(${JSON.stringify(module)});
    const cache = new MemoryCache({ sweepIntervalMs: 10 });
    await cache.set('k', 'v', 3600);
    await cache.subscribe('c', () => {});`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    timeout: 15_000,
    encoding: 'utf8',
  });
  assert.equal(result.error, undefined, 'the process did not exit by itself');
  assert.equal(result.status, 0, result.stderr);
});
