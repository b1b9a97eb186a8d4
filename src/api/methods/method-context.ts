/** The context a method or document-method handler runs with, built from the request's state. */
import type { AuthResult } from '../../auth/authenticate.ts';
import type { RequestInfo, ResponseControl } from '../../core/request-info.ts';
import type { DbApi } from '../../doctype/db-api.ts';
import type { DocumentContext } from '../../doctype/document/document-context.ts';
import type { RequestState } from '../register-api.ts';
import type { MethodContext, ServerMessage } from './method-registry.ts';

/** Never passed to a handler: Frappe strips them so callers cannot skip checks. */
export const RESERVED_ARGS = ['cmd', 'sid', 'csrf_token', 'ignore_permissions', 'flags'];

/**
 * A class, not an object literal with getters: such a literal gets a hidden class of its own on
 * every request, and the code reading it goes megamorphic (docs/performance.md).
 */
class RequestMethodContext implements MethodContext {
  readonly #state: RequestState;
  readonly user: string;
  readonly roles: ReadonlySet<string>;
  readonly request: RequestInfo;
  readonly response: ResponseControl;
  readonly auth: AuthResult;

  constructor(state: RequestState) {
    this.#state = state;
    this.user = state.principal.user;
    this.roles = state.principal.roles;
    this.request = state.info;
    this.response = state.response;
    this.auth = state.auth ?? { principal: state.principal, method: 'guest', sessionViaCookie: false, sessionExpired: false, headerAuthenticated: false };
  }

  // Built on first use: most methods (ping, login, …) never touch documents.
  get db(): DbApi {
    return this.#state.db();
  }

  get documents(): DocumentContext {
    return this.#state.documents();
  }

  msgprint(message: string, options: { title?: string; indicator?: string } = {}): void {
    const entry: ServerMessage = { message: String(message) };
    if (options.title) entry.title = String(options.title);
    if (options.indicator) entry.indicator = String(options.indicator);
    this.#state.messages.push(entry);
  }
}

export function methodContext(state: RequestState): MethodContext {
  return new RequestMethodContext(state);
}

/** The arguments a handler receives: reserved ones removed, and only `params` when declared. */
export function handlerArgs(args: Record<string, unknown>, params: ReadonlySet<string> | undefined, drop: readonly string[] = []): Record<string, unknown> {
  const out = { ...args };
  for (const key of [...RESERVED_ARGS, ...drop]) delete out[key];
  if (params) for (const key of Object.keys(out)) if (!params.has(key)) delete out[key];
  return out;
}
