/**
 * Health endpoints for load balancers and process managers, beside Frappe's API:
 *
 * - `GET /healthz` — liveness: the process answers. Always 200 `{"status":"ok"}`; touches
 *   nothing, so a database or Redis outage never gets a healthy node restarted.
 * - `GET /readyz` — readiness: the database and the cache both answer within a short timeout.
 *   200 `{"status":"ready","database":"ok","cache":"ok"}`, else 503 with the failed one marked
 *   `unavailable`. While the server drains on SIGTERM, Fastify answers 503 by itself.
 *
 * Both are routes outside the API pipeline (`OUTSIDE_PIPELINE`): no session, CSRF, rate
 * limit, request hooks or unit of work run for them (a balancer polls often, and a check must
 * not count against the site's limits or fail because of them).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OUTSIDE_PIPELINE, type HealthReport } from '../api-services.ts';
import { refuseOtherVerbs } from './method-not-allowed.ts';

export const LIVENESS_PATH = '/healthz';
export const READINESS_PATH = '/readyz';

export interface HealthRoutesOptions {
  /** The readiness check (`health()` over the site's storage and cache). */
  readiness(): Promise<HealthReport>;
}

async function answer(reply: FastifyReply, status: number, body: Record<string, unknown>): Promise<FastifyReply> {
  return reply.code(status).header('Cache-Control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(body));
}

/** Registers both endpoints. */
export function registerHealthRoutes(app: FastifyInstance, options: HealthRoutesOptions): void {
  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (request.routeOptions.url === LIVENESS_PATH) return answer(reply, 200, { status: 'ok' });
    const report = await options.readiness();
    return answer(reply, report.ready ? 200 : 503, {
      status: report.ready ? 'ready' : 'unavailable',
      database: report.database,
      cache: report.cache,
    });
  };
  app.get(LIVENESS_PATH, { config: OUTSIDE_PIPELINE }, handle);
  app.get(READINESS_PATH, { config: OUTSIDE_PIPELINE }, handle);
  refuseOtherVerbs(app, LIVENESS_PATH, ['GET']);
  refuseOtherVerbs(app, READINESS_PATH, ['GET']);
}
