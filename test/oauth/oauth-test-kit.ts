/**
 * Shared plumbing for the OAuth HTTP tests (in-process `app.inject`): a site with users, an
 * Administrator API key, OAuth clients made through the REST API, a browser-like login, the
 * authorize → consent → approve round trip, and the token endpoint. Every token, code and
 * secret the tests obtain is remembered, so a suite can check none is stored in clear.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createServer } from '../../src/app/create-server.ts';
import { addUser } from '../../src/app/user-admin.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { randomToken } from '../../src/core/crypto.ts';
import { createTestSite, type TestDatabase, type TestSite } from '../helpers/test-site.ts';

export const M = '/api/method/frappe.integrations.oauth2.';
/** `app.inject` sends `Host: localhost:80`: the issuer and the same-site origin. */
export const ORIGIN = 'http://localhost';
export const WHOAMI = '/api/method/frappe.auth.get_logged_user';

export type Response = LightMyRequestResponse;

export interface Client {
  name: string;
  client_id: string;
  client_secret?: string;
}

export interface TestUser {
  email: string;
  password: string;
  roles?: string[];
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  sid?: string;
  auth?: string;
  headers?: Record<string, string>;
  /** A JSON body. */
  json?: unknown;
  /** A form body (application/x-www-form-urlencoded). */
  form?: Record<string, string | undefined>;
  ip?: string;
}

/** Fastify inject options for a call: auth header, sid cookie, a form, JSON or raw body, a peer address. */
export function injectOptions(url: string, o: CallOptions & { raw?: string } = {}): InjectOptions {
  const headers: Record<string, string> = { ...o.headers };
  if (o.auth) headers.authorization = o.auth;
  if (o.sid) headers.cookie = `sid=${o.sid}`;
  let payload: string | undefined;
  if (o.form) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    payload = formBody(o.form);
  } else if (o.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = JSON.stringify(o.json);
  } else if (o.raw !== undefined) {
    payload = o.raw;
  }
  return {
    method: o.method ?? (payload !== undefined ? 'POST' : 'GET'),
    url,
    headers,
    ...(payload !== undefined ? { payload } : {}),
    ...(o.ip ? { remoteAddress: o.ip } : {}),
  };
}

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  scope: string;
  token_type: string;
  expires_in: number;
}

/** A PKCE pair: a 43-character verifier and its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomToken(32);
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export const challengeOf = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

/** `Basic base64(id:secret)` with RFC 6749 §2.3.1's form-encoding of both parts. */
export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export function formBody(fields: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) params.set(key, value);
  return params.toString();
}

/** A query string with `%20` for spaces, as oauthlib wants. */
export function queryOf(params: Record<string, string | undefined>): string {
  return formBody(params).replace(/\+/g, '%20');
}

const unescapeHtml = (text: string) =>
  text.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code))).replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');

/** The hidden fields of the consent form (csrf_token included). */
export function consentFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields[unescapeHtml(match[1] ?? '')] = unescapeHtml(match[2] ?? '');
  }
  return fields;
}

/** The parameters of a redirect's query (or fragment). */
export function redirectParams(res: Response, fragment = false): { url: URL; params: URLSearchParams } {
  assert.ok(res.statusCode === 302 || res.statusCode === 303, `expected a redirect, got ${res.statusCode}: ${res.body.slice(0, 300)}`);
  const location = String(res.headers.location);
  const url = new URL(location, ORIGIN);
  return { url, params: fragment ? new URLSearchParams(url.hash.slice(1)) : url.searchParams };
}

export interface Kit {
  readonly t: TestSite;
  readonly app: FastifyInstance;
  /** `token key:secret` of the Administrator. */
  readonly adminAuth: string;
  /** Every token, code, secret, password and sid obtained: none may be stored in clear. */
  readonly secrets: Set<string>;
  remember(...values: (string | undefined)[]): void;
  call(url: string, options?: CallOptions): Promise<Response>;
  login(user: TestUser): Promise<string>;
  createClient(fields: Record<string, unknown>): Promise<Client>;
  setSettings(fields: Record<string, unknown>): Promise<void>;
  authorize(params: Record<string, string | undefined>, sid?: string, options?: CallOptions): Promise<Response>;
  approve(fields: Record<string, string | undefined>, sid: string, options?: CallOptions): Promise<Response>;
  /** authorize (+ consent and approve when asked) → the code; checks `state` and `iss`. */
  obtainCode(sid: string, params: Record<string, string | undefined>): Promise<string>;
  token(fields: Record<string, string | undefined>, options?: CallOptions): Promise<Response>;
  /** A successful token response, remembered. */
  tokens(res: Response): TokenSet;
  /** A client's token endpoint call authenticated as its method wants (Basic by default). */
  tokenAs(client: Client, fields: Record<string, string | undefined>, how?: 'basic' | 'post' | 'none'): Promise<Response>;
  bearer(url: string, accessToken: string, options?: CallOptions): Promise<Response>;
  /** The user a bearer token runs as, or the status when refused. */
  whoami(accessToken: string): Promise<string | number>;
  introspect(token: string, options?: CallOptions): Promise<Response>;
  /** Fails if any remembered secret appears in any table. */
  assertNothingInClear(): Promise<void>;
  close(): Promise<void>;
}

export async function startKit(db: TestDatabase, options: { users: TestUser[]; apps?: string[]; config?: Record<string, unknown> }): Promise<Kit> {
  const t = await createTestSite({ db, apps: options.apps, config: options.config });
  for (const user of options.users) await addUser(t.site, { email: user.email, password: user.password, roles: user.roles });
  const hashKey = apiSecretHashKey(t.site.config.encryption_key);
  const admin = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', hashKey));
  const adminAuth = `token ${admin.api_key}:${admin.api_secret}`;
  const app = await createServer(t.site);
  const secrets = new Set<string>([admin.api_secret, ...options.users.map((u) => u.password)]);

  const remember = (...values: (string | undefined)[]) => {
    for (const value of values) if (value) secrets.add(value);
  };

  function call(url: string, o: CallOptions = {}): Promise<Response> {
    return app.inject(injectOptions(url, o));
  }

  const kit: Kit = {
    t,
    app,
    adminAuth,
    secrets,
    remember,
    call,

    async login(user) {
      const res = await call('/api/method/login', { json: { usr: user.email, pwd: user.password } });
      assert.equal(res.statusCode, 200, res.body);
      const sid = res.cookies.find((c) => c.name === 'sid')?.value;
      assert.ok(sid && sid !== 'Guest', 'a session cookie');
      remember(sid);
      return sid;
    },

    async createClient(fields) {
      const res = await call('/api/resource/OAuth%20Client', { auth: adminAuth, json: { app_name: 'Test App', ...fields } });
      assert.equal(res.statusCode, 200, res.body);
      const doc = (res.json() as { data: Client }).data;
      remember(doc.client_secret);
      return { name: doc.name, client_id: doc.client_id, client_secret: doc.client_secret };
    },

    async setSettings(fields) {
      const res = await call('/api/resource/OAuth%20Settings/OAuth%20Settings', { method: 'PUT', auth: adminAuth, json: fields });
      assert.equal(res.statusCode, 200, res.body);
    },

    authorize(params, sid, o = {}) {
      return call(`${M}authorize?${queryOf(params)}`, { ...o, sid });
    },

    approve(fields, sid, o = {}) {
      return call(`${M}approve`, { ...o, sid, form: fields, headers: { origin: ORIGIN, ...o.headers } });
    },

    async obtainCode(sid, params) {
      let res = await kit.authorize(params, sid);
      if (res.statusCode === 200) {
        assert.match(res.body, /Confirm Access/);
        res = await kit.approve({ ...consentFields(res.body), decision: 'allow' }, sid);
      }
      const { params: got } = redirectParams(res);
      assert.equal(got.get('error'), null, `authorize failed: ${got.get('error')} ${got.get('error_description')}`);
      assert.equal(got.get('state'), params.state ?? null);
      assert.equal(got.get('iss'), ORIGIN);
      const code = got.get('code');
      assert.ok(code, 'a code');
      remember(code);
      return code;
    },

    token(fields, o = {}) {
      return call(`${M}get_token`, { ...o, form: fields });
    },

    tokens(res) {
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as TokenSet;
      remember(body.access_token, body.refresh_token, body.id_token);
      return body;
    },

    tokenAs(client, fields, how = 'basic') {
      if (how === 'basic') return kit.token(fields, { auth: basic(client.client_id, String(client.client_secret)) });
      if (how === 'post') return kit.token({ ...fields, client_id: client.client_id, client_secret: client.client_secret });
      return kit.token({ ...fields, client_id: client.client_id });
    },

    bearer(url, accessToken, o = {}) {
      return call(url, { ...o, auth: `Bearer ${accessToken}` });
    },

    async whoami(accessToken) {
      const res = await kit.bearer(WHOAMI, accessToken);
      return res.statusCode === 200 ? (res.json() as { message: string }).message : res.statusCode;
    },

    introspect(token, o = {}) {
      return call(`${M}introspect_token`, { ...o, form: { token, ...o.form } });
    },

    async assertNothingInClear() {
      const tables = await t.site.storage.tableNames();
      assert.ok(tables.includes('tabOAuth Bearer Token') && tables.includes('tabOAuth Authorization Code') && tables.includes('__Auth'));
      for (const table of tables) {
        const rows = await t.site.storage.all(`SELECT * FROM "${table.replaceAll('"', '""')}"`);
        const text = JSON.stringify(rows);
        for (const secret of secrets) assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 4)}…) is stored in clear in ${table}`);
      }
    },

    async close() {
      await app.close();
      await t.cleanup();
    },
  };
  return kit;
}
