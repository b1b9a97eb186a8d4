/**
 * Composition: a site's services → authentication → the API on Fastify. Also the process
 * side of serving: listen, and drain in-flight requests on SIGTERM/SIGINT before closing the
 * database.
 */
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { registerBuiltinMethods } from '../api/methods/builtin-methods.ts';
import { registerApi } from '../api/register-api.ts';
import { renderError } from '../api/error-response.ts';
import { frappeError } from '../core/errors.ts';
import { registerGetJsonBody } from '../api/get-json-body.ts';
import { registerCors } from '../api/cors.ts';
import { fileDocEvents, registerUploadFile } from '../api/methods/upload-file.ts';
import { registerFileRoutes } from '../api/routes/file-routes.ts';
import { registerHealthRoutes } from '../api/routes/health-routes.ts';
import { securityHeaders } from '../api/security-headers.ts';
import { registerDeskRoutes } from '../api/routes/desk-routes.ts';
import { apiSecretHashKey, generateUserKeys } from '../auth/api-keys.ts';
import { createClientIpResolver, createTrustedPeerCheck } from '../auth/client-ip.ts';
import { authServicesFor } from './auth-services.ts';
import { registerAuthMethods } from './auth-methods.ts';
import { registerDeskMethods } from './desk-methods.ts';
import { oauthClientEvents, registerOAuthClientMethods } from './oauth-client-events.ts';
import { validateIpRulesText } from '../auth/ip-rules.ts';
import type { Doc } from '../doctype/document/document-context.ts';
import type { DocEventContext } from './app-definition.ts';
import type { MethodRegistry } from '../api/methods/method-registry.ts';
import { health, type ApiServices, type RequestHooks } from '../api/api-services.ts';
import { createRequestLimiter, limitedError } from '../auth/rate-limit.ts';
import { publicClientOrigins } from '../auth/oauth/public-client-origins.ts';
import { compileScopes } from '../auth/oauth/scopes.ts';
import { updatePassword } from '../auth/password-reset.ts';
import { openSite, type OpenSiteOptions, type Site } from './site.ts';

const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Built-in methods; they need the site, so they are registered as the site opens. */
function builtins(getSite: () => Site): (methods: MethodRegistry) => void {
  return (methods) => {
    registerBuiltinMethods(methods, {
      generateKeys: async (user, ctx) => {
        const site = getSite();
        const keys = await site.asAdministrator((admin) => generateUserKeys(admin, user, apiSecretHashKey(site.config.encryption_key)));
        await authServicesFor(site).activity.log({
          user: ctx.user,
          operation: 'API Key',
          status: 'Success',
          subject: `API secret generated for ${user}`,
          ip: ctx.request.ip,
          reference_doctype: 'User',
          reference_name: user,
        });
        return keys;
      },
    });
    registerAuthMethods(methods, () => authServicesFor(getSite()));
    registerDeskMethods(methods, () => authServicesFor(getSite()));
    registerUploadFile(methods, { sitePath: () => getSite().path });
    registerOAuthClientMethods(methods, getSite);
  };
}

/** Document events cortado itself needs: settings caches and sessions follow changes. */
function coreDocEvents(getSite: () => Site) {
  return {
    'System Settings': { on_update: () => authServicesFor(getSite()).invalidate('settings') },
    User: {
      validate(doc: Doc) {
        if (typeof doc.restrict_ip === 'string') doc.restrict_ip = validateIpRulesText(doc.restrict_ip);
        // Frappe's User.set_full_name: lists, the session boot and the desk show this field.
        const parts = [doc.first_name, doc.last_name].filter((part) => typeof part === 'string' && part.trim() !== '');
        if (parts.length > 0) doc.full_name = parts.join(' ');
      },
      // A disabled user is logged out everywhere at once. In the request's transaction: on
      // SQLite a second writer would wait for this one forever.
      async on_update(doc: Doc, ctx: DocEventContext) {
        if (Number(doc.enabled) === 0) await ctx.sql.run('DELETE FROM "__Sessions" WHERE "user" = ?', [String(doc.name)]);
      },
      async on_trash(doc: Doc, ctx: DocEventContext) {
        await ctx.sql.run('DELETE FROM "__Sessions" WHERE "user" = ?', [String(doc.name)]);
      },
    },
    File: fileDocEvents(() => getSite().path),
    'API Key': {
      validate(doc: Doc) {
        if (typeof doc.restrict_ip === 'string') doc.restrict_ip = validateIpRulesText(doc.restrict_ip);
      },
    },
    'OAuth Client': oauthClientEvents(getSite),
  };
}

/** Opens a site with the built-in methods and core document events registered. */
export async function openServingSite(path: string, options: Omit<OpenSiteOptions, 'registerBuiltins' | 'coreDocEvents'> = {}): Promise<Site> {
  // The built-ins need the site they are registered on; they only run after it has opened.
  const holder: { site?: Site } = {};
  holder.site = await openSite(path, { ...options, registerBuiltins: builtins(() => holder.site as Site), coreDocEvents });
  return holder.site;
}

/** Site config `method_rate_limits`: only the methods named there pay for a counter. */
function methodLimiter(site: Site): ApiServices['limitMethod'] {
  const limits = site.config.method_rate_limits;
  if (Object.keys(limits).length === 0) return undefined;
  const limiter = createRequestLimiter(site.cache);
  return async (method, keys) => {
    const rule = limits[method];
    if (!rule) return;
    const id = rule.per === 'user' ? keys.user : rule.per === 'key' ? (keys.key ?? `user:${keys.user}`) : keys.ip;
    const result = await limiter.hit(`method:${method}:${rule.per}`, id, rule);
    if (!result.allowed) throw limitedError(result.resetIn);
  };
}

/** Largest header block accepted (Node's default, set explicitly): larger ones get 431. */
export const MAX_HEADER_SIZE = 16 * 1024;

export interface CreateServerOptions {
  /** Fastify's logger; off by default (cortado logs through its own logger). */
  logRequests?: boolean;
  /** The built desk served at /app and /assets/desk/ (default `<repo>/dist/ui`). */
  deskDist?: string;
}

export async function createServer(site: Site, options: CreateServerOptions = {}): Promise<FastifyInstance> {
  const security = securityHeaders(site.config);
  const app = Fastify({
    logger: options.logRequests ?? false,
    bodyLimit: site.config.max_file_size,
    // Slow clients cannot hold a connection open forever: headers, then the whole request, must
    // arrive in time (site config; docs/deploy.md), and header blocks over 16 KiB are answered
    // 431 by Node itself. Node checks the timers every `connectionsCheckingInterval`.
    requestTimeout: site.config.http_request_timeout_ms,
    http: {
      maxHeaderSize: MAX_HEADER_SIZE,
      headersTimeout: Math.min(site.config.http_headers_timeout_ms, site.config.http_request_timeout_ms),
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(site.config.http_headers_timeout_ms / 4))),
    },
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    // Answered below in Frappe's shape instead of Fastify's fixed body.
    return503OnClosing: false,
    // DocType names and document names may be long; Fastify's default cap is 100 characters.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    // Errors the router raises before any hook runs still answer in Frappe's shape.
    frameworkErrors(error, request, reply) {
      const frappe =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? frappeError('DoesNotExistError', 'Not found', { title: 'Not Found' })
          : frappeError('ValidationError', 'Malformed request URL', { status: 400 });
      const answer = renderError(frappe, { path: request.url.split('?')[0] ?? '/', headers: request.headers });
      const out = (reply as FastifyReply).code(answer.status).headers({ 'Cache-Control': 'no-store', ...answer.headers }).type(answer.contentType);
      security.apply(request, out);
      void out.send(answer.body);
    },
  });
  security.register(app);
  // Closing (SIGTERM, app.close()): a request arriving on a kept-alive connection gets a 503 a
  // client can read (`exc_type`, CORS and security headers), and no work is started for it.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    const frappe = frappeError('ServiceUnavailable', 'The server is shutting down, try again shortly');
    const answer = renderError(frappe, { path: request.url.split('?')[0] ?? '/', headers: request.headers });
    void reply.code(answer.status).headers({ 'Cache-Control': 'no-store', ...answer.headers }).type(answer.contentType).send(answer.body);
  });
  registerGetJsonBody(app, site.config.max_file_size);
  // Frappe accepts an empty body with Content-Type: application/json (axios sends one on GET).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json/, { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      const error = Object.assign(new Error('Invalid JSON in request body'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
      done(error, undefined);
    }
  });
  await app.register(formbody);
  // No parsing hook: `RequestInfo.cookies` parses the header when first read.
  await app.register(cookie, { hook: false });
  const auth = authServicesFor(site);
  // First: a preflight is answered before any session, CSRF or rate-limit work.
  registerCors(app, site.config, publicClientOrigins(auth.oauth.provider.settings));
  // /healthz and /readyz: routes outside the API pipeline (no session, rate limit or hooks).
  registerHealthRoutes(app, { readiness: () => health({ storage: site.storage, cache: site.cache }) });

  const hooks = site.apps.map((a) => a.definition.hooks ?? {});
  const requestHooks: RequestHooks = {
    before: hooks.flatMap((h) => asList(h.before_request)),
    after: hooks.flatMap((h) => asList(h.after_request)),
  };
  registerApi(app, {
    config: site.config,
    logger: site.logger,
    storage: site.storage,
    registry: site.registry,
    methods: site.methods,
    requestHooks,
    authenticate: auth.authenticate,
    documentContext: (principal, db, scopes) => site.documentContext(principal, db, { scopeCheck: scopes && compileScopes(scopes).allowsDoctype }),
    oauth: auth.oauth,
    login: auth.login,
    changePassword: (change) => updatePassword(auth.deps, change),
    clientIp: createClientIpResolver(site.config.trusted_proxies),
    trustedPeer: createTrustedPeerCheck(site.config.trusted_proxies),
    csrf: auth.csrf,
    touchSession: (session) => auth.sessions.touch(session),
    sessionMaxAge: () => auth.sessions.idleSeconds(),
    siteRateLimiter: auth.siteRateLimiter,
    limitMethod: methodLimiter(site),
    tracebacksAllowed: async () => (await auth.settings.get()).allow_error_traceback,
    logRequest(entry) {
      // Every /api request asks: answered from the cached settings without a promise when fresh.
      const fresh = auth.settings.peek();
      if (fresh) {
        if (fresh.log_api_requests) auth.requestLog.record(entry());
        return;
      }
      auth.settings.get().then(
        (settings) => settings.log_api_requests && auth.requestLog.record(entry()),
        () => undefined,
      );
    },
  });
  await registerFileRoutes(app, { sitePath: site.path, maxFileSize: site.config.max_file_size });
  registerDeskRoutes(app, { deskDist: options.deskDist, ensureCsrfToken: auth.oauth.ensureCsrfToken });
  app.addHook('onClose', async () => auth.close());
  return app;
}

const HOUSEKEEPING_INTERVAL_MS = 3_600_000;

/** Hourly: drop expired sessions and API Request Log rows past their retention; refresh planner statistics. */
export async function runHousekeeping(site: Site): Promise<{ sessions: number; requestLogs: number }> {
  const auth = authServicesFor(site);
  try {
    const settings = await auth.settings.get();
    const sessions = await auth.sessions.purgeExpired();
    const requestLogs = await auth.requestLog.purge(Math.max(1, settings.api_request_log_retention_days));
    await auth.oauth.provider.tokens.purge();
    await auth.oauth.registration.purgeUnused();
    // Tables grow: the planner's statistics follow (SQLite; cheap when nothing changed much).
    await site.storage.optimize();
    return { sessions, requestLogs };
  } catch (error) {
    site.logger.warn('housekeeping failed', { error: String(error) });
    return { sessions: 0, requestLogs: 0 };
  }
}

export interface ServeOptions {
  port: number;
  host: string;
  /** Print the listening line (the CLI does; tests do not). */
  announce?: (message: string) => void;
  /** Handle SIGTERM/SIGINT by draining and closing (the CLI does). */
  handleSignals?: boolean;
}

export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  /** Stops accepting, waits for in-flight requests, then closes the database. */
  close(): Promise<void>;
}

export async function serve(site: Site, options: ServeOptions): Promise<RunningServer> {
  await site.migrate();
  const app = await createServer(site);
  // While draining, every answer closes its connection: a kept-alive connection whose request
  // was in flight at the signal would otherwise hold the close open until keepAliveTimeout.
  let draining = false;
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) void reply.header('connection', 'close');
    done(null, payload);
  });
  const address = await app.listen({ port: options.port, host: options.host });
  const url = address.replace('[::1]', 'localhost');
  const housekeeping = setInterval(() => void runHousekeeping(site), HOUSEKEEPING_INTERVAL_MS);
  housekeeping.unref();
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      clearInterval(housekeeping);
      await app.close();
      await site.close();
    })());
  if (options.handleSignals) {
    const onSignal = (signal: string) => {
      options.announce?.(`${signal} received: finishing in-flight requests`);
      // Bounded: requests still running after shutdown_timeout_ms are abandoned (their
      // transactions roll back) and the process exits 1.
      const timeoutMs = site.config.shutdown_timeout_ms;
      setTimeout(() => {
        site.logger.error(`shutdown timed out: requests still in flight ${timeoutMs} ms after ${signal}; exiting`, { shutdown_timeout_ms: timeoutMs });
        process.exit(1);
      }, timeoutMs).unref();
      close().then(
        () => process.exit(0),
        (error: unknown) => {
          site.logger.error('shutdown failed', { error: String(error) });
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  }
  options.announce?.(`cortado serving ${site.path} on ${url}`);
  return { url, app, close };
}
