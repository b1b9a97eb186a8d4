/**
 * Frappe's LoginAttemptTracker (auth.py) on the cache port: one counter per user name and one
 * per client IP. Frappe keeps the first-failure time and the count in two hashes and rewrites
 * them (read-modify-write, so two workers counting at once lose failures); here each tracker is
 * one counter created with the window as its TTL and bumped with an atomic increment, which
 * gives the same semantics on any number of nodes:
 * - the window opens at the FIRST failure and lasts `allow_login_after_fail` seconds (the TTL
 *   is set only when the increment creates the key, so later failures do not extend it);
 * - locked while the window is open and the count exceeds `allow_consecutive_login_attempts`;
 * - once the window has passed the key is gone, and the next failure counts from 1 again.
 */
import type { Cache } from '../cache/types.ts';
import { frappeError, type FrappeError } from '../core/errors.ts';
import type { SystemSettings } from '../doctype/system-settings.ts';
import { parseIp } from './client-ip.ts';

export type AttemptKind = 'user' | 'ip';

export type LockoutSettings = Pick<SystemSettings, 'allow_consecutive_login_attempts' | 'allow_login_after_fail'>;

export interface LockState {
  locked: boolean;
  /** Whole seconds until the window closes; 0 when not locked. */
  retryAfter: number;
  /** Failures counted in the current window (0 when none or when tracking is off). */
  failures?: number;
}

export interface LoginAttempts {
  /** Whether this user name or IP is locked out now. Check before acting on the password. */
  isLocked(kind: AttemptKind, key: string, settings: LockoutSettings): Promise<LockState>;
  /**
   * The same answer without a promise when it can be given at once: tracking is off, or the
   * cache is in this process and the count is within the limit. Undefined otherwise (ask
   * `isLocked`). Every request made with an API key asks twice.
   */
  lockedNow(kind: AttemptKind, key: string, settings: LockoutSettings): LockState | undefined;
  /** Counts one failure; returns the count in the current window (0 when tracking is off). */
  recordFailure(kind: AttemptKind, key: string, settings: LockoutSettings): Promise<number>;
  /** Forgets the failures, as Frappe does after a successful login. */
  reset(kind: AttemptKind, key: string): Promise<void>;
}

/** Frappe tracks only when both are positive; a zero interval never locks in Frappe either. */
function limits(settings: LockoutSettings): { max: number; interval: number } | undefined {
  const max = Number(settings.allow_consecutive_login_attempts);
  const interval = Number(settings.allow_login_after_fail);
  if (!(max > 0) || !(interval > 0) || !Number.isFinite(interval)) return undefined;
  return { max, interval };
}

/** Counter keys of client IPs already seen (bounded). */
const ipKeys = new Map<string, string>();

/**
 * The cache key. IPs are canonicalised so `::ffff:1.2.3.4` and `1.2.3.4` share a counter, and an
 * IPv6 client is counted per /64, the block a single subscriber is usually given: otherwise it
 * could take a fresh address for every guess. User names are compared case-insensitively, as
 * Frappe's database does.
 */
export function attemptKey(kind: AttemptKind, key: string): string {
  if (kind === 'user') return `login_failed:user:${key.trim().toLowerCase()}`;
  // Asked on every request made with an API key: each distinct IP is parsed once.
  let known = ipKeys.get(key);
  if (known === undefined) {
    known = ipAttemptKey(key);
    if (ipKeys.size >= 4096) ipKeys.clear();
    ipKeys.set(key, known);
  }
  return known;
}

function ipAttemptKey(key: string): string {
  const address = parseIp(key);
  if (address === undefined) return `login_failed:ip:${key.trim()}`;
  if (address.kind() === 'ipv4') return `login_failed:ip:${address.toString()}`;
  const parts = address.toByteArray().slice(0, 8);
  const hex = (i: number) => (((parts[i] ?? 0) << 8) | (parts[i + 1] ?? 0)).toString(16);
  return `login_failed:ip:${hex(0)}:${hex(2)}:${hex(4)}:${hex(6)}::/64`;
}

const NOT_TRACKED: LockState = Object.freeze({ locked: false, retryAfter: 0, failures: 0 });

/** The failures a stored counter stands for; a value that is not a count is still something to reset. */
function failuresOf(stored: string | undefined): number {
  if (stored === undefined) return 0;
  const count = Number(stored);
  return Number.isFinite(count) && count > 0 ? count : 1;
}

export function createLoginAttempts(cache: Cache): LoginAttempts {
  const getLocal = cache.getLocal;
  return {
    lockedNow(kind, key, settings) {
      const limit = limits(settings);
      if (limit === undefined) return NOT_TRACKED;
      if (getLocal === undefined) return undefined;
      const stored = getLocal(attemptKey(kind, key));
      // Over the limit the answer needs the window's TTL: `isLocked` reads it.
      if (Number(stored ?? 0) > limit.max) return undefined;
      return stored === undefined ? NOT_TRACKED : { locked: false, retryAfter: 0, failures: failuresOf(stored) };
    },

    async isLocked(kind, key, settings) {
      const limit = limits(settings);
      if (limit === undefined) return NOT_TRACKED;
      const cacheKey = attemptKey(kind, key);
      const stored = await cache.get(cacheKey);
      const count = Number(stored ?? 0);
      const failures = failuresOf(stored);
      if (!(count > limit.max)) return { locked: false, retryAfter: 0, failures };
      // The TTL is the rest of the window; undefined means it closed since the read.
      const left = await cache.ttl(cacheKey);
      return left === undefined || left <= 0 ? { locked: false, retryAfter: 0, failures } : { locked: true, retryAfter: left, failures };
    },

    async recordFailure(kind, key, settings) {
      const limit = limits(settings);
      if (limit === undefined) return 0;
      return cache.increment(attemptKey(kind, key), limit.interval);
    },

    async reset(kind, key) {
      await cache.delete(attemptKey(kind, key));
    },
  };
}

/**
 * Frappe's lockout error and message (which names the configured interval, not the time left),
 * answered with 429 and the real time left in Retry-After (docs/compatibility.md).
 */
export function lockedError(retryAfterSeconds: number, allowLoginAfterFail: number): FrappeError {
  const secondsLeft = Math.max(1, Math.ceil(retryAfterSeconds));
  return frappeError(
    'SecurityException',
    `Your account has been locked and will resume after ${allowLoginAfterFail} seconds`,
    { status: 429, headers: { 'Retry-After': String(secondsLeft) } },
  );
}
