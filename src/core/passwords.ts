/**
 * Login password hashing.
 *
 * New hashes are argon2id (PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`) at OWASP's
 * settings, computed by `@node-rs/argon2`. Every slow hash runs on a low-priority hashing
 * thread (`password-hash-threads.ts`), never on the event loop's.
 *
 * Hashes imported from Frappe are passlib's `pbkdf2_sha256`
 * (`$pbkdf2-sha256$<rounds>$<salt ab64>$<checksum ab64>`) and passlib's `argon2`
 * (`$argon2id$…` / `$argon2i$…`, at passlib's weaker defaults). Both verify, and both report
 * `needsRehash` so the caller can store a fresh argon2id hash after a successful login.
 *
 * The password never appears in a log line, an error message or an exception's cause.
 */
import { parseOptions as argon2ParseOptions } from '@node-rs/argon2';
import { constantEqualBytes, randomToken } from './crypto.ts';
import { HashThreadUnavailable, onHashThread } from './password-hash-threads.ts';

/** OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1. */
export const ARGON2_POLICY = Object.freeze({
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
});

// `Algorithm` and `Version` are `const enum`s in the package's typings, which isolated-module
// transpilers (tsx) cannot inline; these are their values.
export const ALGORITHM_ARGON2ID = 2;
const VERSION_0X13 = 1;
const MIN_SALT_BYTES = 16;

/**
 * Upper bound on the PBKDF2 rounds we are willing to run for a stored hash. passlib's default
 * is 29,000 (Frappe) and its own maximum is 2^32-1; a corrupted or planted hash with billions
 * of rounds would otherwise occupy a thread-pool thread for minutes.
 */
const MAX_PBKDF2_ROUNDS = 10_000_000;
/** passlib's pbkdf2_sha256 accepts salts of 0..1024 bytes. */
const MAX_PBKDF2_SALT_BYTES = 1024;
const PBKDF2_KEY_BYTES = 32;

export interface VerifyResult {
  ok: boolean;
  /** True when `ok` and the stored hash should be replaced by `hashPassword(password)`. */
  needsRehash: boolean;
}

/** A hashing thread that could not run is the server's fault: passed on, never a wrong password. */
function unlessUnavailable(error: unknown): void {
  if (error instanceof HashThreadUnavailable) throw error;
}

const FAIL: VerifyResult = Object.freeze({ ok: false, needsRehash: false }) as VerifyResult;

/** An argon2id hash of `password` at the current policy. */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  return onHashThread('argon2Hash', password, {
    algorithm: ALGORITHM_ARGON2ID,
    version: VERSION_0X13,
    memoryCost: ARGON2_POLICY.memoryCost,
    timeCost: ARGON2_POLICY.timeCost,
    parallelism: ARGON2_POLICY.parallelism,
    outputLen: ARGON2_POLICY.outputLen,
  });
}

let decoy: Promise<string> | undefined;

/**
 * A hash of a random password, made once per process: a login for an unknown user is checked
 * against it, so it takes as long as a known user's. A failed attempt is not kept, or every
 * later such login would fail with it.
 */
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomToken(16)).catch((error: unknown) => {
    decoy = undefined;
    throw error;
  });
  return decoy;
}

/**
 * Checks `password` against a stored hash. Never throws for a malformed or unknown stored
 * value: that is `{ ok: false }`. `needsRehash` is only ever true together with `ok`. Rejects
 * with `HashThreadUnavailable` when no hashing thread could run the check.
 */
export async function verifyPassword(password: string, stored: string): Promise<VerifyResult> {
  if (typeof password !== 'string' || typeof stored !== 'string') return { ...FAIL };
  if (stored.startsWith('$argon2')) return verifyArgon2(password, stored);
  if (stored.startsWith('$pbkdf2-sha256$')) return verifyPbkdf2Sha256(password, stored);
  return { ...FAIL };
}

async function verifyArgon2(password: string, stored: string): Promise<VerifyResult> {
  // $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>; passlib and libargon2 both write this form.
  if (!/^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d{1,10},t=\d{1,10},p=\d{1,3}\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.test(stored)) {
    return { ...FAIL };
  }
  let options: ReturnType<typeof argon2ParseOptions>;
  try {
    options = argon2ParseOptions(stored);
  } catch {
    return { ...FAIL };
  }
  // The memory cost is the caller's to pay; refuse absurd stored values (more than 1 GiB).
  if (options.memoryCost > 1_048_576 || options.timeCost > 64) return { ...FAIL };
  let ok: boolean;
  try {
    ok = await onHashThread('argon2Verify', stored, password);
  } catch (error) {
    unlessUnavailable(error);
    return { ...FAIL };
  }
  if (!ok) return { ...FAIL };
  const needsRehash =
    (options.algorithm as number) !== ALGORITHM_ARGON2ID ||
    (options.version as number) !== VERSION_0X13 ||
    options.memoryCost < ARGON2_POLICY.memoryCost ||
    options.timeCost < ARGON2_POLICY.timeCost ||
    options.outputLen < ARGON2_POLICY.outputLen ||
    options.saltLen < MIN_SALT_BYTES;
  return { ok: true, needsRehash };
}

/**
 * passlib's "adapted base64": the standard alphabet with `.` for `+`, no padding. Returns
 * undefined for anything that is not well-formed ab64 (Buffer's decoder would silently skip
 * bad characters, which must not make two different strings decode alike).
 */
export function ab64Decode(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9./]*$/.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text.replaceAll('.', '+'), 'base64');
}

export function ab64Encode(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '').replaceAll('+', '.');
}

async function verifyPbkdf2Sha256(password: string, stored: string): Promise<VerifyResult> {
  const parts = stored.split('$');
  // ['', 'pbkdf2-sha256', rounds, salt, checksum]
  if (parts.length !== 5) return { ...FAIL };
  const [, , roundsText = '', saltText = '', checksumText = ''] = parts;
  // passlib refuses zero-padded rounds; rounds must be at least 1.
  if (!/^[1-9]\d{0,9}$/.test(roundsText)) return { ...FAIL };
  const rounds = Number(roundsText);
  if (rounds > MAX_PBKDF2_ROUNDS) return { ...FAIL };
  const salt = ab64Decode(saltText);
  const checksum = ab64Decode(checksumText);
  if (!salt || salt.length > MAX_PBKDF2_SALT_BYTES) return { ...FAIL };
  if (!checksum || checksum.length !== PBKDF2_KEY_BYTES) return { ...FAIL };
  let derived: Uint8Array;
  try {
    // passlib encodes a text password as UTF-8 before hashing.
    derived = await onHashThread('pbkdf2Sha256', password, salt, rounds, PBKDF2_KEY_BYTES);
  } catch (error) {
    unlessUnavailable(error);
    return { ...FAIL };
  }
  if (!constantEqualBytes(derived, checksum)) return { ...FAIL };
  return { ok: true, needsRehash: true };
}
