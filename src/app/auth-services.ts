/**
 * The authentication services of a site, built once: settings reader, sessions, login, the
 * request authenticator and the CSRF policy, wired to the site's storage, cache and apps.
 */
import { join } from 'node:path';
import { apiSecretHashKey } from '../auth/api-keys.ts';
import type { AuthDeps } from '../auth/auth-deps.ts';
import type { AuthHook } from '../auth/auth-hook.ts';
import { createAuthenticator, type Authenticator } from '../auth/authenticate.ts';
import { createCsrfPolicy, type CsrfPolicy } from '../auth/csrf.ts';
import type { LoginCollaborators } from '../auth/login-collaborators.ts';
import { createLoginService, type LoginService } from '../auth/login.ts';
import { createSessionStore, type SessionStore } from '../auth/sessions/session-store.ts';
import { CredentialCache, type CredentialChange } from '../auth/credential-cache.ts';
import { classifyCredentialWrite, type ChangeClassifier } from '../auth/credential-invalidation.ts';
import { confirmTwoFactor, pendingTwoFactorUser, startTwoFactor, twoFactorApplies } from '../auth/two-factor.ts';
import { setUserPassword } from '../doctype/document/password-fields.ts';
import { SystemSettingsReader } from '../doctype/system-settings.ts';
import { ipAllowed, ipRefusal, parseIpRules, type IpRules } from '../auth/ip-rules.ts';
import { createLoginAttempts, lockedError } from '../auth/login-attempts.ts';
import type { IpRulesPort } from '../auth/login-collaborators.ts';
import { createSiteRateLimiter, type SiteRateLimiter } from '../auth/rate-limit.ts';
import { createActivityLog } from '../auth/activity-log.ts';
import { createRequestLog, type RequestLog } from '../auth/request-log.ts';
import { createLastUsedRecorder, verifyNamedApiKey } from '../auth/named-api-keys.ts';
import { verifyCustomSourceKey } from '../auth/custom-key-source.ts';
import { CacheClosed } from '../cache/types.ts';
import { epochMs } from '../core/clock.ts';
import { randomHex } from '../core/crypto.ts';
import { openLineSpool } from '../core/line-spool.ts';
import { createClientRegistration } from '../auth/oauth/client-registration.ts';
import { OAUTH_METHOD_PREFIX } from '../auth/oauth/metadata.ts';
import { createOAuthProvider } from '../auth/oauth/oauth-provider.ts';
import { createSigningKeys } from '../auth/oauth/signing-keys.ts';
import type { OAuthServices } from '../api/routes/oauth-routes.ts';
import type { Site } from './site.ts';

export interface AuthServices {
  readonly deps: AuthDeps;
  readonly settings: SystemSettingsReader;
  readonly sessions: SessionStore;
  readonly login: LoginService;
  readonly authenticate: Authenticator;
  readonly csrf: CsrfPolicy;
  readonly hooks: LoginCollaborators['hooks'];
  readonly siteRateLimiter: SiteRateLimiter | undefined;
  readonly activity: ReturnType<typeof createActivityLog>;
  readonly requestLog: RequestLog;
  readonly oauth: OAuthServices;
  /** Verified credentials, users' access and live sessions kept between requests. */
  readonly credentials: CredentialCache;
  /** Drops a per-process cache here and, through the cache's pub/sub, on every other node. */
  invalidate(what: InvalidationTopic): void;
  /** Writes what is still buffered (request log, key usage) and stops the timers. */
  close(): Promise<void>;
}

/** IP allowlists, parsed once per distinct value; a stored value that no longer parses admits nobody. */
function createIpRulesPort(developerMode: boolean): IpRulesPort {
  const parsed = new Map<string, IpRules | null>();
  const rulesOf = (text: string) => {
    if (!parsed.has(text)) {
      let rules: IpRules | null;
      try {
        rules = parseIpRules(text);
      } catch {
        rules = null;
      }
      if (parsed.size > 10_000) parsed.clear();
      parsed.set(text, rules);
    }
    return parsed.get(text) ?? null;
  };
  return {
    allowed(restrictIp, ip) {
      const rules = rulesOf(restrictIp);
      return rules !== null && ipAllowed(rules, ip);
    },
    bypassed(user, settings) {
      return settings.bypass_restrict_ip_check_if_2fa_enabled || (settings.enable_two_factor_auth && Number(user.bypass_restrict_ip_check_if_2fa_enabled) === 1);
    },
    refusal: (ip) => ipRefusal(ip, { developerMode }),
  };
}

/** Per-process caches other nodes must drop when this one changes what they hold. */
export type InvalidationTopic = 'settings' | 'signing-keys';
const INVALIDATION_CHANNEL = 'cortado:invalidate';
/** Messages on the channel that carry credential changes (a JSON array of CredentialChange). */
const CREDENTIALS_PREFIX = 'credentials:';

/**
 * How long a verified credential is trusted without looking at the database again. Every
 * committed change drops the entries it affects at once, on this node and (through the cache's
 * pub/sub) on the others; the lifetime bounds what a change made where no message can reach us
 * (a lost message) would leave behind. Where changes made by other processes cannot be noticed
 * at all — PostgreSQL without Redis: other workers or nodes, the CLI — nothing is cached.
 */
export const CREDENTIAL_TTL_MS = 30_000;

/** Wait between attempts to subscribe to invalidations while the cache cannot be reached. */
const SUBSCRIBE_RETRY_MS = 2000;

/** Where, under the site folder, API Request Log rows wait while the process is busy. */
export const REQUEST_LOG_SPOOL = join('spool', 'api-request-log');

const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const bySite = new WeakMap<Site, AuthServices>();

/** The site's authentication services (built on first use, then shared). */
export function authServicesFor(site: Site): AuthServices {
  const existing = bySite.get(site);
  if (existing) return existing;
  const settings = new SystemSettingsReader(site.storage, site.registry, () => epochMs(site.clock));
  const deps: AuthDeps = {
    storage: site.storage,
    cache: site.cache,
    clock: site.clock,
    logger: site.logger,
    config: site.config,
    registry: site.registry,
    hashKey: apiSecretHashKey(site.config.encryption_key),
    settings: () => settings.get(),
    peekSettings: () => settings.peek(),
  };
  const appHooks = site.apps.map((a) => a.definition.hooks ?? {});
  const hooks: LoginCollaborators['hooks'] = {
    beforeLogin: [],
    onLogin: appHooks.flatMap((h) => asList(h.on_login)),
    onSessionCreation: appHooks.flatMap((h) => asList(h.on_session_creation)),
    onLogout: appHooks.flatMap((h) => asList(h.on_logout)),
  };
  const twoFactorDeps = { cache: site.cache, storage: site.storage, cipher: site.cipher, now: () => epochMs(site.clock) };
  const externalChanges = () => site.storage.externalChanges?.();
  const credentials = new CredentialCache({
    ttlMs: site.config.redis_url || externalChanges() !== undefined ? CREDENTIAL_TTL_MS : 0,
    now: () => epochMs(site.clock),
    externalChanges,
  });
  const sessions = createSessionStore(deps, { cache: credentials });
  const counters = createLoginAttempts(site.cache);
  const attempts = { ...counters, lockedError };
  const ipRules = createIpRulesPort(site.config.developer_mode);
  const logError = (what: string) => (error: unknown) => site.logger.error(what, { error: String(error) });
  const activity = createActivityLog(site.storage, site.clock, { onError: logError('activity log write failed') });
  const requestLog = createRequestLog(site.storage, site.clock, {
    onError: logError('API request log write failed'),
    spool: openLineSpool(join(site.path, REQUEST_LOG_SPOOL)),
  });
  const lastUsed = createLastUsedRecorder(site.storage, site.clock);
  const login = createLoginService(deps, sessions, {
    hooks,
    attempts,
    activity,
    ipRules,
    twoFactor: {
      applies: (user, roles, s, ipMatches) => twoFactorApplies(site.storage, user, roles, s, ipMatches),
      start: (user, s) => startTwoFactor(twoFactorDeps, { user, settings: s }),
      pendingUser: (tmpId) => pendingTwoFactorUser(site.cache, tmpId),
      confirm: (tmpId, otp) => confirmTwoFactor(twoFactorDeps, tmpId, otp),
    },
    rehash: (user, password) => setUserPassword(site.storage, user, password),
  });
  const authHooks: AuthHook[] = appHooks.flatMap((h) => asList(h.auth_hooks));
  const keys = createSigningKeys(site.storage, site.cipher, site.clock);
  const provider = createOAuthProvider(deps, keys, site.cipher, activity);
  // One issuer everywhere: `host_name` when set, else the request's own origin (default port dropped).
  const issuer = (request: { headers: Readonly<Record<string, string | undefined>>; secure: boolean }) => {
    if (site.config.host_name) return site.config.host_name.replace(/\/$/, '');
    try {
      return new URL(`${request.secure ? 'https' : 'http'}://${request.headers.host ?? '127.0.0.1'}`).origin;
    } catch {
      return `${request.secure ? 'https' : 'http'}://127.0.0.1`;
    }
  };
  const oauth: OAuthServices = {
    provider,
    registration: createClientRegistration(deps, site.cipher),
    keys,
    issuer,
    async ensureCsrfToken(session) {
      if (typeof session.data.csrf_token === 'string') return session.data.csrf_token;
      const token = randomHex(56);
      await sessions.setData(session, { csrf_token: token });
      return token;
    },
  };
  let closed = false;
  let subscribeRetry: NodeJS.Timeout | undefined;
  const services: AuthServices = {
    deps,
    settings,
    sessions,
    login,
    authenticate: createAuthenticator({
      deps,
      sessions,
      hooks: authHooks,
      attempts,
      ipRules,
      namedKeys: (key, secret) => verifyNamedApiKey(site.storage, key, secret, deps.hashKey, site.clock.now()),
      customSource: (doctype, key, secret) => verifyCustomSourceKey(site.storage, site.registry, doctype, key, secret, site.cipher),
      onKeyUsed: (match, request) => {
        if (match.keyName) lastUsed.touch(match.keyName, request.ip);
      },
      bearer: (token) => provider.validateBearer(token),
      onSessionExpired: (session, request) => {
        const fullName = String(session.data.full_name ?? session.user);
        void activity.log({ user: session.user, full_name: fullName, operation: 'Logout', status: 'Success', subject: `${fullName} logged out: Session Expired`, ip: request.ip });
      },
      resourceMetadataUrl: (request) => `${issuer(request)}/.well-known/oauth-protected-resource`,
      credentials,
      clientAuthPaths: new Set(['get_token', 'revoke_token', 'introspect_token'].map((name) => `${OAUTH_METHOD_PREFIX}${name}`)),
    }),
    csrf: createCsrfPolicy(site.config),
    hooks,
    siteRateLimiter: createSiteRateLimiter(site.cache, site.config.rate_limit, () => epochMs(site.clock)),
    activity,
    requestLog,
    oauth,
    credentials,
    invalidate(what) {
      dropLocal(what);
      site.cache.publish(INVALIDATION_CHANNEL, what).catch((error: unknown) => site.logger.warn('cache invalidation not published', { error: String(error) }));
    },
    async close() {
      closed = true;
      clearTimeout(subscribeRetry);
      await Promise.allSettled([requestLog.close(), lastUsed.close(), sessions.close()]);
    },
  };
  function dropLocal(what: string): void {
    if (what === 'settings') {
      settings.invalidate();
      credentials.drop('*');
    } else if (what === 'signing-keys') keys.invalidate();
    else if (what.startsWith(CREDENTIALS_PREFIX)) {
      let changes: unknown;
      try {
        changes = JSON.parse(what.slice(CREDENTIALS_PREFIX.length));
      } catch {
        changes = ['*'];
      }
      for (const change of Array.isArray(changes) ? changes : ['*']) credentials.drop(typeof change === 'string' ? change : '*');
    }
  }
  // Every committed write to the rows credentials are built from — by any code path — drops
  // what it made stale, here at once and on every other node through the cache's pub/sub.
  const classifiers = new Map<string, ChangeClassifier>();
  site.storage.watchWrites({
    interested(sql) {
      const classifier = classifyCredentialWrite(sql);
      if (classifier) {
        // Bounded like the statement caches: raw SQL with inlined values is a new text each time.
        if (classifiers.size >= 5000) classifiers.clear();
        classifiers.set(sql, classifier);
      }
      return classifier !== undefined;
    },
    committed(writes) {
      const changes = new Set<CredentialChange>();
      for (const write of writes) {
        const classify = classifiers.get(write.sql) ?? classifyCredentialWrite(write.sql);
        for (const change of classify ? classify(write.params) : ['*']) changes.add(change);
      }
      if (changes.size === 0) return;
      // A bulk change (an import, a migration) is simpler to announce as "everything".
      const list = changes.has('*') || changes.size > 256 ? ['*'] : [...changes];
      for (const change of list) credentials.drop(change);
      site.cache
        .publish(INVALIDATION_CHANNEL, CREDENTIALS_PREFIX + JSON.stringify(list))
        .catch((error: unknown) => site.logger.warn('credential invalidation not published', { error: String(error) }));
    },
  });
  // Other nodes' changes arrive here. Messages that may have been lost — the cache was
  // unreachable, or the subscription could not be made yet — count as "everything changed".
  const dropEverything = () => {
    dropLocal('settings');
    dropLocal('signing-keys');
  };
  const subscribe = (attempt: number): void => {
    site.cache.subscribe(INVALIDATION_CHANNEL, dropLocal, dropEverything).then(
      () => {
        if (attempt === 1) return;
        dropEverything();
        site.logger.info('cache invalidation subscribed', { attempts: attempt });
      },
      (error: unknown) => {
        if (closed || error instanceof CacheClosed) return;
        if (attempt === 1) site.logger.warn('cache invalidation not subscribed yet; retrying', { error: String(error) });
        subscribeRetry = setTimeout(() => subscribe(attempt + 1), SUBSCRIBE_RETRY_MS);
        subscribeRetry.unref();
      },
    );
  };
  subscribe(1);
  bySite.set(site, services);
  return services;
}
