/**
 * A site: a folder with `site_config.json` and, when embedded, its SQLite file. Opening a site
 * validates its config, loads its apps and DocTypes and connects the adapters it names.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MethodRegistry } from '../api/methods/method-registry.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { ConfigError, loadSiteConfig, parseSiteConfig, type SiteConfig } from '../core/config.ts';
import { randomToken } from '../core/crypto.ts';
import { asFrappeError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createSecretBox, type SecretBox } from '../core/secret-box.ts';
import { coreDocTypes } from '../doctype/core-doctypes.ts';
import { createDbApi } from '../doctype/db-api.ts';
import type { Doc, DocEvent, DocumentContext, RequestDb } from '../doctype/document/document-context.ts';
import { setUserPassword } from '../doctype/document/password-fields.ts';
import { insertDoc } from '../doctype/document/write-documents.ts';
import { MetaRegistry } from '../doctype/meta/meta-registry.ts';
import { ADMINISTRATOR, GUEST, principalFor, type Principal } from '../doctype/principal.ts';
import { migrateSchema } from '../doctype/schema.ts';
import { UnitOfWork } from '../storage/unit-of-work.ts';
import { observeWrites, type ObservedStorage } from '../storage/write-observer.ts';
import type { Cache } from '../cache/types.ts';
import type { DocEventHandler } from './app-definition.ts';
import { loadApps, type LoadedApp } from './load-apps.ts';
import { SQLITE_FILE, selectCache, selectStorage } from './select-adapters.ts';

export const CONFIG_FILE = 'site_config.json';
export const STANDARD_ROLES = ['Administrator', 'System Manager', 'All', 'Guest', 'Desk User'];

/** How a request's documents are checked, beside its user's rights. */
export interface DocumentContextOptions {
  ignorePermissions?: boolean;
  scopeCheck?: DocumentContext['scopeCheck'];
}

export interface Site {
  readonly path: string;
  readonly config: SiteConfig;
  /** The database; a watcher can be told about committed writes (credential caches use it). */
  readonly storage: ObservedStorage;
  readonly cache: Cache;
  readonly registry: MetaRegistry;
  readonly apps: readonly LoadedApp[];
  readonly methods: MethodRegistry;
  readonly cipher: SecretBox;
  readonly clock: Clock;
  readonly logger: Logger;
  /** A document context acting as `principal` over `db` (a request's unit of work). */
  documentContext(principal: Principal, db: RequestDb, options?: DocumentContextOptions): DocumentContext;
  /** Runs `fn` in one transaction as Administrator, ignoring permissions (CLI and setup). */
  asAdministrator<T>(fn: (ctx: DocumentContext) => Promise<T>): Promise<T>;
  migrate(progress?: (message: string) => void): Promise<string[]>;
  close(): Promise<void>;
}

export interface OpenSiteOptions {
  logger?: Logger;
  clock?: Clock;
  /** Extra methods registered by the layers above (built-ins). */
  registerBuiltins?: (methods: MethodRegistry) => void;
  /** cortado's own document events (they run before the apps' handlers). */
  coreDocEvents?: (getSite: () => Site) => Record<string, Partial<Record<DocEvent, DocEventHandler>>>;
}

function docEventRunner(
  apps: readonly LoadedApp[],
  core: Record<string, Partial<Record<DocEvent, DocEventHandler>>>,
): (doctype: string, event: DocEvent) => DocEventHandler[] {
  const table = new Map<string, DocEventHandler[]>();
  for (const events of [core, ...apps.map((app) => app.definition.hooks?.doc_events ?? {})]) {
    for (const [doctype, perEvent] of Object.entries(events)) {
      const eventsOfDoctype = perEvent ?? {};
      for (const [event, handlers] of Object.entries(eventsOfDoctype)) {
        const list = Array.isArray(handlers) ? handlers : [handlers];
        const key = `${doctype}\u0000${event}`;
        table.set(key, [...(table.get(key) ?? []), ...(list.filter((h) => typeof h === 'function') as DocEventHandler[])]);
      }
    }
  }
  return (doctype, event) => [...(table.get(`${doctype}\u0000${event}`) ?? []), ...(table.get(`*\u0000${event}`) ?? [])];
}

export async function openSite(path: string, options: OpenSiteOptions = {}): Promise<Site> {
  const sitePath = resolve(path);
  const configPath = join(sitePath, CONFIG_FILE);
  if (!existsSync(configPath)) throw new ConfigError(`no site at ${sitePath} (${CONFIG_FILE} missing; create one with new-site)`);
  const config = loadSiteConfig(configPath);
  const logger = options.logger ?? createLogger();
  const clock = options.clock ?? systemClock;
  const apps = await loadApps(config.installed_apps, sitePath);
  const registry = new MetaRegistry([...coreDocTypes(), ...apps.flatMap((app) => app.doctypes)]);
  const methods = new MethodRegistry();
  options.registerBuiltins?.(methods);
  for (const app of apps) {
    for (const [name, definition] of Object.entries(app.definition.methods ?? {})) methods.register(name, definition, app.name);
    for (const [doctype, docMethods] of Object.entries(app.definition.doc_methods ?? {})) {
      if (!registry.has(doctype)) throw new TypeError(`${app.name}: doc_methods names unknown DocType "${doctype}"`);
      for (const [name, definition] of Object.entries(docMethods ?? {})) methods.registerDocMethod(doctype, name, definition, app.name);
    }
  }
  const cipher = createSecretBox(config.encryption_key);
  const storage = observeWrites(selectStorage(config, sitePath));
  const cache = selectCache(config);
  // Core events need the site they belong to; they only run once it has opened.
  const opened: { site?: Site } = {};
  const handlersFor = docEventRunner(apps, options.coreDocEvents?.(() => opened.site as Site) ?? {});

  const documentContext = (principal: Principal, db: RequestDb, ctxOptions: DocumentContextOptions = {}): DocumentContext => {
    const ctx: DocumentContext = {
      db,
      registry,
      principal,
      clock,
      cipher,
      ignorePermissions: ctxOptions.ignorePermissions ?? false,
      scopeCheck: ctxOptions.scopeCheck,
      async runEvent(event, doctype, doc: Doc) {
        const handlers = handlersFor(doctype, event);
        if (handlers.length === 0) return;
        // Hooks act as the request's user, with permissions checked.
        const hookDb = createDbApi({ ...ctx, ignorePermissions: false });
        for (const handler of handlers) {
          try {
            await handler(doc, { user: principal.user, doctype, event, db: hookDb, sql: db });
          } catch (error) {
            // Apps throw plain errors with an `excType`; callers see Frappe's exception.
            throw asFrappeError(error) ?? error;
          }
        }
      },
    };
    return ctx;
  };

  const site: Site = {
    path: sitePath,
    config,
    storage,
    cache,
    registry,
    apps,
    methods,
    cipher,
    clock,
    logger,
    documentContext,
    async asAdministrator(fn) {
      const uow = new UnitOfWork(storage);
      const admin = principalFor(ADMINISTRATOR, STANDARD_ROLES, 'System User');
      try {
        const result = await fn(documentContext(admin, uow, { ignorePermissions: true }));
        await uow.finish(true);
        return result;
      } catch (error) {
        await uow.finish(false);
        throw error;
      }
    },
    async migrate(progress) {
      const touched = await migrateSchema(storage, registry, progress);
      // Fresh planner statistics: a site's tables grow from nothing (docs/performance.md).
      await storage.optimize();
      return touched;
    },
    async close() {
      await Promise.allSettled([storage.close(), cache.close()]);
    },
  };
  opened.site = site;
  return site;
}

/** Inserts what every site has: the standard roles, Administrator and Guest. Idempotent. */
export async function bootstrapSite(site: Site, adminPassword: string): Promise<void> {
  await site.asAdministrator(async (ctx) => {
    for (const role of STANDARD_ROLES) {
      const exists = await ctx.db.get('SELECT "name" FROM "tabRole" WHERE "name" = ?', [role]);
      if (!exists) await insertDoc('Role', { role_name: role, desk_access: role === 'Guest' ? 0 : 1 }, ctx);
    }
    const users: [string, Doc][] = [
      [ADMINISTRATOR, { email: 'admin@example.com', first_name: 'Administrator', user_type: 'System User', roles: [{ role: 'Administrator' }, { role: 'System Manager' }] }],
      [GUEST, { email: 'guest@example.com', first_name: 'Guest', user_type: 'Website User', roles: [{ role: 'Guest' }] }],
    ];
    for (const [name, doc] of users) {
      const exists = await ctx.db.get('SELECT "name" FROM "tabUser" WHERE "name" = ?', [name]);
      if (!exists) await insertDoc('User', doc, ctx, { name });
    }
    await setUserPassword(ctx.db, ADMINISTRATOR, adminPassword);
  });
}

export interface NewSiteOptions {
  adminPassword: string;
  dbUrl?: string;
  redisUrl?: string;
  logger?: Logger;
  progress?: (message: string) => void;
}

/**
 * Creates a site folder, its database schema and standard records. The config file is written
 * last, atomically: a failed creation leaves no site behind (and removes a folder it made).
 */
export async function newSite(path: string, options: NewSiteOptions): Promise<Site> {
  const sitePath = resolve(path);
  const configPath = join(sitePath, CONFIG_FILE);
  if (existsSync(configPath)) throw new ConfigError(`a site already exists at ${sitePath}`);
  const raw: Record<string, unknown> = { encryption_key: randomToken(32), installed_apps: [] };
  if (options.dbUrl) raw.db_url = options.dbUrl;
  if (options.redisUrl) raw.redis_url = options.redisUrl;
  parseSiteConfig(raw, 'new site');
  const createdFolder = !existsSync(sitePath);
  mkdirSync(sitePath, { recursive: true });
  const tmpConfig = `${configPath}.tmp`;
  let site: Site | undefined;
  try {
    writeFileSync(tmpConfig, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmpConfig, configPath);
    site = await openSite(sitePath, { logger: options.logger ?? createLogger({ quiet: true }) });
    if (!(await site.storage.ping())) throw new Error(`cannot reach the database${options.dbUrl ? ` at ${redactUrl(options.dbUrl)}` : ''}`);
    await site.migrate(options.progress);
    await bootstrapSite(site, options.adminPassword);
    // The database holds password hashes: readable by its owner only (-wal/-shm follow it).
    const dbFile = join(sitePath, SQLITE_FILE);
    if (existsSync(dbFile)) chmodSync(dbFile, 0o600);
    return site;
  } catch (error) {
    await site?.close().catch(() => undefined);
    rmSync(tmpConfig, { force: true });
    rmSync(configPath, { force: true });
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(sitePath, SQLITE_FILE + suffix), { force: true });
    if (createdFolder) rmSync(sitePath, { recursive: true, force: true });
    throw error;
  }
}

/** A database URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** Writes a changed site config atomically after validating it. */
export function writeSiteConfig(sitePath: string, raw: Record<string, unknown>): void {
  parseSiteConfig(raw, CONFIG_FILE);
  const configPath = join(resolve(sitePath), CONFIG_FILE);
  mkdirSync(dirname(configPath), { recursive: true });
  const tmp = `${configPath}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, configPath);
}
