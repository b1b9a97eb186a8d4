/**
 * The browser origins that may call the OAuth endpoints a public client (a single-page app, a
 * desktop or CLI tool's web view) calls from the browser, as Frappe's
 * `set_cors_for_privileged_requests` allows them: the token, revocation, introspection and
 * userinfo endpoints — and `register_client` while dynamic registration is on — to OAuth
 * Settings' `allowed_public_client_origins` (POST, and its preflight), where `*` means any
 * origin and an empty list leaves site config `allow_cors` in charge. (The discovery documents
 * under `/.well-known/` answer `Access-Control-Allow-Origin: *` themselves: public, and read
 * without credentials.)
 */
import { OAUTH_METHOD_PREFIX } from './metadata.ts';
import type { OAuthSettings } from './oauth-settings.ts';

const CLIENT_ENDPOINTS = ['get_token', 'revoke_token', 'introspect_token', 'openid_profile'].map((name) => `${OAUTH_METHOD_PREFIX}${name}`);
const REGISTRATION = `${OAUTH_METHOD_PREFIX}register_client`;

type Origins = '*' | readonly string[] | undefined;

/** For `registerCors`: the origins of one request (method and path), or undefined for the site's. */
export function publicClientOrigins(settings: () => Promise<OAuthSettings>): (method: string, path: string) => Origins | Promise<Origins> {
  return (method, path) => {
    if (method !== 'POST' && method !== 'OPTIONS') return undefined;
    const registration = path.startsWith(REGISTRATION);
    if (!registration && !CLIENT_ENDPOINTS.some((endpoint) => path.startsWith(endpoint))) return undefined;
    return settings().then((s): Origins => {
      if (registration && !s.enableDynamicClientRegistration) return undefined;
      const allowed = s.allowedPublicClientOrigins;
      if (allowed.length === 0) return undefined;
      return allowed.includes('*') ? '*' : allowed;
    });
  };
}
