/**
 * Login sessions in the `__Sessions` table, shared by every node. The sid (56 hex characters,
 * Frappe's format, 224 bits) is given to the client once and stored only as a keyed hash.
 * Sessions expire after Frappe's sliding idle time (System Settings `session_expiry`) and,
 * beyond Frappe, after an absolute lifetime (`session_lifetime_hours`).
 */
import { randomBytes } from 'node:crypto';
import { epochMs, formatDatetime } from '../../core/clock.ts';
import { keyedHash, lookupDigest } from '../../core/crypto.ts';
import { parseSessionExpiry, type SystemSettings } from '../../doctype/system-settings.ts';
import type { AuthDeps } from '../auth-deps.ts';
import type { CredentialCache } from '../credential-cache.ts';

export interface SessionData {
  full_name?: string;
  user_type?: string;
  csrf_token?: string;
  impersonated_by?: string;
  [key: string]: unknown;
}

export interface SessionRecord {
  readonly sidHash: string;
  readonly user: string;
  readonly created: string;
  lastActive: string;
  readonly expiresAt: string;
  readonly ip: string | null;
  readonly device: string | null;
  readonly userAgent: string | null;
  data: SessionData;
}

interface SessionRow {
  sid_hash: string;
  user: string;
  created: string;
  last_active: string;
  expires_at: string;
  ip: string | null;
  device: string | null;
  user_agent: string | null;
  data: string | null;
}

/** How often an active session's `last_active` is written (Frappe: at most every 600 s). */
const TOUCH_EVERY_MS = 60_000;
/** Touches are kept in memory and written together this often (and on close). */
const TOUCH_FLUSH_MS = 1_000;
/**
 * The batched `last_active` write. Never moves `last_active` back; the credential cache knows
 * this exact statement as bookkeeping (credential-invalidation.ts).
 */
export const SESSION_TOUCH_SQL = 'UPDATE "__Sessions" SET "last_active" = ? WHERE "sid_hash" = ? AND "last_active" < ?';
const SID = /^[0-9a-f]{56}$/;
/** Sid hashes remembered at most (then forgotten all at once): a few MB. */
const KNOWN_HASHES_MAX = 20_000;

function toRecord(row: SessionRow): SessionRecord {
  let data: SessionData = {};
  try {
    data = row.data ? (JSON.parse(row.data) as SessionData) : {};
  } catch {
    data = {};
  }
  return {
    sidHash: row.sid_hash,
    user: row.user,
    created: row.created,
    lastActive: row.last_active,
    expiresAt: row.expires_at,
    ip: row.ip,
    device: row.device,
    userAgent: row.user_agent,
    data,
  };
}

/** Parsed datetimes, by their text: a live session's `last_active` is compared on every request. */
const parsedTimes = new Map<string, number>();
const PARSED_TIMES_MAX = 10_000;

function parseTime(text: string): number {
  let time = parsedTimes.get(text);
  if (time === undefined) {
    time = Date.parse(`${text.replace(' ', 'T').slice(0, 23)}Z`);
    if (parsedTimes.size >= PARSED_TIMES_MAX) parsedTimes.clear();
    parsedTimes.set(text, time);
  }
  return time;
}

export interface NewSession {
  user: string;
  ip: string;
  userAgent?: string;
  device?: string;
  data?: SessionData;
}

/** `ended` names the session that just expired (absent for unknown sids). */
export type ResumeResult = { session: SessionRecord } | { expired: true; ended?: SessionRecord } | undefined;

export interface SessionStoreOptions {
  /** Live sessions are kept here (their changes drop them). */
  cache?: CredentialCache;
  /** How often pending `last_active` touches are written (ms). */
  touchFlushMs?: number;
}

export function createSessionStore(deps: AuthDeps, options: SessionStoreOptions = {}) {
  const hash = (sid: string) => keyedHash(deps.hashKey, `sid:${sid}`);
  // The stored hash of a sid, remembered by a one-shot digest of it (never by the sid itself):
  // an HMAC per resumed session was a twentieth of a session-cookie read (docs/performance.md).
  const knownHashes = new Map<string, string>();
  const hashOfKnown = (sid: string): string => {
    const digest = lookupDigest(deps.hashKey, `sid:${sid}`);
    let sidHash = knownHashes.get(digest);
    if (sidHash === undefined) {
      sidHash = hash(sid);
      if (knownHashes.size >= KNOWN_HASHES_MAX) knownHashes.clear();
      knownHashes.set(digest, sidHash);
    }
    return sidHash;
  };
  const nowText = () => formatDatetime(deps.clock.now());
  const cache = options.cache;

  // Touches not written yet: sid hash → the session's user and its new `last_active`.
  let pending = new Map<string, { user: string; lastActive: string }>();
  let closed = false;
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const writeTouches = async (): Promise<void> => {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      await deps.storage.transaction(async (tx) => {
        for (const [sidHash, touch] of batch) await tx.run(SESSION_TOUCH_SQL, [touch.lastActive, sidHash, touch.lastActive]);
      });
    } catch (error) {
      // Kept for the next flush, unless a newer touch (or a change of the session) came meanwhile.
      for (const [sidHash, touch] of batch) if (!pending.has(sidHash)) pending.set(sidHash, touch);
      throw error;
    }
  };
  const flushTouches = (): Promise<void> => {
    const run = chain.then(writeTouches);
    chain = run.catch(() => undefined);
    return run;
  };
  const scheduleFlush = () => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      flushTouches().catch((error: unknown) => deps.logger.warn('session touch failed', { error: String(error) }));
    }, options.touchFlushMs ?? TOUCH_FLUSH_MS);
    timer.unref();
  };
  // A session changed elsewhere: its row wins over a touch made before the change.
  cache?.onDrop((change) => {
    if (pending.size === 0) return;
    if (change === 'S*') {
      pending.clear();
    } else if (change.startsWith('s:')) {
      pending.delete(change.slice(2));
    } else if (change.startsWith('u:')) {
      const user = change.slice(2);
      for (const [sidHash, touch] of pending) if (touch.user === user) pending.delete(sidHash);
    }
  });

  // Parsed once per settings object (they are replaced, never changed, when saved).
  let idle: { settings: SystemSettings; seconds: number } | undefined;
  function idleOf(settings: SystemSettings): number {
    if (idle?.settings !== settings) idle = { settings, seconds: parseSessionExpiry(settings.session_expiry) ?? 240 * 3600 };
    return idle.seconds;
  }
  /**
   * Seconds a session lives without activity (the `sid` cookie's Max-Age); without a promise
   * while the settings are fresh: a session request asks up to three times.
   */
  function idleSeconds(): number | Promise<number> {
    const settings = deps.peekSettings?.();
    return settings ? idleOf(settings) : deps.settings().then(idleOf);
  }

  /** The cached session of a sid hash, while its idle time has not run out; expiry itself is decided on the row. */
  function cachedLive(sidHash: string, idleMs: number): SessionRecord | undefined {
    const cached = cache?.session(sidHash);
    return cached && epochMs(deps.clock) - parseTime(cached.lastActive) <= idleMs ? cached : undefined;
  }

  /** `touch` with the idle time known; a promise only when the row is written at once. */
  function slide(session: SessionRecord, idleFor: number): Promise<void> | undefined {
    const now = epochMs(deps.clock);
    const every = Math.min(TOUCH_EVERY_MS, idleFor * 10);
    if (now - parseTime(session.lastActive) < every) return undefined;
    session.lastActive = formatDatetime(new Date(now));
    if (closed) return deps.storage.run(SESSION_TOUCH_SQL, [session.lastActive, session.sidHash, session.lastActive]).then(() => undefined);
    pending.set(session.sidHash, { user: session.user, lastActive: session.lastActive });
    scheduleFlush();
    return undefined;
  }

  return {
    idleSeconds,

    async create(input: NewSession): Promise<{ sid: string; session: SessionRecord }> {
      const sid = randomBytes(28).toString('hex');
      const now = deps.clock.now();
      const expiresAt = formatDatetime(new Date(now.getTime() + deps.config.session_lifetime_hours * 3_600_000));
      const row: SessionRow = {
        sid_hash: hash(sid),
        user: input.user,
        created: formatDatetime(now),
        last_active: formatDatetime(now),
        expires_at: expiresAt,
        ip: input.ip,
        device: input.device ?? null,
        user_agent: input.userAgent?.slice(0, 500) ?? null,
        data: JSON.stringify(input.data ?? {}),
      };
      await deps.storage.run(
        'INSERT INTO "__Sessions" ("sid_hash", "user", "created", "last_active", "expires_at", "ip", "device", "user_agent", "data") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [row.sid_hash, row.user, row.created, row.last_active, row.expires_at, row.ip, row.device, row.user_agent, row.data],
      );
      return { sid, session: toRecord(row) };
    },

    /**
     * The live session of a sid when memory alone can tell — cached, not idle too long, the
     * settings fresh — without a promise; undefined means `resume` must decide.
     */
    peek(sid: string): SessionRecord | undefined {
      if (!cache || !SID.test(sid)) return undefined;
      const seconds = idleSeconds();
      return typeof seconds === 'number' ? cachedLive(hashOfKnown(sid), seconds * 1000) : undefined;
    },

    /** The live session of a sid; an expired one is deleted and reported as expired. */
    async resume(sid: string): Promise<ResumeResult> {
      if (!SID.test(sid)) return sid === 'Guest' || sid === '' ? undefined : { expired: true };
      const sidHash = hashOfKnown(sid);
      const seconds = idleSeconds();
      const idle = (typeof seconds === 'number' ? seconds : await seconds) * 1000;
      const cached = cachedLive(sidHash, idle);
      // Expiry is only ever decided on the stored row (another node may have seen activity).
      if (cached) return { session: cached };
      const epoch = cache?.epoch ?? 0;
      const row = await deps.storage.get<SessionRow>('SELECT * FROM "__Sessions" WHERE "sid_hash" = ?', [sidHash]);
      if (!row) return { expired: true };
      const touched = pending.get(row.sid_hash);
      if (touched && touched.lastActive > row.last_active) row.last_active = touched.lastActive;
      const now = epochMs(deps.clock);
      const expiresAt = parseTime(row.expires_at);
      if (now - parseTime(row.last_active) > idle || now >= expiresAt) {
        await deps.storage.run('DELETE FROM "__Sessions" WHERE "sid_hash" = ?', [row.sid_hash]);
        return { expired: true, ended: toRecord(row) };
      }
      const session = toRecord(row);
      cache?.setSession(sidHash, session, epoch, expiresAt);
      return { session };
    },

    /**
     * Slides the idle expiry. `last_active` moves once it is older than a minute, or than 1 % of
     * the idle time when that is shorter, so a short expiry (`00:01`) still slides with activity
     * instead of ending a minute after the last write. The record (shared with the cache) moves
     * at once; the row is written with other touches within `touchFlushMs` (and on close): no
     * request waits for a write.
     */
    touch(session: SessionRecord): Promise<void> | undefined {
      const seconds = idleSeconds();
      if (typeof seconds !== 'number') return seconds.then((fresh) => slide(session, fresh));
      return slide(session, seconds);
    },

    /** Writes the pending touches now. */
    flushTouches,

    /** Writes the pending touches and stops batching (later touches are written at once). */
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await flushTouches();
    },

    async setData(session: SessionRecord, patch: SessionData): Promise<void> {
      session.data = { ...session.data, ...patch };
      await deps.storage.run('UPDATE "__Sessions" SET "data" = ? WHERE "sid_hash" = ?', [JSON.stringify(session.data), session.sidHash]);
    },

    async delete(session: Pick<SessionRecord, 'sidHash'>): Promise<void> {
      await deps.storage.run('DELETE FROM "__Sessions" WHERE "sid_hash" = ?', [session.sidHash]);
    },

    /** Ends a user's sessions, optionally all but one; returns how many ended. */
    async deleteForUser(user: string, exceptSidHash?: string): Promise<number> {
      const result = exceptSidHash
        ? await deps.storage.run('DELETE FROM "__Sessions" WHERE "user" = ? AND "sid_hash" <> ?', [user, exceptSidHash])
        : await deps.storage.run('DELETE FROM "__Sessions" WHERE "user" = ?', [user]);
      return result.changes;
    },

    /** A user's sessions, most recently active first. */
    async listForUser(user: string): Promise<SessionRecord[]> {
      const rows = await deps.storage.all<SessionRow>('SELECT * FROM "__Sessions" WHERE "user" = ? ORDER BY "last_active" DESC, "created" DESC', [user]);
      return rows.map(toRecord);
    },

    /** Keeps `keep` and the newest (limit − 1) other sessions of the user; deletes the rest. */
    async enforceLimit(user: string, keep: SessionRecord, limit: number): Promise<SessionRecord[]> {
      const others = (await this.listForUser(user)).filter((s) => s.sidHash !== keep.sidHash);
      const excess = others.slice(Math.max(0, limit - 1));
      for (const session of excess) await this.delete(session);
      return excess;
    },

    /** A public, stable id for a session (for listing and revoking), not the sid. */
    publicId(session: Pick<SessionRecord, 'sidHash'>): string {
      return session.sidHash.slice(0, 16);
    },

    async purgeExpired(): Promise<number> {
      // Activity not written yet must count.
      await flushTouches().catch(() => undefined);
      const now = nowText();
      const idle = await idleSeconds();
      const cutoff = formatDatetime(new Date(epochMs(deps.clock) - idle * 1000));
      const result = await deps.storage.run('DELETE FROM "__Sessions" WHERE "expires_at" <= ? OR "last_active" < ?', [now, cutoff]);
      return result.changes;
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
