/** Small security primitives: random tokens, keyed hashes, constant-time comparison. */
import { createHmac, hash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

/** A random URL-safe token carrying `bytes` bytes of entropy (default 32 = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Random bytes are drawn from the system in blocks and handed out once each: a call into the
 * generator per document name was a fiftieth of a create (docs/performance.md).
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

function pooledRandomBytes(count: number): Buffer {
  if (count > POOL_BYTES) return randomBytes(count);
  if (poolOffset + count > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + count);
  poolOffset += count;
  return bytes;
}

/** Random lower-case hex string of `length` characters (Frappe's hash names, 10 chars). */
export function randomHex(length: number): string {
  return pooledRandomBytes(Math.ceil(length / 2)).toString('hex').slice(0, length);
}

/**
 * Keyed one-way hash for high-entropy secrets (API secrets, session ids, OAuth tokens): they
 * cannot be guessed, so a fast keyed SHA-256 is enough and stays cheap per request.
 */
export function keyedHash(key: string, secret: string): string {
  return createHmac('sha256', key).update(secret).digest('base64url');
}

/**
 * SHA-256 of `key`, a NUL and `value`, for in-memory lookup keys derived from high-entropy
 * secrets (the credential cache): one-shot `crypto.hash` costs a fifth of an HMAC, which every
 * token and bearer request would pay (docs/performance.md). Never for stored hashes: those stay
 * `keyedHash`.
 */
export function lookupDigest(key: string, value: string): string {
  return hash('sha256', `${key}\u0000${value}`, 'base64url');
}

/**
 * Constant-time string equality; unequal lengths compare in the time of the longer one. The one
 * place secrets are compared: `test/security/constant-time.test.ts` keeps `timingSafeEqual`
 * out of every other file, and `===` away from secret-named values.
 */
export function constantEquals(a: string, b: string): boolean {
  return constantEqualBytes(Buffer.from(a), Buffer.from(b));
}

/** Constant-time byte equality (digests, derived keys); unequal lengths as in `constantEquals`. */
export function constantEqualBytes(left: Uint8Array, right: Uint8Array): boolean {
  const length = Math.max(left.length, right.length, 1);
  const paddedLeft = Buffer.alloc(length);
  const paddedRight = Buffer.alloc(length);
  paddedLeft.set(left);
  paddedRight.set(right);
  return timingSafeEqual(paddedLeft, paddedRight) && left.length === right.length;
}
