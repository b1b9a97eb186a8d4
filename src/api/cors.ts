/**
 * CORS as Frappe answers it (app.py `set_cors_headers`), from site config `allow_cors`: `"*"`,
 * one origin, or a list. An allowed `Origin` is echoed (never `*`) with
 * `Access-Control-Allow-Credentials: true`, since the Frappe clients always send credentials;
 * a preflight also gets the requested method and headers back and, outside developer mode,
 * `Access-Control-Max-Age: 86400`. Any `OPTIONS` request is answered with an empty 200 before
 * sessions, CSRF or rate limits are looked at. Other origins get no CORS headers.
 *
 * Some requests have origins of their own, as in Frappe (`set_cors_for_privileged_requests`):
 * the OAuth endpoints public clients call from a browser (`PrivilegedOrigins`, given by the app
 * layer). Those replace `allow_cors` for the request unless it is `"*"` already.
 *
 * Note: `"*"` lets every origin read responses with the browser's cookies, as in Frappe. The
 * `sid` cookie is SameSite=Lax, so another *site* does not get a session that way, but any
 * origin of the same site does: prefer a list of origins.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface CorsConfig {
  readonly allow_cors?: string | readonly string[];
  readonly developer_mode?: boolean;
}

/**
 * The origins one request may be read from instead of `allow_cors` (`"*"` or a list), or
 * undefined where the site's apply; a promise only when settings must be read.
 */
export type PrivilegedOrigins = (method: string, path: string) => '*' | readonly string[] | undefined | Promise<'*' | readonly string[] | undefined>;

export interface CorsPolicy {
  /** Whether a request's `Origin` header value may read responses. */
  allows(origin: string): boolean;
  readonly maxAge: string | undefined;
}

/** `scheme://host[:port]`, the shape browsers send; anything else (e.g. `null`) is never echoed. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^\s/?#@]+$/i;

function normalise(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

export function corsPolicy(config: CorsConfig): CorsPolicy | undefined {
  const setting = config.allow_cors;
  if (setting === undefined || setting === '' || (Array.isArray(setting) && setting.length === 0)) return undefined;
  const list = typeof setting === 'string' ? [setting] : [...setting];
  const any = list.includes('*');
  const allowed = new Set(list.filter((entry) => entry !== '*').map(normalise));
  return {
    allows(origin) {
      if (!ORIGIN.test(origin)) return false;
      return any || allowed.has(normalise(origin));
    },
    maxAge: config.developer_mode ? undefined : '86400',
  };
}

/** The CORS headers a response to `request` gets (none when the origin is not allowed). */
export function corsHeaders(
  request: { method: string; headers: Record<string, string | string[] | undefined> },
  policy: CorsPolicy | undefined,
): Record<string, string> {
  const origin = request.headers.origin;
  if (!policy || typeof origin !== 'string' || !policy.allows(origin)) return {};
  const headers: Record<string, string> = {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Credentials': 'true',
  };
  if (request.method === 'OPTIONS') {
    const method = request.headers['access-control-request-method'];
    const requested = request.headers['access-control-request-headers'];
    if (typeof method === 'string' && method !== '') headers['Access-Control-Allow-Methods'] = method;
    if (typeof requested === 'string' && requested !== '') headers['Access-Control-Allow-Headers'] = requested;
    if (policy.maxAge) headers['Access-Control-Max-Age'] = policy.maxAge;
  }
  return headers;
}

function addVaryOrigin(reply: FastifyReply): void {
  const current = reply.getHeader('vary');
  const text = Array.isArray(current) ? current.join(', ') : current === undefined ? '' : String(current);
  if (text.split(',').some((part) => part.trim().toLowerCase() === 'origin' || part.trim() === '*')) return;
  void reply.header('Vary', text ? `${text}, Origin` : 'Origin');
}

/**
 * Registers the preflight answer (before every other hook of the pipeline, so register this
 * first) and the CORS headers of every response, errors included.
 */
export function registerCors(app: FastifyInstance, config: CorsConfig, privileged?: PrivilegedOrigins): void {
  const sitePolicy = corsPolicy(config);
  // Frappe leaves a site that allows every origin as it is.
  const consultPrivileged = privileged && config.allow_cors !== '*';
  const requestPolicies = new WeakMap<FastifyRequest, CorsPolicy>();
  const proceed = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    if (request.method !== 'OPTIONS') return done();
    // Frappe answers OPTIONS on any path with an empty 200, without session or CSRF work.
    void reply.code(200).send();
  };
  const adopt = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void, found: '*' | readonly string[] | undefined) => {
    const policy = found === undefined ? undefined : corsPolicy({ allow_cors: found, developer_mode: config.developer_mode });
    if (policy) requestPolicies.set(request, policy);
    proceed(request, reply, done);
  };
  // Callback-style hooks: an async hook costs a promise and a microtask on every request, and
  // no closure is made per request unless privileged origins must be awaited.
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    const origin = request.headers.origin;
    if (!consultPrivileged || typeof origin !== 'string' || origin === '') return proceed(request, reply, done);
    const origins = privileged(request.method, request.url.split('?')[0] ?? '');
    if (origins instanceof Promise) origins.then((found) => adopt(request, reply, done, found), done);
    else adopt(request, reply, done, origins);
  });
  if (!sitePolicy && !privileged) return;
  app.addHook('onSend', (request, reply, payload, done) => {
    const policy = requestPolicies.get(request) ?? sitePolicy;
    if (policy) {
      // Whether CORS headers appear depends on Origin: caches must keep the answers apart.
      addVaryOrigin(reply);
      const headers = corsHeaders(request, policy);
      if (Object.keys(headers).length > 0) void reply.headers(headers);
    }
    done(null, payload);
  });
}
