/**
 * The soak's load: `connections` loops on keep-alive connections (node:http), each sending one
 * request at a time, picked by weight among token reads, session reads, list queries and
 * writes (POST ToDo, every acknowledged name recorded); beside them, password logins and OAuth
 * refresh-token grants at fixed, modest rates. Every loop ends by itself at its deadline, after
 * a bounded number of requests, or when stopped; every request has a timeout.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SoakSite, SoakUser } from './site.ts';

export const KINDS = ['token read', 'session read', 'list', 'write', 'login', 'refresh'] as const;
export type Kind = (typeof KINDS)[number];

/** Shares of the main loops' requests (logins and refreshes run at their own rates). */
const WEIGHTS: [Kind, number][] = [
  ['token read', 40],
  ['session read', 15],
  ['list', 25],
  ['write', 20],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);

const REQUEST_TIMEOUT_MS = 30_000;

export interface KindStats {
  requests: number;
  /** Answers by status code. */
  status: Record<string, number>;
  /** Connection failures and timeouts (no answer). */
  errors: number;
  firstError?: string;
  /** Latencies of answered requests, ms. */
  latencies: number[];
}

export interface LoadStats {
  kinds: Record<Kind, KindStats>;
  /** Fixed-rate requests not sent because the previous ones were still running. */
  skipped: Record<'login' | 'refresh', number>;
  /** Refresh chains that broke (a grant refused): their later grants are not sent. */
  brokenChains: number;
  seconds: number;
}

export interface AckedWrite {
  name: string;
  description: string;
}

const emptyKind = (): KindStats => ({ requests: 0, status: {}, errors: 0, latencies: [] });

export function emptyStats(): LoadStats {
  return {
    kinds: Object.fromEntries(KINDS.map((k) => [k, emptyKind()])) as Record<Kind, KindStats>,
    skipped: { login: 0, refresh: 0 },
    brokenChains: 0,
    seconds: 0,
  };
}

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function send(agent: http.Agent, base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;

const LIST_QUERY = `/api/resource/ToDo?${new URLSearchParams({
  fields: JSON.stringify(['name', 'status', 'priority', 'description', 'modified']),
  filters: JSON.stringify([['status', '=', 'Open']]),
  order_by: 'modified desc',
  limit_page_length: '20',
}).toString()}`;

export interface Load {
  stats: LoadStats;
  /** Every ToDo a write created and the server acknowledged (200 with its name). */
  acked: AckedWrite[];
  /** Resolves once every loop has ended (deadline reached, or stopped). */
  done: Promise<void>;
  stop(): void;
}

export interface LoadOptions {
  url: string;
  site: SoakSite;
  /** `sid` per user, from logins made before the load. */
  sids: Map<string, string>;
  connections: number;
  seconds: number;
  loginRate: number;
  refreshRate: number;
  /** Shared across runs (the chains rotate their tokens). */
  refreshTokens: (string | undefined)[];
  /** Unique per run: part of every written description. */
  runId: string;
}

/** Starts a load that runs for `seconds` (or until stopped). */
export function startLoad(options: LoadOptions): Load {
  const stats = emptyStats();
  const acked: AckedWrite[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections + 8 });
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  let stopped = false;
  const running = () => !stopped && Date.now() < deadline;
  const { site } = options;
  let writes = 0;

  const record = async (kind: Kind, request: () => Promise<Answer>): Promise<Answer | undefined> => {
    const entry = stats.kinds[kind];
    entry.requests++;
    const t0 = performance.now();
    try {
      const answer = await request();
      entry.latencies.push(performance.now() - t0);
      entry.status[answer.status] = (entry.status[answer.status] ?? 0) + 1;
      return answer;
    } catch (error) {
      entry.errors++;
      entry.firstError ??= error instanceof Error ? error.message : String(error);
      return undefined;
    }
  };

  const one = async (kind: Kind, user: SoakUser): Promise<void> => {
    const todo = pick(user.todos);
    switch (kind) {
      case 'token read':
        await record(kind, () => send(agent, options.url, 'GET', `/api/resource/ToDo/${encodeURIComponent(todo)}`, { authorization: user.token }));
        return;
      case 'session read':
        await record(kind, () => send(agent, options.url, 'GET', `/api/resource/ToDo/${encodeURIComponent(todo)}`, { cookie: `sid=${options.sids.get(user.email) ?? ''}` }));
        return;
      case 'list':
        await record(kind, () => send(agent, options.url, 'GET', LIST_QUERY, { authorization: user.token }));
        return;
      case 'write': {
        const description = `soak ${options.runId} write ${++writes}`;
        const answer = await record(kind, () =>
          send(agent, options.url, 'POST', '/api/resource/ToDo', { authorization: user.token, 'content-type': 'application/json' }, JSON.stringify({ description, status: 'Open', priority: 'Low' })),
        );
        if (answer?.status === 200) {
          const name = (JSON.parse(answer.body) as { data?: { name?: unknown } }).data?.name;
          if (typeof name === 'string') acked.push({ name, description });
        }
        return;
      }
      default:
        throw new Error(`${kind} runs at its own rate`);
    }
  };

  // The main loops: one request at a time each; bounded by the deadline and a count.
  const maxPerLoop = Math.ceil(options.seconds * 5000);
  const mainLoop = async () => {
    for (let n = 0; running() && n < maxPerLoop; n++) {
      let roll = Math.random() * TOTAL_WEIGHT;
      const kind = WEIGHTS.find(([, weight]) => (roll -= weight) < 0)?.[0] ?? 'token read';
      await one(kind, pick(site.users));
    }
  };

  /** Calls `fn` `rate` times a second, at most `maxInFlight` at once (otherwise it skips). */
  const fixedRate = async (kind: 'login' | 'refresh', rate: number, maxInFlight: number, fn: () => Promise<void>) => {
    const interval = 1000 / rate;
    const inFlight = new Set<Promise<void>>();
    let next = Date.now();
    while (running()) {
      if (inFlight.size < maxInFlight) {
        const p: Promise<void> = fn().finally(() => inFlight.delete(p));
        inFlight.add(p);
      } else {
        stats.skipped[kind]++;
      }
      next += interval;
      await sleep(Math.max(0, Math.min(next - Date.now(), deadline - Date.now())));
    }
    await Promise.all(inFlight);
  };

  const login = async () => {
    const user = pick(site.users);
    await record('login', () => send(agent, options.url, 'POST', '/api/method/login', { 'content-type': 'application/json' }, JSON.stringify({ usr: user.email, pwd: user.password })));
  };

  // Each chain rotates its refresh token on every grant: one grant at a time per chain.
  const busy = new Set<number>();
  const basic = `Basic ${Buffer.from(`${site.oauth.clientId}:${site.oauth.clientSecret}`).toString('base64')}`;
  const refresh = async () => {
    const chain = options.refreshTokens.findIndex((token, i) => token !== undefined && !busy.has(i));
    if (chain < 0) {
      stats.skipped.refresh++;
      return;
    }
    busy.add(chain);
    try {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: options.refreshTokens[chain] as string }).toString();
      const answer = await record('refresh', () =>
        send(agent, options.url, 'POST', '/api/method/frappe.integrations.oauth2.get_token', { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, form),
      );
      const next = answer?.status === 200 ? (JSON.parse(answer.body) as { refresh_token?: unknown }).refresh_token : undefined;
      if (typeof next === 'string') options.refreshTokens[chain] = next;
      else {
        // Refused (or no answer): the token may have rotated or not; the chain stops here.
        options.refreshTokens[chain] = undefined;
        stats.brokenChains++;
      }
    } finally {
      busy.delete(chain);
    }
  };

  const loops = [
    ...Array.from({ length: options.connections }, () => mainLoop()),
    fixedRate('login', options.loginRate, 4, login),
    fixedRate('refresh', options.refreshRate, options.refreshTokens.length, refresh),
  ];
  const done = Promise.all(loops).then(() => {
    stats.seconds = (Date.now() - started) / 1000;
    agent.destroy();
  });
  return {
    stats,
    acked,
    done,
    stop: () => void (stopped = true),
  };
}

/** A password login before the load: the `sid` its session reads use. */
export async function loginFor(url: string, user: SoakUser): Promise<string> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const answer = await send(agent, url, 'POST', '/api/method/login', { 'content-type': 'application/json' }, JSON.stringify({ usr: user.email, pwd: user.password }));
    const cookies = answer.headers['set-cookie'] ?? [];
    const sid = cookies.map((c) => /^sid=([^;]*)/.exec(c)?.[1]).find((v) => v && v !== 'Guest');
    if (answer.status !== 200 || !sid) throw new Error(`login as ${user.email} failed: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
    return sid;
  } finally {
    agent.destroy();
  }
}

/** Adds `more` into `into` (warm-up and measured runs are checked together). */
export function mergeStats(into: LoadStats, more: LoadStats): void {
  for (const kind of KINDS) {
    const a = into.kinds[kind];
    const b = more.kinds[kind];
    a.requests += b.requests;
    a.errors += b.errors;
    a.firstError ??= b.firstError;
    for (const [code, count] of Object.entries(b.status)) a.status[code] = (a.status[code] ?? 0) + count;
    for (const ms of b.latencies) a.latencies.push(ms);
  }
  into.skipped.login += more.skipped.login;
  into.skipped.refresh += more.skipped.refresh;
  into.brokenChains += more.brokenChains;
  into.seconds += more.seconds;
}
