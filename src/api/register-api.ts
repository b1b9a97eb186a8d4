/**
 * Frappe's HTTP contract on a Fastify instance: one pipeline per request (arguments, user
 * resolved once, maintenance, hooks), the routes, and Frappe's error bodies. Every request
 * gets its own unit of work: committed for a successful unsafe verb, rolled back otherwise.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthMethod } from '../auth/authenticate.ts';
import type { FrappeError} from '../core/errors.ts';
import { asFrappeError, frappeError } from '../core/errors.ts';
import type { RequestInfo } from '../core/request-info.ts';
import { createDbApi, type DbApi } from '../doctype/db-api.ts';
import type { DocumentContext } from '../doctype/document/document-context.ts';
import { GUEST_PRINCIPAL, type Principal } from '../doctype/principal.ts';
import { StorageUnavailable } from '../storage/types.ts';
import { UnitOfWork } from '../storage/unit-of-work.ts';
import type { ApiServices } from './api-services.ts';
import { renderError } from './error-response.ts';
import { parseArgs, type Args } from './parse-args.ts';
import { registerMethodRoutes } from './routes/method-routes.ts';
import { registerResourceRoutes } from './routes/resource-routes.ts';

export interface RequestState {
  readonly info: RequestInfo;
  readonly uow: UnitOfWork;
  args: Args;
  principal: Principal;
  authMethod: AuthMethod;
  apiKey: string | undefined;
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

function lowerHeaders(headers: FastifyRequest['headers']): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
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

export function toFrappeError(error: unknown): FrappeError | undefined {
  if (error instanceof StorageUnavailable) return frappeError('ServiceUnavailable', 'The database is unavailable, try again shortly');
  const frappe = asFrappeError(error);
  if (frappe) return frappe;
  if (error && typeof error === 'object' && 'statusCode' in error) return fromFastifyError(error as FastifyError);
  return undefined;
}

export function registerApi(app: FastifyInstance, services: ApiServices): void {
  app.decorateRequest('cortado', null as unknown as RequestState);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('Cache-Control', NO_STORE);
    const uow = new UnitOfWork(services.storage);
    const headers = lowerHeaders(request.headers);
    const info: RequestInfo = {
      method: request.method,
      path: request.url.split('?')[0] ?? '/',
      headers,
      ip: services.clientIp(request.socket.remoteAddress ?? '', headers['x-forwarded-for']),
    };
    let documents: DocumentContext | undefined;
    let db: DbApi | undefined;
    const state: RequestState = {
      info,
      uow,
      args: {},
      principal: GUEST_PRINCIPAL,
      authMethod: 'guest',
      apiKey: undefined,
      documents: () => (documents ??= services.documentContext(state.principal, uow)),
      db: () => (db ??= createDbApi(state.documents())),
    };
    request.cortado = state;
  });

  app.addHook('preHandler', async (request) => {
    const state = request.cortado;
    const contentType = String(request.headers['content-type'] ?? '');
    state.args = parseArgs(request.query, request.body, contentType.includes('json'));
    if (services.config.maintenance_mode) {
      const readOnly = services.config.allow_reads_during_maintenance && !UNSAFE.has(request.method);
      if (!services.config.allow_reads_during_maintenance) throw frappeError('SessionStopped', 'Session Stopped', { title: 'Maintenance' });
      if (!readOnly) throw frappeError('InReadOnlyMode', 'The site is in read-only mode for maintenance', { title: 'Read Only' });
    }
    const auth = await services.authenticate(state.info);
    state.principal = auth.principal;
    state.authMethod = auth.method;
    state.apiKey = auth.apiKey;
    for (const hook of services.requestHooks.before) await hook({ request: state.info, user: state.principal.user });
  });

  app.addHook('onResponse', async (request, reply) => {
    const state = request.cortado;
    if (!state) return;
    // Safety net: a request that ended without reaching `respond` (aborted, errored) keeps nothing.
    await state.uow.finish(false);
    for (const hook of services.requestHooks.after) {
      try {
        await hook({ request: state.info, user: state.principal.user, status: reply.statusCode });
      } catch (error) {
        services.logger.error('after_request hook failed', { error: (error as Error).message });
      }
    }
  });

  app.setErrorHandler(async (error, request, reply) => {
    await request.cortado?.uow.finish(false).catch(() => undefined);
    const frappe = toFrappeError(error);
    if (!frappe) {
      services.logger.error('unhandled error', { path: request.url.split('?')[0], error: (error as Error).stack ?? String(error) });
    }
    const answer = renderError(frappe ?? frappeError('Exception', 'Internal Server Error', { title: 'Server Error' }), {
      path: request.url.split('?')[0] ?? '/',
      headers: request.headers,
    });
    void reply.code(answer.status).headers(answer.headers).type(answer.contentType).send(answer.body);
    return reply;
  });

  app.setNotFoundHandler(async (request) => {
    throw frappeError('DoesNotExistError', `Page ${request.url.split('?')[0]} not found`, { title: 'Not Found' });
  });

  registerMethodRoutes(app, services);
  registerResourceRoutes(app, services);
}

/**
 * Ends a handler: commits the unit of work for an unsafe verb (GET writes are rolled back, as
 * in Frappe) before the client sees success, then sends the body.
 */
export async function respond(request: FastifyRequest, reply: FastifyReply, body: unknown, status = 200): Promise<FastifyReply> {
  await request.cortado.uow.finish(UNSAFE.has(request.method));
  return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(body));
}
