/**
 * Per-process cache of verified credentials, so an authenticated request costs no SQL for
 * authentication (docs/performance.md):
 *
 * - `access`: a user's principal (roles, user type) and IP rules, by user name;
 * - `keys`: what a `token key:secret` / Basic / named key / OAuth bearer credential resolved to
 *   (the user, a named key's own IP rules and scopes, its expiry), by a SHA-256 digest of the
 *   site's secret-derived key and the credential (`lookupDigest`) — never the secret itself;
 * - `sessions`: live session records, by the keyed hash of the sid the store already uses.
 *
 * Entries live `ttlMs` at most (and never past the credential's own expiry), the cache holds
 * `maxEntries` per map (oldest inserted dropped first), and `drop()` removes entries at once on
 * change: the app layer calls it for every committed write to the rows entries are built from
 * (whatever code made it) and for the same changes published by other nodes. Checks that depend
 * on the request (IP rules, lockout, rate limits) still run on every request: the rules are
 * cached, not the decisions.
 *
 * Fill race: a miss reads the database, then stores what it read. `epoch` counts drops; a fill
 * stores its result only when no drop happened since it started, so rows read before a change
 * was committed can never be cached after the change was announced.
 */
import type { Principal } from '../doctype/principal.ts';
import type { SessionRecord } from './sessions/session-store.ts';

export interface UserAccess {
  readonly principal: Principal;
  readonly restrictIp: string | null;
  readonly bypass: number | string | null;
}

/** What a key, secret or bearer token resolved to. */
export interface CachedCredential {
  readonly user: string;
  /** Named key (`API Key` document) name. */
  readonly keyName?: string;
  /** OAuth token name and grant family. */
  readonly tokenName?: string;
  readonly family?: string;
  /** The credential's own IP restriction (a named key's), beside the user's. */
  readonly restrictIp?: string | null;
  readonly scopes?: readonly string[];
  /** When the credential itself stops being valid (ms since the epoch), when it does. */
  readonly validUntil?: number;
}

/**
 * A change, as published to other nodes: `*` everything; `S*` every session; `u:<user>` a
 * user (its access, credentials and sessions); `s:<sid hash>` one session; `k:<name>` a named
 * key; `t:<name>` an OAuth token; `f:<family>` an OAuth grant family.
 */
export type CredentialChange = string;

export interface CredentialCacheOptions {
  /** Longest life of an entry. */
  ttlMs: number;
  /** Entries per map at most. */
  maxEntries?: number;
  /** The site's clock, in ms. */
  now: () => number;
  /**
   * Polled at most every `externalCheckMs`: when its value changes, another process wrote to
   * the database and everything is dropped (SQLite's `data_version`).
   */
  externalChanges?: () => number | undefined;
  externalCheckMs?: number;
}

interface Timed<T> {
  readonly value: T;
  readonly until: number;
}

export class CredentialCache {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #external: (() => number | undefined) | undefined;
  readonly #externalCheckMs: number;
  #externalVersion: number | undefined;
  #nextExternalCheck = 0;
  readonly #access = new Map<string, Timed<UserAccess>>();
  readonly #keys = new Map<string, Timed<CachedCredential>>();
  readonly #sessions = new Map<string, Timed<SessionRecord>>();
  readonly #listeners: ((change: CredentialChange) => void)[] = [];
  #epoch = 0;

  constructor(options: CredentialCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.maxEntries ?? 10_000;
    this.#now = options.now;
    this.#external = options.externalChanges;
    this.#externalCheckMs = options.externalCheckMs ?? 250;
    this.#externalVersion = this.#external?.();
    this.#nextExternalCheck = options.now() + this.#externalCheckMs;
  }

  /** Counts drops; pass the value read before a fill to the `set…` call that stores it. */
  get epoch(): number {
    return this.#epoch;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Told about every change dropped here (the session store forgets pending touches). */
  onDrop(listener: (change: CredentialChange) => void): void {
    this.#listeners.push(listener);
  }

  #checkExternal(now: number): void {
    if (!this.#external || now < this.#nextExternalCheck) return;
    this.#nextExternalCheck = now + this.#externalCheckMs;
    let version: number | undefined;
    try {
      version = this.#external();
    } catch {
      version = undefined;
    }
    if (version !== this.#externalVersion) {
      this.#externalVersion = version;
      this.drop('*');
    }
  }

  #get<T>(map: Map<string, Timed<T>>, key: string): T | undefined {
    const now = this.#now();
    this.#checkExternal(now);
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.until) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  #set<T>(map: Map<string, Timed<T>>, key: string, value: T, epoch: number, validUntil?: number): void {
    if (epoch !== this.#epoch || this.#ttlMs <= 0) return;
    const now = this.#now();
    const until = Math.min(now + this.#ttlMs, validUntil ?? Number.POSITIVE_INFINITY);
    if (!(until > now)) return;
    map.delete(key);
    if (map.size >= this.#max) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
    map.set(key, { value, until });
  }

  access(user: string): UserAccess | undefined {
    return this.#get(this.#access, user);
  }

  setAccess(user: string, access: UserAccess, epoch: number): void {
    this.#set(this.#access, user, access, epoch);
  }

  credential(hash: string): CachedCredential | undefined {
    return this.#get(this.#keys, hash);
  }

  setCredential(hash: string, credential: CachedCredential, epoch: number): void {
    this.#set(this.#keys, hash, credential, epoch, credential.validUntil);
  }

  session(sidHash: string): SessionRecord | undefined {
    return this.#get(this.#sessions, sidHash);
  }

  setSession(sidHash: string, record: SessionRecord, epoch: number, validUntil: number): void {
    this.#set(this.#sessions, sidHash, record, epoch, validUntil);
  }

  /** Entries held, per map (for tests and diagnostics). */
  size(): { access: number; credentials: number; sessions: number } {
    return { access: this.#access.size, credentials: this.#keys.size, sessions: this.#sessions.size };
  }

  /** Drops what a change may have made stale. */
  drop(change: CredentialChange): void {
    this.#epoch += 1;
    if (change === '*') {
      this.#access.clear();
      this.#keys.clear();
      this.#sessions.clear();
    } else if (change === 'S*') {
      this.#sessions.clear();
    } else {
      const colon = change.indexOf(':');
      const kind = change.slice(0, colon);
      const id = change.slice(colon + 1);
      if (kind === 'u') {
        this.#access.delete(id);
        deleteWhere(this.#keys, (c) => c.user === id);
        deleteWhere(this.#sessions, (s) => s.user === id);
      } else if (kind === 's') {
        this.#sessions.delete(id);
      } else if (kind === 'k') {
        deleteWhere(this.#keys, (c) => c.keyName === id);
      } else if (kind === 't') {
        deleteWhere(this.#keys, (c) => c.tokenName === id);
      } else if (kind === 'f') {
        deleteWhere(this.#keys, (c) => c.family === id);
      } else {
        // Unknown: be safe.
        this.#access.clear();
        this.#keys.clear();
        this.#sessions.clear();
      }
    }
    for (const listener of this.#listeners) listener(change);
  }
}

function deleteWhere<T>(map: Map<string, Timed<T>>, matches: (value: T) => boolean): void {
  for (const [key, entry] of map) if (matches(entry.value)) map.delete(key);
}
