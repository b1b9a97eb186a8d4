/** v1 resources: `/api/resource/<doctype>[/<name>]` at /api and /api/v1 (Frappe's REST CRUD). */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { frappeError } from '../../core/errors.ts';
import type { Doc } from '../../doctype/document/document-context.ts';
import { getDocJson, getListJson, type ListArgs } from '../../doctype/document/read-documents.ts';
import { withoutNulls } from '../../doctype/document/without-nulls.ts';
import type { ApiServices } from '../api-services.ts';
import { runStoredDocMethod } from '../methods/doc-methods.ts';
import { methodContext } from '../methods/method-context.ts';
import { jsonArg, sbool, type Args } from '../parse-args.ts';
import { respond, respondData } from '../register-api.ts';
import { listQuery, mayDebug } from './list-query.ts';
import { refuseOtherVerbs } from './method-not-allowed.ts';

type Params = { doctype: string; '*'?: string };

/** The document a create/update carries: the `data` argument (JSON or object), else all args. */
function docFromArgs(args: Args): Doc {
  let data: unknown = args.data ?? args;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      throw frappeError('ValidationError', 'data must be a JSON object');
    }
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw frappeError('ValidationError', 'data must be a JSON object');
  const doc = { ...(data as Doc) };
  delete doc.doctype;
  delete doc.flags;
  delete doc.cmd;
  delete doc.sid;
  delete doc.csrf_token;
  return doc;
}

function docName(request: FastifyRequest<{ Params: Params }>): string {
  const name = request.params['*'];
  if (!name) throw frappeError('DoesNotExistError', 'Not found');
  return name;
}

/** v1 doc-method call: `run_method` on GET (read permission) or POST (write); result in `data`. */
async function runMethod(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, services: ApiServices) {
  const state = request.cortado;
  const method = state.args.run_method;
  if (typeof method !== 'string' || method === '') throw frappeError('ValidationError', 'run_method is required');
  const { result } = await runStoredDocMethod(methodContext(state), services.methods, {
    doctype: request.params.doctype,
    name: docName(request),
    method,
    args: state.args,
    access: request.method === 'GET' ? 'read' : 'write',
    drop: ['run_method'],
  });
  return respond(request, reply, result === undefined ? {} : { data: result });
}

export function registerResourceRoutes(app: FastifyInstance, services: ApiServices): void {
  for (const prefix of ['/api', '/api/v1']) {
    app.get(`${prefix}/resource/:doctype`, async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const state = request.cortado;
      const args = state.args;
      const listArgs: ListArgs = {
        fields: jsonArg(args.fields, 'fields'),
        filters: jsonArg(args.filters, 'filters'),
        or_filters: jsonArg(args.or_filters, 'or_filters'),
        order_by: args.order_by,
        group_by: args.group_by,
        limit_start: args.limit_start,
        limit: args.limit_page_length ?? args.limit ?? 20,
        parent: args.parent,
      };
      const asDict = sbool(args.as_dict ?? true) !== false;
      if (sbool(args.debug) === true && mayDebug(state)) {
        const { result, debug } = await listQuery(state, request.params.doctype, listArgs, true);
        return respond(request, reply, { data: asDict ? result.rows : result.values, _debug_messages: JSON.stringify(debug) });
      }
      return respondData(request, reply, await getListJson(request.params.doctype, listArgs, state.documents(), asDict));
    });

    app.post(`${prefix}/resource/:doctype`, async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const doc = await request.cortado.db().insert({ ...docFromArgs(request.cortado.args), doctype: request.params.doctype });
      return respond(request, reply, { data: withoutNulls(doc) });
    });

    app.get(`${prefix}/resource/:doctype/*`, async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      if (request.cortado.args.run_method !== undefined) return runMethod(request, reply, services);
      return respondData(request, reply, await getDocJson(request.params.doctype, docName(request), request.cortado.documents()));
    });

    app.put(`${prefix}/resource/:doctype/*`, async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const doc = await request.cortado.db().save({ ...docFromArgs(request.cortado.args), doctype: request.params.doctype, name: docName(request) });
      return respond(request, reply, { data: withoutNulls(doc) });
    });

    app.delete(`${prefix}/resource/:doctype/*`, async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      await request.cortado.db().delete(request.params.doctype, docName(request));
      return respond(request, reply, { data: 'ok' }, 202);
    });

    app.post(`${prefix}/resource/:doctype/*`, (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => runMethod(request, reply, services));
    refuseOtherVerbs(app, `${prefix}/resource/:doctype`, ['GET', 'POST']);
    refuseOtherVerbs(app, `${prefix}/resource/:doctype/*`, ['GET', 'POST', 'PUT', 'DELETE']);
  }
}
