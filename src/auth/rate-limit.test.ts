// The site-wide limiter (spec §9, checklist 39-41) and the request counter, on MemoryCache with
// a fake clock, and on Redis (real time, a fresh key prefix) when CORTADO_TEST_REDIS_URL is set.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryCache } from '../cache/memory/memory-cache.ts';
import { RedisCache } from '../cache/redis/redis-cache.ts';
import type { Cache } from '../cache/types.ts';
import { FrappeError } from '../core/errors.ts';
import { createRequestLimiter, createSiteRateLimiter, limitedError, type RateLimitConfig, type SiteRateLimiter } from './rate-limit.ts';

interface Harness {
  cache: Cache;
  now: () => number;
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

function site(h: Harness, config: RateLimitConfig): SiteRateLimiter {
  const limiter = createSiteRateLimiter(h.cache, config, h.now);
  assert.ok(limiter);
  return limiter;
}

async function rejection(promise: Promise<unknown>): Promise<FrappeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FrappeError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

function runRateLimitSuite(name: string, open: () => Promise<Harness>): void {
  const withHarness = (fn: (h: Harness) => Promise<void>) => async () => {
    const h = await open();
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };

  describe(`site rate limiter (${name})`, () => {
    it('checklist 39 (test_respond_over_limit): 429 TooManyRequestsError with Retry-After and X-RateLimit-* headers', withHarness(async (h) => {
      const limiter = site(h, { limit: 1, window: 86400 });
      await limiter.record(1000.5);
      const error = await rejection(limiter.check());
      assert.equal(error.excType, 'TooManyRequestsError');
      assert.equal(error.status, 429);
      const headers = error.headers;
      assert.ok(Number(headers['Retry-After']) >= 1 && Number(headers['Retry-After']) <= 86400);
      assert.equal(headers['Retry-After'], headers['X-RateLimit-Reset']);
      assert.ok(Number(headers['X-RateLimit-Reset']) <= 86400);
      assert.equal(headers['X-RateLimit-Limit'], '1000000');
      assert.equal(headers['X-RateLimit-Remaining'], '0');
      assert.equal(headers['X-RateLimit-Used'], undefined);
    }));

    it('checklist 40 (test_headers_under_limit): no Retry-After, remaining = limit before any time is spent', withHarness(async (h) => {
      const limiter = site(h, { limit: 0.01, window: 86400 });
      const state = await limiter.check();
      await limiter.record(3, state);
      const headers = limiter.headers(state);
      assert.equal(headers['Retry-After'], undefined);
      assert.equal(headers['X-RateLimit-Limit'], '10000');
      assert.equal(headers['X-RateLimit-Remaining'], '10000');
      assert.ok(Number(headers['X-RateLimit-Reset']) <= 86400);
      // The next request sees the time spent.
      assert.equal(limiter.headers(await limiter.check())['X-RateLimit-Remaining'], '7000');
    }));

    it('checklist 41 (test_reject_over_limit, test_do_not_reject_under_limit): over rejects, at or under does not', withHarness(async (h) => {
      await site(h, { limit: 0.01, window: 86400 }).record(10.001);
      await rejection(site(h, { limit: 0.01, window: 86400 }).check());
      const under = await site(h, { limit: 0.02, window: 86400 }).check();
      assert.deepEqual([under.used, under.remaining, under.rejected], [10001, 9999, false]);
      const h2 = await open();
      try {
        // Exactly the limit is not over it (Frappe: counter > limit).
        await site(h2, { limit: 0.01, window: 86400 }).record(10);
        assert.equal((await site(h2, { limit: 0.01, window: 86400 }).check()).remaining, 0);
      } finally {
        await h2.close();
      }
    }));

    it('checklist 41 (test_window_expires): a new window starts from zero', withHarness(async (h) => {
      const limiter = site(h, { limit: 1, window: 1 });
      // On a real clock, start early in a second so that record and check share the window.
      const into = h.now() % 1000;
      if (into > 700) await h.advance(1010 - into);
      await limiter.record(5000);
      await rejection(limiter.check());
      await h.advance(1100);
      const state = await limiter.check();
      assert.deepEqual([state.used, state.remaining, state.reset], [0, 1_000_000, 1]);
    }));

    it('is shared by the site: time recorded by one node counts on another', withHarness(async (h) => {
      const [a, b] = [site(h, { limit: 1, window: 86400 }), site(h, { limit: 1, window: 86400 })];
      await a.record(600);
      await b.record(600);
      await rejection(a.check());
      await rejection(b.check());
    }));

    it('loses no time under 50 concurrent records', withHarness(async (h) => {
      const limiter = site(h, { limit: 1, window: 86400 });
      await Promise.all(Array.from({ length: 50 }, () => limiter.record(1.234)));
      assert.equal((await limiter.check()).used, 50 * 1234);
    }));
  });

  describe(`request limiter (${name})`, () => {
    it('allows `limit` hits per window, refuses the next, and starts afresh when the window ends', withHarness(async (h) => {
      const limiter = createRequestLimiter(h.cache);
      const rule = { limit: 2, seconds: 1 };
      assert.deepEqual(await limiter.hit('reset_password', '198.51.100.1', rule), { allowed: true, remaining: 1, resetIn: 1 });
      assert.equal((await limiter.hit('reset_password', '198.51.100.1', rule)).allowed, true);
      const refused = await limiter.hit('reset_password', '198.51.100.1', rule);
      assert.deepEqual([refused.allowed, refused.remaining], [false, 0]);
      assert.equal(refused.resetIn, 1);
      await h.advance(1100);
      assert.deepEqual(await limiter.hit('reset_password', '198.51.100.1', rule), { allowed: true, remaining: 1, resetIn: 1 });
    }));

    it('keys and scopes are independent, even when a key contains ":"', withHarness(async (h) => {
      const limiter = createRequestLimiter(h.cache);
      const rule = { limit: 1, seconds: 60 };
      assert.equal((await limiter.hit('login_via_key', '2001:db8::1', rule)).allowed, true);
      assert.equal((await limiter.hit('login_via_key', '2001:db8::1', rule)).allowed, false);
      assert.equal((await limiter.hit('login_via_key', '2001:db8::2', rule)).allowed, true);
      assert.equal((await limiter.hit('reset_password', '2001:db8::1', rule)).allowed, true);
      // "a:b" + "c" must not share a counter with "a" + "b:c".
      assert.equal((await limiter.hit('a:b', 'c', rule)).allowed, true);
      assert.equal((await limiter.hit('a', 'b:c', rule)).allowed, true);
    }));

    it('of 50 concurrent hits with limit 10, exactly 10 are allowed', withHarness(async (h) => {
      const limiter = createRequestLimiter(h.cache);
      const results = await Promise.all(Array.from({ length: 50 }, () => limiter.hit('signup', 'k', { limit: 10, seconds: 60 })));
      assert.equal(results.filter((r) => r.allowed).length, 10);
    }));
  });
}

runRateLimitSuite('memory', async () => {
  let clock = Date.parse('2024-01-01T00:00:00Z');
  const cache = new MemoryCache({ now: () => clock, sweepIntervalMs: 0 });
  return {
    cache,
    now: () => clock,
    advance: async (ms) => {
      clock += ms;
    },
    close: () => cache.close(),
  };
});

const redisUrl = process.env.CORTADO_TEST_REDIS_URL;
if (redisUrl) {
  runRateLimitSuite('redis', async () => {
    // Every key written has a TTL, so nothing is left behind under the random prefix.
    const cache = new RedisCache({ url: redisUrl, keyPrefix: `cortado-test:${randomBytes(6).toString('hex')}:` });
    return { cache, now: Date.now, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), close: () => cache.close() };
  });
} else {
  it('rate limits (redis)', { skip: 'CORTADO_TEST_REDIS_URL is not set: Redis tests skipped' }, () => {});
}

describe('site rate limiter, memory only', () => {
  it('is absent when the site has no rate_limit', () => {
    assert.equal(createSiteRateLimiter(new MemoryCache({ sweepIntervalMs: 0 }), undefined), undefined);
  });

  it('X-RateLimit-Reset counts down to the aligned window end, and the counters expire with the window', async () => {
    let clock = Date.parse('2024-01-01T00:00:00Z') + 25_000;
    const cache = new MemoryCache({ now: () => clock, sweepIntervalMs: 0 });
    const limiter = createSiteRateLimiter(cache, { limit: 1, window: 60 }, () => clock);
    assert.ok(limiter);
    assert.equal((await limiter.check()).reset, 35);
    await limiter.record(1.5);
    const windowNumber = Math.floor(clock / 1000 / 60);
    assert.equal(await cache.get(`rate_limit:site:60:${windowNumber}:b2`), '1');
    clock += 60_000;
    for (let bit = 0; bit < 21; bit++) assert.equal(await cache.get(`rate_limit:site:60:${windowNumber}:b${bit}`), undefined);
  });

  it('a huge duration is capped just over the limit: refused, remaining 0', async () => {
    const cache = new MemoryCache({ sweepIntervalMs: 0 });
    const limiter = createSiteRateLimiter(cache, { limit: 1, window: 86400 });
    assert.ok(limiter);
    await limiter.record(1e12);
    const error = await rejection(limiter.check());
    assert.equal(error.headers['X-RateLimit-Remaining'], '0');
  });

  it('the usage is the exact sum of the recorded durations (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.double({ min: 0, max: 400, noNaN: true }), { maxLength: 30 }), async (durations) => {
        const cache = new MemoryCache({ sweepIntervalMs: 0 });
        const limiter = createSiteRateLimiter(cache, { limit: 3600, window: 86400 }, () => 0);
        assert.ok(limiter);
        await Promise.all(durations.map((ms) => limiter.record(ms)));
        const expected = durations.reduce((sum, ms) => sum + Math.round(ms * 1000), 0);
        assert.equal((await limiter.check()).used, expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('limitedError', () => {
  it('is Frappe\'s RateLimitExceededError message, answered 429 with Retry-After', () => {
    const error = limitedError(3599.2);
    assert.equal(error.excType, 'RateLimitExceededError');
    assert.equal(error.status, 429);
    assert.equal(error.message, 'You hit the rate limit because of too many requests. Please try after sometime.');
    assert.deepEqual(error.headers, { 'Retry-After': '3600' });
  });
});
