/**
 * OAuth Client documents made through the REST API or the desk: the server makes the
 * `client_id` and the secret (returned once, in the insert's answer), and checks redirect URIs.
 */
import type { MethodRegistry } from '../api/methods/method-registry.ts';
import { issueClientSecret, parseRedirectUris } from '../auth/oauth/oauth-clients.ts';
import { frappeError } from '../core/errors.ts';
import type { Doc } from '../doctype/document/document-context.ts';
import type { DocEventContext } from './app-definition.ts';
import type { Site } from './site.ts';
import { apiSecretHashKey } from '../auth/api-keys.ts';

function checkRedirectUris(doc: Doc): void {
  const uris = parseRedirectUris(typeof doc.redirect_uris === 'string' ? doc.redirect_uris : '');
  for (const uri of uris) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw frappeError('ValidationError', `Redirect URI is not an absolute URI: ${uri.slice(0, 100)}`);
    }
    if (url.hash || uri.includes('*')) throw frappeError('ValidationError', `Redirect URIs must be exact, without fragment or wildcard: ${uri.slice(0, 100)}`);
  }
  doc.redirect_uris = uris.join('\n');
  if (!doc.default_redirect_uri && uris[0]) doc.default_redirect_uri = uris[0];
  if (doc.default_redirect_uri && !uris.includes(String(doc.default_redirect_uri))) {
    throw frappeError('ValidationError', 'The default redirect URI must be one of the redirect URIs');
  }
}

export function oauthClientEvents(getSite: () => Site) {
  return {
    before_insert(doc: Doc) {
      // The server makes the secret; a value sent by the caller is ignored.
      delete doc.client_secret;
      delete doc.client_id;
    },
    validate(doc: Doc) {
      checkRedirectUris(doc);
    },
    async after_insert(doc: Doc, ctx: DocEventContext) {
      const site = getSite();
      const name = String(doc.name);
      await ctx.sql.run('UPDATE "tabOAuth Client" SET "client_id" = ?, "client_secret" = ? WHERE "name" = ?', [name, doc.token_endpoint_auth_method === 'None' ? null : '********', name]);
      doc.client_id = name;
      if (doc.token_endpoint_auth_method !== 'None') {
        doc.client_secret = await issueClientSecret(ctx.sql, site.cipher, apiSecretHashKey(site.config.encryption_key), {
          name,
          idTokenAlg: String(doc.id_token_signing_alg ?? 'RS256'),
        });
      }
    },
  };
}

/** `cortado.oauth.regenerate_client_secret`: a new secret, shown once; the old one stops at once. */
export function registerOAuthClientMethods(methods: MethodRegistry, getSite: () => Site): void {
  methods.register(
    'cortado.oauth.regenerate_client_secret',
    {
      methods: ['POST'],
      params: ['client'],
      async handler(args, ctx) {
        if (!ctx.roles.has('System Manager') && !ctx.roles.has('Administrator')) throw frappeError('PermissionError', 'Not permitted');
        const site = getSite();
        const row = await ctx.documents.db.get<{ name: string; token_endpoint_auth_method: string; id_token_signing_alg: string }>(
          'SELECT "name", "token_endpoint_auth_method", "id_token_signing_alg" FROM "tabOAuth Client" WHERE "name" = ? OR "client_id" = ?',
          [String(args.client ?? ''), String(args.client ?? '')],
        );
        if (!row) throw frappeError('DoesNotExistError', 'OAuth Client not found');
        if (row.token_endpoint_auth_method === 'None') throw frappeError('ValidationError', 'A public client has no secret');
        const secret = await issueClientSecret(ctx.documents.db, site.cipher, apiSecretHashKey(site.config.encryption_key), { name: row.name, idTokenAlg: row.id_token_signing_alg });
        return { client_id: row.name, client_secret: secret };
      },
    },
    'frappe',
  );
}
