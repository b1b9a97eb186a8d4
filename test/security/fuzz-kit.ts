/**
 * Shared plumbing of the fuzz suites (test/security/fuzz-*.test.ts): fast-check runs with one
 * seed per file, a case counter with a one-line summary per file, and the checks every answer
 * to untrusted input must pass over HTTP (Fastify's `inject`, bounded by a timeout).
 *
 * Environment:
 *   FC_SEED=<int>      replay with this seed (default: a fresh seed per run, printed)
 *   FC_NUM_RUNS=<int>  runs per property instead of each property's default
 *
 * A failing property throws fast-check's report (seed, path, counterexample, the error) with a
 * line `FC_SEED=<seed>` to reproduce it.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { isExcType, statusOf, type ExcType } from '../../src/core/errors.ts';

export { fc };

export type Response = LightMyRequestResponse;

function envInt(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${JSON.stringify(text)}`);
  return value;
}

/** The seed of this process: FC_SEED, else fresh (a 32-bit signed integer, as fast-check uses). */
export const SEED = envInt('FC_SEED') ?? (Date.now() ^ Math.floor(Math.random() * 0x100000000)) | 0;
const NUM_RUNS = envInt('FC_NUM_RUNS');

export interface FuzzKit {
  readonly seed: number;
  /** Cases run so far in this file. */
  readonly cases: number;
  /**
   * Runs a property `runs` times (FC_NUM_RUNS overrides) with the file's seed; on failure throws
   * fast-check's report and the reproduction line.
   */
  check<Ts>(property: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>, runs: number, params?: fc.Parameters<Ts>): Promise<void>;
  /** `inject` (bounded by a timeout) that also tallies the answers' status classes for the summary. */
  inject(app: FastifyInstance, options: InjectOptions, timeoutMs?: number): Promise<Response>;
}

/**
 * One per test file (`file`: its path from the repository root): prints "fuzzed N cases, seed S"
 * when the file's tests end.
 */
export function fuzzKit(file: string): FuzzKit {
  let cases = 0;
  const statuses = new Map<string, number>();
  after(() => {
    const tally = [...statuses].sort().map(([status, n]) => `${status}: ${n}`).join(', ');
    console.log(`[${file}] fuzzed ${cases} cases, seed ${SEED}${tally ? ` (answers ${tally})` : ''}`);
  });
  return {
    seed: SEED,
    get cases() {
      return cases;
    },
    async check(property, runs, params = {}) {
      const numRuns = NUM_RUNS ?? runs;
      let details: fc.RunDetails<unknown>;
      try {
        details = await fc.check(property as fc.IAsyncProperty<unknown>, { ...(params as fc.Parameters<unknown>), seed: SEED, numRuns });
      } catch (error) {
        // Thrown outside the predicate (by an arbitrary): no report, but the seed still replays it.
        console.error(`\n[${file}] ${String(error)}\nFC_SEED=${SEED}\n`);
        throw new Error(`${String(error)}\nFC_SEED=${SEED}`, { cause: error });
      }
      cases += details.numRuns;
      if (!details.failed) return;
      // Counterexamples can be megabytes (huge or deeply nested values): lines are cut short.
      const full = (await fc.asyncDefaultReportMessage(details)) ?? 'property failed';
      const report = full
        .split('\n')
        .map((line) => (line.length > 2000 ? `${line.slice(0, 2000)}… (${line.length} characters)` : line))
        .join('\n');
      const reproduce = `Reproduce with: FC_SEED=${SEED} node scripts/run-tests.mjs ${file}`;
      console.error(`\n[${file}] ${report}\nFC_SEED=${SEED}\n${reproduce}\n`);
      throw new Error(`${report}\nFC_SEED=${SEED}\n${reproduce}`, { cause: details.errorInstance });
    },
    async inject(app, options, timeoutMs) {
      const res = await inject(app, options, timeoutMs);
      const status = `${String(res.statusCode).slice(0, 1)}xx`;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      return res;
    },
  };
}

/** Per-request bound: a request slower than this is a hang. */
export const INJECT_TIMEOUT_MS = 5_000;

/** `app.inject` that fails (instead of hanging the suite) when no answer comes in time. */
export async function inject(app: FastifyInstance, options: InjectOptions, timeoutMs = INJECT_TIMEOUT_MS): Promise<Response> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms (hang): ${options.method ?? 'GET'} ${String(options.url).slice(0, 200)}`)), timeoutMs);
  });
  try {
    return await Promise.race([app.inject(options), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A random client address per case, so lockouts and per-IP limits of one case never leak into the next. */
export const remoteAddress = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 })).map((parts) => parts.join('.'));

/**
 * Statuses an exception may carry besides its table entry (src/core/errors.ts): malformed
 * requests (bad JSON, a broken multipart body, a bad URL) are 400 ValidationErrors.
 */
const STATUS_OVERRIDES: Partial<Record<ExcType, readonly number[]>> = {
  ValidationError: [400],
};

function describeAnswer(res: Response): string {
  return `${res.statusCode} ${String(res.headers['content-type'] ?? '')} ${res.body.slice(0, 400)}`;
}

/** The exception type of a Frappe error body (v1 `exc_type`, v2 `errors[0].type`). */
export function excTypeOf(res: Response): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as { exc_type?: unknown; errors?: { type?: unknown }[] };
  if (typeof record.exc_type === 'string') return record.exc_type;
  const type = Array.isArray(record.errors) ? record.errors[0]?.type : undefined;
  return typeof type === 'string' ? type : undefined;
}

export interface AnswerRules {
  /** Redirects are a legitimate answer (OAuth authorize). */
  redirect?: boolean;
  /** 4xx answers may be an OAuth error body `{"error": …}` (RFC 6749 §5.2). */
  oauthJson?: boolean;
  /** 4xx answers may be an HTML error page (OAuth authorize, consent). */
  html?: boolean;
}

/** RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1 error codes (and OpenID Connect's authorize ones). */
export const OAUTH_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'unsupported_token_type',
  'invalid_token',
  'insufficient_scope',
  'slow_down',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'login_required',
  'consent_required',
  'interaction_required',
]);

/**
 * The contract for any answer to untrusted input: a 2xx, or a 4xx whose body names a known
 * Frappe exception with its status (or, where `rules` allow, a redirect, an OAuth error, an error
 * page). Never a 5xx, never an unknown exception, never `Exception` itself. Returns the
 * exception type of a refusal.
 */
export function assertAnswer(res: Response, rules: AnswerRules = {}): string | undefined {
  const status = res.statusCode;
  assert.ok(status < 500, `5xx answer: ${describeAnswer(res)}`);
  if (status >= 200 && status < 300) return undefined;
  if (status >= 300 && status < 400) {
    assert.ok(rules.redirect, `unexpected redirect: ${describeAnswer(res)}`);
    assert.ok(res.headers.location, `redirect without Location: ${describeAnswer(res)}`);
    return undefined;
  }
  assert.ok(status >= 400, `unexpected status: ${describeAnswer(res)}`);
  const type = String(res.headers['content-type'] ?? '');
  if (rules.html && type.startsWith('text/html')) return undefined;
  if (rules.oauthJson) {
    let body: { error?: unknown } | undefined;
    try {
      body = JSON.parse(res.body) as { error?: unknown };
    } catch {
      body = undefined;
    }
    if (body && typeof body.error === 'string') {
      assert.ok(OAUTH_ERRORS.has(body.error), `unknown OAuth error: ${describeAnswer(res)}`);
      return body.error;
    }
  }
  assert.match(type, /application\/json/, `a refusal must be JSON: ${describeAnswer(res)}`);
  const exc = excTypeOf(res);
  assert.ok(isExcType(exc), `refusal without a known exc_type: ${describeAnswer(res)}`);
  assert.notEqual(exc, 'Exception', `generic Exception: ${describeAnswer(res)}`);
  const expected = [statusOf(exc), ...(STATUS_OVERRIDES[exc] ?? [])];
  assert.ok(expected.includes(status), `${exc} answered with ${status}, expected ${expected.join('/')}: ${describeAnswer(res)}`);
  return exc;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries shared by the suites

/** Text from every corner: ASCII, full unicode (lone surrogates included), controls, huge. */
export const anyText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 60 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\u0000', '..', '%', '%00', '%zz', '\\', '"', "'", '{', '[', 'null', 'undefined', '__proto__', 'constructor', 'prototype', '\u202e', '\ufeff', '\ud800', '💥') },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '\u00e9', '%', '=', ':', ' '), fc.integer({ min: 1000, max: 20_000 })).map(([c, n]) => c.repeat(n)) },
);

/**
 * What a server sees of a header sent with `text` in it: Node reads header bytes as latin1, so
 * unicode arrives as its UTF-8 bytes; CR, LF and NUL never arrive (Node's parser refuses them).
 */
export function asHeader(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1').replace(/[\r\n\0]/g, ' ');
}

/** Header text: printable ASCII, tabs, and unicode as it arrives (see asHeader). */
export const headerText = (maxLength = 80) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: Math.min(maxLength, 30) }).map(asHeader) },
    { weight: 1, arbitrary: fc.constantFrom(' ', '\t', '  ', ':', '::', '=', '==', ';', ',', '"', '%00', '%zz', '\u00ff', '\u00e9') },
  );
