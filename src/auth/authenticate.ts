/**
 * Who is calling, resolved once per request in Frappe's order: the Authorization header
 * (`token` / `Basic` API keys), then every app's `auth_hooks`. A header that authenticates
 * nobody is refused with 401 AuthenticationError.
 */
import { frappeError, asFrappeError } from '../core/errors.ts';
import type { RequestInfo } from '../core/request-info.ts';
import { GUEST, GUEST_PRINCIPAL, type Principal } from '../doctype/principal.ts';
import { loadPrincipal } from '../doctype/users.ts';
import type { SqlExecutor } from '../storage/types.ts';
import { verifyUserApiKey } from './api-keys.ts';
import type { AuthHook } from './auth-hook.ts';
import { parseAuthorization } from './parse-authorization.ts';

export type AuthMethod = 'guest' | 'session' | 'token' | 'basic' | 'bearer' | 'hook';

export interface AuthResult {
  readonly principal: Principal;
  readonly method: AuthMethod;
  /** The API key id used, never its secret. */
  readonly apiKey?: string;
}

export interface AuthenticatorOptions {
  /** Reads outside the request's transaction: authentication is not a document write. */
  readonly db: SqlExecutor;
  readonly apiSecretHashKey: string;
  readonly hooks: readonly AuthHook[];
}

export type Authenticator = (request: RequestInfo) => Promise<AuthResult>;

function refuse(): never {
  throw frappeError('AuthenticationError', '', { title: 'Not Permitted' });
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  return async function authenticate(request) {
    let result: AuthResult = { principal: GUEST_PRINCIPAL, method: 'guest' };
    const authorization = parseAuthorization(request.headers.authorization);
    if (authorization.kind === 'api-key') {
      const user = await verifyUserApiKey(options.db, authorization.key, authorization.secret, options.apiSecretHashKey);
      const principal = user ? await loadPrincipal(options.db, user) : undefined;
      if (!principal) refuse();
      result = { principal, method: authorization.scheme, apiKey: authorization.key };
    }
    for (const hook of options.hooks) {
      let chosen: string | undefined;
      try {
        await hook({ request, user: result.principal.user, setUser: (name) => void (chosen = name) });
      } catch (error) {
        throw asFrappeError(error) ?? error;
      }
      if (chosen !== undefined && chosen !== result.principal.user) {
        const principal = chosen === GUEST ? GUEST_PRINCIPAL : await loadPrincipal(options.db, chosen);
        if (!principal) refuse();
        result = { principal, method: chosen === GUEST ? 'guest' : 'hook' };
      }
    }
    if (authorization.kind !== 'none' && result.principal.user === GUEST) refuse();
    return result;
  };
}
