/**
 * Whitelisted methods (Frappe's `@frappe.whitelist`): a name, whether Guests may call it, the
 * HTTP verbs it takes, and its handler. Apps and built-ins register here; `/api/method/<name>`
 * dispatches through it.
 */
import type { DbApi } from '../../doctype/db-api.ts';
import type { Doc, DocumentContext } from '../../doctype/document/document-context.ts';
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
  /**
   * Frappe's `msgprint`: an informational message sent with the answer (v1 `_server_messages`,
   * v2 `messages`), also when the request fails afterwards.
   */
  msgprint(message: string, options?: { title?: string; indicator?: string }): void;
}

/** One `msgprint` message: only the keys that were given, as Frappe sends them. */
export interface ServerMessage {
  message: string;
  title?: string;
  indicator?: string;
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

/**
 * A document ("controller") method, Frappe's whitelisted method on a Document class: called
 * with the loaded document, the request's arguments and the method context.
 */
export type DocMethodHandler = (doc: Doc, args: Record<string, unknown>, ctx: MethodContext) => unknown;

export interface DocMethodDefinition {
  handler: DocMethodHandler;
  /** HTTP verbs allowed; Frappe's default is GET, POST, PUT and DELETE. */
  methods?: string[];
  /** The argument names the handler takes; others are dropped (as for methods). */
  params?: string[];
}

export interface RegisteredDocMethod {
  readonly doctype: string;
  readonly name: string;
  readonly handler: DocMethodHandler;
  readonly methods: ReadonlySet<string>;
  readonly params: ReadonlySet<string> | undefined;
  readonly app: string;
}

const DEFAULT_METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const METHOD_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const DOC_METHOD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class MethodRegistry {
  readonly #methods = new Map<string, RegisteredMethod>();
  readonly #docMethods = new Map<string, RegisteredDocMethod>();

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

  /** Registers `<doctype>.<name>` as a whitelisted document method. */
  registerDocMethod(doctype: string, name: string, definition: DocMethodDefinition, app: string): void {
    if (typeof doctype !== 'string' || doctype === '') throw new TypeError(`${app}: doc_methods needs DocType names as keys`);
    if (!DOC_METHOD_NAME.test(name)) throw new TypeError(`${app}: invalid document method name "${name}" on ${doctype} (an identifier)`);
    if (typeof definition?.handler !== 'function') throw new TypeError(`${app}: document method "${doctype}.${name}" has no handler function`);
    const key = `${doctype}\u0000${name}`;
    const existing = this.#docMethods.get(key);
    if (existing) throw new TypeError(`${app}: document method "${doctype}.${name}" is already registered by ${existing.app}`);
    this.#docMethods.set(key, {
      doctype,
      name,
      handler: definition.handler,
      methods: new Set((definition.methods ?? DEFAULT_METHODS).map((m) => m.toUpperCase())),
      params: definition.params ? new Set(definition.params) : undefined,
      app,
    });
  }

  getDocMethod(doctype: string, name: string): RegisteredDocMethod | undefined {
    return this.#docMethods.get(`${doctype}\u0000${name}`);
  }
}
