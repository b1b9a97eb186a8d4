/**
 * `cortado --site <path> migrate-to-postgres <db_url>`: moves an embedded (SQLite) site into
 * PostgreSQL, then points the site at it.
 *
 * 1. The target schema is made by the normal migration (the site's DocTypes and system
 *    tables); tables and columns only the SQLite file has (a removed app or field) are added
 *    as they are, so nothing is left behind.
 * 2. Every table is copied in batches inside ONE PostgreSQL transaction, while the SQLite
 *    file is held under its write lock (a consistent snapshot; a server still running on it
 *    cannot write meanwhile). Row counts are compared before the commit. Any failure rolls the
 *    copy back: the target keeps no half-written rows and the site config is untouched.
 * 3. `site_config.json` is copied to a backup, then `db_url` is set. The SQLite file stays.
 *
 * Hashed and encrypted values (`__Auth`, API secret hashes, OAuth keys) are copied as stored:
 * they stay valid because `encryption_key` does not change. Sessions move too, so users stay
 * logged in. The cache (Redis or in-process) is not copied: lockout and rate-limit counters
 * and pending two-factor logins start afresh.
 *
 * A target that already holds cortado rows is refused unless `force` is set; with `force`,
 * those rows are deleted in the same transaction.
 */
import { chmodSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, parseSiteConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { migrateSchema } from '../doctype/schema.ts';
import type { ColumnKind, ColumnSpec, SqlExecutor, SqlValue, Storage, Transaction } from '../storage/types.ts';
import { SQLITE_FILE, selectStorage } from './select-adapters.ts';
import { CONFIG_FILE, openSite, redactUrl, writeSiteConfig } from './site.ts';

export interface MigrateToPostgresOptions {
  /** Replace cortado rows the target already holds. */
  force?: boolean;
  /** Rows per INSERT (default 500). */
  batchSize?: number;
  /** One line per step and per table. */
  progress?: (line: string) => void;
}

export interface MigrationSummary {
  tables: { name: string; rows: number }[];
  /** Where the previous site_config.json was copied. */
  backup: string;
}

/** A refusal the user can act on (one line, nothing written). */
export class MigrationRefused extends Error {
  override name = 'MigrationRefused';
}

/** Tables cortado makes: DocType tables (`tab…`) and its own (`__…`). */
const isCortadoTable = (name: string) => name.startsWith('tab') || name.startsWith('__');

/** PostgreSQL allows 65535 parameters per statement. */
const MAX_PARAMETERS = 60_000;

/** A column only the SQLite file has, in the portable kinds (SQLite keeps no lengths). */
function kindOfSqliteType(type: string): ColumnKind {
  const t = type.toLowerCase();
  if (t.includes('int')) return 'bigint';
  if (t.includes('real') || t.includes('floa') || t.includes('doub') || t.includes('num')) return 'float';
  return 'text';
}

async function hasRows(db: SqlExecutor, table: string): Promise<boolean> {
  return (await db.get(`SELECT 1 AS present FROM ${db.dialect.quote(table)} LIMIT 1`)) !== undefined;
}

async function countRows(db: SqlExecutor, table: string): Promise<number> {
  const row = await db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${db.dialect.quote(table)}`);
  return Number(row?.n ?? 0);
}

/** A free name for the config backup, next to the config. */
function backupPath(sitePath: string): string {
  const base = join(sitePath, `${CONFIG_FILE}.sqlite-backup`);
  if (!existsSync(base)) return base;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  for (let n = 0; ; n++) {
    const candidate = `${base}-${stamp}${n === 0 ? '' : `-${n}`}`;
    if (!existsSync(candidate)) return candidate;
  }
}

export async function migrateToPostgres(sitePath: string, dbUrl: string, options: MigrateToPostgresOptions = {}): Promise<MigrationSummary> {
  const say = options.progress ?? (() => undefined);
  const path = resolve(sitePath);
  const configPath = join(path, CONFIG_FILE);
  if (!existsSync(configPath)) throw new ConfigError(`no site at ${path} (${CONFIG_FILE} missing)`);
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  const config = parseSiteConfig(raw, CONFIG_FILE);
  if (config.db_url) throw new MigrationRefused(`the site already uses PostgreSQL (${redactUrl(config.db_url)})`);
  const targetConfig = parseSiteConfig({ ...raw, db_url: dbUrl }, 'the database URL');
  if (!existsSync(join(path, SQLITE_FILE))) throw new MigrationRefused(`no SQLite database at ${join(path, SQLITE_FILE)}`);
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 500));

  const source = await openSite(path, { logger: createLogger({ quiet: true }) });
  const target = selectStorage(targetConfig, path);
  const where = redactUrl(dbUrl);
  const tables: MigrationSummary['tables'] = [];
  try {
    if (!(await target.ping())) throw new MigrationRefused(`cannot reach the database at ${where}`);
    const occupied: string[] = [];
    for (const table of (await target.tableNames()).filter(isCortadoTable)) {
      if (await hasRows(target, table)) occupied.push(table);
    }
    if (occupied.length > 0 && !options.force) {
      const named = occupied.slice(0, 3).join(', ') + (occupied.length > 3 ? `, … (${occupied.length} tables)` : '');
      throw new MigrationRefused(`${where} already holds cortado data (${named}): use --force to replace it`);
    }

    say(`creating the schema on ${where}`);
    await migrateSchema(target, source.registry, (line) => say(`  ${line}`));
    const sourceTables = await source.storage.tableNames();
    for (const table of sourceTables) {
      const targetColumns = new Set((await target.columns(table)).map((c) => c.name));
      const extra: ColumnSpec[] = (await source.storage.columns(table))
        .filter((c) => !targetColumns.has(c.name))
        .map((c) => ({ name: c.name, kind: kindOfSqliteType(c.type) }));
      if (extra.length === 0) continue;
      await target.ensureTable({ name: table, columns: extra });
      say(`  ${targetColumns.size === 0 ? 'created' : 'extended'} ${table} from the SQLite file: ${extra.map((c) => c.name).join(', ')}`);
    }

    say('copying rows in one transaction');
    await copyAll(source.storage, target, sourceTables, { batchSize, force: Boolean(options.force), say, tables });
  } finally {
    await Promise.allSettled([source.close(), target.close()]);
  }

  // The data is in PostgreSQL: now, and only now, the site follows it.
  const backup = backupPath(path);
  copyFileSync(configPath, backup);
  chmodSync(backup, 0o600);
  try {
    writeSiteConfig(path, { ...raw, db_url: dbUrl });
  } catch (error) {
    throw new Error(
      `the data was copied to ${where}, but ${CONFIG_FILE} could not be updated (${(error as Error).message}): set db_url yourself`,
      { cause: error },
    );
  }
  say(`db_url set in ${CONFIG_FILE} (previous config kept as ${backup}; ${SQLITE_FILE} left in place)`);
  return { tables, backup };
}

interface CopyOptions {
  batchSize: number;
  force: boolean;
  say: (line: string) => void;
  tables: MigrationSummary['tables'];
}

async function copyAll(source: Storage, target: Storage, sourceTables: string[], options: CopyOptions): Promise<void> {
  // The SQLite write lock for the whole copy: no writer changes the file under it.
  const snapshot = await source.begin();
  let tx: Transaction | undefined;
  try {
    tx = await target.begin();
    if (options.force) {
      for (const table of (await target.tableNames()).filter(isCortadoTable)) await tx.run(`DELETE FROM ${tx.dialect.quote(table)}`);
    }
    for (const table of sourceTables) {
      const rows = await copyTable(snapshot, tx, table, options.batchSize);
      const expected = await countRows(snapshot, table);
      const landed = await countRows(tx, table);
      if (rows !== expected || landed !== expected) {
        throw new Error(`${table}: ${expected} row(s) in SQLite but ${landed} copied`);
      }
      options.tables.push({ name: table, rows });
      options.say(`  ${table}: ${rows} row(s)`);
    }
    await tx.commit();
  } catch (error) {
    await tx?.rollback();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message} (rolled back: no rows were written to PostgreSQL, the site still uses SQLite)`, { cause: error });
  } finally {
    await snapshot.rollback();
  }
}

async function copyTable(source: SqlExecutor, target: SqlExecutor, table: string, batchSize: number): Promise<number> {
  const q = (name: string) => target.dialect.quote(name);
  const columns = (await source.all<{ name: string }>(`PRAGMA table_info(${source.dialect.quote(table)})`)).map((c) => c.name);
  if (columns.length === 0) return 0;
  const perBatch = Math.max(1, Math.min(batchSize, Math.floor(MAX_PARAMETERS / columns.length)));
  const columnList = columns.map(q).join(', ');
  const select = `SELECT rowid AS "__cortado_rowid", ${columns.map((c) => source.dialect.quote(c)).join(', ')} FROM ${source.dialect.quote(table)} WHERE rowid > ? ORDER BY rowid LIMIT ?`;
  const rowPlaceholders = `(${columns.map(() => '?').join(', ')})`;
  // Keyset pagination on rowid (cortado's tables all have one), from the smallest possible.
  let last = -(2n ** 63n);
  let copied = 0;
  for (;;) {
    const rows = await source.all<Record<string, unknown>>(select, [last, perBatch]);
    if (rows.length === 0) break;
    const params: SqlValue[] = [];
    for (const row of rows) for (const column of columns) params.push((row[column] ?? null) as SqlValue);
    try {
      await target.run(`INSERT INTO ${q(table)} (${columnList}) VALUES ${rows.map(() => rowPlaceholders).join(', ')}`, params);
    } catch (error) {
      // The database's own words (e.g. "value too long for type character varying(140)").
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      throw new Error(`copying ${table} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause: error });
    }
    copied += rows.length;
    last = BigInt(rows[rows.length - 1]?.__cortado_rowid as number);
    if (rows.length < perBatch) break;
  }
  return copied;
}
