/** OAuth Settings (a single) as typed values. */
import type { MetaRegistry } from '../../doctype/meta/meta-registry.ts';
import { readSingle } from '../../doctype/singles.ts';
import type { SqlExecutor } from '../../storage/types.ts';

export interface OAuthSettings {
  resourceName: string;
  resourceDocumentation: string | null;
  resourcePolicyUri: string | null;
  resourceTosUri: string | null;
  showAuthServerMetadata: boolean;
  showProtectedResourceMetadata: boolean;
  scopesSupported: string[];
  enableDynamicClientRegistration: boolean;
  skipAuthorization: boolean;
  allowedPublicClientOrigins: string[];
  accessTokenLifetime: number;
  refreshTokenLifetimeDays: number;
  enableImplicitGrant: boolean;
}

export async function readOAuthSettings(db: SqlExecutor, registry: MetaRegistry): Promise<OAuthSettings> {
  const raw = await readSingle(db, registry, 'OAuth Settings');
  const flag = (key: string) => Number(raw[key] ?? 0) === 1;
  const text = (key: string) => (typeof raw[key] === 'string' && raw[key] !== '' ? (raw[key] as string) : null);
  const lines = (key: string) => (text(key) ?? '').split(/\s+/).map((l) => l.trim()).filter(Boolean);
  const positive = (key: string, fallback: number) => {
    const n = Number(raw[key]);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  return {
    resourceName: text('resource_name') ?? 'cortado',
    resourceDocumentation: text('resource_documentation'),
    resourcePolicyUri: text('resource_policy_uri'),
    resourceTosUri: text('resource_tos_uri'),
    showAuthServerMetadata: flag('show_auth_server_metadata'),
    showProtectedResourceMetadata: flag('show_protected_resource_metadata'),
    scopesSupported: lines('scopes_supported'),
    enableDynamicClientRegistration: flag('enable_dynamic_client_registration'),
    skipAuthorization: flag('skip_authorization'),
    allowedPublicClientOrigins: lines('allowed_public_client_origins'),
    accessTokenLifetime: positive('access_token_lifetime', 3600),
    refreshTokenLifetimeDays: positive('refresh_token_lifetime_days', 30),
    enableImplicitGrant: flag('enable_implicit_grant'),
  };
}
