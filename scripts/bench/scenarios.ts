/**
 * The scenarios of issue 8, item 1. Each is one request shape driven at full speed by the
 * load generator (the login storm adds a fixed-rate login load beside it). Ratios are to the
 * bare node:http server measured just before, in the same round.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REQUEST_LOG_SPOOL } from '../../src/app/auth-services.ts';
import type { RequestSpec } from './load.ts';
import { deleteCreatedTodos, type BenchSite, type KeyPair } from './seed.ts';

export interface ServerHandle {
  url: string;
  bench: BenchSite;
  /** `sid` of a password login as Administrator and as the non-admin user. */
  adminSid: string;
  userSid: string;
}

export interface ScenarioContext {
  sqlite: ServerHandle;
  pg?: ServerHandle;
  /** The same PostgreSQL site served by `serve --workers 2`. */
  pg2?: ServerHandle;
  loginRate: number;
}

/** Which server a scenario runs against. */
export type ServerKind = 'sqlite' | 'pg' | 'pg2';

export interface Scenario {
  id: string;
  title: string;
  server: ServerKind;
  /** Connections for this scenario when not the bench's (the bare run before it keeps the bench's). */
  connections?: number;
  /** The issue's target ratio to bare node:http, when it sets one. */
  targetRatio?: number;
  /** Scenarios this one's report is compared with (run too, even under --only). */
  needs?: string[];
  request(ctx: ScenarioContext): RequestSpec;
  /** Before each measured run (and its warm-up). */
  prepare?(ctx: ScenarioContext): Promise<void>;
  /** After each measured run. */
  finish?(ctx: ScenarioContext): Promise<void>;
  /**
   * For a server that puts work off until its load ends (the request log's spool): whether
   * some is still waiting. After each run the bench waits for it to be done, so the next run
   * does not pay for it, and reports its CPU per request.
   */
  deferredWork?(ctx: ScenarioContext): boolean;
  /**
   * Measured in short windows alternating without and with what `prepare` switches on (the
   * request log): each window with it against the two without beside it, on the same server
   * and load, so the cost is not read through two runs of the bare server (scripts/bench.ts).
   */
  alternate?: boolean;
  /** A fixed-rate load run beside the measured one (the login storm). */
  storm?(ctx: ScenarioContext): { request: RequestSpec; rate: number; connections: number };
}

export const CREATE_MARKER = 'bench create: deleted after each run';

const token = (keys: KeyPair) => ({ authorization: `token ${keys.api_key}:${keys.api_secret}` });
const basic = (keys: KeyPair) => ({ authorization: `Basic ${Buffer.from(`${keys.api_key}:${keys.api_secret}`).toString('base64')}` });
const docPath = (handle: ServerHandle) => `/api/resource/ToDo/${encodeURIComponent(handle.bench.docName)}`;

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`bench site has no ${what}`);
  return value;
}

const tokenRead = (ctx: ScenarioContext): RequestSpec => ({ method: 'GET', path: docPath(ctx.sqlite), headers: token(ctx.sqlite.bench.adminKeys) });

const LIST_QUERY = new URLSearchParams({
  fields: JSON.stringify(['name', 'status', 'priority', 'date', 'description', 'modified']),
  filters: JSON.stringify([['status', '=', 'Open']]),
  order_by: 'modified desc',
  limit_page_length: '20',
}).toString();

/** Sets `log_api_requests` through the REST API, so the serving process drops its cached settings. */
async function setRequestLogging(ctx: ScenarioContext, on: boolean): Promise<void> {
  const response = await fetch(`${ctx.sqlite.url}/api/resource/System%20Settings/System%20Settings`, {
    method: 'PUT',
    headers: { ...token(ctx.sqlite.bench.adminKeys), 'content-type': 'application/json' },
    body: JSON.stringify({ log_api_requests: on ? 1 : 0 }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`could not set log_api_requests=${on ? 1 : 0}: HTTP ${response.status} ${text.slice(0, 300)}`);
}

/** Files in the site's request log spool. */
function spoolFiles(sitePath: string): number {
  const folder = join(sitePath, REQUEST_LOG_SPOOL);
  return existsSync(folder) ? readdirSync(folder).length : 0;
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'ping',
    title: 'guest GET /api/method/ping',
    server: 'sqlite',
    targetRatio: 0.7,
    request: () => ({ method: 'GET', path: '/api/method/ping' }),
  },
  {
    id: 'token',
    title: 'read ToDo, token key:secret (Administrator)',
    server: 'sqlite',
    targetRatio: 0.5,
    request: tokenRead,
  },
  {
    id: 'basic',
    title: 'read ToDo, Basic (Administrator)',
    server: 'sqlite',
    request: (ctx) => ({ method: 'GET', path: docPath(ctx.sqlite), headers: basic(ctx.sqlite.bench.adminKeys) }),
  },
  {
    id: 'session',
    title: 'read ToDo, session cookie (Administrator)',
    server: 'sqlite',
    targetRatio: 0.45,
    request: (ctx) => ({ method: 'GET', path: docPath(ctx.sqlite), headers: { cookie: `sid=${ctx.sqlite.adminSid}` } }),
  },
  {
    id: 'bearer',
    title: 'read ToDo, OAuth bearer (Administrator)',
    server: 'sqlite',
    targetRatio: 0.45,
    request: (ctx) => ({ method: 'GET', path: docPath(ctx.sqlite), headers: { authorization: `Bearer ${need(ctx.sqlite.bench.oauthToken, 'OAuth token')}` } }),
  },
  {
    id: 'named-key',
    title: 'read ToDo, named API key (Administrator)',
    server: 'sqlite',
    request: (ctx) => ({ method: 'GET', path: docPath(ctx.sqlite), headers: token(need(ctx.sqlite.bench.namedKey, 'named key')) }),
  },
  {
    id: 'user-token',
    title: 'read ToDo, token, non-admin (All role, if_owner)',
    server: 'sqlite',
    targetRatio: 0.4,
    request: (ctx) => ({ method: 'GET', path: docPath(ctx.sqlite), headers: token(ctx.sqlite.bench.userKeys) }),
  },
  {
    id: 'user-session',
    title: 'read ToDo, session, non-admin (All role, if_owner)',
    server: 'sqlite',
    targetRatio: 0.4,
    request: (ctx) => ({ method: 'GET', path: docPath(ctx.sqlite), headers: { cookie: `sid=${ctx.sqlite.userSid}` } }),
  },
  {
    id: 'list',
    title: 'list 20 ToDo, fields+filters, token (Administrator)',
    server: 'sqlite',
    targetRatio: 0.2,
    request: (ctx) => ({ method: 'GET', path: `/api/resource/ToDo?${LIST_QUERY}`, headers: token(ctx.sqlite.bench.adminKeys) }),
  },
  {
    id: 'create',
    title: 'create ToDo (POST), token (Administrator)',
    server: 'sqlite',
    targetRatio: 0.1,
    request: (ctx) => ({
      method: 'POST',
      path: '/api/resource/ToDo',
      headers: { ...token(ctx.sqlite.bench.adminKeys), 'content-type': 'application/json' },
      body: JSON.stringify({ description: CREATE_MARKER, status: 'Closed', priority: 'Low' }),
    }),
    // Every run starts from the seeded table.
    finish: async (ctx) => void (await deleteCreatedTodos(ctx.sqlite.bench, CREATE_MARKER)),
  },
  {
    id: 'login',
    title: 'password login (argon2id), 8 connections',
    server: 'sqlite',
    // Logins are CPU-bound (argon2id on libuv's 4 threads): more connections only add queueing.
    connections: 8,
    request: (ctx) => ({
      method: 'POST',
      path: '/api/method/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ usr: 'bench.user@example.com', pwd: ctx.sqlite.bench.userPassword }),
    }),
  },
  {
    id: 'login-storm',
    title: 'read ToDo, token, during a login storm',
    server: 'sqlite',
    needs: ['token'],
    request: tokenRead,
    storm: (ctx) => ({
      rate: ctx.loginRate,
      connections: 16,
      request: {
        method: 'POST',
        path: '/api/method/login',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ usr: 'bench.user@example.com', pwd: ctx.sqlite.bench.userPassword }),
      },
    }),
  },
  {
    id: 'request-log',
    title: 'read ToDo, token, log_api_requests on',
    server: 'sqlite',
    needs: ['token'],
    request: tokenRead,
    alternate: true,
    // The spool's files are deleted once their rows are in the database.
    deferredWork: (ctx) => spoolFiles(ctx.sqlite.bench.path) > 0,
    prepare: (ctx) => setRequestLogging(ctx, true),
    finish: (ctx) => setRequestLogging(ctx, false),
  },
  {
    id: 'pg-token',
    title: 'read ToDo, token, PostgreSQL + Redis, 1 worker',
    server: 'pg',
    request: (ctx) => {
      const pg = need(ctx.pg, 'PostgreSQL server');
      return { method: 'GET', path: docPath(pg), headers: token(pg.bench.adminKeys) };
    },
  },
  {
    id: 'pg-token-2w',
    title: 'read ToDo, token, PostgreSQL + Redis, 2 workers',
    server: 'pg2',
    needs: ['pg-token'],
    request: (ctx) => {
      const pg = need(ctx.pg2, 'PostgreSQL server with 2 workers');
      return { method: 'GET', path: docPath(pg), headers: token(pg.bench.adminKeys) };
    },
  },
];

/** Scenarios known to the issue but not built yet: reported as skipped, never faked. */
export const NOT_IMPLEMENTED: { id: string; title: string; reason: string }[] = [];

/** The document and list reads `--scale` runs again on the scaled site. */
export const READ_SCENARIOS = ['token', 'basic', 'session', 'bearer', 'named-key', 'user-token', 'user-session', 'list'];

/** The scenarios `--only` asks for, plus the ones they are compared with, in the standard order. */
export function selectScenarios(only: string[]): Scenario[] {
  if (only.length === 0) return SCENARIOS;
  const known = new Set(SCENARIOS.map((s) => s.id));
  const unknown = only.filter((id) => !known.has(id));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  const wanted = new Set(only);
  for (const id of only) for (const dep of SCENARIOS.find((s) => s.id === id)?.needs ?? []) wanted.add(dep);
  return SCENARIOS.filter((s) => wanted.has(s.id));
}
