/**
 * Dynamic client registration (RFC 7591) at `register_client`, when OAuth Settings enables it:
 * validated metadata, RFC error codes, https redirect URIs (loopback allowed for native apps;
 * plain http anywhere in developer mode), a per-IP rate limit, and unused clients removed.
 */
import { epochMs, formatDatetime } from '../../core/clock.ts';
import { randomHex } from '../../core/crypto.ts';
import type { SecretCipher } from '../../doctype/document/document-context.ts';
import type { AuthDeps } from '../auth-deps.ts';
import { createRequestLimiter } from '../rate-limit.ts';
import { issueClientSecret } from './oauth-clients.ts';
import { OAuthError } from './oauth-error.ts';
import { isValidScope, parseScopes } from './scopes.ts';

const UNUSED_CLIENT_MS = 10 * 60_000;
const TEXT_FIELDS = ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'software_id', 'software_version'] as const;

function isLoopback(url: URL): boolean {
  return url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname === 'localhost';
}

export function validateRedirectUri(uri: unknown, developerMode: boolean): string {
  if (typeof uri !== 'string' || uri.length > 1000) throw new OAuthError('invalid_redirect_uri', 'Each redirect URI must be a string');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new OAuthError('invalid_redirect_uri', `Not an absolute URI: ${uri.slice(0, 100)}`);
  }
  if (url.hash) throw new OAuthError('invalid_redirect_uri', 'Redirect URIs must not have a fragment');
  const web = url.protocol === 'https:' || (url.protocol === 'http:' && (isLoopback(url) || developerMode));
  // Private-use schemes (com.example.app:/callback) serve native apps (RFC 8252 §7.1).
  const nativeScheme = /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol);
  if (!web && !nativeScheme) throw new OAuthError('invalid_redirect_uri', `Redirect URIs must use https (or loopback http): ${uri.slice(0, 100)}`);
  return uri;
}

export function createClientRegistration(deps: AuthDeps, cipher: SecretCipher) {
  const limiter = createRequestLimiter(deps.cache);

  return {
    async register(body: unknown, ip: string): Promise<{ status: number; body: Record<string, unknown> }> {
      try {
        const hit = await limiter.hit('oauth-register', ip, { limit: 5, seconds: 600 });
        if (!hit.allowed) throw new OAuthError('slow_down', 'Too many registrations from this address', 429);
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OAuthError('invalid_client_metadata', 'The body must be a JSON object');
        const m = body as Record<string, unknown>;
        if (!Array.isArray(m.redirect_uris) || m.redirect_uris.length === 0) throw new OAuthError('invalid_redirect_uri', 'redirect_uris is required');
        const redirectUris = m.redirect_uris.map((u) => validateRedirectUri(u, deps.config.developer_mode));
        const name = typeof m.client_name === 'string' && m.client_name.trim() ? m.client_name.trim().slice(0, 140) : undefined;
        if (!name) throw new OAuthError('invalid_client_metadata', 'client_name is required');
        const method = m.token_endpoint_auth_method ?? 'client_secret_basic';
        const methods: Record<string, string> = { client_secret_basic: 'Client Secret Basic', client_secret_post: 'Client Secret Post', none: 'None' };
        if (typeof method !== 'string' || !methods[method]) throw new OAuthError('invalid_client_metadata', 'Unsupported token_endpoint_auth_method');
        const grantTypes = (m.grant_types ?? ['authorization_code']) as unknown;
        if (!Array.isArray(grantTypes) || grantTypes.some((g) => g !== 'authorization_code' && g !== 'refresh_token')) {
          throw new OAuthError('invalid_client_metadata', 'grant_types may only hold authorization_code and refresh_token');
        }
        const responseTypes = (m.response_types ?? ['code']) as unknown;
        if (!Array.isArray(responseTypes) || responseTypes.some((r) => r !== 'code')) throw new OAuthError('invalid_client_metadata', 'response_types may only hold code');
        const scopes = parseScopes(typeof m.scope === 'string' ? m.scope : 'openid profile email');
        if (scopes.some((s) => !isValidScope(s))) throw new OAuthError('invalid_client_metadata', 'Malformed scope');
        const texts: Record<string, string | null> = {};
        for (const key of TEXT_FIELDS) {
          const value = m[key];
          if (value !== undefined && (typeof value !== 'string' || value.length > 500)) throw new OAuthError('invalid_client_metadata', `${key} must be a string`);
          texts[key] = (value as string | undefined) ?? null;
        }
        const contacts = Array.isArray(m.contacts) ? m.contacts.filter((c): c is string => typeof c === 'string').slice(0, 10) : [];

        const clientId = randomHex(20);
        const now = deps.clock.now();
        const stamp = formatDatetime(now);
        let secret: string | undefined;
        await deps.storage.transaction(async (tx) => {
          const row: Record<string, string | number | null> = {
            name: clientId, owner: 'Guest', creation: stamp, modified: stamp, modified_by: 'Guest', docstatus: 0, idx: 0,
            client_id: clientId, app_name: name, scopes: scopes.join(' '), redirect_uris: redirectUris.join('\n'),
            default_redirect_uri: redirectUris[0] ?? null, grant_type: 'Authorization Code', response_type: 'Code',
            token_endpoint_auth_method: methods[method] ?? 'Client Secret Basic', id_token_signing_alg: 'RS256',
            skip_authorization: 0, is_dynamic_client: 1, enabled: 1, contacts: contacts.join('\n'), ...texts,
          };
          const columns = Object.keys(row);
          await tx.run(`INSERT INTO "tabOAuth Client" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, columns.map((c) => row[c] ?? null));
          if (method !== 'none') secret = await issueClientSecret(tx, cipher, deps.hashKey, { name: clientId });
        });
        const response: Record<string, unknown> = {
          client_id: clientId,
          client_secret: secret,
          client_id_issued_at: Math.floor(now.getTime() / 1000),
          client_secret_expires_at: secret ? 0 : undefined,
          client_name: name,
          redirect_uris: redirectUris,
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: method,
          scope: scopes.join(' '),
          contacts: contacts.length ? contacts : undefined,
          ...texts,
        };
        return { status: 201, body: Object.fromEntries(Object.entries(response).filter(([, v]) => v !== null && v !== undefined)) };
      } catch (error) {
        if (error instanceof OAuthError) return { status: error.status, body: error.body() };
        throw error;
      }
    },

    /** Deletes dynamically registered clients that never obtained a token within 10 minutes. */
    async purgeUnused(): Promise<number> {
      const cutoff = formatDatetime(new Date(epochMs(deps.clock) - UNUSED_CLIENT_MS));
      const result = await deps.storage.run(
        'DELETE FROM "tabOAuth Client" WHERE "is_dynamic_client" = 1 AND "creation" < ? AND NOT EXISTS (SELECT 1 FROM "tabOAuth Bearer Token" t WHERE t."client" = "tabOAuth Client"."name")',
        [cutoff],
      );
      return result.changes;
    },
  };
}
