/**
 * Frappe's OAuth 2.0 / OpenID Connect provider endpoints, to the OAuth 2.0 Security BCP
 * (RFC 9700): exact redirect URIs, PKCE S256 (required for public clients), single-use
 * codes bound to their redirect URI, rotating refresh tokens with reuse detection, client
 * authentication, and errors sent back to the client with `state` and `iss` (RFC 9207).
 */
import { createHash } from 'node:crypto';
import { constantEquals } from '../../core/crypto.ts';
import { epochMs, formatDatetime } from '../../core/clock.ts';
import { FrappeError } from '../../core/errors.ts';
import type { SecretCipher } from '../../doctype/document/document-context.ts';
import type { Principal } from '../../doctype/principal.ts';
import type { AuthDeps } from '../auth-deps.ts';
import type { ActivityLogPort } from '../login-collaborators.ts';
import { createRequestLimiter } from '../rate-limit.ts';
import { signIdToken, subjectOf, userClaims } from './id-token.ts';
import { authenticateClient, findClient, hs256Secret, readClientCredentials, type OAuthClient } from './oauth-clients.ts';
import { OAuthError } from './oauth-error.ts';
import { createOAuthTokens, type TokenSettings } from './oauth-tokens.ts';
import { readOAuthSettings, type OAuthSettings } from './oauth-settings.ts';
import { isValidScope, parseScopes } from './scopes.ts';
import type { SigningKeys } from './signing-keys.ts';

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export type AuthorizeOutcome =
  | { kind: 'redirect'; location: string }
  | { kind: 'login'; location: string }
  | { kind: 'consent'; client: OAuthClient; scopes: string[]; params: Record<string, string> }
  | { kind: 'error'; status: number; error: string; description: string };

export interface TokenOutcome {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

export interface AuthorizeContext {
  principal: Principal;
  /** When the session's user authenticated (epoch seconds), for `max_age` and `auth_time`. */
  authTime: number | undefined;
  issuer: string;
  /** The authorize URL as requested (path and query), for the login round trip. */
  requestPath: string;
}

function single(params: Record<string, unknown>, key: string): string | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) throw new OAuthError('invalid_request', `${key} must not be repeated`);
  return typeof value === 'string' ? value : String(value);
}

function withParams(uri: string, params: Record<string, string | undefined>, fragment = false): string {
  const url = new URL(uri);
  const target = fragment ? new URLSearchParams(url.hash.slice(1)) : url.searchParams;
  for (const [key, value] of Object.entries(params)) if (value !== undefined) target.set(key, value);
  if (fragment) url.hash = target.toString();
  return url.toString();
}

/** The redirect URI a request without `redirect_uri` means: the only one, or the default. */
function defaultRedirectUri(client: OAuthClient): string | undefined {
  if (client.redirectUris.length === 1) return client.redirectUris[0];
  if (client.defaultRedirectUri && client.redirectUris.includes(client.defaultRedirectUri)) return client.defaultRedirectUri;
  return undefined;
}

export function createOAuthProvider(deps: AuthDeps, keys: SigningKeys, cipher: SecretCipher, activity?: ActivityLogPort) {
  const tokens = createOAuthTokens(deps.storage, deps.hashKey, deps.clock);
  const limiter = createRequestLimiter(deps.cache);
  const settings = () => readOAuthSettings(deps.storage, deps.registry);
  const tokenSettings = (s: OAuthSettings): TokenSettings => ({ accessTokenLifetime: s.accessTokenLifetime, refreshTokenLifetimeDays: s.refreshTokenLifetimeDays });
  const log = (user: string, status: 'Success' | 'Failed', subject: string, ip?: string) =>
    void activity?.log({ user, operation: 'OAuth', status, subject, ip });

  /** Checks the client and redirect URI; failures here are never redirected (RFC 6749 §4.1.2.1). */
  async function resolveClientAndRedirect(params: Record<string, unknown>): Promise<{ client: OAuthClient; redirectUri: string }> {
    const clientId = single(params, 'client_id');
    const client = clientId ? await findClient(deps.storage, clientId) : undefined;
    if (!client) throw new OAuthError('invalid_client', 'Unknown client_id');
    const given = single(params, 'redirect_uri');
    let redirectUri: string | undefined;
    if (given !== undefined) {
      if (!client.redirectUris.includes(given)) throw new OAuthError('invalid_request', 'redirect_uri does not match a registered redirect URI');
      redirectUri = given;
    } else redirectUri = defaultRedirectUri(client);
    if (!redirectUri) throw new OAuthError('invalid_request', 'redirect_uri is required');
    return { client, redirectUri };
  }

  interface ValidatedRequest {
    client: OAuthClient;
    redirectUri: string;
    responseType: 'code' | 'token';
    scopes: string[];
    state?: string;
    nonce?: string;
    codeChallenge?: string;
  }

  async function validateAuthorizeRequest(params: Record<string, unknown>, s: OAuthSettings): Promise<ValidatedRequest> {
    const { client, redirectUri } = await resolveClientAndRedirect(params);
    const state = single(params, 'state');
    const fail = (error: string, description: string) => {
      throw Object.assign(new OAuthError(error, description), { redirectUri, state, fragment: false });
    };
    const responseType = single(params, 'response_type');
    if (responseType !== 'code' && responseType !== 'token') fail('unsupported_response_type', 'Only response_type=code is supported');
    if (responseType === 'token' && (!s.enableImplicitGrant || client.grantType !== 'Implicit')) {
      fail('unsupported_response_type', 'The implicit grant is disabled');
    }
    if (responseType === 'code' && client.grantType === 'Implicit') fail('unauthorized_client', 'This client may only use the implicit grant');
    const requested = parseScopes(single(params, 'scope') ?? '');
    if (requested.some((scope) => !isValidScope(scope))) fail('invalid_scope', 'Malformed scope');
    const scopes = requested.length > 0 ? requested : client.scopes;
    if (scopes.some((scope) => !client.scopes.includes(scope))) fail('invalid_scope', 'A requested scope is not allowed for this client');
    const codeChallenge = single(params, 'code_challenge');
    const method = single(params, 'code_challenge_method');
    if (codeChallenge !== undefined) {
      if (method !== 'S256') fail('invalid_request', 'code_challenge_method must be S256');
      if (!CHALLENGE.test(codeChallenge)) fail('invalid_request', 'code_challenge is malformed');
    } else if (method !== undefined) fail('invalid_request', 'code_challenge is missing');
    if (responseType === 'code' && client.isPublic && codeChallenge === undefined) fail('invalid_request', 'PKCE (S256) is required for public clients');
    const prompt = parseScopes(single(params, 'prompt') ?? '');
    if (prompt.includes('none') && prompt.length > 1) fail('invalid_request', 'prompt=none cannot be combined');
    return { client, redirectUri, responseType: responseType as 'code' | 'token', scopes, state, nonce: single(params, 'nonce'), codeChallenge };
  }

  function errorRedirect(request: { redirectUri: string; state?: string }, issuer: string, error: string, description: string, fragment = false): AuthorizeOutcome {
    return { kind: 'redirect', location: withParams(request.redirectUri, { error, error_description: description, state: request.state, iss: issuer }, fragment) };
  }

  /** The validated request, or the answer to give instead: an error redirect or an error page. */
  async function validateOrAnswer(params: Record<string, unknown>, s: OAuthSettings, issuer: string): Promise<ValidatedRequest | AuthorizeOutcome> {
    try {
      return await validateAuthorizeRequest(params, s);
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      const target = error as OAuthError & { redirectUri?: string; state?: string };
      if (target.redirectUri) return errorRedirect({ redirectUri: target.redirectUri, state: target.state }, issuer, error.code, error.description);
      return { kind: 'error', status: 400, error: error.code, description: error.description };
    }
  }

  async function grant(request: ValidatedRequest, ctx: AuthorizeContext, s: OAuthSettings): Promise<AuthorizeOutcome> {
    const user = ctx.principal.user;
    if (request.responseType === 'token') {
      const issued = await tokens.issue({ client: request.client.name, user, scopes: request.scopes, withRefresh: false, settings: tokenSettings(s), authTime: ctx.authTime });
      log(user, 'Success', `Implicit grant to ${request.client.appName}`);
      return {
        kind: 'redirect',
        location: withParams(request.redirectUri, { access_token: issued.access_token, token_type: 'Bearer', expires_in: String(issued.expires_in), scope: issued.scope, state: request.state }, true),
      };
    }
    const code = await tokens.createCode({
      client: request.client.name,
      user,
      scopes: request.scopes,
      redirectUri: request.redirectUri,
      nonce: request.nonce,
      codeChallenge: request.codeChallenge,
      authTime: ctx.authTime ?? Math.floor(epochMs(deps.clock) / 1000),
    });
    log(user, 'Success', `Authorization code issued to ${request.client.appName}`);
    return { kind: 'redirect', location: withParams(request.redirectUri, { code, state: request.state, iss: ctx.issuer }) };
  }

  async function tokenResponse(
    client: OAuthClient,
    user: string,
    scopes: string[],
    issued: { access_token: string; refresh_token?: string; expires_in: number; scope: string },
    s: OAuthSettings,
    issuer: string,
    id: { nonce?: string | null; authTime?: number | null },
  ): Promise<TokenOutcome> {
    const body: Record<string, unknown> = {
      access_token: issued.access_token,
      token_type: 'Bearer',
      expires_in: issued.expires_in,
      scope: issued.scope,
    };
    if (issued.refresh_token) body.refresh_token = issued.refresh_token;
    if (scopes.includes('openid')) {
      const secret = client.idTokenAlg === 'HS256' ? await hs256Secret(deps.storage, cipher, client) : undefined;
      body.id_token = await signIdToken(
        {
          issuer,
          clientId: client.clientId,
          claims: await userClaims(deps.storage, deps.hashKey, issuer, user),
          nonce: id.nonce,
          authTime: id.authTime,
          accessToken: issued.access_token,
          lifetime: s.accessTokenLifetime,
          now: deps.clock.now(),
        },
        keys,
        secret,
      );
    }
    return { status: 200, body, headers: { 'Cache-Control': 'no-store', Pragma: 'no-cache' } };
  }

  function oauthFailure(error: unknown): TokenOutcome {
    if (error instanceof OAuthError) {
      const headers: Record<string, string> = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
      if (error.status === 401) headers['WWW-Authenticate'] = 'Basic realm="oauth", charset="UTF-8"';
      return { status: error.status, body: error.body(), headers };
    }
    if (error instanceof FrappeError && error.status === 429) {
      return { status: 429, body: { error: 'slow_down', error_description: error.message }, headers: error.headers };
    }
    throw error;
  }

  return {
    tokens,
    settings,

    /** `authorize`: validates, then redirects (login, error, code) or asks for consent. */
    async authorize(params: Record<string, unknown>, ctx: AuthorizeContext): Promise<AuthorizeOutcome> {
      const s = await settings();
      const validated = await validateOrAnswer(params, s, ctx.issuer);
      if ('kind' in validated) return validated;
      const request = validated;
      const prompt = parseScopes(single(params, 'prompt') ?? '');
      const maxAge = single(params, 'max_age');
      const now = Math.floor(epochMs(deps.clock) / 1000);
      const tooOld = maxAge !== undefined && /^\d+$/.test(maxAge) && ctx.authTime !== undefined && now - ctx.authTime > Number(maxAge);
      if (ctx.principal.user === 'Guest' || prompt.includes('login') || tooOld) {
        if (prompt.includes('none')) return errorRedirect(request, ctx.issuer, 'login_required', 'The user is not logged in');
        // After logging in, the user comes back without `prompt=login`, so the loop ends.
        const back = new URL(ctx.requestPath, 'http://placeholder');
        back.searchParams.delete('prompt');
        if (tooOld) back.searchParams.delete('max_age');
        // A logged-in user asked to log in again (prompt=login, max_age) sees the form anyway.
        const force = ctx.principal.user === 'Guest' ? '' : '&force=1';
        return { kind: 'login', location: `/login?redirect-to=${encodeURIComponent(back.pathname + back.search)}${force}` };
      }
      const roles = request.client.allowedRoles;
      if (roles.length > 0 && !roles.some((role) => ctx.principal.roles.has(role))) {
        return errorRedirect(request, ctx.issuer, 'access_denied', 'The user may not use this application');
      }
      // `prompt=consent` always asks, even a client that may skip authorization.
      const skip = !prompt.includes('consent') && (request.client.skipAuthorization || (s.skipAuthorization && (await tokens.hasActiveGrant(ctx.principal.user, request.client.name))));
      if (skip) return grant(request, ctx, s);
      if (prompt.includes('none')) return errorRedirect(request, ctx.issuer, 'consent_required', 'The user has not approved this application');
      const forward: Record<string, string> = {};
      for (const key of ['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method']) {
        const value = single(params, key);
        if (value !== undefined) forward[key] = value;
      }
      if (!forward.redirect_uri) forward.redirect_uri = request.redirectUri;
      if (!forward.scope) forward.scope = request.scopes.join(' ');
      return { kind: 'consent', client: request.client, scopes: request.scopes, params: forward };
    },

    /** `approve`: the consent form's POST (CSRF-checked by the pipeline). */
    async approve(params: Record<string, unknown>, ctx: AuthorizeContext): Promise<AuthorizeOutcome> {
      if (ctx.principal.user === 'Guest') return { kind: 'error', status: 403, error: 'access_denied', description: 'Log in first' };
      const s = await settings();
      const validated = await validateOrAnswer(params, s, ctx.issuer);
      if ('kind' in validated) return validated;
      const request = validated;
      const roles = request.client.allowedRoles;
      if (roles.length > 0 && !roles.some((role) => ctx.principal.roles.has(role))) {
        return errorRedirect(request, ctx.issuer, 'access_denied', 'The user may not use this application');
      }
      if (single(params, 'decision') !== 'allow') {
        log(ctx.principal.user, 'Failed', `Access denied to ${request.client.appName}`);
        return errorRedirect(request, ctx.issuer, 'access_denied', 'The user denied access');
      }
      return grant(request, ctx, s);
    },

    /** `get_token`: form-encoded POST; grants code, refresh_token, client_credentials. */
    async token(body: Record<string, unknown>, authorization: string | undefined, ip: string, issuer: string): Promise<TokenOutcome> {
      try {
        const perIp = await limiter.hit('oauth-token-ip', ip, { limit: 120, seconds: 60 });
        if (!perIp.allowed) throw new OAuthError('slow_down', 'Too many token requests from this address', 429);
        const credentials = readClientCredentials(authorization, body);
        let client: OAuthClient;
        try {
          client = await authenticateClient(deps.storage, deps.hashKey, credentials);
        } catch (error) {
          log(credentials.clientId ?? 'Unknown Client', 'Failed', 'OAuth client authentication failed', ip);
          throw error;
        }
        const perClient = await limiter.hit('oauth-token-client', client.name, { limit: 600, seconds: 60 });
        if (!perClient.allowed) throw new OAuthError('slow_down', 'Too many token requests for this client', 429);
        const s = await settings();
        const grantType = single(body, 'grant_type');
        if (grantType === 'authorization_code') {
          const code = single(body, 'code');
          if (!code) throw new OAuthError('invalid_request', 'code is required');
          const row = await tokens.consumeCode(code, client.name);
          // RFC 6749 §4.1.3: required only if the authorization request had one; omitted, it
          // means the client's default (as at authorize), which must still be the bound URI.
          const redirectUri = single(body, 'redirect_uri') ?? defaultRedirectUri(client);
          if (redirectUri !== row.redirect_uri_bound_to_authorization_code) {
            throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request');
          }
          const verifier = single(body, 'code_verifier');
          if (row.code_challenge) {
            if (!verifier || !VERIFIER.test(verifier)) throw new OAuthError('invalid_grant', 'code_verifier is missing or malformed');
            const computed = createHash('sha256').update(verifier).digest('base64url');
            if (!constantEquals(computed, row.code_challenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
          } else if (verifier !== undefined) {
            throw new OAuthError('invalid_grant', 'code_verifier sent but the authorization request had no code_challenge');
          }
          const scopes = row.scopes.split(' ').filter(Boolean);
          const issued = await tokens.issue({
            client: client.name,
            user: row.user,
            scopes,
            withRefresh: true,
            settings: tokenSettings(s),
            codeHash: tokens.hashOf('code', code),
            authTime: row.auth_time ?? undefined,
          });
          log(row.user, 'Success', `Tokens issued to ${client.appName}`, ip);
          return tokenResponse(client, row.user, scopes, issued, s, issuer, { nonce: row.nonce, authTime: row.auth_time });
        }
        if (grantType === 'refresh_token') {
          const refresh = single(body, 'refresh_token');
          if (!refresh) throw new OAuthError('invalid_request', 'refresh_token is required');
          const requested = single(body, 'scope');
          let result;
          try {
            result = await tokens.refresh(refresh, client.name, requested ? parseScopes(requested) : undefined, tokenSettings(s));
          } catch (error) {
            if (error instanceof OAuthError && error.description.includes('already used')) {
              log('Unknown User', 'Failed', `Refresh token reuse detected for ${client.appName}: grant revoked`, ip);
            }
            throw error;
          }
          const scopes = result.issued.scope.split(' ').filter(Boolean);
          log(result.row.user, 'Success', `Tokens refreshed for ${client.appName}`, ip);
          return tokenResponse(client, result.row.user, scopes, result.issued, s, issuer, { authTime: result.row.auth_time });
        }
        if (grantType === 'client_credentials') {
          if (client.isPublic) throw new OAuthError('unauthorized_client', 'Public clients cannot use client_credentials');
          // Acting as the client's user without anyone's consent must be chosen for the client.
          if (client.grantType !== 'Client Credentials') throw new OAuthError('unauthorized_client', 'This client is not set up for the client_credentials grant');
          if (!client.user) throw new OAuthError('unauthorized_client', 'The client has no user to act as');
          const requested = parseScopes(single(body, 'scope') ?? '');
          const scopes = (requested.length > 0 ? requested : client.scopes).filter((scope) => scope !== 'openid');
          if (scopes.some((scope) => !client.scopes.includes(scope))) throw new OAuthError('invalid_scope', 'A requested scope is not allowed for this client');
          const issued = await tokens.issue({ client: client.name, user: client.user, scopes, withRefresh: false, settings: tokenSettings(s) });
          log(client.user, 'Success', `Client credentials grant to ${client.appName}`, ip);
          return tokenResponse(client, client.user, scopes, issued, s, issuer, {});
        }
        throw new OAuthError('unsupported_grant_type', 'Supported grant types: authorization_code, refresh_token, client_credentials (the password grant is not offered: RFC 9700 §2.4)');
      } catch (error) {
        return oauthFailure(error);
      }
    },

    /** `revoke_token` (RFC 7009): the client's own tokens only; 200 `{}` for unknown tokens. */
    async revoke(body: Record<string, unknown>, authorization: string | undefined, ip: string): Promise<TokenOutcome> {
      try {
        const client = await authenticateClient(deps.storage, deps.hashKey, readClientCredentials(authorization, body));
        const token = single(body, 'token');
        if (!token) throw new OAuthError('invalid_request', 'token is required');
        const found = await tokens.lookup(token, single(body, 'token_type_hint'));
        if (found && found.row.client === client.name) {
          await tokens.revoke(found.row, found.kind);
          log(found.row.user, 'Success', `Token revoked by ${client.appName}`, ip);
        }
        return { status: 200, body: {}, headers: { 'Cache-Control': 'no-store' } };
      } catch (error) {
        return oauthFailure(error);
      }
    },

    /**
     * `introspect_token` (RFC 7662): the caller is an authenticated client (its own tokens) or a
     * System Manager (any token).
     */
    async introspect(body: Record<string, unknown>, authorization: string | undefined, caller: Principal, issuer: string): Promise<TokenOutcome> {
      try {
        let client: OAuthClient | undefined;
        const manager = caller.roles.has('System Manager') || caller.roles.has('Administrator');
        if (!manager) client = await authenticateClient(deps.storage, deps.hashKey, readClientCredentials(authorization, body));
        const token = single(body, 'token');
        if (!token) throw new OAuthError('invalid_request', 'token is required');
        const found = await tokens.lookup(token, single(body, 'token_type_hint'));
        if (!found || (client && found.row.client !== client.name) || !tokens.isActive(found.row, found.kind)) {
          return { status: 200, body: { active: false }, headers: { 'Cache-Control': 'no-store' } };
        }
        const owner = await findClient(deps.storage, found.row.client);
        const toEpoch = (text: string | null) => (text ? Math.floor(Date.parse(`${text.replace(' ', 'T').slice(0, 23)}Z`) / 1000) : undefined);
        return {
          status: 200,
          headers: { 'Cache-Control': 'no-store' },
          body: {
            active: true,
            scope: found.row.scopes,
            client_id: owner?.clientId ?? found.row.client,
            username: found.row.user,
            sub: subjectOf(deps.hashKey, found.row.user),
            exp: toEpoch(found.kind === 'access' ? found.row.expiration_time : found.row.refresh_expiration_time),
            iat: toEpoch(found.row.creation),
            token_type: found.kind === 'access' ? 'Bearer' : 'refresh_token',
            iss: issuer,
            trusted_client: owner?.skipAuthorization ? 1 : 0,
          },
        };
      } catch (error) {
        return oauthFailure(error);
      }
    },

    /** The user a bearer token acts as, with its scopes (for the request pipeline). */
    async validateBearer(
      token: string,
    ): Promise<{ user: string; scopes: string[]; client: string; tokenName: string; family: string; validUntil: number } | undefined> {
      const row = await tokens.findAccess(token);
      if (!row) return undefined;
      const client = await findClient(deps.storage, row.client);
      if (!client) return undefined;
      return {
        user: row.user,
        scopes: row.scopes.split(' ').filter(Boolean),
        client: client.clientId,
        tokenName: row.name,
        family: row.grant_family,
        // As findAccess decides it: live while the expiration time is still ahead.
        validUntil: Date.parse(`${row.expiration_time.replace(' ', 'T').slice(0, 23)}Z`),
      };
    },

    userinfo: (user: string, issuer: string) => userClaims(deps.storage, deps.hashKey, issuer, user),

    /** A datetime in Frappe's format, for callers that store OAuth rows. */
    now: () => formatDatetime(deps.clock.now()),
  };
}

export type OAuthProvider = ReturnType<typeof createOAuthProvider>;
