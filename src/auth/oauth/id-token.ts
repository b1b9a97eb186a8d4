/**
 * OpenID Connect claims and ID tokens. `sub` is a stable, opaque per-user value (Administrator
 * included); ID tokens are RS256-signed with the site key published in the JWKS, or HS256 with
 * the client secret for clients that ask for Frappe's legacy behaviour.
 */
import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { keyedHash } from '../../core/crypto.ts';
import type { SqlExecutor } from '../../storage/types.ts';
import { rolesOf } from '../../doctype/users.ts';
import type { SigningKeys } from './signing-keys.ts';

export function subjectOf(hashKey: string, user: string): string {
  return keyedHash(hashKey, `oidc-sub:${user}`).slice(0, 32);
}

export interface UserClaims {
  sub: string;
  name: string;
  given_name: string | null;
  family_name: string | null;
  email: string | null;
  picture: string | null;
  roles: string[];
  iss: string;
}

/** Frappe's userinfo claims (`get_userinfo`). */
export async function userClaims(db: SqlExecutor, hashKey: string, issuer: string, user: string): Promise<UserClaims> {
  const row = await db.get<{ full_name: string | null; first_name: string | null; last_name: string | null; email: string | null; user_image: string | null }>(
    'SELECT "full_name", "first_name", "last_name", "email", "user_image" FROM "tabUser" WHERE "name" = ?',
    [user],
  );
  const image = row?.user_image ?? null;
  return {
    sub: subjectOf(hashKey, user),
    name: row?.full_name || [row?.first_name, row?.last_name].filter(Boolean).join(' ') || user,
    given_name: row?.first_name ?? null,
    family_name: row?.last_name ?? null,
    email: row?.email ?? null,
    picture: image ? (image.startsWith('http') ? image : `${issuer}${image.startsWith('/') ? '' : '/'}${image}`) : null,
    roles: (await rolesOf(db, user)).filter((r) => r !== 'Guest'),
    iss: issuer,
  };
}

/** `at_hash`: the left half of SHA-256 of the access token, base64url (OIDC Core §3.1.3.6). */
export function atHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenInput {
  issuer: string;
  clientId: string;
  claims: UserClaims;
  nonce?: string | null;
  authTime?: number | null;
  accessToken: string;
  lifetime: number;
  now: Date;
}

export async function signIdToken(input: IdTokenInput, keys: SigningKeys, hs256Secret?: string): Promise<string> {
  const iat = Math.floor(input.now.getTime() / 1000);
  const payload: Record<string, unknown> = {
    ...input.claims,
    iss: input.issuer,
    aud: input.clientId,
    azp: input.clientId,
    iat,
    exp: iat + input.lifetime,
    at_hash: atHash(input.accessToken),
  };
  if (input.nonce) payload.nonce = input.nonce;
  if (input.authTime) payload.auth_time = input.authTime;
  if (hs256Secret !== undefined) {
    return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(hs256Secret));
  }
  const key = await keys.signingKey();
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}
