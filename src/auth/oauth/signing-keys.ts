/**
 * The site's OpenID Connect signing keys (RS256). The newest key signs; retired keys stay in
 * the JWKS for an overlap period so tokens they signed still verify, then disappear. Private
 * keys are stored encrypted under the site key, shared by every node.
 */
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

type CryptoKey = webcrypto.CryptoKey;
import { epochMs, formatDatetime } from '../../core/clock.ts';
import { randomToken } from '../../core/crypto.ts';
import type { Clock } from '../../core/clock.ts';
import type { SecretCipher } from '../../doctype/document/document-context.ts';
import type { SqlExecutor } from '../../storage/types.ts';

export interface SigningKey {
  kid: string;
  alg: 'RS256';
  privateKey: CryptoKey;
}

interface KeyRow {
  kid: string;
  alg: string;
  public_jwk: string;
  private_jwk: string;
  created: string;
  retired: string | null;
}

/** How long a retired key stays published (longer than any ID token lives). */
const OVERLAP_MS = 7 * 86_400_000;

export function createSigningKeys(db: SqlExecutor, cipher: SecretCipher, clock: Clock) {
  let current: Promise<SigningKey> | undefined;

  async function generate(): Promise<SigningKey> {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    const kid = randomToken(12);
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    const privateJwk = await exportJWK(privateKey);
    await db.run('INSERT INTO "__OAuthKeys" ("kid", "alg", "public_jwk", "private_jwk", "created") VALUES (?, ?, ?, ?, ?)', [
      kid,
      'RS256',
      JSON.stringify(publicJwk),
      cipher.encrypt(JSON.stringify(privateJwk)),
      formatDatetime(clock.now()),
    ]);
    return { kid, alg: 'RS256', privateKey: (await importJWK(privateJwk, 'RS256')) as CryptoKey };
  }

  async function load(): Promise<SigningKey> {
    const row = await db.get<KeyRow>('SELECT * FROM "__OAuthKeys" WHERE "retired" IS NULL ORDER BY "created" DESC LIMIT 1');
    if (!row) return generate();
    const jwk = JSON.parse(cipher.decrypt(row.private_jwk)) as JWK;
    return { kid: row.kid, alg: 'RS256', privateKey: (await importJWK(jwk, 'RS256')) as CryptoKey };
  }

  return {
    /** The key that signs now (made on first use). */
    signingKey(): Promise<SigningKey> {
      current ??= load().catch((error: unknown) => {
        current = undefined;
        throw error;
      });
      return current;
    },

    /** Public keys to publish: the current one and those retired within the overlap. */
    async jwks(): Promise<{ keys: JWK[] }> {
      await this.signingKey();
      const cutoff = formatDatetime(new Date(epochMs(clock) - OVERLAP_MS));
      const rows = await db.all<KeyRow>('SELECT * FROM "__OAuthKeys" WHERE "retired" IS NULL OR "retired" > ? ORDER BY "created" DESC', [cutoff]);
      return { keys: rows.map((row) => JSON.parse(row.public_jwk) as JWK) };
    },

    /** Starts signing with a new key; the old one is still published during the overlap. */
    async rotate(): Promise<string> {
      await db.run('UPDATE "__OAuthKeys" SET "retired" = ? WHERE "retired" IS NULL', [formatDatetime(clock.now())]);
      current = generate();
      return (await current).kid;
    },

    /** Forgets the cached key (another node rotated). */
    invalidate(): void {
      current = undefined;
    },
  };
}

export type SigningKeys = ReturnType<typeof createSigningKeys>;
