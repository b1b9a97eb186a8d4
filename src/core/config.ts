/**
 * Site configuration: the keys of `site_config.json`, validated once at start. A bad value
 * stops the start with one line naming the key and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const origin = z.string().min(1);
const flag = () =>
  z
    .union([z.boolean(), z.literal(0), z.literal(1)], { error: 'must be true/false or 0/1' })
    .default(false)
    .transform(Boolean);
const cidrList = z.array(z.string().min(1));

export const siteConfigSchema = z
  .object({
    db_url: z
      .string()
      .regex(/^(postgres|postgresql):\/\//, 'must be a postgres:// URL (leave it out for the embedded SQLite file)')
      .optional(),
    redis_url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
    encryption_key: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43,}$/, 'must be a base64url key of at least 32 bytes (new-site generates one)'),
    installed_apps: z.array(z.string().min(1)).default([]),
    host_name: z
      .string()
      .regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 'must be an http(s) URL such as https://erp.example.com')
      .optional(),
    developer_mode: flag(),
    ignore_csrf: flag(),
    allow_cors: z.union([z.literal('*'), origin, z.array(origin)]).optional(),
    allowed_referrers: z.array(origin).default([]),
    deny_multiple_sessions: flag(),
    trusted_proxies: cidrList.default(['127.0.0.1/8', '::1/128']),
    rate_limit: z
      .object({ limit: z.number().int().positive(), window: z.number().int().positive() })
      .optional(),
    /**
     * Beyond Frappe: request limits per whitelisted method, counted per client IP, user or API
     * key: `{ "login": { "limit": 20, "seconds": 60, "per": "ip" } }`.
     */
    method_rate_limits: z
      .record(
        z.string().min(1),
        z.object({
          limit: z.number().int().positive(),
          seconds: z.number().int().positive(),
          per: z.enum(['ip', 'user', 'key']).default('ip'),
        }),
      )
      .default({}),
    maintenance_mode: flag(),
    allow_reads_during_maintenance: z
      .union([z.boolean(), z.literal(0), z.literal(1)])
      .default(false)
      .transform(Boolean),
    max_file_size: z.number().int().positive().default(25 * 1024 * 1024),
    /** Beyond Frappe's idle expiry: no session lives longer than this, active or not. */
    session_lifetime_hours: z.number().positive().max(24 * 366).default(720),
    db_pool_size: z.number().int().positive().max(1000).default(10),
    /** PostgreSQL: longest a statement may run before it is stopped (QueryTimeoutError); 0: no limit. Schema changes are exempt. */
    db_statement_timeout_ms: z.number().int().min(0).max(86_400_000).default(60_000),
    /**
     * Beyond Frappe: on the embedded SQLite database, how many MiB of read answers (documents,
     * list pages) may be kept to answer the same read again until the next commit by anyone;
     * 0 turns it off. Unused on PostgreSQL, where other nodes commit unseen.
     */
    read_cache_mb: z.number().min(0).max(4096).default(16),
    /** On SIGTERM/SIGINT, how long in-flight requests may take before the process exits 1 anyway. */
    shutdown_timeout_ms: z.number().int().positive().max(3_600_000).default(30_000),
    /**
     * Slow clients: the whole header block must arrive within this many milliseconds (Node's
     * `headersTimeout`; capped at `http_request_timeout_ms`), else the connection is closed.
     */
    http_headers_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
    /** The whole request, body included, must arrive within this (Fastify's `requestTimeout`): else 408 and close. */
    http_request_timeout_ms: z.number().int().min(100).max(3_600_000).default(60_000),
  })
  // Unknown keys are kept: apps read their own keys from the site config, as in Frappe.
  .passthrough();

export type SiteConfigInput = z.input<typeof siteConfigSchema>;
export type SiteConfig = Readonly<z.output<typeof siteConfigSchema>>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates a parsed site config; throws a ConfigError with one line per problem's key. */
export function parseSiteConfig(raw: unknown, source = 'site_config.json'): SiteConfig {
  const result = siteConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue?.path.join('.') || '(root)';
    throw new ConfigError(`${source}: ${key}: ${issue?.message ?? 'invalid'}`);
  }
  return deepFreeze(result.data);
}

export function loadSiteConfig(path: string): SiteConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  return parseSiteConfig(raw, path);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
