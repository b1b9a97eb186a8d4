/** The verbs of the `cortado` command, each validating its input before touching the site. */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadApp } from '../app/load-apps.ts';
import { MAX_WORKERS, serveProcess, workerCount } from '../app/workers.ts';
import { migrateToPostgres } from '../app/migrate-to-postgres.ts';
import { CONFIG_FILE, newSite, redactUrl, writeSiteConfig } from '../app/site.ts';
import { sitePath, withSite } from './with-site.ts';
import { userCommands } from './user-commands.ts';
import { destroyAllSessions, rotateSigningKey } from '../app/sessions-admin.ts';
import { randomToken } from '../core/crypto.ts';

export class CliError extends Error {
  readonly cliMessage = true;
}

const say = (line: string) => process.stdout.write(`${line}\n`);


function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number from 1 to 65535');
  return n;
}

function workers(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_WORKERS) throw new InvalidArgumentError(`must be a number of processes from 1 to ${MAX_WORKERS}`);
  return n;
}

function nonEmpty(what: string) {
  return (value: string) => {
    if (value.trim() === '') throw new InvalidArgumentError(`${what} must not be empty`);
    return value;
  };
}

export function commands(program: Command): void {
  program
    .command('new-site <path>')
    .description('create a site folder with its database and the Administrator user')
    .requiredOption('--admin-password <password>', 'password of the Administrator user', nonEmpty('the admin password'))
    .option('--db-url <url>', 'PostgreSQL URL (default: an embedded SQLite file in the site folder)')
    .option('--redis-url <url>', 'Redis URL (default: in-process cache)')
    .action(async (path: string, options: { adminPassword: string; dbUrl?: string; redisUrl?: string }) => {
      const site = await newSite(path, { ...options, progress: (line) => say(`  ${line}`) });
      await site.close();
      say(`created site ${site.path}${options.dbUrl ? ` on ${redactUrl(options.dbUrl)}` : ' (SQLite)'}`);
    });

  program
    .command('serve')
    .description('serve the site over HTTP')
    .option('--port <port>', 'port to listen on', port, 8000)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--init', 'create the site first if it does not exist (SQLite; prints the Administrator password)')
    .option('--workers <n>', 'processes sharing the port (default: the number of cores on PostgreSQL, 1 on SQLite)', workers)
    .action(async (options: { port: number; host: string; init?: boolean; workers?: number }) => {
      const path = sitePath(program);
      if (options.init && !existsSync(join(path, CONFIG_FILE))) {
        // --init makes a SQLite site: refuse extra workers before creating anything.
        workerCount({ db_url: undefined }, options.workers);
        const given = process.env.CORTADO_ADMIN_PASSWORD;
        const password = given && given.length > 0 ? given : randomToken(12);
        const site = await newSite(path, { adminPassword: password });
        await site.close();
        say(`created site ${site.path}`);
        if (!given) say(`Administrator password: ${password}  (shown once; change it with set-admin-password)`);
      }
      const code = await serveProcess(path, { port: options.port, host: options.host, workers: options.workers, announce: say });
      if (code !== undefined) process.exitCode = code;
    });

  program
    .command('migrate')
    .description('create or extend the tables of every DocType (never drops data)')
    .action(() =>
      withSite(program, async (site) => {
        const touched = await site.migrate((line) => say(`  ${line}`));
        say(touched.length === 0 ? 'schema is up to date' : `migrated ${touched.length} table(s)`);
      }),
    );

  program
    .command('install-app <app>')
    .description('install an app (a folder or an installed npm package) on the site')
    .action(async (source: string) => {
      const path = sitePath(program);
      const configPath = join(path, CONFIG_FILE);
      if (!existsSync(configPath)) throw new CliError(`no site at ${path}`);
      const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      // A folder that exists is a path even without `./`; anything else is a package name.
      const looksLikePath = source.startsWith('.') || source.startsWith('/') || existsSync(source);
      const stored = looksLikePath ? resolve(source) : source;
      const app = await loadApp(stored, path);
      const installed = Array.isArray(raw.installed_apps) ? (raw.installed_apps as string[]) : [];
      if (installed.includes(stored)) throw new CliError(`app ${app.name} is already installed`);
      writeSiteConfig(path, { ...raw, installed_apps: [...installed, stored] });
      try {
        await withSite(program, (site) => site.migrate((line) => say(`  ${line}`)));
      } catch (error) {
        // The app did not fit the site: leave the config as it was.
        writeSiteConfig(path, raw);
        throw error;
      }
      say(`installed ${app.name} (${app.doctypes.length} DocType(s), ${Object.keys(app.definition.methods ?? {}).length} method(s))`);
    });

  program
    .command('list-apps')
    .description('list the apps installed on the site')
    .action(() =>
      withSite(program, async (site) => {
        say('frappe (core)');
        for (const app of site.apps) say(`${app.name}  ${app.source}`);
      }),
    );

  program
    .command('set-config <key> <value>')
    .description('set a key of site_config.json')
    .option('-p, --parse', 'parse the value as JSON')
    .action(async (key: string, value: string, options: { parse?: boolean }) => {
      const path = sitePath(program);
      const configPath = join(path, CONFIG_FILE);
      if (!existsSync(configPath)) throw new CliError(`no site at ${path}`);
      if (!/^[a-z_][a-z0-9_]*$/i.test(key)) throw new CliError(`invalid config key "${key}"`);
      let parsed: unknown = value;
      if (options.parse) {
        try {
          parsed = JSON.parse(value);
        } catch {
          throw new CliError(`value for ${key} is not valid JSON`);
        }
      }
      if (key === 'encryption_key') throw new CliError('encryption_key cannot be changed: stored passwords would become unreadable');
      const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      writeSiteConfig(path, { ...raw, [key]: parsed });
      say(`set ${key}`);
    });

  program
    .command('destroy-all-sessions')
    .description('log every user out')
    .action(() =>
      withSite(program, async (site) => {
        const count = await destroyAllSessions(site);
        say(`ended ${count} session(s)`);
      }),
    );

  program
    .command('rotate-oauth-key')
    .description('start signing ID tokens with a new key (the old one stays in the JWKS for 7 days)')
    .action(() =>
      withSite(program, async (site) => {
        await site.migrate();
        const kid = await rotateSigningKey(site);
        say(`now signing with key ${kid}`);
      }),
    );

  program
    .command('migrate-to-postgres <db_url>')
    .description('copy the SQLite site into PostgreSQL in one transaction, then set db_url (the SQLite file stays)')
    .option('--force', 'replace cortado data the target database already holds')
    .action(async (dbUrl: string, options: { force?: boolean }) => {
      const summary = await migrateToPostgres(sitePath(program), dbUrl, { force: options.force, progress: say });
      const rows = summary.tables.reduce((sum, table) => sum + table.rows, 0);
      say(`migrated ${summary.tables.length} table(s), ${rows} row(s) to ${redactUrl(dbUrl)}`);
    });

  userCommands(program);
}
