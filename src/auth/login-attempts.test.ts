// Lockout semantics (spec §5.2, checklist 9-12) on MemoryCache with a fake clock, and on Redis
// (real time, a fresh key prefix per test) when CORTADO_TEST_REDIS_URL is set.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryCache } from '../cache/memory/memory-cache.ts';
import { RedisCache } from '../cache/redis/redis-cache.ts';
import type { Cache } from '../cache/types.ts';
import { FrappeError } from '../core/errors.ts';
import { attemptKey, createLoginAttempts, lockedError, type LoginAttempts } from './login-attempts.ts';

interface Harness {
  cache: Cache;
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

const settings = (max: number, interval: number) => ({ allow_consecutive_login_attempts: max, allow_login_after_fail: interval });

/**
 * One login attempt in Frappe's order (auth.py `authenticate`): lock checks for the IP and the
 * user first, and only then is the password result acted on.
 */
async function attempt(tracker: LoginAttempts, ok: boolean, s: ReturnType<typeof settings>, user = 'test@example.com', ip = '203.0.113.9') {
  for (const [kind, key] of [['ip', ip], ['user', user]] as const) {
    const state = await tracker.isLocked(kind, key, s);
    if (state.locked) return 'SecurityException';
  }
  if (!ok) {
    await tracker.recordFailure('ip', ip, s);
    await tracker.recordFailure('user', user, s);
    return 'AuthenticationError';
  }
  await tracker.reset('ip', ip);
  await tracker.reset('user', user);
  return 'ok';
}

function runLockoutSuite(name: string, open: () => Promise<Harness>): void {
  describe(`login attempts (${name})`, () => {
    const withTracker = (fn: (tracker: LoginAttempts, h: Harness) => Promise<void>) => async () => {
      const h = await open();
      try {
        await fn(createLoginAttempts(h.cache), h);
      } finally {
        await h.close();
      }
    };

    it('checklist 9 (test_account_lock): max 3, allowed after 3 failures, locked after the 4th', withTracker(async (t) => {
      const s = settings(3, 60);
      for (let i = 0; i < 3; i++) await t.recordFailure('user', 'u@example.com', s);
      assert.equal((await t.isLocked('user', 'u@example.com', s)).locked, false);
      await t.recordFailure('user', 'u@example.com', s);
      const state = await t.isLocked('user', 'u@example.com', s);
      assert.equal(state.locked, true);
      assert.ok(state.retryAfter > 0 && state.retryAfter <= 60, String(state.retryAfter));
    }));

    it('checklist 10 (test_account_unlock): max 1, 2 s, locked after 2 failures; after 2 s a failure leaves the user allowed', withTracker(async (t, h) => {
      const s = settings(1, 2);
      await t.recordFailure('user', 'u@example.com', s);
      await t.recordFailure('user', 'u@example.com', s);
      assert.equal((await t.isLocked('user', 'u@example.com', s)).locked, true);
      await h.advance(2050);
      assert.equal(await t.recordFailure('user', 'u@example.com', s), 1);
      assert.deepEqual(await t.isLocked('user', 'u@example.com', s), { locked: false, retryAfter: 0, failures: 1 });
    }));

    it('checklist 11 (test_brute_security): max 3, 5 s, 4 failures then a lock even for the right password, then normal again', withTracker(async (t, h) => {
      const s = settings(3, 5);
      for (let i = 0; i < 4; i++) assert.equal(await attempt(t, false, s), 'AuthenticationError');
      assert.equal(await attempt(t, true, s), 'SecurityException');
      assert.equal(await attempt(t, false, s), 'SecurityException');
      await h.advance(5050);
      assert.equal(await attempt(t, false, s), 'AuthenticationError');
      assert.equal(await attempt(t, true, s), 'ok');
    }));

    it('checklist 12 (test_otp_attempt_tracker): max 2, three wrong OTPs refused, the fourth locked; reset lets a right OTP pass', withTracker(async (t) => {
      const s = settings(2, 60);
      for (let i = 0; i < 3; i++) assert.equal(await attempt(t, false, s), 'AuthenticationError');
      assert.equal(await attempt(t, true, s), 'SecurityException');
      await t.reset('user', 'test@example.com');
      await t.reset('ip', '203.0.113.9');
      assert.equal(await attempt(t, true, s), 'ok');
    }));

    it('the window runs from the first failure: later failures do not extend it', withTracker(async (t, h) => {
      const s = settings(1, 3);
      await t.recordFailure('user', 'u', s);
      await h.advance(1500);
      await t.recordFailure('user', 'u', s);
      const state = await t.isLocked('user', 'u', s);
      assert.equal(state.locked, true);
      assert.ok(state.retryAfter >= 1 && state.retryAfter <= 2, String(state.retryAfter));
      await h.advance(1600);
      assert.equal((await t.isLocked('user', 'u', s)).locked, false);
      assert.equal(await t.recordFailure('user', 'u', s), 1);
    }));

    it('users and IPs are tracked independently; an unknown user counts against the IP only', withTracker(async (t) => {
      const s = settings(1, 60);
      await t.recordFailure('ip', '198.51.100.1', s);
      await t.recordFailure('ip', '198.51.100.1', s);
      assert.equal((await t.isLocked('ip', '198.51.100.1', s)).locked, true);
      assert.equal((await t.isLocked('ip', '198.51.100.2', s)).locked, false);
      assert.equal((await t.isLocked('user', '198.51.100.1', s)).locked, false);
    }));

    it('an IPv4-mapped address shares the IPv4 counter, and IPv6 clients are counted per /64', withTracker(async (t) => {
      const s = settings(1, 60);
      await t.recordFailure('ip', '::ffff:198.51.100.1', s);
      await t.recordFailure('ip', '198.51.100.1', s);
      assert.equal((await t.isLocked('ip', '198.51.100.1', s)).locked, true);
      await t.recordFailure('ip', '2001:db8:1:2::1', s);
      await t.recordFailure('ip', '2001:db8:1:2:ffff::9', s);
      assert.equal((await t.isLocked('ip', '2001:db8:1:2:abcd::1', s)).locked, true);
      assert.equal((await t.isLocked('ip', '2001:db8:1:3::1', s)).locked, false);
    }));

    it('tracking is off when allow_consecutive_login_attempts <= 0 (or the interval is not positive)', withTracker(async (t, h) => {
      for (const s of [settings(0, 60), settings(-1, 60), settings(3, 0)]) {
        for (let i = 0; i < 10; i++) assert.equal(await t.recordFailure('user', 'u', s), 0);
        assert.deepEqual(await t.isLocked('user', 'u', s), { locked: false, retryAfter: 0, failures: 0 });
        assert.equal(await h.cache.get(attemptKey('user', 'u')), undefined);
      }
    }));

    it('lockedNow answers as isLocked does when it answers at all, and leaves a lockout to isLocked', withTracker(async (t, h) => {
      const s = settings(2, 60);
      const now = () => t.lockedNow('user', 'now@example.com', s);
      const later = () => t.isLocked('user', 'now@example.com', s);
      // A cache in this process answers at once; one behind a server never does.
      const local = h.cache.getLocal !== undefined;
      assert.deepEqual(now(), local ? await later() : undefined);
      await t.recordFailure('user', 'now@example.com', s);
      await t.recordFailure('user', 'now@example.com', s);
      assert.deepEqual(now(), local ? { locked: false, retryAfter: 0, failures: 2 } : undefined);
      assert.deepEqual(now(), local ? await later() : undefined);
      await t.recordFailure('user', 'now@example.com', s);
      assert.equal(now(), undefined);
      assert.equal((await later()).locked, true);
      // Tracking off: nothing to look up, on any cache.
      assert.deepEqual(t.lockedNow('user', 'now@example.com', settings(0, 60)), { locked: false, retryAfter: 0, failures: 0 });
    }));

    it('user names are case-insensitive', withTracker(async (t) => {
      const s = settings(1, 60);
      await t.recordFailure('user', 'Admin@Example.com', s);
      await t.recordFailure('user', 'admin@example.com', s);
      assert.equal((await t.isLocked('user', 'ADMIN@example.com', s)).locked, true);
    }));

    it('50 concurrent failures (e.g. from several nodes) count 50', withTracker(async (t, h) => {
      const s = settings(49, 60);
      const counts = await Promise.all(Array.from({ length: 50 }, () => t.recordFailure('user', 'u', s)));
      assert.deepEqual([...counts].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
      assert.equal(await h.cache.get(attemptKey('user', 'u')), '50');
      assert.equal((await t.isLocked('user', 'u', s)).locked, true);
      assert.equal((await t.isLocked('user', 'u', settings(50, 60))).locked, false);
    }));
  });
}

runLockoutSuite('memory', async () => {
  let clock = Date.parse('2024-01-01T00:00:00Z');
  const cache = new MemoryCache({ now: () => clock, sweepIntervalMs: 0 });
  return {
    cache,
    advance: async (ms) => {
      clock += ms;
    },
    close: () => cache.close(),
  };
});

const redisUrl = process.env.CORTADO_TEST_REDIS_URL;
if (redisUrl) {
  runLockoutSuite('redis', async () => {
    // Every key written has a TTL, so nothing is left behind under the random prefix.
    const cache = new RedisCache({ url: redisUrl, keyPrefix: `cortado-test:${randomBytes(6).toString('hex')}:` });
    return { cache, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), close: () => cache.close() };
  });
} else {
  it('login attempts (redis)', { skip: 'CORTADO_TEST_REDIS_URL is not set: Redis tests skipped' }, () => {});
}

describe('lockedError', () => {
  it('is Frappe\'s SecurityException and message, answered 429 with the time left in Retry-After', () => {
    const error = lockedError(42, 60);
    assert.ok(error instanceof FrappeError);
    assert.equal(error.excType, 'SecurityException');
    assert.equal(error.status, 429);
    assert.equal(error.message, 'Your account has been locked and will resume after 60 seconds');
    assert.deepEqual(error.headers, { 'Retry-After': '42' });
    assert.equal(lockedError(0.2, 60).headers['Retry-After'], '1');
  });
});
