/**
 * Document ("controller") methods: Frappe's whitelisted methods of a Document class, declared
 * by apps as `doc_methods`. Called on a stored document (`/api/v2/document/<dt>/<name>/method/
 * <m>`, v1 `run_method`, v1 `run_doc_method` with `dt`/`dn`) or on an in-memory document sent
 * by the client (`run_doc_method` with `docs` / v2 `document`).
 */
import { frappeError } from '../../core/errors.ts';
import type { Doc } from '../../doctype/document/document-context.ts';
import { withoutNulls } from '../../doctype/document/without-nulls.ts';
import { assertDocPermission, readableFieldnames } from '../../doctype/permissions.ts';
import { jsonArg } from '../parse-args.ts';
import { handlerArgs } from './method-context.ts';
import { FullBody, type MethodContext, type MethodRegistry, type RegisteredDocMethod } from './method-registry.ts';

export type DocAccess = 'read' | 'write';

export interface DocMethodOutcome {
  /** The handler's return value. */
  result: unknown;
  /** The document after the call: re-read when stored, as the handler left it when in memory. */
  doc: Doc;
}

function docMethod(methods: MethodRegistry, doctype: string, method: string): RegisteredDocMethod {
  const found = methods.getDocMethod(doctype, method);
  if (!found) throw frappeError('DoesNotExistError', `Method ${method} not found on ${doctype}`, { title: 'Not Found' });
  return found;
}

function assertVerb(method: RegisteredDocMethod, verb: string): void {
  if (!method.methods.has(verb)) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { excType?: unknown }).excType === 'DoesNotExistError';
}

/** Runs `method` on the stored document `doctype`/`name`; `access` is checked on it first. */
export async function runStoredDocMethod(
  ctx: MethodContext,
  methods: MethodRegistry,
  call: { doctype: string; name: unknown; method: string; args: Record<string, unknown>; access: DocAccess; drop?: string[] },
): Promise<DocMethodOutcome> {
  const meta = ctx.documents.registry.get(call.doctype);
  // Loading checks read permission (403, or 404 for a missing document).
  const doc = await ctx.db.getDoc(meta.name, call.name);
  const method = docMethod(methods, meta.name, call.method);
  assertVerb(method, ctx.request.method);
  if (call.access === 'write' && !ctx.documents.ignorePermissions) assertDocPermission(meta, 'write', doc, ctx.documents.principal);
  const result = await method.handler(doc, handlerArgs(call.args, method.params, call.drop), ctx);
  let after = doc;
  try {
    after = await ctx.db.getDoc(meta.name, doc.name);
  } catch (error) {
    // The method deleted (or renamed) its document: answer with what the handler saw.
    if (!isNotFound(error)) throw error;
  }
  return { result, doc: after };
}

/**
 * Runs `method` on a document the client sent (Frappe's `run_doc_method` with `docs` or
 * `document`). A document that exists is checked against the stored one (permission on the
 * stored owner; a `modified` that differs is TimestampMismatchError); a new one needs the
 * DocType-level permission. Fields the user may not read are left out of the answer.
 */
export async function runInMemoryDocMethod(
  ctx: MethodContext,
  methods: MethodRegistry,
  call: { document: unknown; method: string; args: Record<string, unknown>; access: DocAccess; argName?: string },
): Promise<DocMethodOutcome> {
  const document = call.document;
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw frappeError('ValidationError', `'${call.argName ?? 'document'}' must be a dictionary`);
  }
  const given = document as Doc;
  if (typeof given.doctype !== 'string' || given.doctype === '') throw frappeError('ValidationError', 'doctype is required');
  const meta = ctx.documents.registry.get(given.doctype);
  const principal = ctx.documents.principal;
  const named = given.name !== undefined && given.name !== null && given.name !== '';
  const stored = named && (await ctx.db.exists(meta.name, given.name)) ? await ctx.db.getDoc(meta.name, given.name) : undefined;
  if (!ctx.documents.ignorePermissions) {
    if (stored) {
      if (call.access === 'write') assertDocPermission(meta, 'write', stored, principal);
    } else {
      assertDocPermission(meta, call.access, { owner: principal.user, name: given.name ?? undefined }, principal);
    }
  }
  if (stored && given.modified !== undefined && given.modified !== null && String(given.modified) !== String(stored.modified)) {
    throw frappeError('TimestampMismatchError', 'Error: Document has been modified after you have opened it. Please refresh to get the latest document.', {
      title: 'Timestamp Mismatch',
    });
  }
  const method = docMethod(methods, meta.name, call.method);
  assertVerb(method, ctx.request.method);
  const doc: Doc = { ...given, doctype: meta.name };
  const result = await method.handler(doc, handlerArgs(call.args, method.params), ctx);
  const readable = ctx.documents.ignorePermissions ? undefined : readableFieldnames(meta, principal);
  if (readable) for (const key of Object.keys(doc)) if (meta.fieldMap.has(key) && !readable.has(key)) delete doc[key];
  return { result, doc };
}

/** The keyword arguments of a doc-method call: a dict spreads, anything else arrives as `args`. */
function kwargsOf(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null || value === '') return {};
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = value;
    }
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? { ...(parsed as Record<string, unknown>) } : { args: parsed };
}

/**
 * v1 `run_doc_method` (alias `runserverobj`): `method`, and `dt`+`dn` (a stored document;
 * `dn` defaults to `dt` for singles) or `docs` (a document as JSON); `args` (or `arg`) holds the
 * method's arguments. Read permission is what Frappe checks. Answers `{"docs": [doc],
 * "message": result}`.
 */
export function registerDocMethodBuiltins(methods: MethodRegistry): void {
  const definition = {
    params: ['method', 'docs', 'dt', 'dn', 'arg', 'args'],
    async handler(args: Record<string, unknown>, ctx: MethodContext) {
      const method = typeof args.method === 'string' ? args.method : '';
      if (!method) throw frappeError('ValidationError', 'method is required');
      const kwargs = kwargsOf(args.args ?? args.arg);
      const outcome =
        typeof args.dt === 'string' && args.dt !== ''
          ? await runStoredDocMethod(ctx, methods, { doctype: args.dt, name: args.dn || args.dt, method, args: kwargs, access: 'read' })
          : await runInMemoryDocMethod(ctx, methods, { document: jsonArg(args.docs, 'docs'), method, args: kwargs, access: 'read', argName: 'docs' });
      return new FullBody({ docs: [withoutNulls(outcome.doc)], ...(outcome.result === undefined ? {} : { message: outcome.result }) });
    },
  };
  for (const name of ['run_doc_method', 'runserverobj', 'frappe.handler.run_doc_method', 'frappe.desk.form.run_method.runserverobj']) {
    methods.register(name, definition, 'frappe');
  }
}
