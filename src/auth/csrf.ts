/**
 * CSRF, as Frappe checks it plus an origin check. Frappe: a session holding a `csrf_token`
 * must send it (`X-Frappe-CSRF-Token` or a `csrf_token` argument) on POST/PUT/PATCH/DELETE.
 * cortado also refuses any cookie-authenticated unsafe request whose `Sec-Fetch-Site` /
 * `Origin` shows another site, so sessions without a token are protected too. Requests that
 * carry a valid API key or bearer token are never checked.
 */
import { constantEquals } from '../core/crypto.ts';
import { frappeError } from '../core/errors.ts';
import type { SiteConfig } from '../core/config.ts';
import type { RequestInfo } from '../core/request-info.ts';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function invalid(): never {
  throw frappeError('CSRFTokenError', 'Invalid Request', { title: 'Invalid Request' });
}

/** `scheme://host[:port]` of a URL, or undefined. */
export function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

export interface CsrfPolicy {
  /** Origins trusted besides the site's own: `allow_cors` entries and `allowed_referrers`. */
  readonly trustedOrigins: ReadonlySet<string>;
  /** `allowed_referrers` only: Frappe lets these skip the token check (`allow_cors` does not). */
  readonly referrerOrigins: ReadonlySet<string>;
  readonly allowAnyOrigin: boolean;
  readonly ignore: boolean;
  readonly hostOrigin: string | undefined;
}

export function createCsrfPolicy(config: SiteConfig): CsrfPolicy {
  const cors = config.allow_cors;
  const list = cors === undefined ? [] : Array.isArray(cors) ? cors : [cors];
  const originsOf = (entries: readonly string[]) => new Set(entries.map(originOf).filter((o): o is string => o !== undefined));
  const referrers = originsOf(config.allowed_referrers);
  const trusted = new Set([...originsOf(list.filter((o) => o !== '*')), ...referrers]);
  return {
    trustedOrigins: trusted,
    referrerOrigins: referrers,
    // `allow_cors: "*"` lets any site read responses; it does not let any site write with a
    // user's cookie: Frappe never sends credentials for "*", so neither does the origin check.
    allowAnyOrigin: false,
    ignore: config.ignore_csrf,
    hostOrigin: originOf(config.host_name),
  };
}

function requestOrigin(info: RequestInfo): string | undefined {
  const host = info.headers['x-forwarded-host'] && info.secure ? info.headers['x-forwarded-host'] : info.headers.host;
  // Through URL, so `host:80` over http equals the browser's `http://host`.
  return host ? originOf(`${info.secure ? 'https' : 'http'}://${host}`) : undefined;
}

function isAllowedReferrer(info: RequestInfo, policy: CsrfPolicy): boolean {
  const origin = originOf(info.headers.origin) ?? originOf(info.headers.referer);
  return origin !== undefined && policy.referrerOrigins.has(origin);
}

/** The origin check: false when the browser says the request came from another site. */
export function sameOriginRequest(info: RequestInfo, policy: CsrfPolicy): boolean {
  const fetchSite = info.headers['sec-fetch-site'];
  const originHeader = info.headers.origin;
  if (fetchSite === 'same-origin' || fetchSite === 'none') return true;
  if (originHeader === undefined && fetchSite === undefined) return true; // not a browser
  const origin = originOf(originHeader) ?? originOf(info.headers.referer);
  if (origin === undefined) return false; // "null" origins: sandboxed frames, file://
  if (origin === requestOrigin(info) || origin === policy.hostOrigin) return true;
  return policy.trustedOrigins.has(origin);
}

export interface CsrfInput {
  info: RequestInfo;
  args: Record<string, unknown>;
  /** The session's token, if it holds one. */
  sessionToken: string | undefined;
  /** The session came from the `sid` cookie (not a `sid` argument). */
  viaCookie: boolean;
  /** A valid API key or bearer token authenticated the request. */
  headerAuthenticated: boolean;
}

/** Throws CSRFTokenError (400, "Invalid Request") when the request fails the checks. */
export function checkCsrf(input: CsrfInput, policy: CsrfPolicy): void {
  const { info, args } = input;
  const given = typeof args.csrf_token === 'string' ? args.csrf_token : info.headers['x-frappe-csrf-token'];
  delete args.csrf_token;
  if (!UNSAFE.has(info.method) || input.headerAuthenticated || policy.ignore) return;
  const referrerAllowed = isAllowedReferrer(info, policy);
  if (input.viaCookie && !referrerAllowed && !sameOriginRequest(info, policy)) invalid();
  if (input.sessionToken === undefined || referrerAllowed) return;
  if (typeof given !== 'string' || !constantEquals(given, input.sessionToken)) invalid();
}
