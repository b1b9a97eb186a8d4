/**
 * Rate limits. (a) Frappe's site-wide limiter (frappe/rate_limiter.py): site config
 * `rate_limit = {limit, window}` grants `limit` seconds of server processing time per `window`
 * seconds to the whole site, counted in microseconds in one counter per window number (windows
 * are aligned to the epoch); a request is refused when the time already spent in its window
 * exceeds the limit. (b) A generic fixed-window request counter, as Frappe's `@rate_limit`
 * decorator, for endpoints such as reset_password.
 */
import type { Cache } from '../cache/types.ts';
import { frappeError, type FrappeError } from '../core/errors.ts';

export interface RateLimitConfig {
  /** Seconds of processing time per window (Frappe allows fractions). */
  limit: number;
  /** Window length in seconds. */
  window: number;
}

export interface RateLimitState {
  /** The window the request started in; its time is counted there. */
  windowNumber: number;
  /** The limit in microseconds, as Frappe reports it. */
  limit: number;
  /** Microseconds already spent in the window when the request arrived. */
  used: number;
  remaining: number;
  /** Whole seconds until the window ends. */
  reset: number;
  rejected: boolean;
}

export interface SiteRateLimiter {
  /** Reads the window's usage; throws TooManyRequestsError (429, with headers) when over. */
  check(): Promise<RateLimitState>;
  /** Adds a request's processing time, to the window it started in when `state` is given. */
  record(durationMs: number, state?: RateLimitState): Promise<void>;
  /** Frappe's X-RateLimit-* headers (and Retry-After when rejected), for every response. */
  headers(state: RateLimitState): Record<string, string>;
}

/**
 * Undefined when the site has no `rate_limit`. The cache port offers only increment-by-one, so
 * a duration is added atomically by bumping one counter per set bit of its microseconds (a
 * counter for 1 µs, 2 µs, 4 µs …) and the usage is the weighted sum: no update is lost between
 * nodes, as Frappe's INCRBY guarantees. A duration is capped just above the limit, which bounds
 * the number of counters (about 20 for one second) without changing any decision or header.
 */
export function createSiteRateLimiter(
  cache: Cache,
  config: RateLimitConfig | undefined,
  now: () => number = Date.now,
): SiteRateLimiter | undefined {
  if (config === undefined) return undefined;
  const { window } = config;
  const limit = Math.trunc(config.limit * 1_000_000);
  if (!(limit > 0) || !Number.isSafeInteger(window) || window <= 0) {
    throw new RangeError(`rate_limit needs a positive limit and a positive whole window, got ${JSON.stringify(config)}`);
  }
  const cap = limit + 1;
  const bits = cap.toString(2).length;
  const key = (windowNumber: number, bit: number) => `rate_limit:site:${window}:${windowNumber}:b${bit}`;

  function headers(state: RateLimitState): Record<string, string> {
    const result: Record<string, string> = {
      'X-RateLimit-Reset': String(state.reset),
      'X-RateLimit-Limit': String(state.limit),
      'X-RateLimit-Remaining': String(state.remaining),
    };
    if (state.rejected) result['Retry-After'] = String(state.reset);
    return result;
  }

  return {
    headers,

    async check() {
      const seconds = Math.floor(now() / 1000);
      const windowNumber = Math.floor(seconds / window);
      const counts = await Promise.all(Array.from({ length: bits }, (_, bit) => cache.get(key(windowNumber, bit))));
      const used = counts.reduce((sum: number, count, bit) => sum + Number(count ?? 0) * 2 ** bit, 0);
      const state: RateLimitState = {
        windowNumber,
        limit,
        used,
        remaining: Math.max(limit - used, 0),
        reset: window - (seconds % window),
        rejected: used > limit,
      };
      if (state.rejected) throw frappeError('TooManyRequestsError', 'Too Many Requests', { status: 429, headers: headers(state) });
      return state;
    },

    async record(durationMs, state) {
      const windowNumber = state?.windowNumber ?? Math.floor(now() / 1000 / window);
      let micros = Math.min(Math.max(Math.round(durationMs * 1000), 0), cap);
      if (!Number.isFinite(micros)) return;
      const pending: Promise<number>[] = [];
      for (let bit = 0; micros > 0; bit++, micros = Math.floor(micros / 2)) {
        if (micros % 2 === 1) pending.push(cache.increment(key(windowNumber, bit), window));
      }
      await Promise.all(pending);
    },
  };
}

export interface RequestLimitRule {
  /** Hits allowed per window; Frappe refuses the hit that takes the count above it. */
  limit: number;
  seconds: number;
}

export interface RequestLimitResult {
  allowed: boolean;
  remaining: number;
  /** Whole seconds until the window ends. */
  resetIn: number;
}

export interface RequestLimiter {
  hit(scope: string, key: string, rule: RequestLimitRule): Promise<RequestLimitResult>;
}

/**
 * Fixed windows that open at a key's first hit and last `seconds` (Frappe's `@rate_limit`,
 * counter `rl:<cmd>:<ip>`). The count is bumped before it is compared, as in Frappe, so refused
 * hits count too and hammering does not buy an earlier reset.
 */
export function createRequestLimiter(cache: Cache): RequestLimiter {
  return {
    async hit(scope, key, rule) {
      // The scope is escaped so that a key containing ':' (IPv6) cannot reach another scope.
      const cacheKey = `rl:${encodeURIComponent(scope)}:${key}`;
      const count = await cache.increment(cacheKey, rule.seconds);
      const fresh = Math.max(1, Math.ceil(rule.seconds));
      const resetIn = count === 1 ? fresh : ((await cache.ttl(cacheKey)) ?? fresh);
      return { allowed: count <= rule.limit, remaining: Math.max(rule.limit - count, 0), resetIn };
    },
  };
}

/** Frappe's RateLimitExceededError, with the 429 its newer tests expect (spec §11.1). */
export function limitedError(resetIn: number): FrappeError {
  return frappeError(
    'RateLimitExceededError',
    'You hit the rate limit because of too many requests. Please try after sometime.',
    { status: 429, headers: { 'Retry-After': String(Math.max(1, Math.ceil(resetIn))) } },
  );
}
