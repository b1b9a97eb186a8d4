/**
 * Who is calling, resolved once per request in Frappe's order: the session (`sid` argument or
 * cookie), then the Authorization header (`token` / `Basic` API keys; `Bearer` tokens), then
 * every app's `auth_hooks`. A header that authenticates nobody is refused with 401. The IP
 * restriction of the resolved user (and of a named key) applies whatever the method.
 */
import { epochMs } from '../core/clock.ts';
import { asFrappeError, frappeError } from '../core/errors.ts';
import { lookupDigest } from '../core/crypto.ts';
import type { RequestInfo } from '../core/request-info.ts';
import { GUEST, GUEST_PRINCIPAL, principalFor, type Principal } from '../doctype/principal.ts';
import type { SystemSettings } from '../doctype/system-settings.ts';
import type { AuthDeps } from './auth-deps.ts';
import { verifyUserApiKey } from './api-keys.ts';
import type { AuthHook } from './auth-hook.ts';
import type { CredentialCache, UserAccess } from './credential-cache.ts';
import type { IpRulesPort, LockStatePort, LoginAttemptsPort } from './login-collaborators.ts';
import { parseAuthorization } from './parse-authorization.ts';
import type { SessionRecord, SessionStore } from './sessions/session-store.ts';

export type AuthMethod = 'guest' | 'session' | 'token' | 'basic' | 'bearer' | 'hook';

export interface AuthResult {
  readonly principal: Principal;
  readonly method: AuthMethod;
  /** The API key id used, never its secret. */
  readonly apiKey?: string;
  readonly session?: SessionRecord;
  /** The session came from the `sid` cookie (not a `sid` argument). */
  readonly sessionViaCookie: boolean;
  /** A `sid` was sent but names no live session (Frappe answers `session_expired: 1`). */
  readonly sessionExpired: boolean;
  /** A valid API key or bearer token was presented (such requests are never CSRF-checked). */
  readonly headerAuthenticated: boolean;
  /** OAuth scopes or named-key scopes that restrict the request, when any. */
  readonly scopes?: readonly string[];
}

export interface KeyMatch {
  user: string;
  keyName?: string;
  restrictIp?: string | null;
  scopes?: readonly string[];
  /** OAuth token name and grant family (so revoking them drops the cached credential). */
  tokenName?: string;
  family?: string;
  /** When the credential itself expires (ms since the epoch), if it does. */
  validUntil?: number;
}

export interface AuthenticatorOptions {
  readonly deps: AuthDeps;
  readonly sessions: SessionStore;
  readonly hooks: readonly AuthHook[];
  readonly attempts?: LoginAttemptsPort;
  readonly ipRules?: IpRulesPort;
  /** Named keys of the `API Key` DocType (`ck_…`). */
  readonly namedKeys?: (key: string, secret: string) => Promise<KeyMatch | undefined>;
  /** Keys looked up in another DocType (`Frappe-Authorization-Source`). */
  readonly customSource?: (doctype: string, key: string, secret: string) => Promise<string | undefined>;
  /** OAuth bearer tokens (filled in by the OAuth provider). */
  readonly bearer?: (token: string, request: RequestInfo) => Promise<KeyMatch | undefined>;
  /** RFC 9728 metadata URL named in `WWW-Authenticate` when a bearer token is refused. */
  readonly resourceMetadataUrl?: (request: RequestInfo) => string;
  /**
   * Paths where `Authorization: Basic` carries OAuth client credentials (token, revocation,
   * introspection endpoints) rather than an API key.
   */
  readonly clientAuthPaths?: ReadonlySet<string>;
  readonly onKeyUsed?: (match: KeyMatch, request: RequestInfo) => void;
  /** A stored session was found expired (and deleted) on this request. */
  readonly onSessionExpired?: (session: SessionRecord, request: RequestInfo) => void;
  /** Verified credentials and users' access, kept between requests (credential-cache.ts). */
  readonly credentials?: CredentialCache;
}

/**
 * A request's authentication. Synchronous when there is nothing to look up — no credential
 * presented, or a header credential or session cookie answered from memory, and no auth hook
 * to ask — so such a request costs no promise (docs/performance.md).
 */
export type Authenticator = (request: RequestInfo, args: Record<string, unknown>) => AuthResult | Promise<AuthResult>;

function refuse(message = ''): never {
  throw frappeError('AuthenticationError', message, { title: 'Not Permitted' });
}

interface UserAccessRow {
  kind: 'user' | 'role';
  name: string;
  enabled: number | string;
  user_type: string | null;
  restrict_ip: string | null;
  bypass_restrict_ip_check_if_2fa_enabled: number | string | null;
  role: string | null;
}

/**
 * The user's row and its roles (as `rolesOf` reads them) in one statement: it runs on every
 * authenticated request, and each SQL statement is a measurable share of one
 * (docs/performance.md). A UNION ALL rather than a join, so each half keeps the plan of its own
 * statement whatever SQLite's statistics say (with statistics from a tiny table, SQLite plans
 * the join as a scan of every user).
 */
const USER_ACCESS_SQL =
  'SELECT \'user\' AS "kind", "name", "enabled", "user_type", "restrict_ip", "bypass_restrict_ip_check_if_2fa_enabled", NULL AS "role" FROM "tabUser" WHERE "name" = ? ' +
  'UNION ALL SELECT \'role\', NULL, NULL, NULL, NULL, NULL, "role" FROM "tabHas Role" WHERE "parent" = ? AND "parenttype" = \'User\' AND "parentfield" = \'roles\'';

/** How long a key and IP pair that authenticated cleanly is not asked about again (shared counters only). */
export const CLEAN_PAIR_MS = 1000;
const CLEAN_PAIRS_MAX = 10_000;

const GUEST_ACCESS: UserAccess = Object.freeze({ principal: GUEST_PRINCIPAL, restrictIp: null, bypass: null });
const GUEST_RESULT: AuthResult = Object.freeze({ principal: GUEST_PRINCIPAL, method: 'guest', sessionViaCookie: false, sessionExpired: false, headerAuthenticated: false });

/** The lockout's clean-pair key of a key used from an IP. */
const pairOf = (ip: string, key: string): string => `${ip}\u0000${key}`;

/** A key's scopes; a key without scopes carries its user's full rights. */
const keyScopes = (match: KeyMatch): readonly string[] | undefined => (match.scopes && match.scopes.length > 0 ? match.scopes : undefined);

/** Refuses a locked-out IP or key; answers whether the key has failures counted. */
function lockVerdict(attempts: LoginAttemptsPort, settings: SystemSettings, byIp: LockStatePort, byKey: LockStatePort): boolean {
  if (byIp.locked) throw attempts.lockedError(byIp.retryAfter, settings.allow_login_after_fail);
  if (byKey.locked) throw attempts.lockedError(byKey.retryAfter, settings.allow_login_after_fail);
  // Unknown (an older port): assume there is a counter to reset.
  return byKey.failures === undefined || byKey.failures > 0;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { deps, sessions } = options;
  const cache = options.credentials;

  /** The user's access when known without a query (Guest, or cached); the common case on every request. */
  const knownAccess = (user: string): UserAccess | undefined => (user === GUEST ? GUEST_ACCESS : cache?.access(user));

  async function loadAccess(user: string): Promise<UserAccess | undefined> {
    const known = knownAccess(user);
    if (known) return known;
    const epoch = cache?.epoch ?? 0;
    const rows = await deps.storage.all<UserAccessRow>(USER_ACCESS_SQL, [user, user]);
    const row = rows.find((r) => r.kind === 'user');
    if (!row || Number(row.enabled) !== 1) return undefined;
    const roles = rows.flatMap((r) => (r.kind === 'role' && r.role !== null ? [r.role] : []));
    const principal = principalFor(row.name, roles, row.user_type === 'Website User' ? 'Website User' : 'System User');
    const access: UserAccess = { principal, restrictIp: row.restrict_ip, bypass: row.bypass_restrict_ip_check_if_2fa_enabled };
    // By the name asked for: that is what the credential or session names.
    cache?.setAccess(user, access, epoch);
    return access;
  }

  /**
   * The credential's cache key: a digest keyed with the site's secret-derived key of what was
   * presented, so the cache never holds a secret. Only what the secret proves is cached.
   */
  const credentialKey = (kind: string, ...parts: string[]) => lookupDigest(deps.hashKey, `credential:${kind}\u0000${parts.join('\u0000')}`);

  function checkIp(access: UserAccess, ip: string, settings: SystemSettings, keyRestriction?: string | null): void {
    const rules = options.ipRules;
    if (!rules) return;
    if (access.restrictIp && !rules.bypassed({ bypass_restrict_ip_check_if_2fa_enabled: access.bypass }, settings) && !rules.allowed(access.restrictIp, ip)) {
      throw rules.refusal(ip);
    }
    if (keyRestriction && !rules.allowed(keyRestriction, ip)) throw rules.refusal(ip);
  }

  /**
   * Key and IP pairs that authenticated with no failure counted for either, while the counters
   * are in a shared cache (Redis), and until when that answer is trusted without asking again:
   * a client's steady requests then cost no round trip each. A wrong secret forgets the pair
   * and is checked against the shared counters before its failure is counted, as always; only
   * the right secret can be let through, for at most CLEAN_PAIR_MS after another node locked
   * the key or the IP.
   */
  const cleanPairs = new Map<string, number>();
  const now = () => epochMs(deps.clock);
  const rememberClean = (pair: string): void => {
    if (cleanPairs.size >= CLEAN_PAIRS_MAX) cleanPairs.clear();
    cleanPairs.set(pair, now() + CLEAN_PAIR_MS);
  };

  /**
   * The lockout answer when it is at hand (in-process counters, or a recently clean pair):
   * whether the key has failures to reset; undefined when the shared counters must be asked.
   * Throws when the key or the IP is locked.
   */
  function lockAtHand(key: string, ip: string, settings: SystemSettings, pair: string): boolean | undefined {
    const attempts = options.attempts;
    if (!attempts) return false;
    const ipNow = attempts.lockedNow?.('ip', ip, settings);
    const keyNow = attempts.lockedNow?.('user', `api-key:${key}`, settings);
    if (ipNow && keyNow) return lockVerdict(attempts, settings, ipNow, keyNow);
    const cleanUntil = cleanPairs.get(pair);
    if (cleanUntil !== undefined) {
      if (cleanUntil > now()) return false;
      cleanPairs.delete(pair);
    }
    return undefined;
  }

  /** `lockVerdict`, without a promise when the answer is at hand. */
  function assertKeyNotLocked(key: string, ip: string, settings: SystemSettings, pair: string): boolean | Promise<boolean> {
    const atHand = lockAtHand(key, ip, settings, pair);
    const attempts = options.attempts;
    if (atHand !== undefined || !attempts) return atHand ?? false;
    const keyCounter = `api-key:${key}`;
    // Both at once: on Redis that is one round trip (the two commands are pipelined), not two.
    return Promise.all([
      attempts.lockedNow?.('ip', ip, settings) ?? attempts.isLocked('ip', ip, settings),
      attempts.lockedNow?.('user', keyCounter, settings) ?? attempts.isLocked('user', keyCounter, settings),
    ]).then(([byIp, byKey]) => lockVerdict(attempts, settings, byIp, byKey));
  }

  async function recordKeyFailure(key: string, ip: string, settings: SystemSettings): Promise<void> {
    await options.attempts?.recordFailure('ip', ip, settings);
    await options.attempts?.recordFailure('user', `api-key:${key}`, settings);
  }

  /**
   * A header credential verified on an earlier request, or a session cookie alone, whose user's
   * access is cached too, on a request with no hook to ask: answered from memory, without a
   * promise. Any other case — a lockout to consult or reset, a session not in memory or beside a
   * header, a key of another DocType — returns undefined and goes through `lookUp`, which
   * decides everything from scratch.
   */
  function remembered(request: RequestInfo, args: Record<string, unknown>): AuthResult | undefined {
    if (!cache || options.hooks.length > 0 || args.sid !== undefined) return undefined;
    const settings = deps.peekSettings?.();
    if (!settings || options.clientAuthPaths?.has(request.path)) return undefined;
    const sid = request.cookies.sid;
    if (sid !== undefined) return request.headers.authorization === undefined ? rememberedSession(sid, request, settings) : undefined;
    const authorization = parseAuthorization(request.headers.authorization);
    let match: KeyMatch | undefined;
    if (authorization.kind === 'api-key') {
      const source = request.headers['frappe-authorization-source']?.trim();
      // A lockout to consult or failures to reset: looked up (a lock found here is refused here).
      if ((source && source !== 'User') || lockAtHand(authorization.key, request.ip, settings, pairOf(request.ip, authorization.key)) !== false) return undefined;
      match = cache.credential(credentialKey('api-key', authorization.key, authorization.secret));
    } else if (authorization.kind === 'bearer' && options.bearer) {
      match = cache.credential(credentialKey('bearer', authorization.token));
    }
    const access = match && knownAccess(match.user);
    if (!match || !access || access.principal.user === GUEST) return undefined;
    if (authorization.kind === 'api-key') {
      options.onKeyUsed?.(match, request);
      checkIp(access, request.ip, settings, match.restrictIp);
      return { principal: access.principal, method: authorization.scheme, apiKey: authorization.key, sessionViaCookie: false, sessionExpired: false, headerAuthenticated: true, scopes: keyScopes(match) };
    }
    checkIp(access, request.ip, settings);
    return { principal: access.principal, method: 'bearer', sessionViaCookie: false, sessionExpired: false, headerAuthenticated: true, scopes: match.scopes };
  }

  /** A session cookie whose live session and user's access are both in memory: no promise. */
  function rememberedSession(sid: string, request: RequestInfo, settings: SystemSettings): AuthResult | undefined {
    const session = sessions.peek(sid);
    const access = session && knownAccess(session.user);
    if (!session || !access || access.principal.user === GUEST) return undefined;
    checkIp(access, request.ip, settings);
    return { principal: access.principal, method: 'session', session, sessionViaCookie: true, sessionExpired: false, headerAuthenticated: false };
  }

  const authenticate: Authenticator = (request, args) =>
    options.hooks.length === 0 && args.sid === undefined && request.headers.authorization === undefined && request.cookies.sid === undefined
      ? GUEST_RESULT
      : (remembered(request, args) ?? lookUp(request, args));
  return authenticate;

  async function lookUp(request: RequestInfo, args: Record<string, unknown>): Promise<AuthResult> {
    const settings = deps.peekSettings?.() ?? (await deps.settings());
    let principal: Principal = GUEST_PRINCIPAL;
    let access: UserAccess | undefined;
    let method: AuthMethod = 'guest';
    let session: SessionRecord | undefined;
    let sessionViaCookie = false;
    let sessionExpired = false;
    let apiKey: string | undefined;
    let headerAuthenticated = false;
    let keyRestriction: string | null | undefined;
    let scopes: readonly string[] | undefined;

    // 1. The session: a `sid` argument (removed from the arguments) beats the cookie.
    const sidArg = typeof args.sid === 'string' ? args.sid : undefined;
    delete args.sid;
    const sid = sidArg ?? request.cookies.sid;
    if (sid && sid !== GUEST) {
      const resumed = await sessions.resume(sid);
      if (resumed && 'session' in resumed) {
        access = knownAccess(resumed.session.user) ?? (await loadAccess(resumed.session.user));
        if (access) {
          session = resumed.session;
          principal = access.principal;
          method = 'session';
          sessionViaCookie = sidArg === undefined;
        } else {
          await sessions.delete(resumed.session);
          sessionExpired = true;
        }
      } else if (resumed) {
        sessionExpired = true;
        if (resumed.ended) options.onSessionExpired?.(resumed.ended, request);
      }
    }

    // 2. The Authorization header (on OAuth client endpoints, Basic is the client's, not a key).
    const rawAuthorization = request.headers.authorization;
    const clientAuth = options.clientAuthPaths?.has(request.path) && /^basic /i.test(rawAuthorization ?? '');
    const authorization = parseAuthorization(clientAuth ? undefined : rawAuthorization);
    if (authorization.kind === 'api-key') {
      const pair = pairOf(request.ip, authorization.key);
      const locked = assertKeyNotLocked(authorization.key, request.ip, settings, pair);
      const hasFailures = typeof locked === 'boolean' ? locked : await locked;
      const source = request.headers['frappe-authorization-source']?.trim();
      const custom = Boolean(source && source !== 'User');
      // Keys of another DocType are never cached: cortado does not know what their rows hold.
      const cacheKey = cache && !custom ? credentialKey('api-key', authorization.key, authorization.secret) : undefined;
      let match: KeyMatch | undefined = cacheKey ? cache?.credential(cacheKey) : undefined;
      const cachedMatch = match !== undefined;
      const epoch = cache?.epoch ?? 0;
      if (match) {
        // Verified on an earlier request.
      } else if (custom && source) {
        const user = options.customSource ? await options.customSource(source, authorization.key, authorization.secret) : undefined;
        if (!options.customSource) refuse(`Unknown authorization source ${source}`);
        match = user ? { user } : undefined;
      } else if (authorization.key.startsWith('ck_') && options.namedKeys) {
        match = await options.namedKeys(authorization.key, authorization.secret);
      } else {
        const user = await verifyUserApiKey(deps.storage, authorization.key, authorization.secret, deps.hashKey);
        match = user ? { user } : undefined;
      }
      const keyAccess = match ? (knownAccess(match.user) ?? (await loadAccess(match.user))) : undefined;
      if (!match || !keyAccess) {
        // Let through unasked as a clean pair: a lockout still answers a wrong secret first.
        if (cleanPairs.delete(pair)) await assertKeyNotLocked(authorization.key, request.ip, settings, pair);
        await recordKeyFailure(authorization.key, request.ip, settings);
        refuse();
      }
      if (cacheKey && !cachedMatch) cache?.setCredential(cacheKey, match, epoch);
      // Frappe forgets the key's failures after a success; nothing to forget when none were counted.
      if (hasFailures) await options.attempts?.reset('user', `api-key:${authorization.key}`);
      // Only after asking the shared counters: a pair trusted from memory is not trusted longer.
      else if (typeof locked !== 'boolean') rememberClean(pair);
      options.onKeyUsed?.(match, request);
      headerAuthenticated = true;
      apiKey = authorization.key;
      // Frappe: a valid cookie session keeps its user; the key still had to be valid.
      if (principal.user === GUEST) {
        principal = keyAccess.principal;
        access = keyAccess;
        method = authorization.scheme;
        keyRestriction = match.restrictIp;
        scopes = keyScopes(match);
      }
    } else if (authorization.kind === 'bearer') {
      const cacheKey = cache && options.bearer ? credentialKey('bearer', authorization.token) : undefined;
      let match: KeyMatch | undefined = cacheKey ? cache?.credential(cacheKey) : undefined;
      const cachedMatch = match !== undefined;
      const epoch = cache?.epoch ?? 0;
      if (!match && options.bearer) match = await options.bearer(authorization.token, request);
      const bearerAccess = match ? (knownAccess(match.user) ?? (await loadAccess(match.user))) : undefined;
      if (match && bearerAccess && cacheKey && !cachedMatch) cache?.setCredential(cacheKey, match, epoch);
      if (!match || !bearerAccess) {
        const metadata = options.resourceMetadataUrl ? `, resource_metadata="${options.resourceMetadataUrl(request)}"` : '';
        throw frappeError('AuthenticationError', '', {
          headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="The access token is invalid, expired or revoked"${metadata}` },
        });
      }
      headerAuthenticated = true;
      if (principal.user === GUEST) {
        principal = bearerAccess.principal;
        access = bearerAccess;
        method = 'bearer';
        scopes = match.scopes;
      }
    }

    // 3. Apps' auth hooks, on every request.
    for (const hook of options.hooks) {
      let chosen: string | undefined;
      try {
        await hook({
          request,
          user: principal.user,
          setUser(name) {
            chosen = name;
          },
        });
      } catch (error) {
        throw asFrappeError(error) ?? error;
      }
      if (chosen !== undefined && chosen !== principal.user) {
        const hookAccess = await loadAccess(chosen);
        if (!hookAccess) refuse();
        principal = hookAccess.principal;
        access = hookAccess;
        method = chosen === GUEST ? 'guest' : 'hook';
        session = undefined;
      }
    }
    if (authorization.kind !== 'none' && principal.user === GUEST) refuse();

    // 4. The IP restriction, for every way of authenticating (Frappe: password login and sessions only).
    if (access && principal.user !== GUEST) checkIp(access, request.ip, settings, keyRestriction);

    return { principal, method, apiKey, session, sessionViaCookie, sessionExpired, headerAuthenticated, scopes };
  }
}
