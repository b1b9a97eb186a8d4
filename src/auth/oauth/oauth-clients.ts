/**
 * OAuth clients: lookup, redirect URI matching, and client authentication at the token,
 * revocation and introspection endpoints (`client_secret_basic`, `client_secret_post`, or
 * `none` for public clients). Secrets are 256-bit random strings stored as keyed hashes.
 */
import { constantEquals, keyedHash, randomToken } from '../../core/crypto.ts';
import type { SecretCipher } from '../../doctype/document/document-context.ts';
import { getDecryptedField, getHashedField, setEncryptedField, setHashedField } from '../../doctype/document/password-fields.ts';
import type { SqlExecutor } from '../../storage/types.ts';
import { parseScopes } from './scopes.ts';
import { OAuthError } from './oauth-error.ts';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface OAuthClient {
  name: string;
  clientId: string;
  appName: string;
  user: string | null;
  skipAuthorization: boolean;
  scopes: string[];
  redirectUris: string[];
  defaultRedirectUri: string | null;
  grantType: string;
  responseType: string;
  authMethod: ClientAuthMethod;
  idTokenAlg: 'RS256' | 'HS256';
  allowedRoles: string[];
  logoUri: string | null;
  clientUri: string | null;
  isPublic: boolean;
  isDynamic: boolean;
}

interface ClientRow {
  name: string;
  client_id: string | null;
  app_name: string;
  user: string | null;
  skip_authorization: number | string;
  scopes: string | null;
  redirect_uris: string | null;
  default_redirect_uri: string | null;
  grant_type: string | null;
  response_type: string | null;
  token_endpoint_auth_method: string | null;
  id_token_signing_alg: string | null;
  logo_uri: string | null;
  client_uri: string | null;
  is_dynamic_client: number | string;
  enabled: number | string;
}

const AUTH_METHODS: Record<string, ClientAuthMethod> = {
  'Client Secret Basic': 'client_secret_basic',
  'Client Secret Post': 'client_secret_post',
  None: 'none',
};

/** Redirect URIs as stored: one per line or separated by spaces (Frappe uses both). */
export function parseRedirectUris(text: string | null | undefined): string[] {
  return (text ?? '').split(/\s+/).map((u) => u.trim()).filter(Boolean);
}

export const secretHash = (hashKey: string, secret: string) => keyedHash(hashKey, `oauth-client:${secret}`);

export async function findClient(db: SqlExecutor, clientId: string): Promise<OAuthClient | undefined> {
  if (!clientId || clientId.length > 140) return undefined;
  const row = await db.get<ClientRow>('SELECT * FROM "tabOAuth Client" WHERE "client_id" = ? OR "name" = ?', [clientId, clientId]);
  if (!row || Number(row.enabled ?? 1) !== 1) return undefined;
  const roles = await db.all<{ role: string }>(
    'SELECT "role" FROM "tabOAuth Client Role" WHERE "parent" = ? AND "parenttype" = \'OAuth Client\'',
    [row.name],
  );
  const authMethod = AUTH_METHODS[row.token_endpoint_auth_method ?? ''] ?? 'client_secret_basic';
  return {
    name: row.name,
    clientId: row.client_id || row.name,
    appName: row.app_name,
    user: row.user,
    skipAuthorization: Number(row.skip_authorization) === 1,
    scopes: parseScopes(row.scopes ?? ''),
    redirectUris: parseRedirectUris(row.redirect_uris),
    defaultRedirectUri: row.default_redirect_uri,
    grantType: row.grant_type ?? 'Authorization Code',
    responseType: row.response_type ?? 'Code',
    authMethod,
    idTokenAlg: row.id_token_signing_alg === 'HS256' ? 'HS256' : 'RS256',
    allowedRoles: roles.map((r) => r.role),
    logoUri: row.logo_uri,
    clientUri: row.client_uri,
    isPublic: authMethod === 'none',
    isDynamic: Number(row.is_dynamic_client) === 1,
  };
}

/** Makes and stores a new secret for a client (shown once by the caller). */
export async function issueClientSecret(db: SqlExecutor, cipher: SecretCipher, hashKey: string, client: { name: string; idTokenAlg?: string }): Promise<string> {
  const secret = randomToken(32);
  await setHashedField(db, 'OAuth Client', client.name, 'client_secret', secretHash(hashKey, secret));
  // HS256 ID tokens (legacy clients only) need the secret itself to sign.
  if (client.idTokenAlg === 'HS256') await setEncryptedField(db, cipher, 'OAuth Client', client.name, 'client_secret_hs256', secret);
  return secret;
}

export async function hs256Secret(db: SqlExecutor, cipher: SecretCipher, client: OAuthClient): Promise<string | undefined> {
  return getDecryptedField(db, cipher, 'OAuth Client', client.name, 'client_secret_hs256');
}

export interface ClientCredentials {
  clientId?: string;
  clientSecret?: string;
  method: ClientAuthMethod | 'mixed';
}

/** Reads client credentials from a Basic header (RFC 6749 §2.3.1: form-urlencoded parts) or the body. */
export function readClientCredentials(authorization: string | undefined, body: Record<string, unknown>): ClientCredentials {
  const postId = typeof body.client_id === 'string' ? body.client_id : undefined;
  const postSecret = typeof body.client_secret === 'string' ? body.client_secret : undefined;
  const [scheme, value] = (authorization ?? '').split(' ');
  if (scheme?.toLowerCase() === 'basic' && value) {
    if (postSecret !== undefined) return { method: 'mixed' };
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OAuthError('invalid_client', 'Malformed Basic credentials', 401);
    let id: string;
    let secret: string;
    try {
      id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    } catch {
      throw new OAuthError('invalid_client', 'Malformed Basic credentials', 401);
    }
    if (postId !== undefined && postId !== id) throw new OAuthError('invalid_request', 'client_id does not match the credentials', 400);
    return { clientId: id, clientSecret: secret, method: 'client_secret_basic' };
  }
  if (postSecret !== undefined) return { clientId: postId, clientSecret: postSecret, method: 'client_secret_post' };
  return { clientId: postId, method: 'none' };
}

/** Authenticates a client as its registered method requires; `invalid_client` (401) otherwise. */
export async function authenticateClient(db: SqlExecutor, hashKey: string, credentials: ClientCredentials): Promise<OAuthClient> {
  if (credentials.method === 'mixed') throw new OAuthError('invalid_request', 'Use one client authentication method', 400);
  const client = credentials.clientId ? await findClient(db, credentials.clientId) : undefined;
  const presented = credentials.clientSecret === undefined ? undefined : secretHash(hashKey, credentials.clientSecret);
  const stored = client ? await getHashedField(db, 'OAuth Client', client.name, 'client_secret') : undefined;
  // Compare even for unknown clients, so timing tells nothing.
  const secretOk = constantEquals(presented ?? 'absent', stored ?? 'no stored secret');
  if (!client) throw new OAuthError('invalid_client', 'Client authentication failed', 401);
  if (client.isPublic) {
    if (credentials.method !== 'none') throw new OAuthError('invalid_client', 'This client is public: it has no secret', 401);
    return client;
  }
  if (credentials.method !== client.authMethod || !secretOk || stored === undefined) {
    throw new OAuthError('invalid_client', 'Client authentication failed', 401);
  }
  return client;
}
