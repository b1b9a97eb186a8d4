/**
 * Frappe's HTTP contract on a Fastify instance: one pipeline per request (arguments, user
 * resolved once, maintenance, hooks), the routes, and Frappe's error bodies. Every request
 * gets its own unit of work: committed for a successful unsafe verb, rolled back otherwise.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthMethod, AuthResult } from '../auth/authenticate.ts';
import type { RateLimitState, SiteRateLimiter } from '../auth/rate-limit.ts';
import { checkCsrf } from '../auth/csrf.ts';
import { parseAuthorization } from '../auth/parse-authorization.ts';
import { clearLoginCookies, setSidCookie } from '../auth/sessions/session-cookies.ts';
import type { SessionRecord } from '../auth/sessions/session-store.ts';
import type { FrappeError} from '../core/errors.ts';
import { asFrappeError, frappeError } from '../core/errors.ts';
import type { CookieOptions, RequestInfo, ResponseControl } from '../core/request-info.ts';
import { createDbApi, type DbApi } from '../doctype/db-api.ts';
import type { DocumentContext } from '../doctype/document/document-context.ts';
import { GUEST_PRINCIPAL, type Principal } from '../doctype/principal.ts';
import { CacheUnavailable } from '../cache/types.ts';
import { StatementTimeout, StorageUnavailable, StorageValueError } from '../storage/types.ts';
import { UnitOfWork } from '../storage/unit-of-work.ts';
import { outsidePipeline, type ApiServices } from './api-services.ts';
import { apiVersionOf, renderError, serverMessages } from './error-response.ts';
import type { ServerMessage } from './methods/method-registry.ts';
import { parseArgs, type Args } from './parse-args.ts';
import { registerMethodRoutes, runCommand } from './routes/method-routes.ts';
import { registerResourceRoutes } from './routes/resource-routes.ts';
import { registerV2Routes } from './routes/v2-routes.ts';
import { registerOAuthRoutes } from './routes/oauth-routes.ts';
import { registerLoginPageRoutes } from './routes/login-page-routes.ts';

export interface RequestState {
  readonly info: RequestInfo;
  readonly uow: UnitOfWork;
  readonly response: ResponseControl;
  readonly started: number;
  args: Args;
  principal: Principal;
  authMethod: AuthMethod;
  apiKey: string | undefined;
  auth: AuthResult | undefined;
  rateLimit: RateLimitState | undefined;
  /** `msgprint` messages, sent with the answer (v1 `_server_messages`, v2 `messages`). */
  readonly messages: ServerMessage[];
  documents(): DocumentContext;
  db(): DbApi;
}

declare module 'fastify' {
  interface FastifyRequest {
    cortado: RequestState;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const NO_STORE = 'no-store,no-cache,must-revalidate,max-age=0';

/**
 * The request's headers as `RequestInfo` shows them. Node already lower-cases names and joins
 * repeated headers with `, `; only `set-cookie` (never meaningful in a request) stays a list.
 */
function headersOf(headers: FastifyRequest['headers']): Record<string, string | undefined> {
  const setCookie = headers['set-cookie'];
  if (setCookie === undefined) return headers as Record<string, string | undefined>;
  return { ...headers, 'set-cookie': setCookie.join(', ') } as Record<string, string | undefined>;
}

/** Errors of Fastify itself (bad JSON, body too large, …) in Frappe's terms. */
function fromFastifyError(error: FastifyError): FrappeError | undefined {
  const status = error.statusCode;
  if (!status || status >= 500) return undefined;
  if (status === 413) return frappeError('RequestEntityTooLarge', 'Request body is too large', { status: 413 });
  if (status === 415) return frappeError('UnsupportedMediaType', error.message, { status: 415 });
  if (status === 404) return frappeError('DoesNotExistError', 'Not found', { title: 'Not Found' });
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 400) {
    return frappeError('ValidationError', error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'Invalid JSON in request body' : error.message, {
      status: 400,
    });
  }
  return frappeError('ValidationError', error.message, { status });
}

/** The way of authenticating a refused request tried, for the API Request Log. */
function attemptedMethod(header: string | undefined): string {
  const scheme = header?.split(' ')[0]?.toLowerCase();
  return scheme === 'token' || scheme === 'basic' || scheme === 'bearer' ? scheme : 'guest';
}

/** The key id a refused request tried (never its secret), for the API Request Log. */
function attemptedKeyId(header: string | undefined): string | undefined {
  try {
    const parsed = parseAuthorization(header);
    return parsed.kind === 'api-key' ? parsed.key.slice(0, 140) : undefined;
  } catch {
    return undefined;
  }
}

export function toFrappeError(error: unknown): FrappeError | undefined {
  if (error instanceof StorageUnavailable) return frappeError('ServiceUnavailable', 'The database is unavailable, try again shortly');
  if (error instanceof StorageValueError) return frappeError('ValidationError', 'A value of this request cannot be stored');
  if (error instanceof StatementTimeout) return frappeError('QueryTimeoutError', 'The query took too long and was stopped; narrow its filters or ask for fewer rows');
  if (error instanceof CacheUnavailable) return frappeError('ServiceUnavailable', 'The cache is unavailable, try again shortly');
  const frappe = asFrappeError(error);
  if (frappe) return frappe;
  if (error && typeof error === 'object' && 'statusCode' in error) return fromFastifyError(error as FastifyError);
  return undefined;
}

/**
 * A request as handlers see it. A class, not an object literal: a getter in a literal gets a
 * hidden class of its own on every request, and everything reading the object afterwards goes
 * megamorphic — that alone cost a guest `ping` a third of its time (docs/performance.md).
 */
class HttpRequestInfo implements RequestInfo {
  readonly #parseCookies: (header: string) => Record<string, string | undefined>;
  #cookies: Record<string, string | undefined> | undefined;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly headers: Readonly<Record<string, string | undefined>>,
    readonly ip: string,
    readonly secure: boolean,
    parseCookies: (header: string) => Record<string, string | undefined>,
  ) {
    this.#parseCookies = parseCookies;
  }

  /** Parsed when first asked for: token, bearer and guest requests never are. */
  get cookies(): Readonly<Record<string, string | undefined>> {
    const header = this.headers.cookie;
    return (this.#cookies ??= header ? this.#parseCookies(header) : {});
  }
}

type CookieSerializer = (name: string, value: string, options: CookieOptions & { encode?(value: string): string }) => string;

/**
 * The serialised attributes (`; Max-Age=…; Path=/; …`) of each options object. A resumed
 * session re-sends its `sid` cookie with the same options object for a second
 * (session-cookies.ts): its expiry date is formatted once, not on every response.
 */
const cookieAttributes = new WeakMap<CookieOptions, string>();
const NO_COOKIE_OPTIONS = Object.freeze({});

/**
 * The response's cookies and headers. Cookies are serialised when set and the Set-Cookie header
 * rewritten: one per name and path, the last set wins, in the order first set (what
 * @fastify/cookie's reply.setCookie does, without its per-reply parse, map and send hook).
 */
class ReplyControl implements ResponseControl {
  readonly #reply: FastifyReply;
  readonly #serialize: CookieSerializer;
  #cookies: Map<string, string> | undefined;

  constructor(reply: FastifyReply, serialize: CookieSerializer) {
    this.#reply = reply;
    this.#serialize = serialize;
  }

  setCookie(name: string, value: string, options: CookieOptions = NO_COOKIE_OPTIONS): void {
    let attributes = cookieAttributes.get(options);
    if (attributes === undefined) {
      attributes = this.#serialize('_', '', { sameSite: 'lax', ...options }).slice(2);
      cookieAttributes.set(options, attributes);
    }
    // The name checked and the value encoded (with the options' own encoder, if any) as the
    // serialiser does; then the attributes.
    const encode = (options as { encode?(value: string): string }).encode;
    const serialized = this.#serialize(name, value, encode ? { encode } : NO_COOKIE_OPTIONS) + attributes;
    if (!this.#cookies) {
      // The common case, one cookie: no header to rewrite.
      this.#cookies = new Map([[`${name};${options.path ?? '/'}`, serialized]]);
      void this.#reply.header('set-cookie', serialized);
      return;
    }
    this.#cookies.set(`${name};${options.path ?? '/'}`, serialized);
    this.#reply.removeHeader('set-cookie');
    void this.#reply.header('set-cookie', [...this.#cookies.values()]);
  }

  setHeader(name: string, value: string): void {
    void this.#reply.header(name, value);
  }
}

/**
 * One request's state. A class, so the per-request object is one allocation with methods on
 * the prototype rather than a literal with four fresh closures (docs/performance.md).
 */
class PipelineState implements RequestState {
  readonly started = performance.now();
  args: Args = {};
  principal: Principal = GUEST_PRINCIPAL;
  authMethod: AuthMethod = 'guest';
  apiKey: string | undefined = undefined;
  auth: AuthResult | undefined = undefined;
  rateLimit: RateLimitState | undefined = undefined;
  readonly messages: ServerMessage[] = [];
  #documents: DocumentContext | undefined;
  #db: DbApi | undefined;

  constructor(
    readonly info: RequestInfo,
    readonly uow: UnitOfWork,
    readonly response: ResponseControl,
    private readonly services: ApiServices,
  ) {}

  documents(): DocumentContext {
    return (this.#documents ??= this.services.documentContext(this.principal, this.uow, this.auth?.scopes));
  }

  db(): DbApi {
    return (this.#db ??= createDbApi(this.documents()));
  }
}

export function registerApi(app: FastifyInstance, services: ApiServices): void {
  app.decorateRequest('cortado', null as unknown as RequestState);
  const parseCookieHeader = (header: string) => app.parseCookie(header);
  const serializeCookie: CookieSerializer = (name, value, options) => app.serializeCookie(name, value, options);

  // Callback style, as every hook on the request path: an async hook costs a promise and a
  // microtask per request, which a guest `ping` notices (docs/performance.md).
  app.addHook('onRequest', (request, reply, done) => {
    if (outsidePipeline(request)) return done();
    void reply.header('Cache-Control', NO_STORE);
    const uow = new UnitOfWork(services.storage);
    const headers = headersOf(request.headers);
    const socket = request.socket.remoteAddress ?? '';
    const encrypted = Boolean((request.socket as { encrypted?: boolean }).encrypted);
    const query = request.url.indexOf('?');
    const info = new HttpRequestInfo(
      request.method,
      query === -1 ? request.url : request.url.slice(0, query),
      headers,
      services.clientIp(socket, headers['x-forwarded-for']),
      encrypted || (services.trustedPeer(socket) && headers['x-forwarded-proto'] === 'https'),
      parseCookieHeader,
    );
    request.cortado = new PipelineState(info, uow, new ReplyControl(reply, serializeCookie), services);
    done();
  });

  /** Arguments and the maintenance switch: what comes before knowing who is asking. */
  const beforeAuthentication = (request: FastifyRequest, state: RequestState): void => {
    const contentType = String(request.headers['content-type'] ?? '');
    state.args = parseArgs(request.query, request.body, contentType.includes('json'));
    if (services.config.maintenance_mode) {
      const readOnly = services.config.allow_reads_during_maintenance && !UNSAFE.has(request.method);
      if (!services.config.allow_reads_during_maintenance) throw frappeError('SessionStopped', 'Session Stopped', { title: 'Maintenance' });
      if (!readOnly) throw frappeError('InReadOnlyMode', 'The site is in read-only mode for maintenance', { title: 'Read Only' });
    }
  };
  /** Who is asking, on the request's state; CSRF checked. */
  const applyAuthentication = (state: RequestState, auth: AuthResult): void => {
    state.auth = auth;
    state.principal = auth.principal;
    state.authMethod = auth.method;
    state.apiKey = auth.apiKey;
    checkCsrf(
      {
        info: state.info,
        args: state.args,
        sessionToken: auth.session?.data.csrf_token,
        viaCookie: auth.sessionViaCookie,
        headerAuthenticated: auth.headerAuthenticated,
      },
      services.csrf,
    );
    if (auth.sessionExpired) clearLoginCookies(state.response);
  };
  // Frappe's legacy RPC: a `cmd` argument wins over the path, on any path.
  const commandOf = (request: FastifyRequest, state: RequestState): string | undefined =>
    typeof state.args.cmd === 'string' && state.args.cmd !== '' && request.method !== 'OPTIONS' ? state.args.cmd : undefined;
  const touchFailed = (error: unknown) => services.logger.warn('session touch failed', { error: String(error) });
  const renewSidCookie = (state: RequestState, seconds: number) => setSidCookie(state.response, String(state.info.cookies.sid), seconds, state.info.secure);
  // Made once, not per request: a named closure made per request costs a `keepNames` wrapper (docs/performance.md).
  const noteActivity = (session: SessionRecord) => {
    services.touchSession(session)?.catch(touchFailed);
  };
  /** The session's `sid` cookie renewed and its activity noted; a promise only when the idle time must be read. */
  const keepSession = (state: RequestState, session: SessionRecord, viaCookie: boolean): Promise<void> | undefined => {
    if (viaCookie) {
      const maxAge = services.sessionMaxAge();
      if (typeof maxAge !== 'number') return maxAge.then((seconds) => (renewSidCookie(state, seconds), noteActivity(session)));
      renewSidCookie(state, maxAge);
    }
    noteActivity(session);
    return undefined;
  };
  /** `before_request` hooks and a `cmd`, once the user is known. */
  const afterAuthentication = async (request: FastifyRequest, reply: FastifyReply, state: RequestState): Promise<unknown> => {
    for (const hook of services.requestHooks.before) await hook({ request: state.info, user: state.principal.user });
    const command = commandOf(request, state);
    return command === undefined ? undefined : runCommand(request, reply, services, command);
  };
  /** The rest of the pre-handler once the user is known; a promise only when something is awaited. */
  const continueWith = (request: FastifyRequest, reply: FastifyReply, state: RequestState, auth: AuthResult): Promise<unknown> | undefined => {
    applyAuthentication(state, auth);
    const renewing = auth.session && auth.method === 'session' ? keepSession(state, auth.session, auth.sessionViaCookie) : undefined;
    if (services.requestHooks.before.length === 0 && commandOf(request, state) === undefined) return renewing;
    return renewing ? renewing.then(() => afterAuthentication(request, reply, state)) : afterAuthentication(request, reply, state);
  };
  const limitThenContinue = async (request: FastifyRequest, reply: FastifyReply, state: RequestState, limiter: SiteRateLimiter): Promise<unknown> => {
    // Frappe runs the site limiter before the Authorization header is looked at.
    state.rateLimit = await limiter.check();
    for (const [name, value] of Object.entries(limiter.headers(state.rateLimit))) state.response.setHeader(name, value);
    return continueWith(request, reply, state, await services.authenticate(state.info, state.args));
  };
  // Callback style, with promises only where something is awaited: a guest request with
  // nothing to look up goes through without any (docs/performance.md).
  app.addHook('preHandler', (request, reply, done) => {
    const state = request.cortado;
    if (!state) return done();
    let pending: Promise<unknown> | undefined;
    try {
      beforeAuthentication(request, state);
      if (services.siteRateLimiter) {
        pending = limitThenContinue(request, reply, state, services.siteRateLimiter);
      } else {
        const auth = services.authenticate(state.info, state.args);
        pending = auth instanceof Promise ? auth.then((known) => continueWith(request, reply, state, known)) : continueWith(request, reply, state, auth);
      }
    } catch (error) {
      return done(error as FastifyError);
    }
    if (pending === undefined) return done();
    pending.then(
      () => done(),
      (error: unknown) => done(error as FastifyError),
    );
  });

  const logApiRequest = (state: RequestState, status: number, durationMs: number): void => {
    if (services.logRequest && state.info.path.startsWith('/api/')) {
      services.logRequest(() => ({
        path: state.info.path,
        method: state.info.method,
        user: state.principal.user,
        status,
        // A refused request is logged with the method and key it tried.
        auth_method: state.auth ? state.authMethod : attemptedMethod(state.info.headers.authorization),
        api_key: state.auth ? state.apiKey : attemptedKeyId(state.info.headers.authorization),
        ip: state.info.ip,
        duration_ms: Math.round(durationMs * 1000) / 1000,
      }));
    }
  };
  const finishRequest = async (state: RequestState, status: number): Promise<void> => {
    // Safety net: a request that ended without reaching `respond` (aborted, errored) keeps nothing.
    await state.uow.finish(false);
    const durationMs = performance.now() - state.started;
    if (services.siteRateLimiter && state.rateLimit) {
      await services.siteRateLimiter.record(durationMs, state.rateLimit).catch(() => undefined);
    }
    logApiRequest(state, status, durationMs);
    for (const hook of services.requestHooks.after) {
      try {
        await hook({ request: state.info, user: state.principal.user, status });
      } catch (error) {
        services.logger.error('after_request hook failed', { error: (error as Error).message });
      }
    }
  };
  app.addHook('onResponse', (request, reply, done) => {
    const state = request.cortado;
    if (!state) return done();
    // Most requests need nothing awaited here: no open transaction, no site limiter, no hooks.
    if (state.uow.inTransaction || (services.siteRateLimiter && state.rateLimit) || services.requestHooks.after.length > 0) {
      finishRequest(state, reply.statusCode).then(() => done(), done);
      return;
    }
    void state.uow.finish(false);
    logApiRequest(state, reply.statusCode, performance.now() - state.started);
    done();
  });

  app.setErrorHandler(async (error, request, reply) => {
    await request.cortado?.uow.finish(false).catch(() => undefined);
    const frappe = toFrappeError(error);
    // Frappe deletes the auth cookies on exactly AuthenticationError.
    if (frappe?.excType === 'AuthenticationError' && request.cortado) clearLoginCookies(request.cortado.response);
    if (frappe && request.cortado?.auth?.sessionExpired) (frappe.extra as Record<string, unknown>).session_expired = 1;
    if (!frappe) {
      services.logger.error('unhandled error', { path: request.url.split('?')[0], error: (error as Error).stack ?? String(error) });
    }
    const shown = frappe ?? frappeError('Exception', 'Internal Server Error', { title: 'Server Error' });
    const answer = renderError(
      shown,
      { path: request.url.split('?')[0] ?? '/', headers: request.headers },
      { messages: request.cortado?.messages, traceback: await tracebackShown(services, request.cortado, shown) },
    );
    void reply.code(answer.status).headers(answer.headers).type(answer.contentType).send(answer.body);
    return reply;
  });

  app.setNotFoundHandler(async (request) => {
    throw frappeError('DoesNotExistError', `Page ${request.url.split('?')[0]} not found`, { title: 'Not Found' });
  });

  registerMethodRoutes(app, services);
  registerResourceRoutes(app, services);
  registerV2Routes(app, services);
  if (services.oauth) registerOAuthRoutes(app, services.oauth);
  registerLoginPageRoutes(app, services);
}

/** Frappe shows `exception`/`exc` to System Users when allowed, never for 404s or CSRF errors. */
async function tracebackShown(services: ApiServices, state: RequestState | undefined, error: FrappeError): Promise<boolean> {
  if (!state || !services.tracebacksAllowed || error.status === 404 || error.excType === 'CSRFTokenError') return false;
  if (state.principal.userType !== 'System User') return false;
  return services.tracebacksAllowed().catch(() => false);
}

/**
 * Ends a handler: commits the unit of work for an unsafe verb (GET writes are rolled back, as
 * in Frappe) before the client sees success, then sends the body.
 */
export function respond(request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown>, status = 200): FastifyReply | Promise<FastifyReply> {
  const pending = finishWork(request);
  return pending ? pending.then(() => sendBody(request, reply, body, status)) : sendBody(request, reply, body, status);
}

function sendBody(request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown>, status: number): FastifyReply {
  const v2 = apiVersionOf(request.cortado.info.path) === 'v2';
  let payload = request.cortado.auth?.sessionExpired && !v2 ? { ...body, session_expired: 1 } : body;
  const messages = request.cortado.messages;
  if (messages.length > 0) payload = v2 ? { ...payload, messages } : { ...payload, _server_messages: serverMessages(messages) };
  return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(payload));
}

/** `respond` with `{ data }` whose value is already serialised (a kept document or list page). */
export function respondData(request: FastifyRequest, reply: FastifyReply, dataJson: string): FastifyReply | Promise<FastifyReply> {
  const state = request.cortado;
  // Rare: the answer carries more than `data`, and is built as any other.
  if (state.messages.length > 0 || state.auth?.sessionExpired) return respond(request, reply, { data: JSON.parse(dataJson) as unknown });
  const pending = finishWork(request);
  return pending ? pending.then(() => sendData(reply, dataJson)) : sendData(reply, dataJson);
}

const sendData = (reply: FastifyReply, dataJson: string): FastifyReply => reply.code(200).type('application/json; charset=utf-8').send(`{"data":${dataJson}}`);

/** Ends the unit of work; a promise only when a transaction must commit or roll back first. */
function finishWork(request: FastifyRequest): Promise<void> | undefined {
  const uow = request.cortado.uow;
  // Most reads never opened a transaction: nothing to wait for, and no promise to make.
  if (uow.inTransaction) return uow.finish(UNSAFE.has(request.method));
  void uow.finish(false);
  return undefined;
}
