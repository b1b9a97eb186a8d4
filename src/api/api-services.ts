import type { FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/authenticate.ts';
import type { ApiRequestLogEntry as RequestLogEntry } from '../auth/request-log.ts';
import type { LoginService } from '../auth/login.ts';
import type { PasswordChange } from '../auth/password-reset.ts';
import type { OAuthServices } from './routes/oauth-routes.ts';
import type { CsrfPolicy } from '../auth/csrf.ts';
import type { SiteRateLimiter } from '../auth/rate-limit.ts';
import type { SessionRecord } from '../auth/sessions/session-store.ts';
import type { SiteConfig } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { RequestInfo } from '../core/request-info.ts';
import type { DocumentContext, RequestDb } from '../doctype/document/document-context.ts';
import type { MetaRegistry } from '../doctype/meta/meta-registry.ts';
import type { Principal } from '../doctype/principal.ts';
import type { Storage } from '../storage/types.ts';
import type { MethodRegistry } from './methods/method-registry.ts';

export interface RequestHooks {
  before: ((ctx: { request: RequestInfo; user: string }) => void | Promise<void>)[];
  after: ((ctx: { request: RequestInfo; user: string; status: number }) => void | Promise<void>)[];
}

/** What the API layer needs from the site, handed in by the app layer. */
export interface ApiServices {
  readonly config: SiteConfig;
  readonly logger: Logger;
  readonly storage: Storage;
  readonly registry: MetaRegistry;
  readonly methods: MethodRegistry;
  readonly authenticate: Authenticator;
  readonly requestHooks: RequestHooks;
  /** A document context for the request; `scopes` (OAuth, scoped keys) narrow it. */
  documentContext(principal: Principal, db: RequestDb, scopes?: readonly string[]): DocumentContext;
  /** The OAuth provider's endpoints and discovery documents. */
  readonly oauth?: OAuthServices;
  /** The password login flow, for the `/login` page. */
  readonly login?: LoginService;
  /** Password changes (old password or reset key), for the `/update-password` page. */
  readonly changePassword?: (change: PasswordChange) => Promise<string>;
  /** Client IP from the socket, or X-Forwarded-For when the peer is a trusted proxy. */
  clientIp(socketAddress: string, forwardedFor: string | undefined): string;
  /** Whether the peer is a trusted proxy (its X-Forwarded-Proto then counts). */
  trustedPeer(socketAddress: string): boolean;
  readonly csrf: CsrfPolicy;
  /**
   * Slides a session's idle expiry (written at most once a minute); a promise only when there
   * is something to wait for.
   */
  touchSession(session: SessionRecord): Promise<void> | undefined;
  /** The `sid` cookie's Max-Age: the idle expiry in seconds (without a promise when at hand). */
  sessionMaxAge(): number | Promise<number>;
  /** Frappe's site-wide limiter (site config `rate_limit`), when configured. */
  readonly siteRateLimiter?: SiteRateLimiter;
  /**
   * Records an /api request in the API Request Log when System Settings turn it on; `entry` is
   * called only then (every /api request asks).
   */
  logRequest?(entry: () => RequestLogEntry): void;
  /**
   * Whether error bodies may carry Frappe's `exception`/`exc` keys for System Users (System
   * Settings `allow_error_traceback`); asked only when an error is rendered, so keep it cheap.
   */
  tracebacksAllowed?(): Promise<boolean>;
  /** Counts a call of a rate-limited method; refuses (429) past the method's limit. */
  limitMethod?(method: string, keys: { ip: string; user: string; key: string | undefined }): Promise<void>;
}

export type { ApiRequestLogEntry as RequestLogEntry } from '../auth/request-log.ts';

/** A dependency `/readyz` asks: the database (Storage) or the cache. */
export interface Pingable {
  ping(): Promise<boolean>;
}

export type DependencyState = 'ok' | 'unavailable';

/** What `/readyz` reports for load balancers. */
export interface HealthReport {
  readonly ready: boolean;
  readonly database: DependencyState;
  readonly cache: DependencyState;
}

/**
 * Readiness: pings the database and the cache at once. A ping that fails, throws or takes longer
 * than `timeoutMs` counts as unavailable, so the answer never waits on a hung dependency.
 */
export async function health(deps: { storage: Pingable; cache: Pingable }, timeoutMs = 1000): Promise<HealthReport> {
  const probe = async (dependency: Pingable): Promise<DependencyState> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      const answered = await Promise.race([dependency.ping().catch(() => false), late]);
      return answered ? 'ok' : 'unavailable';
    } finally {
      clearTimeout(timer);
    }
  };
  const [database, cache] = await Promise.all([probe(deps.storage), probe(deps.cache)]);
  return { ready: database === 'ok' && cache === 'ok', database, cache };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** False on routes the API pipeline leaves alone (`OUTSIDE_PIPELINE`). */
    cortadoPipeline?: boolean;
  }
}

/** Route config of routes the API pipeline leaves alone (no session, CSRF, rate limit, hooks). */
export const OUTSIDE_PIPELINE = { cortadoPipeline: false } as const;

/** True for a route registered with `config: OUTSIDE_PIPELINE`. */
export function outsidePipeline(request: FastifyRequest): boolean {
  return request.routeOptions.config.cortadoPipeline === false;
}
