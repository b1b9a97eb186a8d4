/**
 * Helpers of the scale-out tests: real `cortado` processes on real sockets, a small HTTP client
 * that keeps status, JSON body and cookies, and PostgreSQL schemas made for one test file.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomHex } from '../../src/core/crypto.ts';
import { createSchema, dropSchema } from '../../src/storage/postgres/postgres-storage.ts';
import { PG_URL } from '../helpers/test-site.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'cortado.mjs');
export const WHOAMI = '/api/method/frappe.auth.get_logged_user';

/** The environment of a child: no admin password and no test-runner context. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.CORTADO_ADMIN_PASSWORD;
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/** A free TCP port on the loopback interface (closed again before the caller takes it). */
export async function freePort(): Promise<number> {
  const probe = createNetServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  assert.ok(address && typeof address === 'object');
  return address.port;
}

const running = new Set<ChildProcess>();

/** Kills every child still running (for `after`). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cortado ...args` to completion (killed after `timeoutMs`). */
export async function runCortado(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    running.delete(child);
  }
}

/** A running `cortado serve`, started and waited for. */
export class ServeProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly closed: Promise<[number | null, NodeJS.Signals | null]>;
  url = '';

  private constructor(args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this.child);
    this.closed = once(this.child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    void this.closed.then(() => running.delete(this.child));
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
  }

  /** `cortado --site <site> serve --port <port> ...extra`, resolved once it prints its URL. */
  static async start(site: string, port: number, extra: string[] = [], timeoutMs = 60_000): Promise<ServeProcess> {
    const served = new ServeProcess(['--site', site, 'serve', '--port', String(port), '--host', '127.0.0.1', ...extra]);
    served.url = (await served.waitFor(/^cortado serving .* on (http:\/\/\S+)$/m, timeoutMs))[1] ?? '';
    return served;
  }

  /**
   * `start` on a port that was free a moment ago. Another process can take it in between (an
   * outgoing connection's ephemeral port, another test): then again on another port.
   */
  static async startOnFreePort(site: string, extra: string[] = [], timeoutMs = 60_000): Promise<ServeProcess> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        return await ServeProcess.start(site, port, extra, timeoutMs);
      } catch (error) {
        if (attempt >= 5 || !/EADDRINUSE/.test(String(error))) throw error;
      }
    }
  }

  get output(): string {
    return `stdout: ${this.stdout}\nstderr: ${this.stderr}`;
  }

  /** The first match of `pattern` on stdout; rejects when the process exits or after `ms`. */
  async waitFor(pattern: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const match = this.stdout.match(pattern);
      if (match) return match;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`serve exited before printing ${pattern}\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms} ms\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Sends `signal` and resolves with the exit code (SIGKILL after `ms`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 20_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    try {
      const [code] = await this.closed;
      return code;
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface CallOptions {
  method?: string;
  /** An `Authorization` header value. */
  auth?: string;
  sid?: string;
  headers?: Record<string, string>;
  json?: unknown;
  form?: Record<string, string>;
  /** The request is aborted after this long (default 15 s). */
  timeoutMs?: number;
}

export interface CallResult {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
  cookies: string[];
}

/** One HTTP request; the body is parsed as JSON when it is JSON. */
export async function call(base: string, path: string, init: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (init.auth) headers.authorization = init.auth;
  if (init.sid) headers.cookie = `sid=${init.sid}`;
  let body: string | undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  }
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
    signal: AbortSignal.timeout(init.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON: the status tells.
  }
  return { status: res.status, body: parsed, text, headers: res.headers, cookies: res.headers.getSetCookie() };
}

/** The `sid` a login answer set, if any. */
export function sidOf(res: CallResult): string | undefined {
  const sid = res.cookies.map((c) => /^sid=([^;]*)/.exec(c)?.[1]).find((v) => v !== undefined);
  return sid && sid !== 'Guest' ? sid : undefined;
}

/** A fresh PostgreSQL schema and a URL that works in it (as test-site.ts makes them). */
export async function freshSchema(): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  assert.ok(PG_URL, 'CORTADO_TEST_PG_URL is not set');
  const base = PG_URL;
  const schema = `t_${randomHex(12)}`;
  await createSchema(base, schema);
  return { schema, url: schemaUrl(base, schema), drop: () => dropSchema(base, schema).catch(() => undefined) };
}

/** `url` with every connection's search_path set to `schema`. */
export function schemaUrl(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}
