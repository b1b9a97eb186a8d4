/**
 * Frappe's OAuth endpoints (`/api/method/frappe.integrations.oauth2.*`, bare JSON bodies)
 * and the discovery documents under `/.well-known/`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OAuthProvider } from '../../auth/oauth/oauth-provider.ts';
import { JWKS_PATH, OAUTH_METHOD_PREFIX, authorizationServerMetadata, openidConfiguration, protectedResourceMetadata } from '../../auth/oauth/metadata.ts';
import type { SigningKeys } from '../../auth/oauth/signing-keys.ts';
import type { createClientRegistration } from '../../auth/oauth/client-registration.ts';
import { compileScopes } from '../../auth/oauth/scopes.ts';
import { frappeError } from '../../core/errors.ts';
import type { SessionRecord } from '../../auth/sessions/session-store.ts';
import { GUEST_PRINCIPAL } from '../../doctype/principal.ts';
import { PAGE_HEADERS } from '../pages/page-layout.ts';
import { refuseOtherVerbs } from './method-not-allowed.ts';
import { renderConsentPage, renderOAuthErrorPage } from '../pages/consent-page.ts';
import type { RequestState } from '../register-api.ts';

export interface OAuthServices {
  readonly provider: OAuthProvider;
  readonly registration: ReturnType<typeof createClientRegistration>;
  readonly keys: SigningKeys;
  /** The site's issuer: `host_name`, else the request's own origin. */
  issuer(request: { headers: Readonly<Record<string, string | undefined>>; secure: boolean }): string;
  /** The session's CSRF token, made on first use (pages embed it). */
  ensureCsrfToken(session: SessionRecord): Promise<string>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(reply: FastifyReply, status: number, body: unknown, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers({ 'Cache-Control': 'no-store', ...headers }).type(JSON_TYPE).send(JSON.stringify(body));
}

function authTimeOf(state: RequestState): number | undefined {
  const created = state.auth?.session?.created;
  return created ? Math.floor(Date.parse(`${created.replace(' ', 'T').slice(0, 23)}Z`) / 1000) : undefined;
}

/**
 * The consent page's CSP: its form posts to `approve` here, which then redirects to the client.
 * Browsers apply `form-action` to that redirect too, so the client's redirect origin (or its
 * private-use scheme) is allowed besides 'self'.
 */
function consentPageHeaders(redirectUri: string | undefined): Record<string, string> {
  let target = '';
  try {
    const url = new URL(String(redirectUri));
    target = url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
  } catch {
    target = '';
  }
  if (!target || /[\s;,']/.test(target)) return PAGE_HEADERS;
  const csp = String(PAGE_HEADERS['Content-Security-Policy']).replace("form-action 'self'", `form-action 'self' ${target}`);
  return { ...PAGE_HEADERS, 'Content-Security-Policy': csp };
}

/** OAuth endpoints take form bodies; a query string on the token endpoint is refused (RFC 6749 §3.2). */
function formOnly(request: FastifyRequest): void {
  const type = String(request.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw Object.assign(new Error('form body required'), { oauth: { error: 'invalid_request', error_description: 'Send the parameters as application/x-www-form-urlencoded' } });
  }
}

/** A parameter sent more than once, which RFC 6749 §3.1 forbids (the arguments keep only the first). */
function repeatedParameter(request: FastifyRequest): string | undefined {
  for (const source of [request.query, request.body]) {
    if (!source || typeof source !== 'object' || Buffer.isBuffer(source) || Array.isArray(source)) continue;
    for (const [key, value] of Object.entries(source as Record<string, unknown>)) if (Array.isArray(value)) return key;
  }
  return undefined;
}

const repeatedBody = (name: string) => ({ error: 'invalid_request', error_description: `${name} must not be repeated` });

export function registerOAuthRoutes(app: FastifyInstance, oauth: OAuthServices): void {
  const url = (name: string) => `${OAUTH_METHOD_PREFIX}${name}`;

  async function authorizeLike(request: FastifyRequest, reply: FastifyReply, kind: 'authorize' | 'approve') {
    const state = request.cortado;
    // Only the user's browser (a login session, or an app's auth hook) may grant: an API key or
    // a bearer token, possibly narrowly scoped, must not mint a new grant with wider scopes.
    if (state.authMethod === 'bearer' || state.authMethod === 'token' || state.authMethod === 'basic') {
      await state.uow.finish(false);
      return reply.code(403).headers(PAGE_HEADERS).send(renderOAuthErrorPage('access_denied', 'Authorize applications from a browser login session, not with an API key or token'));
    }
    const repeated = repeatedParameter(request);
    if (repeated !== undefined) {
      await state.uow.finish(false);
      return reply.code(400).headers(PAGE_HEADERS).send(renderOAuthErrorPage('invalid_request', `${repeated} must not be repeated`));
    }
    if (kind === 'approve' && state.principal.user !== 'Guest' && typeof state.auth?.session?.data.csrf_token !== 'string') {
      // The CSRF token is made with the consent page: no page shown, nothing to approve.
      throw frappeError('CSRFTokenError', 'Invalid Request', { title: 'Invalid Request' });
    }
    const ctx = {
      principal: state.principal,
      authTime: authTimeOf(state),
      issuer: oauth.issuer(state.info),
      requestPath: request.url,
    };
    const outcome = kind === 'authorize' ? await oauth.provider.authorize(state.args, ctx) : await oauth.provider.approve(state.args, ctx);
    await state.uow.finish(false);
    if (outcome.kind === 'redirect' || outcome.kind === 'login') {
      return reply.code(kind === 'approve' ? 303 : 302).header('Location', outcome.location).header('Cache-Control', 'no-store').send();
    }
    if (outcome.kind === 'error') {
      return reply.code(outcome.status).headers(PAGE_HEADERS).send(renderOAuthErrorPage(outcome.error, outcome.description));
    }
    const session = state.auth?.session;
    if (!session) throw frappeError('PermissionError', 'A login session is needed to approve an application');
    const html = renderConsentPage({
      appName: outcome.client.appName,
      logoUri: outcome.client.logoUri,
      clientUri: outcome.client.clientUri,
      user: state.principal.user,
      scopes: outcome.scopes,
      params: outcome.params,
      csrfToken: await oauth.ensureCsrfToken(session),
      action: url('approve'),
    });
    return reply.code(200).headers(consentPageHeaders(outcome.params.redirect_uri)).send(html);
  }

  app.route({ method: ['GET', 'POST'], url: url('authorize'), handler: (request, reply) => authorizeLike(request, reply, 'authorize') });
  // Consent is a POST only (Frappe's GET `approve` let any page skip consent).
  app.post(url('approve'), (request, reply) => authorizeLike(request, reply, 'approve'));
  // Other verbs are 405, not a fall-through to `/api/method/:name` (or, in Frappe, a code).
  for (const name of ['approve', 'get_token', 'revoke_token']) refuseOtherVerbs(app, url(name), ['POST']);

  app.post(url('get_token'), async (request, reply) => {
    try {
      formOnly(request);
    } catch (error) {
      return send(reply, 400, (error as { oauth: unknown }).oauth);
    }
    if (request.url.includes('?')) return send(reply, 400, { error: 'invalid_request', error_description: 'URL query parameters are not allowed' });
    const repeated = repeatedParameter(request);
    if (repeated !== undefined) return send(reply, 400, repeatedBody(repeated));
    const state = request.cortado;
    const result = await oauth.provider.token(state.args, state.info.headers.authorization, state.info.ip, oauth.issuer(state.info));
    await state.uow.finish(false);
    return send(reply, result.status, result.body, result.headers);
  });

  app.post(url('revoke_token'), async (request, reply) => {
    try {
      formOnly(request);
    } catch (error) {
      return send(reply, 400, (error as { oauth: unknown }).oauth);
    }
    const repeated = repeatedParameter(request);
    if (repeated !== undefined) return send(reply, 400, repeatedBody(repeated));
    const state = request.cortado;
    const result = await oauth.provider.revoke(state.args, state.info.headers.authorization, state.info.ip);
    await state.uow.finish(false);
    return send(reply, result.status, result.body, result.headers);
  });

  app.route({
    method: ['GET', 'POST'],
    url: url('introspect_token'),
    handler: async (request, reply) => {
      const state = request.cortado;
      const repeated = repeatedParameter(request);
      if (repeated !== undefined) return send(reply, 400, repeatedBody(repeated));
      // A scoped credential (an OAuth token, a key with scopes) never acts as a System Manager here.
      const scoped = state.auth?.scopes !== undefined && !compileScopes(state.auth.scopes).full;
      const caller = scoped || state.authMethod === 'bearer' ? GUEST_PRINCIPAL : state.principal;
      const result = await oauth.provider.introspect(state.args, state.info.headers.authorization, caller, oauth.issuer(state.info));
      await state.uow.finish(false);
      return send(reply, result.status, result.body, result.headers);
    },
  });

  app.route({
    method: ['GET', 'POST'],
    url: url('openid_profile'),
    handler: async (request, reply) => {
      const state = request.cortado;
      const issuer = oauth.issuer(state.info);
      const metadata = `${issuer}/.well-known/oauth-protected-resource`;
      if (state.authMethod !== 'bearer') {
        return send(reply, 401, { error: 'invalid_token', error_description: 'A bearer token is required' }, {
          'WWW-Authenticate': `Bearer error="invalid_token", resource_metadata="${metadata}"`,
        });
      }
      if (!state.auth?.scopes?.includes('openid')) {
        return send(reply, 403, { error: 'insufficient_scope', error_description: 'The openid scope is required' }, {
          'WWW-Authenticate': `Bearer error="insufficient_scope", scope="openid", resource_metadata="${metadata}"`,
        });
      }
      return send(reply, 200, await oauth.provider.userinfo(state.principal.user, issuer));
    },
  });

  app.post(url('register_client'), async (request, reply) => {
    const state = request.cortado;
    const settings = await oauth.provider.settings();
    if (!settings.enableDynamicClientRegistration) throw frappeError('DoesNotExistError', 'Dynamic client registration is disabled', { title: 'Not Found' });
    const result = await oauth.registration.register(request.body, state.info.ip);
    await state.uow.finish(false);
    return send(reply, result.status, result.body);
  });

  const wellKnown = (path: string, build: (issuer: string) => Promise<Record<string, unknown> | undefined>) =>
    app.get(path, async (request, reply) => {
      const doc = await build(oauth.issuer(request.cortado.info));
      if (!doc) throw frappeError('DoesNotExistError', 'Not found', { title: 'Not Found' });
      return reply.code(200).headers({ 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'public, max-age=300' }).type(JSON_TYPE).send(JSON.stringify(doc));
    });
  wellKnown('/.well-known/openid-configuration', async (issuer) => openidConfiguration(issuer, await oauth.provider.settings()));
  wellKnown('/.well-known/oauth-authorization-server', async (issuer) => {
    const settings = await oauth.provider.settings();
    return settings.showAuthServerMetadata ? authorizationServerMetadata(issuer, settings) : undefined;
  });
  wellKnown('/.well-known/oauth-protected-resource', async (issuer) => {
    const settings = await oauth.provider.settings();
    return settings.showProtectedResourceMetadata ? protectedResourceMetadata(issuer, settings) : undefined;
  });
  wellKnown(JWKS_PATH, async () => ({ ...(await oauth.keys.jwks()) }));
}
