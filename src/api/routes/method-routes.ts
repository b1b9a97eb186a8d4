/** `/api/method/<dotted.name>` (v1 at /api and /api/v1, v2 at /api/v2): whitelisted methods. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { frappeError } from '../../core/errors.ts';
import { GUEST } from '../../doctype/principal.ts';
import type { ApiServices } from '../api-services.ts';
import { apiVersionOf } from '../error-response.ts';
import { respond } from '../register-api.ts';
import { FullBody } from '../methods/method-registry.ts';

/** Never passed to a handler: Frappe strips them so callers cannot skip checks. */
const RESERVED_ARGS = ['cmd', 'sid', 'csrf_token', 'ignore_permissions', 'flags'];
const ALL_VERBS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

export function registerMethodRoutes(app: FastifyInstance, services: ApiServices): void {
  async function callMethod(request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) {
    const state = request.cortado;
    const name = request.params.name;
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
    await services.limitMethod?.(name, { ip: state.info.ip, user: state.principal.user, key: state.apiKey });
    const args = { ...state.args };
    for (const key of RESERVED_ARGS) delete args[key];
    if (method.params) for (const key of Object.keys(args)) if (!method.params.has(key)) delete args[key];
    const result = await method.handler(args, {
      user: state.principal.user,
      roles: state.principal.roles,
      request: state.info,
      db: state.db(),
      documents: state.documents(),
      response: state.response,
      auth: state.auth ?? { principal: state.principal, method: 'guest', sessionViaCookie: false, sessionExpired: false, headerAuthenticated: false },
    });
    if (result instanceof FullBody) return respond(request, reply, result.body);
    const key = apiVersionOf(state.info.path) === 'v2' ? 'data' : 'message';
    return respond(request, reply, result === undefined ? {} : { [key]: result });
  }

  for (const prefix of ['/api', '/api/v1', '/api/v2']) {
    app.route({ method: [...ALL_VERBS], url: `${prefix}/method/:name`, handler: callMethod });
  }
}
