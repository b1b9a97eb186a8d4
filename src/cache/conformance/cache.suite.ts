/**
 * The cache conformance suite: every Cache adapter must pass it unchanged. Each test opens a
 * fresh, empty cache through `open()`; `advance(ms)` moves the cache's time forward (a fake
 * clock for the memory adapter, a real wait for Redis); `cleanup()` must cope with a cache the
 * test has already closed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CacheClosed, type Cache } from '../types.ts';

export interface OpenedCache {
  cache: Cache;
  advance: (ms: number) => Promise<void>;
  cleanup: () => Promise<void>;
}

const TIMEOUT = 30_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Collects the messages a subscriber receives and lets a test wait for the n-th one. */
function collector() {
  const messages: string[] = [];
  let waiters: Array<() => void> = [];
  return {
    messages,
    handler: (message: string) => {
      messages.push(message);
      const ready = waiters;
      waiters = [];
      for (const wake of ready) wake();
    },
    async waitFor(count: number, ms = 3000): Promise<string[]> {
      const deadline = Date.now() + ms;
      while (messages.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} message(s), got ${JSON.stringify(messages)}`);
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), sleep(left)]);
      }
      return messages;
    },
  };
}

export function runCacheConformance(name: string, open: () => Promise<OpenedCache>): void {
  const it = (title: string, fn: (opened: OpenedCache) => Promise<void>) =>
    test(title, { timeout: TIMEOUT }, async () => {
      const opened = await open();
      try {
        await fn(opened);
      } finally {
        await opened.cleanup();
      }
    });

  describe(`cache conformance: ${name}`, () => {
    describe('values', () => {
      it('get answers undefined for a missing key; set then get round-trips the value', async ({ cache }) => {
        assert.equal(await cache.get('missing'), undefined);
        await cache.set('k', 'v');
        assert.equal(await cache.get('k'), 'v');
        await cache.set('k', 'replaced');
        assert.equal(await cache.get('k'), 'replaced');
      });

      it('keeps any string intact: empty, unicode, JSON, long, and keys with odd characters', async ({ cache }) => {
        const values = ['', 'héllo wörld — 日本語 🎉', '{"a":[1,2,{"b":null}]}', 'line\nbreak\ttab\r\0nul', 'x'.repeat(100_000)];
        for (const [index, value] of values.entries()) {
          await cache.set(`key ${index}: ünïcödé/🎉`, value);
        }
        for (const [index, value] of values.entries()) {
          assert.equal(await cache.get(`key ${index}: ünïcödé/🎉`), value);
        }
      });

      it('delete removes the key and says whether it existed', async ({ cache }) => {
        await cache.set('k', 'v');
        assert.equal(await cache.delete('k'), true);
        assert.equal(await cache.get('k'), undefined);
        assert.equal(await cache.delete('k'), false);
      });

      it('getAndDelete returns the value once', async ({ cache }) => {
        await cache.set('code', 'secret');
        assert.equal(await cache.getAndDelete('code'), 'secret');
        assert.equal(await cache.getAndDelete('code'), undefined);
        assert.equal(await cache.get('code'), undefined);
      });

      it('getAndDelete is atomic: of concurrent callers exactly one gets the value', async ({ cache }) => {
        await cache.set('code', 'once');
        const results = await Promise.all(Array.from({ length: 25 }, () => cache.getAndDelete('code')));
        assert.deepEqual(
          results.filter((r) => r !== undefined),
          ['once'],
        );
      });

      it('getLocal, on adapters that have it, answers as get does: values, missing and expired keys, counters, a closed cache', async ({ cache, advance }) => {
        const getLocal = cache.getLocal;
        // Adapters that must ask a server leave it out; callers then take the promise.
        if (getLocal === undefined) return;
        assert.equal(getLocal('missing'), undefined);
        await cache.set('k', 'v');
        await cache.set('short', 'lived', 1);
        await cache.increment('n');
        for (const key of ['k', 'short', 'n', 'missing']) assert.equal(getLocal(key), await cache.get(key), key);
        await advance(1100);
        assert.equal(getLocal('short'), undefined);
        assert.equal(getLocal('k'), 'v');
        await cache.close();
        assert.throws(() => getLocal('k'), CacheClosed);
      });
    });

    describe('expiry', () => {
      it('a value set with a TTL expires; ttl() reports the remaining whole seconds', async ({ cache, advance }) => {
        await cache.set('session', 'data', 2);
        const ttl = await cache.ttl('session');
        assert.ok(ttl === 1 || ttl === 2, `ttl ${ttl}`);
        await advance(2100);
        assert.equal(await cache.get('session'), undefined);
        assert.equal(await cache.ttl('session'), undefined);
        assert.equal(await cache.getAndDelete('session'), undefined);
      });

      it('ttl() is undefined for a missing key and for a key without TTL; set without TTL clears one', async ({ cache }) => {
        assert.equal(await cache.ttl('missing'), undefined);
        await cache.set('k', 'v');
        assert.equal(await cache.ttl('k'), undefined);
        await cache.set('k', 'v', 100);
        assert.ok(((await cache.ttl('k')) ?? 0) > 98);
        await cache.set('k', 'v2');
        assert.equal(await cache.ttl('k'), undefined);
      });

      it('expire() sets a TTL on an existing key and answers false for a missing one', async ({ cache, advance }) => {
        assert.equal(await cache.expire('missing', 10), false);
        await cache.set('k', 'v');
        assert.equal(await cache.expire('k', 1), true);
        const ttl = await cache.ttl('k');
        assert.equal(ttl, 1);
        await advance(1100);
        assert.equal(await cache.get('k'), undefined);
        assert.equal(await cache.expire('k', 10), false);
      });

      it('expire() can extend a TTL', async ({ cache, advance }) => {
        await cache.set('k', 'v', 1);
        assert.equal(await cache.expire('k', 100), true);
        await advance(1100);
        assert.equal(await cache.get('k'), 'v');
        assert.ok(((await cache.ttl('k')) ?? 0) > 90);
      });

      it('a TTL that is not a positive number is refused', async ({ cache }) => {
        for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          await assert.rejects(async () => cache.set('k', 'v', bad), RangeError, String(bad));
          await assert.rejects(async () => cache.increment('n', bad), RangeError, String(bad));
          await assert.rejects(async () => cache.expire('k', bad), RangeError, String(bad));
        }
        assert.equal(await cache.get('k'), undefined);
        assert.equal(await cache.get('n'), undefined);
      });
    });

    describe('counters', () => {
      it('increment counts from 1 and get reads the count as a string', async ({ cache }) => {
        assert.equal(await cache.increment('hits'), 1);
        assert.equal(await cache.increment('hits'), 2);
        assert.equal(await cache.increment('hits'), 3);
        assert.equal(await cache.get('hits'), '3');
        await cache.set('preset', '41');
        assert.equal(await cache.increment('preset'), 42);
        await cache.set('negative', '-2');
        assert.equal(await cache.increment('negative'), -1);
      });

      it('increment is atomic under concurrency', async ({ cache }) => {
        const results = await Promise.all(Array.from({ length: 50 }, () => cache.increment('hits', 60)));
        assert.deepEqual(
          [...results].sort((a, b) => a - b),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.equal(await cache.get('hits'), '50');
      });

      it('the TTL of increment applies when the key is created and does not slide', async ({ cache, advance }) => {
        assert.equal(await cache.increment('window', 2), 1);
        await advance(1100);
        assert.equal(await cache.increment('window', 60), 2);
        assert.equal(await cache.ttl('window'), 1);
        await advance(1000);
        assert.equal(await cache.get('window'), undefined);
        // A new window starts from 1 with a new TTL.
        assert.equal(await cache.increment('window', 60), 1);
        assert.ok(((await cache.ttl('window')) ?? 0) > 50);
        // Without a TTL the counter never expires.
        assert.equal(await cache.increment('forever'), 1);
        assert.equal(await cache.ttl('forever'), undefined);
      });

      it('increment on a value that is not an integer rejects and leaves the value', async ({ cache }) => {
        for (const value of ['abc', '1.5', '', ' 1']) {
          await cache.set('text', value);
          await assert.rejects(async () => cache.increment('text'), JSON.stringify(value));
          assert.equal(await cache.get('text'), value);
        }
      });
    });

    describe('pub/sub', () => {
      it('a subscriber receives messages published on its channel, in order', async ({ cache }) => {
        const received = collector();
        const unsubscribe = await cache.subscribe('invalidate', received.handler);
        for (const message of ['one', 'two', 'three: ünïcödé', '']) await cache.publish('invalidate', message);
        assert.deepEqual(await received.waitFor(4), ['one', 'two', 'three: ünïcödé', '']);
        await unsubscribe();
      });

      it('every subscriber of a channel receives; other channels do not', async ({ cache }) => {
        const first = collector();
        const second = collector();
        const other = collector();
        const stops = [
          await cache.subscribe('a', first.handler),
          await cache.subscribe('a', second.handler),
          await cache.subscribe('b', other.handler),
        ];
        await cache.publish('a', 'for a');
        await cache.publish('nobody', 'lost');
        await cache.publish('b', 'for b');
        assert.deepEqual(await first.waitFor(1), ['for a']);
        assert.deepEqual(await second.waitFor(1), ['for a']);
        assert.deepEqual(await other.waitFor(1), ['for b']);
        for (const stop of stops) await stop();
      });

      it('after unsubscribing a handler receives nothing; others on the channel still do', async ({ cache }) => {
        const stopped = collector();
        const kept = collector();
        const stop = await cache.subscribe('c', stopped.handler);
        const keep = await cache.subscribe('c', kept.handler);
        await cache.publish('c', 'first');
        await stopped.waitFor(1);
        await kept.waitFor(1);
        await stop();
        await stop(); // harmless twice
        await cache.publish('c', 'second');
        await kept.waitFor(2);
        await sleep(50);
        assert.deepEqual(stopped.messages, ['first']);
        await keep();
        await cache.publish('c', 'third');
        await sleep(100);
        assert.deepEqual(kept.messages, ['first', 'second']);
        // Subscribing again after the channel emptied works.
        const again = collector();
        const stopAgain = await cache.subscribe('c', again.handler);
        await cache.publish('c', 'fourth');
        assert.deepEqual(await again.waitFor(1), ['fourth']);
        await stopAgain();
      });

      it('the same handler subscribed twice is called twice and unsubscribed one at a time', async ({ cache }) => {
        const received = collector();
        const first = await cache.subscribe('d', received.handler);
        const second = await cache.subscribe('d', received.handler);
        await cache.publish('d', 'x');
        assert.deepEqual(await received.waitFor(2), ['x', 'x']);
        await first();
        await cache.publish('d', 'y');
        assert.deepEqual(await received.waitFor(3), ['x', 'x', 'y']);
        await second();
      });

      it('a handler that throws does not stop delivery to the others', async ({ cache }) => {
        const received = collector();
        const stops = [
          await cache.subscribe('e', () => {
            throw new Error('handler failure (expected in this test)');
          }),
          await cache.subscribe('e', received.handler),
        ];
        await cache.publish('e', 'one');
        await cache.publish('e', 'two');
        assert.deepEqual(await received.waitFor(2), ['one', 'two']);
        for (const stop of stops) await stop();
      });
    });

    describe('lifecycle', () => {
      it('ping() answers true', async ({ cache }) => {
        assert.equal(await cache.ping(), true);
      });

      it('after close() the cache rejects work and ping() answers false', async ({ cache }) => {
        await cache.set('k', 'v');
        await cache.close();
        // For good: CacheClosed tells callers not to retry.
        await assert.rejects(async () => cache.get('k'), CacheClosed);
        await assert.rejects(async () => cache.set('k', 'v'));
        await assert.rejects(async () => cache.increment('n'));
        await assert.rejects(async () => cache.publish('c', 'm'));
        await assert.rejects(async () => cache.subscribe('c', () => {}));
        assert.equal(await cache.ping(), false);
      });
    });
  });
}
