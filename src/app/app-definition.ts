/**
 * The shape of a cortado app: a plain object an app's entry module default-exports. Apps need
 * not import cortado; `defineApp` only adds types.
 */
import type { DocMethodDefinition, MethodContext, MethodDefinition } from '../api/methods/method-registry.ts';
import type { AuthHook } from '../auth/auth-hook.ts';
import type { RequestInfo } from '../core/request-info.ts';
import type { DbApi } from '../doctype/db-api.ts';
import type { SqlExecutor } from '../storage/types.ts';
import type { Doc, DocEvent } from '../doctype/document/document-context.ts';

export interface DocEventContext {
  readonly user: string;
  readonly doctype: string;
  readonly event: DocEvent;
  /** Permission-checked as the request's user. */
  readonly db: DbApi;
  /** Raw SQL in the request's transaction (server code, like Frappe's `frappe.db.sql`). */
  readonly sql: SqlExecutor;
}

export type DocEventHandler = (doc: Doc, ctx: DocEventContext) => void | Promise<void>;

export interface RequestHookContext {
  readonly request: RequestInfo;
  readonly user: string;
}

export interface SessionHookContext {
  readonly user: string;
  readonly request: RequestInfo;
}

type OneOrMany<T> = T | T[];

export interface AppHooks {
  auth_hooks?: OneOrMany<AuthHook>;
  before_request?: OneOrMany<(ctx: RequestHookContext) => void | Promise<void>>;
  after_request?: OneOrMany<(ctx: RequestHookContext & { status: number }) => void | Promise<void>>;
  on_login?: OneOrMany<(ctx: SessionHookContext) => void | Promise<void>>;
  on_logout?: OneOrMany<(ctx: SessionHookContext) => void | Promise<void>>;
  on_session_creation?: OneOrMany<(ctx: SessionHookContext) => void | Promise<void>>;
  /** `{ "ToDo": { "on_update": handler } }`; the DocType `*` matches every DocType. */
  doc_events?: Record<string, Partial<Record<DocEvent, OneOrMany<DocEventHandler>>>>;
}

export interface AppDefinition {
  name: string;
  /** Frappe doctype JSON objects, or a folder (relative to the app's entry) of `*.json`. */
  doctypes?: unknown[] | string;
  methods?: Record<string, MethodDefinition>;
  /**
   * Whitelisted document ("controller") methods: `{ "Article": { "mark_issued": { handler(doc,
   * args, ctx) } } }`, called at `/api/v2/document/<DocType>/<name>/method/<method>`, with
   * `run_method` on `/api/resource/<DocType>/<name>`, and by `run_doc_method`.
   */
  doc_methods?: Record<string, Record<string, DocMethodDefinition>>;
  hooks?: AppHooks;
}

export type { DocMethodDefinition, MethodContext, MethodDefinition };

/** Identity function that types an app definition. */
export function defineApp<T extends AppDefinition>(app: T): T {
  return app;
}
