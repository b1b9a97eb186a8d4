/**
 * Whitelisted methods (Frappe's `@frappe.whitelist`): a name, whether Guests may call it, the
 * HTTP verbs it takes, and its handler. Apps and built-ins register here; `/api/method/<name>`
 * dispatches through it.
 */
import type { DbApi } from '../../doctype/db-api.ts';
import type { DocumentContext } from '../../doctype/document/document-context.ts';
import type { AuthResult } from '../../auth/authenticate.ts';
import type { RequestInfo, ResponseControl } from '../../core/request-info.ts';

export interface MethodContext {
  readonly user: string;
  readonly roles: ReadonlySet<string>;
  readonly request: RequestInfo;
  readonly db: DbApi;
  /** The document context behind `db` (for built-ins that work below the DbApi). */
  readonly documents: DocumentContext;
  /** Cookies and headers of the response (login sets its cookies here). */
  readonly response: ResponseControl;
  /** How the request authenticated (session, key, …). */
  readonly auth: AuthResult;
}

/**
 * Returned by a handler whose answer is the whole response body rather than `message`
 * (Frappe's login puts `message`, `home_page` and `full_name` side by side).
 */
export class FullBody {
  constructor(readonly body: Record<string, unknown>) {}
}

export type MethodHandler = (args: Record<string, unknown>, ctx: MethodContext) => unknown;

export interface MethodDefinition {
  handler: MethodHandler;
  allowGuest?: boolean;
  /** HTTP verbs allowed; Frappe's default is GET, POST, PUT and DELETE. */
  methods?: string[];
  /**
   * The argument names the handler takes (Frappe binds by parameter name); others are
   * dropped. Without it the handler gets every argument, like a Python `**kwargs`.
   */
  params?: string[];
}

export interface RegisteredMethod {
  readonly name: string;
  readonly handler: MethodHandler;
  readonly allowGuest: boolean;
  readonly methods: ReadonlySet<string>;
  readonly params: ReadonlySet<string> | undefined;
  readonly app: string;
}

const DEFAULT_METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const METHOD_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export class MethodRegistry {
  readonly #methods = new Map<string, RegisteredMethod>();

  register(name: string, definition: MethodDefinition, app: string): void {
    if (!METHOD_NAME.test(name)) throw new TypeError(`${app}: invalid method name "${name}" (dotted identifiers only)`);
    if (typeof definition?.handler !== 'function') throw new TypeError(`${app}: method "${name}" has no handler function`);
    if (this.#methods.has(name)) throw new TypeError(`${app}: method "${name}" is already registered by ${this.#methods.get(name)?.app}`);
    const methods = (definition.methods ?? DEFAULT_METHODS).map((m) => m.toUpperCase());
    this.#methods.set(name, {
      name,
      handler: definition.handler,
      allowGuest: definition.allowGuest === true,
      methods: new Set(methods),
      params: definition.params ? new Set(definition.params) : undefined,
      app,
    });
  }

  get(name: string): RegisteredMethod | undefined {
    return this.#methods.get(name);
  }

  names(): string[] {
    return [...this.#methods.keys()].sort();
  }
}
