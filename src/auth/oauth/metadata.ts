/**
 * Discovery documents: OpenID Connect Discovery, RFC 8414 authorization server metadata and
 * RFC 9728 protected resource metadata. One issuer everywhere.
 */
import type { OAuthSettings } from './oauth-settings.ts';

export const OAUTH_METHOD_PREFIX = '/api/method/frappe.integrations.oauth2.';
export const JWKS_PATH = '/.well-known/jwks.json';

const endpoint = (issuer: string, name: string) => `${issuer}${OAUTH_METHOD_PREFIX}${name}`;

function common(issuer: string, s: OAuthSettings): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    issuer,
    authorization_endpoint: endpoint(issuer, 'authorize'),
    token_endpoint: endpoint(issuer, 'get_token'),
    userinfo_endpoint: endpoint(issuer, 'openid_profile'),
    revocation_endpoint: endpoint(issuer, 'revoke_token'),
    introspection_endpoint: endpoint(issuer, 'introspect_token'),
    jwks_uri: `${issuer}${JWKS_PATH}`,
    response_types_supported: s.enableImplicitGrant ? ['code', 'token'] : ['code'],
    response_modes_supported: s.enableImplicitGrant ? ['query', 'fragment'] : ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', ...(s.enableImplicitGrant ? ['implicit'] : [])],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: s.scopesSupported.length > 0 ? s.scopesSupported : ['openid', 'profile', 'email', 'roles', 'all', 'read'],
    authorization_response_iss_parameter_supported: true,
    service_documentation: s.resourceDocumentation ?? undefined,
  };
  if (s.enableDynamicClientRegistration) doc.registration_endpoint = endpoint(issuer, 'register_client');
  return doc;
}

export function openidConfiguration(issuer: string, s: OAuthSettings): Record<string, unknown> {
  return {
    ...common(issuer, s),
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'HS256'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'azp', 'name', 'given_name', 'family_name', 'email', 'picture', 'roles'],
    prompt_values_supported: ['none', 'login', 'consent'],
  };
}

export function authorizationServerMetadata(issuer: string, s: OAuthSettings): Record<string, unknown> {
  return common(issuer, s);
}

export function protectedResourceMetadata(issuer: string, s: OAuthSettings): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    resource: issuer,
    authorization_servers: [issuer],
    bearer_methods_supported: ['header'],
    resource_name: s.resourceName,
    resource_documentation: s.resourceDocumentation,
    resource_policy_uri: s.resourcePolicyUri,
    resource_tos_uri: s.resourceTosUri,
    scopes_supported: s.scopesSupported.length > 0 ? s.scopesSupported : undefined,
  };
  return Object.fromEntries(Object.entries(doc).filter(([, v]) => v !== null && v !== undefined));
}
