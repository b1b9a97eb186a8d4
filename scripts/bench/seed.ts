/**
 * The bench's site: a temporary folder (SQLite, or a fresh PostgreSQL schema) seeded with ToDo
 * rows owned by a non-admin user whose access comes from the `All` role's `if_owner` rule, API
 * keys for that user and for Administrator, a named API key and an OAuth bearer token.
 * Sessions are made later, over HTTP, with real password logins.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServingSite } from '../../src/app/create-server.ts';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { CONFIG_FILE, newSite, STANDARD_ROLES, writeSiteConfig, type Site } from '../../src/app/site.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { createNamedApiKey } from '../../src/auth/named-api-keys.ts';
import { formatDatetime } from '../../src/core/clock.ts';
import { keyedHash, randomHex, randomToken } from '../../src/core/crypto.ts';
import { createLogger } from '../../src/core/logger.ts';
import { insertDoc } from '../../src/doctype/document/write-documents.ts';
import { ADMINISTRATOR, principalFor } from '../../src/doctype/principal.ts';
import { UnitOfWork } from '../../src/storage/unit-of-work.ts';
import type { SqlValue } from '../../src/storage/types.ts';
import { onCleanup } from './processes.ts';
import { clearSiteRedisKeys, throwawaySchema } from './throwaway-services.ts';

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
  /** `read_cache_mb` of the site, when not the default. */
  readCacheMb?: number;
}

export async function seedSite(options: SeedOptions): Promise<BenchSite> {
  const folder = mkdtempSync(join(tmpdir(), `cortado-bench-${options.label}-`));
  onCleanup(`temporary folder ${folder}`, () => rmSync(folder, { recursive: true, force: true }));
  const path = join(folder, 'site');
  const dbUrl = options.dbUrl ? await throwawaySchema(options.dbUrl, 'bench') : undefined;
  const logger = createLogger({ quiet: true });
  const adminPassword = `admin-${randomToken(12)}`;
  const userPassword = `user-${randomToken(12)}`;
  const created = await newSite(path, { adminPassword, dbUrl, redisUrl: options.redisUrl, logger });
  await created.close();
  if (options.readCacheMb !== undefined) {
    const config = JSON.parse(readFileSync(join(path, CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    writeSiteConfig(path, { ...config, read_cache_mb: options.readCacheMb });
  }

  const site = await openServingSite(path, { logger });
  onCleanup(`site ${options.label}`, () => site.close());
  if (options.redisUrl) {
    const redisUrl = options.redisUrl;
    // Runs after the site has closed (clean-up runs last registered first).
    onCleanup(`Redis keys of site ${options.label}`, () => clearSiteRedisKeys(redisUrl, site.config.encryption_key));
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

/** The sizes `--scale` seeds (times `--scale-factor`). */
export const SCALE = { todos: 1_000_000, users: 100_000, sessions: 100_000 };

export interface ScaleSeeded {
  todos: number;
  users: number;
  sessions: number;
  seconds: number;
}

/**
 * Bulk-inserts the `--scale` data straight into the site's tables, in transactions of
 * multi-row INSERTs (the document layer would take hours for a million rows): ToDo rows owned
 * by the scale users, users with an API key (its secret's keyed hash in `__Auth`, as
 * generate_keys stores it) and one role each, and live sessions of those users. The measured
 * requests keep using the credentials and document of the small site.
 */
export async function seedScale(bench: BenchSite, factor: number, progress: (line: string) => void): Promise<ScaleSeeded> {
  const started = Date.now();
  const storage = bench.site.storage;
  const hashKey = apiSecretHashKey(bench.site.config.encryption_key);
  const sizes = {
    todos: Math.max(1, Math.round(SCALE.todos * factor)),
    users: Math.max(1, Math.round(SCALE.users * factor)),
    sessions: Math.max(1, Math.round(SCALE.sessions * factor)),
  };
  const now = new Date();
  const stamp = formatDatetime(now);
  const expires = formatDatetime(new Date(now.getTime() + 30 * 86_400_000));
  const userName = (i: number) => `scale.user.${i}@example.com`;

  /** Inserts `count` rows made by `row(i)` into `table`, `perTransaction` rows per transaction. */
  async function bulk(table: string, count: number, row: (i: number) => Record<string, SqlValue>, perTransaction = 50_000): Promise<void> {
    const existing = new Set((await storage.columns(table)).map((c) => c.name));
    const columns = Object.keys(row(0)).filter((c) => existing.has(c));
    const perStatement = Math.max(1, Math.floor(900 / columns.length));
    const head = `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES `;
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    const statements = new Map<number, string>();
    const sqlFor = (rows: number) => {
      let sql = statements.get(rows);
      if (!sql) statements.set(rows, (sql = head + Array.from({ length: rows }, () => tuple).join(', ')));
      return sql;
    };
    let lastReport = Date.now();
    for (let from = 0; from < count; from += perTransaction) {
      const to = Math.min(count, from + perTransaction);
      await storage.transaction(async (tx) => {
        for (let start = from; start < to; start += perStatement) {
          const end = Math.min(to, start + perStatement);
          const params: SqlValue[] = [];
          for (let i = start; i < end; i++) {
            const values = row(i);
            for (const column of columns) params.push(values[column] ?? null);
          }
          await tx.run(sqlFor(end - start), params);
        }
      });
      if (Date.now() - lastReport > 5000 || to === count) {
        progress(`  ${table}: ${to.toLocaleString('en')} of ${count.toLocaleString('en')} rows (${Math.round((Date.now() - started) / 1000)} s)`);
        lastReport = Date.now();
      }
    }
  }

  const standard = (name: string, owner = ADMINISTRATOR) => ({ name, owner, creation: stamp, modified: stamp, modified_by: owner, docstatus: 0, idx: 0 });
  await bulk('tabUser', sizes.users, (i) => ({
    ...standard(userName(i)),
    email: userName(i),
    first_name: 'Scale',
    last_name: `User ${i}`,
    full_name: `Scale User ${i}`,
    enabled: 1,
    user_type: 'System User',
    api_key: `s${i.toString(16).padStart(14, '0')}`,
    api_secret: '*****',
    simultaneous_sessions: 2,
  }));
  // The API secret of each key: only its keyed hash is stored.
  await bulk('__Auth', sizes.users, (i) => ({
    doctype: 'User',
    name: userName(i),
    fieldname: 'api_secret',
    password: keyedHash(hashKey, `scale secret ${i}`),
    encrypted: 0,
  }));
  await bulk('tabHas Role', sizes.users, (i) => ({
    ...standard(`scale-role-${i}`),
    parent: userName(i),
    parenttype: 'User',
    parentfield: 'roles',
    idx: 1,
    role: 'Desk User',
  }));
  await bulk('__Sessions', sizes.sessions, (i) => ({
    sid_hash: keyedHash(hashKey, `sid:${randomHex(56)}`),
    user: userName(i % sizes.users),
    created: stamp,
    last_active: stamp,
    expires_at: expires,
    ip: '127.0.0.1',
    device: 'desktop',
    user_agent: 'cortado bench --scale',
    data: JSON.stringify({ full_name: `Scale User ${i % sizes.users}`, user_type: 'System User' }),
  }));
  // Older than the seeded rows, so the list's first page is unchanged; spread over a year.
  const dayMs = 86_400_000;
  await bulk('tabToDo', sizes.todos, (i) => {
    const owner = userName(i % sizes.users);
    const at = formatDatetime(new Date(now.getTime() - (1 + (i % 365)) * dayMs - (i % dayMs)));
    return {
      // Hash-like and unique: a bijection of i on 40 bits (the product stays below 2^53).
      ...standard(`s${((i * 0x9e3779b1) % 2 ** 40).toString(16).padStart(10, '0')}`, owner),
      creation: at,
      modified: at,
      description: `Scale task ${i} of ${owner}`,
      status: STATUSES[i % STATUSES.length] ?? 'Open',
      priority: PRIORITIES[i % PRIORITIES.length] ?? 'Medium',
      date: `2024-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}`,
      allocated_to: owner,
    };
  });
  progress('  refreshing the planner statistics');
  await storage.optimize();
  return { ...sizes, seconds: (Date.now() - started) / 1000 };
}
