/**
 * `/api/method/<dotted.name>` (v1 at /api and /api/v1, v2 at /api/v2): whitelisted methods.
 * v1 ignores any text after the name's first `/`; the legacy `cmd` argument calls the same way.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { compileScopes } from '../../auth/oauth/scopes.ts';
import { frappeError } from '../../core/errors.ts';
import { GUEST } from '../../doctype/principal.ts';
import type { ApiServices } from '../api-services.ts';
import { apiVersionOf, type ApiVersion } from '../error-response.ts';
import { respond } from '../register-api.ts';
import { FullBody } from '../methods/method-registry.ts';
import { handlerArgs, methodContext } from '../methods/method-context.ts';

const ALL_VERBS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** Runs the whitelisted method `name` and answers in the `version` envelope. */
export async function callWhitelisted(request: FastifyRequest, reply: FastifyReply, services: ApiServices, name: string, version: ApiVersion) {
  const state = request.cortado;
  const method = services.methods.get(name);
  if (!method) {
    throw frappeError('ValidationError', `Failed to get method for command ${name}`, { title: 'Invalid Method' });
  }
  if (state.principal.user === GUEST && !method.allowGuest) {
    throw frappeError('PermissionError', `You are not permitted to access this resource. Login to access. Function ${name} is not whitelisted.`, {
      title: 'Method Not Allowed',
    });
  }
  if (!method.methods.has(request.method)) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
  const scopes = state.auth?.scopes;
  if (scopes && !compileScopes(scopes).allowsMethod(name)) {
    throw frappeError('PermissionError', `The token's scope does not allow calling ${name}`, {
      title: 'Not Permitted',
      headers: { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="method:${name}"` },
    });
  }
  // Only when limits are configured: awaiting nothing still costs a turn of the microtask queue.
  if (services.limitMethod) await services.limitMethod(name, { ip: state.info.ip, user: state.principal.user, key: state.apiKey });
  const result = await method.handler(handlerArgs(state.args, method.params), methodContext(state));
  if (result instanceof FullBody) return respond(request, reply, result.body);
  const key = version === 'v2' ? 'data' : 'message';
  return respond(request, reply, result === undefined ? {} : { [key]: result });
}

/** Frappe's legacy RPC: `cmd=<method>` on any path, answered with the v1 envelope. */
export function runCommand(request: FastifyRequest, reply: FastifyReply, services: ApiServices, cmd: string) {
  return callWhitelisted(request, reply, services, cmd, 'v1');
}

export function registerMethodRoutes(app: FastifyInstance, services: ApiServices): void {
  const callMethod = (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) =>
    callWhitelisted(request, reply, services, request.params.name, apiVersionOf(request.cortado.info.path));

  for (const prefix of ['/api', '/api/v1', '/api/v2']) {
    app.route({ method: [...ALL_VERBS], url: `${prefix}/method/:name`, handler: callMethod });
  }
  // v1 only: `/api/method/x.y/anything` calls x.y (Frappe keeps this for old clients).
  for (const prefix of ['/api', '/api/v1']) {
    app.route({ method: [...ALL_VERBS], url: `${prefix}/method/:name/*`, handler: callMethod });
  }
}
