/**
 * The bench's site: a temporary folder (SQLite, or a fresh PostgreSQL schema) seeded with ToDo
 * rows owned by a non-admin user whose access comes from the `All` role's `if_owner` rule, API
 * keys for that user and for Administrator, a named API key and an OAuth bearer token.
 * Sessions are made later, over HTTP, with real password logins.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { openServingSite } from '../../src/app/create-server.ts';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { newSite, STANDARD_ROLES, type Site } from '../../src/app/site.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { createNamedApiKey } from '../../src/auth/named-api-keys.ts';
import { keyedHash, randomHex, randomToken } from '../../src/core/crypto.ts';
import { createLogger } from '../../src/core/logger.ts';
import { insertDoc } from '../../src/doctype/document/write-documents.ts';
import { ADMINISTRATOR, principalFor } from '../../src/doctype/principal.ts';
import { UnitOfWork } from '../../src/storage/unit-of-work.ts';
import { createSchema, dropSchema } from '../../src/storage/postgres/postgres-storage.ts';
import { onCleanup } from './processes.ts';

export const BENCH_USER = 'bench.user@example.com';
const STATUSES = ['Open', 'Closed', 'Open', 'Cancelled'];
const PRIORITIES = ['High', 'Medium', 'Low'];

export interface KeyPair {
  api_key: string;
  api_secret: string;
}

export interface BenchSite {
  /** The site folder, handed to `cortado --site`. */
  path: string;
  /** Open in this process (for seeding and for clean-up between runs). */
  site: Site;
  adminPassword: string;
  userPassword: string;
  adminKeys: KeyPair;
  userKeys: KeyPair;
  namedKey?: KeyPair;
  oauthToken?: string;
  /** A ToDo owned by the non-admin user: the measured document read. */
  docName: string;
  todos: number;
}

export interface SeedOptions {
  label: string;
  dbUrl?: string;
  redisUrl?: string;
  /** ToDo rows to insert (half owned by the non-admin user). */
  todos: number;
  /** Also make the named key and the OAuth token (the SQLite site only needs them). */
  full: boolean;
}

/** A fresh PostgreSQL schema for the bench (dropped at clean-up); returns the URL using it. */
async function benchSchema(pgUrl: string): Promise<string> {
  const schema = `bench_${randomHex(10)}`;
  await createSchema(pgUrl, schema);
  onCleanup(`PostgreSQL schema ${schema}`, () => dropSchema(pgUrl, schema));
  const url = new URL(pgUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/** Deletes the site's Redis keys (its prefix is derived from the site key). */
async function clearRedisKeys(redisUrl: string, site: Site): Promise<void> {
  const prefix = `cortado:${keyedHash(site.config.encryption_key, 'cache prefix').slice(0, 12)}:`;
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function seedSite(options: SeedOptions): Promise<BenchSite> {
  const folder = mkdtempSync(join(tmpdir(), `cortado-bench-${options.label}-`));
  onCleanup(`temporary folder ${folder}`, () => rmSync(folder, { recursive: true, force: true }));
  const path = join(folder, 'site');
  const dbUrl = options.dbUrl ? await benchSchema(options.dbUrl) : undefined;
  const logger = createLogger({ quiet: true });
  const adminPassword = `admin-${randomToken(12)}`;
  const userPassword = `user-${randomToken(12)}`;
  const created = await newSite(path, { adminPassword, dbUrl, redisUrl: options.redisUrl, logger });
  await created.close();

  const site = await openServingSite(path, { logger });
  onCleanup(`site ${options.label}`, () => site.close());
  if (options.redisUrl) {
    const redisUrl = options.redisUrl;
    // Runs after the site has closed (clean-up runs last registered first).
    onCleanup(`Redis keys of site ${options.label}`, () => clearRedisKeys(redisUrl, site));
  }
  await site.migrate();
  const hashKey = apiSecretHashKey(site.config.encryption_key);

  // The non-admin user: no assigned role; reads ToDo through `All` + if_owner.
  await addUser(site, { email: BENCH_USER, firstName: 'Bench', lastName: 'User', password: userPassword, roles: [] });
  const adminKeys = await site.asAdministrator((ctx) => generateUserKeys(ctx, ADMINISTRATOR, hashKey));
  const userKeys = await site.asAdministrator((ctx) => generateUserKeys(ctx, BENCH_USER, hashKey));

  // ToDo rows, inserted through the document layer as their owners would.
  const owners = [
    { user: BENCH_USER, principal: principalFor(BENCH_USER, [], 'System User') },
    { user: ADMINISTRATOR, principal: principalFor(ADMINISTRATOR, STANDARD_ROLES, 'System User') },
  ];
  let docName = '';
  for (const [index, owner] of owners.entries()) {
    const uow = new UnitOfWork(site.storage);
    try {
      const ctx = site.documentContext(owner.principal, uow);
      const count = index === 0 ? Math.ceil(options.todos / 2) : Math.floor(options.todos / 2);
      for (let i = 0; i < count; i++) {
        const doc = await insertDoc(
          'ToDo',
          {
            description: `Bench task ${i + 1} of ${owner.user}: check the figures and write the report`,
            status: STATUSES[i % STATUSES.length],
            priority: PRIORITIES[i % PRIORITIES.length],
            date: `2025-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`,
            allocated_to: owner.user,
          },
          ctx,
        );
        if (index === 0 && i === 0) docName = String(doc.name);
      }
      await uow.finish(true);
    } catch (error) {
      await uow.finish(false);
      throw error;
    }
  }

  const bench: BenchSite = { path, site, adminPassword, userPassword, adminKeys, userKeys, docName, todos: options.todos };
  if (options.full) {
    const named = await site.asAdministrator((ctx) => createNamedApiKey(ctx, { label: 'bench', user: ADMINISTRATOR }, hashKey));
    bench.namedKey = { api_key: named.api_key, api_secret: named.api_secret };
    const client = await site.asAdministrator((ctx) =>
      insertDoc('OAuth Client', { app_name: 'cortado bench', scopes: 'all openid', redirect_uris: 'http://127.0.0.1/callback' }, ctx),
    );
    const issued = await authServicesFor(site).oauth.provider.tokens.issue({
      client: String(client.name),
      user: ADMINISTRATOR,
      scopes: ['all'],
      withRefresh: false,
      settings: { accessTokenLifetime: 7 * 86_400, refreshTokenLifetimeDays: 1 },
    });
    bench.oauthToken = issued.access_token;
  }
  return bench;
}

/** Deletes the rows the create scenario made, so every run sees the same table. */
export async function deleteCreatedTodos(bench: BenchSite, marker: string): Promise<number> {
  const result = await bench.site.storage.run('DELETE FROM "tabToDo" WHERE "description" = ?', [marker]);
  return result.changes;
}
