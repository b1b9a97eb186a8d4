/**
 * The soak's temporary site: a folder (SQLite, or a fresh PostgreSQL schema with Redis when
 * configured) seeded with users who own some ToDos, each with a password and an API key, and
 * an OAuth client with refresh tokens (one per refresh chain). Every temporary thing registers
 * its removal with `onCleanup`. The site is closed again before the server starts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServingSite } from '../../src/app/create-server.ts';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { newSite, type Site } from '../../src/app/site.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { randomToken } from '../../src/core/crypto.ts';
import { createLogger } from '../../src/core/logger.ts';
import { insertDoc } from '../../src/doctype/document/write-documents.ts';
import { ADMINISTRATOR, principalFor } from '../../src/doctype/principal.ts';
import { UnitOfWork } from '../../src/storage/unit-of-work.ts';
import { onCleanup } from '../bench/processes.ts';
import { clearSiteRedisKeys, throwawaySchema } from '../bench/throwaway-services.ts';

export interface SoakUser {
  email: string;
  password: string;
  /** `token key:secret`. */
  token: string;
  /** ToDos the user owns (reads go to these). */
  todos: string[];
}

export interface SoakSite {
  path: string;
  users: SoakUser[];
  oauth: { clientId: string; clientSecret: string; refreshTokens: string[] };
  /** What the site runs on, for the report. */
  database: string;
}

export interface SoakSiteOptions {
  db: 'sqlite' | 'postgres';
  pgUrl?: string;
  redisUrl?: string;
  users: number;
  todosPerUser: number;
  refreshChains: number;
}

const STATUSES = ['Open', 'Closed', 'Open', 'Cancelled'];

/** Opens the site in this process (quietly): for seeding, and to check the writes at the end. */
export function openSoakSite(path: string): Promise<Site> {
  return openServingSite(path, { logger: createLogger({ quiet: true }) });
}

export async function createSoakSite(options: SoakSiteOptions): Promise<SoakSite> {
  const folder = mkdtempSync(join(tmpdir(), 'cortado-soak-'));
  onCleanup(`temporary folder ${folder}`, () => rmSync(folder, { recursive: true, force: true }));
  const path = join(folder, 'site');
  if (options.db === 'postgres' && !options.pgUrl) throw new Error('--db postgres needs CORTADO_TEST_PG_URL');
  const dbUrl = options.db === 'postgres' && options.pgUrl ? await throwawaySchema(options.pgUrl, 'soak') : undefined;
  const redisUrl = options.db === 'postgres' ? options.redisUrl : undefined;
  const created = await newSite(path, { adminPassword: `admin-${randomToken(12)}`, dbUrl, redisUrl, logger: createLogger({ quiet: true }) });
  await created.close();

  const site = await openSoakSite(path);
  try {
    if (redisUrl) {
      const key = site.config.encryption_key;
      onCleanup('Redis keys of the soak site', () => clearSiteRedisKeys(redisUrl, key));
    }
    await site.migrate();
    const hashKey = apiSecretHashKey(site.config.encryption_key);
    const users: SoakUser[] = [];
    for (let u = 1; u <= options.users; u++) {
      const email = `soak.user${u}@example.com`;
      const password = `soak-${randomToken(12)}`;
      // No assigned role: ToDo access comes from the All role's if_owner rule.
      await addUser(site, { email, firstName: 'Soak', lastName: `User ${u}`, password, roles: [] });
      const keys = await site.asAdministrator((ctx) => generateUserKeys(ctx, email, hashKey));
      const row = await site.storage.get<{ api_key: string }>('SELECT "api_key" FROM "tabUser" WHERE "name" = ?', [email]);
      const uow = new UnitOfWork(site.storage);
      const todos: string[] = [];
      try {
        const ctx = site.documentContext(principalFor(email, [], 'System User'), uow);
        for (let i = 0; i < options.todosPerUser; i++) {
          const doc = await insertDoc('ToDo', { description: `Seeded task ${i + 1} of ${email}`, status: STATUSES[i % STATUSES.length], priority: 'Medium', allocated_to: email }, ctx);
          todos.push(String(doc.name));
        }
        await uow.finish(true);
      } catch (error) {
        await uow.finish(false);
        throw error;
      }
      users.push({ email, password, token: `token ${String(row?.api_key)}:${keys.api_secret}`, todos });
    }

    // A confidential client (client_secret_basic) and one refresh token per chain.
    const client = await site.asAdministrator((ctx) =>
      insertDoc('OAuth Client', { app_name: 'cortado soak', scopes: 'all openid', redirect_uris: 'http://127.0.0.1/callback' }, ctx),
    );
    const clientSecret = client.client_secret;
    if (typeof clientSecret !== 'string' || clientSecret === '') throw new Error('the OAuth client was made without a secret');
    const tokens = authServicesFor(site).oauth.provider.tokens;
    const refreshTokens: string[] = [];
    for (let i = 0; i < options.refreshChains; i++) {
      const user = users[i % users.length]?.email ?? ADMINISTRATOR;
      const issued = await tokens.issue({ client: String(client.name), user, scopes: ['all'], withRefresh: true, settings: { accessTokenLifetime: 3600, refreshTokenLifetimeDays: 1 } });
      if (!issued.refresh_token) throw new Error('no refresh token was issued');
      refreshTokens.push(issued.refresh_token);
    }
    const database = dbUrl ? `PostgreSQL${redisUrl ? ' + Redis' : ' (no Redis: in-process counters)'}` : 'SQLite';
    return { path, users, oauth: { clientId: String(client.client_id ?? client.name), clientSecret, refreshTokens }, database };
  } finally {
    await site.close();
  }
}
