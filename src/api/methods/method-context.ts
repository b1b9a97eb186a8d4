/** The context a method or document-method handler runs with, built from the request's state. */
import type { RequestState } from '../register-api.ts';
import type { MethodContext, ServerMessage } from './method-registry.ts';

/** Never passed to a handler: Frappe strips them so callers cannot skip checks. */
export const RESERVED_ARGS = ['cmd', 'sid', 'csrf_token', 'ignore_permissions', 'flags'];

export function methodContext(state: RequestState): MethodContext {
  return {
    user: state.principal.user,
    roles: state.principal.roles,
    request: state.info,
    // Built on first use: most methods (ping, login, …) never touch documents.
    get db() {
      return state.db();
    },
    get documents() {
      return state.documents();
    },
    response: state.response,
    auth: state.auth ?? { principal: state.principal, method: 'guest', sessionViaCookie: false, sessionExpired: false, headerAuthenticated: false },
    msgprint(message, options = {}) {
      const entry: ServerMessage = { message: String(message) };
      if (options.title) entry.title = String(options.title);
      if (options.indicator) entry.indicator = String(options.indicator);
      state.messages.push(entry);
    },
  };
}

/** The arguments a handler receives: reserved ones removed, and only `params` when declared. */
export function handlerArgs(args: Record<string, unknown>, params: ReadonlySet<string> | undefined, drop: readonly string[] = []): Record<string, unknown> {
  const out = { ...args };
  for (const key of [...RESERVED_ARGS, ...drop]) delete out[key];
  if (params) for (const key of Object.keys(out)) if (!params.has(key)) delete out[key];
  return out;
}
