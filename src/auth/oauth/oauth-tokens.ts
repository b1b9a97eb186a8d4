/**
 * Authorization codes and bearer tokens. Every secret is a 256-bit random string stored only
 * as a keyed hash. Codes are single-use and live 5 minutes; replaying one revokes what it
 * issued. Refresh tokens rotate on every use; presenting a rotated one revokes its whole
 * grant family (RFC 9700 §4.14).
 */
import { formatDatetime, type Clock } from '../../core/clock.ts';
import { keyedHash, randomHex, randomToken } from '../../core/crypto.ts';
import type { SqlExecutor } from '../../storage/types.ts';
import { OAuthError } from './oauth-error.ts';

export const CODE_LIFETIME_SECONDS = 300;

export interface TokenSettings {
  accessTokenLifetime: number;
  refreshTokenLifetimeDays: number;
}

export interface IssuedTokens {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  scope: string;
  tokenName: string;
}

export interface TokenRow {
  name: string;
  client: string;
  user: string;
  scopes: string;
  access_token: string;
  refresh_token: string | null;
  expiration_time: string;
  expires_in: number;
  status: string;
  grant_family: string;
  authorization_code: string | null;
  refresh_expiration_time: string | null;
  auth_time: number | null;
  creation: string;
}

export interface CodeRow {
  name: string;
  client: string;
  user: string;
  scopes: string;
  expiration_time: string;
  redirect_uri_bound_to_authorization_code: string;
  validity: string;
  nonce: string | null;
  code_challenge: string | null;
  code_challenge_method: string | null;
  auth_time: number | null;
}

const toMs = (text: string) => Date.parse(`${text.replace(' ', 'T').slice(0, 23)}Z`);

export function createOAuthTokens(db: SqlExecutor, hashKey: string, clock: Clock) {
  const hash = (kind: string, value: string) => keyedHash(hashKey, `oauth-${kind}:${value}`);
  const now = () => clock.now();
  const stamp = (user: string) => {
    const text = formatDatetime(now());
    return { owner: user, creation: text, modified: text, modified_by: user, docstatus: 0, idx: 0 };
  };

  async function insert(table: string, row: Record<string, string | number | null>): Promise<void> {
    const columns = Object.keys(row);
    await db.run(
      `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      columns.map((c) => row[c] ?? null),
    );
  }

  async function revokeFamily(family: string): Promise<number> {
    const result = await db.run('UPDATE "tabOAuth Bearer Token" SET "status" = \'Revoked\' WHERE "grant_family" = ? AND "status" = \'Active\'', [family]);
    return result.changes;
  }

  return {
    hashOf: hash,

    async createCode(input: {
      client: string;
      user: string;
      scopes: string[];
      redirectUri: string;
      nonce?: string;
      codeChallenge?: string;
      authTime: number;
    }): Promise<string> {
      const code = randomToken(32);
      await insert('tabOAuth Authorization Code', {
        name: randomHex(20),
        ...stamp(input.user),
        client: input.client,
        user: input.user,
        scopes: input.scopes.join(' '),
        authorization_code: hash('code', code),
        expiration_time: formatDatetime(new Date(now().getTime() + CODE_LIFETIME_SECONDS * 1000)),
        redirect_uri_bound_to_authorization_code: input.redirectUri,
        validity: 'Valid',
        nonce: input.nonce ?? null,
        code_challenge: input.codeChallenge ?? null,
        code_challenge_method: input.codeChallenge ? 's256' : null,
        auth_time: input.authTime,
      });
      return code;
    },

    /**
     * Consumes a code once. A second use (or an expired code) fails with `invalid_grant`; a
     * second use also revokes every token the first one issued.
     */
    async consumeCode(code: string, clientName: string): Promise<CodeRow> {
      const codeHash = hash('code', code);
      const row = await db.get<CodeRow>('SELECT * FROM "tabOAuth Authorization Code" WHERE "authorization_code" = ?', [codeHash]);
      if (!row || row.client !== clientName) throw new OAuthError('invalid_grant', 'The authorization code is invalid');
      const claimed = await db.run(
        'UPDATE "tabOAuth Authorization Code" SET "validity" = \'Invalid\' WHERE "authorization_code" = ? AND "validity" = \'Valid\'',
        [codeHash],
      );
      if (claimed.changes !== 1) {
        const families = await db.all<{ grant_family: string }>('SELECT DISTINCT "grant_family" FROM "tabOAuth Bearer Token" WHERE "authorization_code" = ?', [codeHash]);
        for (const family of families) await revokeFamily(family.grant_family);
        throw new OAuthError('invalid_grant', 'The authorization code was already used; the tokens it issued are revoked');
      }
      if (toMs(row.expiration_time) <= now().getTime()) throw new OAuthError('invalid_grant', 'The authorization code has expired');
      return row;
    },

    async issue(input: {
      client: string;
      user: string;
      scopes: string[];
      withRefresh: boolean;
      settings: TokenSettings;
      family?: string;
      codeHash?: string;
      authTime?: number;
    }): Promise<IssuedTokens> {
      const accessToken = randomToken(32);
      const refreshToken = input.withRefresh ? randomToken(32) : undefined;
      const name = randomHex(20);
      const lifetime = input.settings.accessTokenLifetime;
      await insert('tabOAuth Bearer Token', {
        name,
        ...stamp(input.user),
        client: input.client,
        user: input.user,
        scopes: input.scopes.join(' '),
        access_token: hash('access', accessToken),
        refresh_token: refreshToken ? hash('refresh', refreshToken) : null,
        expiration_time: formatDatetime(new Date(now().getTime() + lifetime * 1000)),
        expires_in: lifetime,
        status: 'Active',
        grant_family: input.family ?? randomHex(20),
        authorization_code: input.codeHash ?? null,
        refresh_expiration_time: refreshToken
          ? formatDatetime(new Date(now().getTime() + input.settings.refreshTokenLifetimeDays * 86_400_000))
          : null,
        auth_time: input.authTime ?? null,
      });
      return { access_token: accessToken, refresh_token: refreshToken, expires_in: lifetime, scope: input.scopes.join(' '), tokenName: name };
    },

    /** A live access token: Active and not expired. */
    async findAccess(token: string): Promise<TokenRow | undefined> {
      const row = await db.get<TokenRow>('SELECT * FROM "tabOAuth Bearer Token" WHERE "access_token" = ?', [hash('access', token)]);
      if (!row || row.status !== 'Active' || toMs(row.expiration_time) <= now().getTime()) return undefined;
      return row;
    },

    /** Any row for an access or refresh token, for introspection and revocation. */
    async lookup(token: string, hint?: string): Promise<{ row: TokenRow; kind: 'access' | 'refresh' } | undefined> {
      const order: ('access' | 'refresh')[] = hint === 'refresh_token' ? ['refresh', 'access'] : ['access', 'refresh'];
      for (const kind of order) {
        const column = kind === 'access' ? 'access_token' : 'refresh_token';
        const row = await db.get<TokenRow>(`SELECT * FROM "tabOAuth Bearer Token" WHERE "${column}" = ?`, [hash(kind, token)]);
        if (row) return { row, kind };
      }
      return undefined;
    },

    isActive(row: TokenRow, kind: 'access' | 'refresh'): boolean {
      if (row.status !== 'Active') return false;
      const end = kind === 'access' ? row.expiration_time : row.refresh_expiration_time;
      return end !== null && toMs(end) > now().getTime();
    },

    /**
     * Rotates a refresh token: the presented row is revoked and a new pair issued in the same
     * family. Presenting a token that was already rotated revokes the whole family.
     */
    async refresh(token: string, clientName: string, requested: string[] | undefined, settings: TokenSettings): Promise<{ issued: IssuedTokens; row: TokenRow }> {
      const row = await db.get<TokenRow>('SELECT * FROM "tabOAuth Bearer Token" WHERE "refresh_token" = ?', [hash('refresh', token)]);
      if (!row || row.client !== clientName) throw new OAuthError('invalid_grant', 'The refresh token is invalid');
      const granted = row.scopes.split(' ').filter(Boolean);
      const scopes = requested ?? granted;
      // A request for wider scopes is refused before the token is consumed: a client's bad
      // request must neither cost it its grant nor look like reuse on the next refresh.
      if (row.status === 'Active' && scopes.some((s) => !granted.includes(s))) throw new OAuthError('invalid_scope', 'A refresh cannot widen the scope');
      const claimed = await db.run('UPDATE "tabOAuth Bearer Token" SET "status" = \'Revoked\' WHERE "name" = ? AND "status" = \'Active\'', [row.name]);
      if (claimed.changes !== 1) {
        await revokeFamily(row.grant_family);
        throw new OAuthError('invalid_grant', 'The refresh token was already used; the grant is revoked');
      }
      if (!row.refresh_expiration_time || toMs(row.refresh_expiration_time) <= now().getTime()) {
        throw new OAuthError('invalid_grant', 'The refresh token has expired');
      }
      const issued = await this.issue({
        client: row.client,
        user: row.user,
        scopes,
        withRefresh: true,
        settings,
        family: row.grant_family,
        authTime: row.auth_time ?? undefined,
      });
      return { issued, row };
    },

    /** Revokes a token and, for a refresh token, everything of its grant. */
    async revoke(row: TokenRow, kind: 'access' | 'refresh'): Promise<void> {
      if (kind === 'refresh') await revokeFamily(row.grant_family);
      else await db.run('UPDATE "tabOAuth Bearer Token" SET "status" = \'Revoked\' WHERE "name" = ?', [row.name]);
    },

    async hasActiveGrant(user: string, clientName: string): Promise<boolean> {
      // A grant lives while its access or refresh token does.
      const text = formatDatetime(now());
      const row = await db.get(
        'SELECT "name" FROM "tabOAuth Bearer Token" WHERE "user" = ? AND "client" = ? AND "status" = \'Active\' AND ("expiration_time" > ? OR "refresh_expiration_time" > ?) LIMIT 1',
        [user, clientName, text, text],
      );
      return row !== undefined;
    },

    /** Drops codes past their life and tokens revoked or expired beyond refresh. */
    async purge(): Promise<number> {
      const text = formatDatetime(now());
      const codes = await db.run('DELETE FROM "tabOAuth Authorization Code" WHERE "expiration_time" < ?', [text]);
      const tokens = await db.run(
        'DELETE FROM "tabOAuth Bearer Token" WHERE ("refresh_expiration_time" IS NULL AND "expiration_time" < ?) OR "refresh_expiration_time" < ?',
        [text, text],
      );
      return codes.changes + tokens.changes;
    },
  };
}

export type OAuthTokens = ReturnType<typeof createOAuthTokens>;
