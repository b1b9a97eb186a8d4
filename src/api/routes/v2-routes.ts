/**
 * Frappe's REST API v2 (`/api/v2`): documents (list with `has_next_page`, create, read with
 * nulls, copy, update by PATCH or PUT, delete), document methods, DocType meta and count, the
 * `/method/<DocType>/<method>` shorthand and the in-memory `run_doc_method`. Everything answers
 * `{"data": …}`; `/api/v2/method/<dotted>` itself lives with the other method routes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { frappeError } from '../../core/errors.ts';
import type { Doc } from '../../doctype/document/document-context.ts';
import { getCount, metaAsDoc } from '../../doctype/document/read-documents.ts';
import { withoutNulls } from '../../doctype/document/without-nulls.ts';
import type { DocTypeMeta } from '../../doctype/meta/types.ts';
import type { ApiServices } from '../api-services.ts';
import { runInMemoryDocMethod, runStoredDocMethod } from '../methods/doc-methods.ts';
import { methodContext } from '../methods/method-context.ts';
import { jsonArg, type Args } from '../parse-args.ts';
import { respond } from '../register-api.ts';
import { listQuery } from './list-query.ts';
import { methodNotAllowed, refuseOtherVerbs } from './method-not-allowed.ts';
import { callWhitelisted } from './method-routes.ts';

const V2 = '/api/v2';
const ALL_VERBS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

type DoctypeParams = { Params: { doctype: string } };
type DocParams = { Params: { doctype: string; '*'?: string } };

/** Python's truthiness, as v2 reads `as_dict` and `debug`: the string "false" is true. */
export function pythonTruthy(value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Frappe's `cint`: `int(float(value))`, or `fallback` when absent, 0 when not a number. */
export function cint(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === true) return 1;
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : Number.NaN;
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

function mustBe(ok: boolean, message: string): void {
  if (!ok) throw frappeError('ValidationError', message);
}

const isListOrDict = (v: unknown) => typeof v === 'object' && v !== null;

/** The list/count arguments, checked as Frappe's v2 endpoint checks them (417 otherwise). */
function listArgs(args: Args) {
  const fields = jsonArg(args.fields, 'fields');
  const filters = jsonArg(args.filters, 'filters');
  const orFilters = jsonArg(args.or_filters, 'or_filters');
  mustBe(!fields || Array.isArray(fields), "'fields' must be a list");
  mustBe(!filters || isListOrDict(filters), "'filters' must be a list or dictionary");
  mustBe(!orFilters || isListOrDict(orFilters), "'or_filters' must be a list or dictionary");
  mustBe(!args.order_by || typeof args.order_by === 'string', "'order_by' must be a string");
  mustBe(!args.group_by || typeof args.group_by === 'string', "'group_by' must be a string");
  return {
    fields: fields || undefined,
    filters: filters || undefined,
    or_filters: orFilters || undefined,
    order_by: args.order_by === undefined || args.order_by === null ? undefined : args.order_by,
    group_by: args.group_by || undefined,
    parent: args.parent,
  };
}

/** v2 documents keep nulls; a Link field holding a number is sent as a string (as Frappe). */
function v2Doc(meta: DocTypeMeta, doc: Doc): Doc {
  for (const [key, value] of Object.entries(doc)) {
    if (typeof value === 'number' && meta.fieldMap.get(key)?.fieldtype === 'Link') doc[key] = String(value);
  }
  return doc;
}

/** The document a create/update carries: the arguments minus keys that are never fields. */
function docFromArgs(args: Args): Doc {
  const doc: Doc = { ...args };
  for (const key of ['doctype', 'flags', 'cmd', 'sid', 'csrf_token']) delete doc[key];
  return doc;
}

const COPY_CLEARED = ['name', 'owner', 'creation', 'modified', 'modified_by', 'docstatus'];

/** Frappe's `copy_doc` for "duplicate": no identity or timestamps, no `no_copy` fields, no nulls. */
function cleanCopy(meta: DocTypeMeta, doc: Doc, metaOf: (doctype: string) => DocTypeMeta): Doc {
  const strip = (m: DocTypeMeta, d: Doc, extra: string[]) => {
    for (const key of [...COPY_CLEARED, ...extra]) delete d[key];
    for (const field of m.fields) if (field.no_copy) delete d[field.fieldname];
  };
  const copy: Doc = { ...doc };
  strip(meta, copy, ['amended_from', 'amendment_date']);
  for (const field of meta.tableFields) {
    const rows = copy[field.fieldname];
    if (!Array.isArray(rows)) continue;
    const childMeta = metaOf(field.options);
    copy[field.fieldname] = rows.map((row: Doc) => {
      const child = { ...row };
      strip(childMeta, child, []);
      return child;
    });
  }
  return withoutNulls(copy);
}

/** `<name>/method/<method>` at the end of a v2 document path. */
const DOC_METHOD_PATH = /^(.+)\/method\/([^/]+)$/;

export function registerV2Routes(app: FastifyInstance, services: ApiServices): void {
  const metaOf = (doctype: string) => services.registry.get(doctype);

  // ---- /document/<doctype>: list and create
  app.get(`${V2}/document/:doctype`, async (request: FastifyRequest<DoctypeParams>, reply: FastifyReply) => {
    const state = request.cortado;
    const args = state.args;
    const query = listArgs(args);
    // Fetch one row more than asked to know whether there is a next page; limit=0 thus
    // fetches one row, answers none, and says whether any exists (Frappe's behaviour).
    const limit = Math.max(0, cint(args.limit, 20));
    const { result, debug } = await listQuery(
      state,
      request.params.doctype,
      { ...query, limit_start: cint(args.start, 0), limit: limit + 1 },
      pythonTruthy(args.debug, false),
    );
    const rows: unknown[] = pythonTruthy(args.as_dict, true) ? result.rows : result.values;
    const body: Record<string, unknown> = { data: rows.slice(0, limit), has_next_page: rows.length > limit };
    if (debug.length > 0) body.debug = debug.map((message) => ({ message }));
    return respond(request, reply, body);
  });

  app.post(`${V2}/document/:doctype`, async (request: FastifyRequest<DoctypeParams>, reply: FastifyReply) => {
    const meta = metaOf(request.params.doctype);
    const doc = await request.cortado.db().insert({ ...docFromArgs(request.cortado.args), doctype: meta.name });
    return respond(request, reply, { data: v2Doc(meta, doc) });
  });
  refuseOtherVerbs(app, `${V2}/document/:doctype`, ['GET', 'POST']);

  // ---- /document/<doctype>/<name>[/copy | /method/<method>]: one route, dispatched as
  // werkzeug does (the name may contain `/`; `copy` and `method/<m>` suffixes win).
  app.route({
    method: [...ALL_VERBS],
    url: `${V2}/document/:doctype/*`,
    handler: async (request: FastifyRequest<DocParams>, reply: FastifyReply) => {
      const state = request.cortado;
      const rest = request.params['*'] ?? '';
      if (rest === '') throw frappeError('DoesNotExistError', 'Not found', { title: 'Not Found' });
      const meta = metaOf(request.params.doctype);
      const verb = request.method === 'HEAD' ? 'GET' : request.method;
      const methodCall = DOC_METHOD_PATH.exec(rest);
      if (methodCall && (verb === 'GET' || verb === 'POST')) {
        const [, name, method] = methodCall;
        const outcome = await runStoredDocMethod(methodContext(state), services.methods, {
          doctype: meta.name,
          name,
          method: String(method),
          args: state.args,
          access: verb === 'GET' ? 'read' : 'write',
          drop: ['run_method'],
        });
        return respond(request, reply, { ...(outcome.result === undefined ? {} : { data: outcome.result }), docs: [v2Doc(meta, outcome.doc)] });
      }
      switch (verb) {
        case 'GET': {
          if (rest.endsWith('/copy') && rest.length > '/copy'.length) {
            const doc = await state.db().getDoc(meta.name, rest.slice(0, -'/copy'.length));
            return respond(request, reply, { data: cleanCopy(meta, doc, metaOf) });
          }
          return respond(request, reply, { data: v2Doc(meta, await state.db().getDoc(meta.name, rest)) });
        }
        case 'PUT':
        case 'PATCH': {
          const doc = await state.db().save({ ...docFromArgs(state.args), doctype: meta.name, name: rest });
          return respond(request, reply, { data: v2Doc(meta, doc) });
        }
        case 'DELETE':
          await state.db().delete(meta.name, rest);
          return respond(request, reply, { data: 'ok' }, 202);
        default:
          throw methodNotAllowed(verb, ['GET', 'PUT', 'PATCH', 'DELETE']);
      }
    },
  });

  // ---- /doctype/<doctype>/meta and /count
  app.get(`${V2}/doctype/:doctype/meta`, async (request: FastifyRequest<DoctypeParams>, reply: FastifyReply) => {
    // Frappe: `only_for("All")`, i.e. any logged-in user.
    if (!request.cortado.principal.roles.has('All')) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
    return respond(request, reply, { data: metaAsDoc(metaOf(request.params.doctype)) });
  });
  refuseOtherVerbs(app, `${V2}/doctype/:doctype/meta`, ['GET']);

  app.get(`${V2}/doctype/:doctype/count`, async (request: FastifyRequest<DoctypeParams>, reply: FastifyReply) => {
    const { filters, or_filters, parent } = listArgs(request.cortado.args);
    const count = await getCount(request.params.doctype, { filters, or_filters, parent }, request.cortado.documents());
    return respond(request, reply, { data: count });
  });
  refuseOtherVerbs(app, `${V2}/doctype/:doctype/count`, ['GET']);

  // ---- /method/run_doc_method: a method on an in-memory document (GET read, POST write)
  const runDocMethod = async (request: FastifyRequest, reply: FastifyReply) => {
    const state = request.cortado;
    const args = state.args;
    if (typeof args.method !== 'string' || args.method === '') throw frappeError('ValidationError', 'method is required');
    const kwargs = jsonArg(args.kwargs, 'kwargs') ?? {};
    mustBe(typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs), "'kwargs' must be a dictionary");
    const outcome = await runInMemoryDocMethod(methodContext(state), services.methods, {
      document: jsonArg(args.document, 'document'),
      method: args.method,
      args: kwargs as Record<string, unknown>,
      access: request.method === 'GET' ? 'read' : 'write',
    });
    return respond(request, reply, { ...(outcome.result === undefined ? {} : { data: outcome.result }), docs: [withoutNulls(outcome.doc)] });
  };
  app.route({ method: ['GET', 'POST'], url: `${V2}/method/run_doc_method`, handler: runDocMethod });
  refuseOtherVerbs(app, `${V2}/method/run_doc_method`, ['GET', 'POST']);

  // ---- /method/<DocType>/<method>: a whitelisted method of the DocType's controller module,
  // `<app>.<module>.doctype.<doctype>.<doctype>.<method>` as Frappe resolves it.
  app.route({
    method: [...ALL_VERBS],
    url: `${V2}/method/:doctype/:method`,
    handler: async (request: FastifyRequest<{ Params: { doctype: string; method: string } }>, reply: FastifyReply) => {
      const meta = metaOf(request.params.doctype);
      return callWhitelisted(request, reply, services, `${controllerModule(meta)}.${request.params.method}`, 'v2');
    },
  });
}

/** Frappe's `scrub`: lower case, spaces and hyphens to underscores. */
function scrub(text: string): string {
  return text.replace(/[ -]/g, '_').toLowerCase();
}

/** The dotted path of a DocType's controller module, as Frappe's `load_doctype_module`. */
export function controllerModule(meta: DocTypeMeta): string {
  return `${scrub(meta.app)}.${scrub(meta.module)}.doctype.${scrub(meta.name)}.${scrub(meta.name)}`;
}
