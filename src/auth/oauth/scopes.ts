/**
 * What an OAuth token (or a named API key with scopes) may do. Frappe gives scopes no effect
 * beyond `openid`; cortado's scopes restrict:
 * - `all`: the user's full rights (Frappe's meaning of any token);
 * - `openid`, `profile`, `email`, `roles`: identity only (userinfo and ID token claims);
 * - `read`: read-only access everywhere the user can read;
 * - `<DocType>:read`, `<DocType>:write`: one DocType (write implies read);
 * - `method:<dotted.name>`: one whitelisted method.
 * A token never exceeds its user's current permissions: scopes only narrow.
 */
export const IDENTITY_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'email', 'roles']);

/** A scope token as RFC 6749 §3.3 allows: printable ASCII without space, `"` or `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function parseScopes(text: unknown): string[] {
  if (typeof text !== 'string') return [];
  return [...new Set(text.split(/\s+/).filter(Boolean))];
}

export function isValidScope(scope: string): boolean {
  return SCOPE_TOKEN.test(scope) && scope.length <= 200;
}

export type ScopeAccess = 'read' | 'write';

/** Scopes compiled once per request into quick checks. */
export interface ScopeSet {
  readonly scopes: readonly string[];
  /** Full rights (`all`). */
  readonly full: boolean;
  allowsDoctype(doctype: string, access: ScopeAccess): boolean;
  allowsMethod(method: string): boolean;
  /** Any scope that reaches documents at all (read, write or a DocType scope). */
  readonly reachesDocuments: boolean;
}

/** Methods a token with only identity scopes may call. */
const IDENTITY_METHODS = new Set(['frappe.auth.get_logged_user', 'frappe.integrations.oauth2.openid_profile', 'ping', 'frappe.ping', 'logout']);

/** Document methods that act only through the permission-checked document layer. */
const DOCUMENT_METHOD_PREFIXES = ['frappe.client.', 'frappe.desk.search.', 'frappe.desk.reportview.', 'frappe.desk.form.load.'];

/** Compiled once per list: a cached credential hands every request the same one. */
const compiledLists = new WeakMap<readonly string[], ScopeSet>();

export function compileScopes(scopes: readonly string[]): ScopeSet {
  let compiled = compiledLists.get(scopes);
  if (!compiled) compiledLists.set(scopes, (compiled = compile(scopes)));
  return compiled;
}

function compile(scopes: readonly string[]): ScopeSet {
  const full = scopes.includes('all');
  const readAll = full || scopes.includes('read');
  const doctypeRead = new Set<string>();
  const doctypeWrite = new Set<string>();
  const methods = new Set<string>();
  for (const scope of scopes) {
    if (scope.startsWith('method:')) methods.add(scope.slice('method:'.length));
    else if (scope.endsWith(':write')) doctypeWrite.add(scope.slice(0, -':write'.length));
    else if (scope.endsWith(':read')) doctypeRead.add(scope.slice(0, -':read'.length));
  }
  const reachesDocuments = readAll || doctypeRead.size > 0 || doctypeWrite.size > 0;
  return {
    scopes,
    full,
    reachesDocuments,
    allowsDoctype(doctype, access) {
      if (full) return true;
      if (doctypeWrite.has(doctype)) return true;
      return access === 'read' && (readAll || doctypeRead.has(doctype));
    },
    allowsMethod(method) {
      if (full || methods.has(method) || IDENTITY_METHODS.has(method)) return true;
      return reachesDocuments && DOCUMENT_METHOD_PREFIXES.some((prefix) => method.startsWith(prefix));
    },
  };
}
