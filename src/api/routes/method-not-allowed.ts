/** Frappe (werkzeug) answers a known path with a verb it does not take with 405. */
import type { FastifyInstance } from 'fastify';
import { frappeError, type FrappeError } from '../../core/errors.ts';

const VERBS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** 405 `MethodNotAllowed` with werkzeug's `Allow` header. */
export function methodNotAllowed(method: string, allowed: readonly string[]): FrappeError {
  return frappeError('MethodNotAllowed', `The method ${method} is not allowed for the requested URL.`, {
    title: 'Method Not Allowed',
    headers: { Allow: [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ') },
  });
}

/** Routes every verb `url` does not take to a 405 (OPTIONS and HEAD stay with Fastify/CORS). */
export function refuseOtherVerbs(app: FastifyInstance, url: string, allowed: readonly string[]): void {
  const others = VERBS.filter((verb) => !allowed.includes(verb));
  if (others.length === 0) return;
  app.route({
    method: others,
    url,
    handler: async (request) => {
      throw methodNotAllowed(request.method, allowed);
    },
  });
}
