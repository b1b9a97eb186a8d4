/**
 * Authentication over a real socket, against the real `cortado` process: a site made with the
 * CLI (`new-site`, `install-app` of the gateway and key-source fixture apps, `add-user`),
 * served by `cortado serve`, exercised with `fetch` — password logins (good and bad),
 * `generate_keys`, named keys, the custom key source, the auth hook, an unhandled error — then
 * stopped with SIGTERM. Proof of issue 3: none of the secrets, passwords or sids used appears
 * in anything the processes wrote (stdout and stderr), nor, on SQLite, in the database files.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { randomHex, randomToken } from '../../src/core/crypto.ts';
import { createSchema, dropSchema } from '../../src/storage/postgres/postgres-storage.ts';
import { forEachDatabase, PG_URL } from '../helpers/test-site.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'cortado.mjs');
const GATEWAY_APP = './test/fixtures/gateway-app';
const KEY_SOURCE_APP = './test/fixtures/key-source-app';
const SPAWN_TIMEOUT_MS = 60_000;

const ALICE = 'alice@example.com';
const SERVICE = 'service@example.com';
const BLOCKED = 'blocked@example.com';
const WHOAMI = '/api/method/frappe.auth.get_logged_user';

interface Output {
  stdout: string;
  stderr: string;
}

/** A free TCP port on the loopback interface (closed again before the server takes it). */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  assert.ok(address && typeof address === 'object');
  return address.port;
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CORTADO_ADMIN_PASSWORD;
  delete env.NODE_TEST_CONTEXT;
  return env;
}

forEachDatabase('authentication over a real socket (cortado serve)', (db) => {
  const folder = mkdtempSync(join(tmpdir(), 'cortado-socket-'));
  const site = join(folder, 'site');
  const adminPassword = `admin-${randomToken(12)}`;
  const alicePassword = `alice-${randomToken(12)}`;
  /** Every secret, password and sid used; none may appear in any output. */
  const secrets = new Set<string>([adminPassword, alicePassword]);
  /** Everything every process printed. */
  const outputs: Output[] = [];
  const children = new Set<ChildProcess>();
  let schema: string | undefined;
  let server: ChildProcess | undefined;
  let serverOutput: Output | undefined;
  let base = '';

  function start(args: string[]): { child: ChildProcess; output: Output } {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const output: Output = { stdout: '', stderr: '' };
    outputs.push(output);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
    return { child, output };
  }

  /** Runs `cortado ...args` to completion; fails the test on a non-zero exit. */
  async function cortado(...args: string[]): Promise<Output> {
    const { child, output } = start(args);
    const timer = setTimeout(() => child.kill('SIGKILL'), SPAWN_TIMEOUT_MS);
    try {
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 0, `cortado ${args[0] === '--site' ? args[2] : args[0]} failed:\n${output.stdout}\n${output.stderr}`);
      return output;
    } finally {
      clearTimeout(timer);
    }
  }

  async function call(path: string, init: { method?: string; auth?: string; sid?: string; headers?: Record<string, string>; json?: Record<string, unknown> } = {}) {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (init.auth) headers.authorization = init.auth;
    if (init.sid) headers.cookie = `sid=${init.sid}`;
    if (init.json) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? (init.json ? 'POST' : 'GET'),
      headers,
      body: init.json ? JSON.stringify(init.json) : undefined,
    });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not JSON: leave the body empty; the status tells.
    }
    return { status: res.status, body, text, cookies: res.headers.getSetCookie() };
  }

  async function whoami(init: Parameters<typeof call>[1]): Promise<string | number> {
    const res = await call(WHOAMI, init);
    return res.status === 200 ? String(res.body.message) : res.status;
  }

  async function login(usr: string, pwd: string): Promise<string> {
    const res = await call('/api/method/login', { json: { usr, pwd } });
    assert.equal(res.status, 200, res.text);
    const sid = res.cookies.map((c) => /^sid=([^;]*)/.exec(c)?.[1]).find((v) => v !== undefined);
    assert.ok(sid && sid !== 'Guest', `a sid cookie in ${res.cookies.join(' | ')}`);
    secrets.add(sid);
    return sid;
  }

  before(async () => {
    const dbArgs: string[] = [];
    if (db === 'postgres') {
      assert.ok(PG_URL);
      schema = `t_${randomHex(12)}`;
      await createSchema(PG_URL, schema);
      const url = new URL(PG_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      dbArgs.push('--db-url', url.toString());
    }
    await cortado('new-site', site, '--admin-password', adminPassword, ...dbArgs);
    await cortado('--site', site, 'install-app', GATEWAY_APP);
    await cortado('--site', site, 'install-app', KEY_SOURCE_APP);
    await cortado('--site', site, 'add-user', ALICE, '--password', alicePassword);
    await cortado('--site', site, 'add-user', SERVICE);
    await cortado('--site', site, 'add-user', BLOCKED);

    const port = await freePort();
    const started = start(['--site', site, 'serve', '--port', String(port), '--host', '127.0.0.1']);
    server = started.child;
    serverOutput = started.output;
    const deadline = Date.now() + SPAWN_TIMEOUT_MS;
    while (!serverOutput.stdout.includes('cortado serving')) {
      assert.ok(server.exitCode === null, `serve exited early:\n${serverOutput.stdout}\n${serverOutput.stderr}`);
      assert.ok(Date.now() < deadline, `serve did not start:\n${serverOutput.stdout}\n${serverOutput.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    base = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    if (schema && PG_URL) await dropSchema(PG_URL, schema).catch(() => undefined);
    rmSync(folder, { recursive: true, force: true });
  });

  test('password login, generate_keys, named keys, custom key source and the auth hook over HTTP', async () => {
    // Password login; a wrong password first, which must not be logged anywhere.
    const wrongPassword = `wrong-${randomToken(12)}`;
    secrets.add(wrongPassword);
    const refused = await call('/api/method/login', { json: { usr: ALICE, pwd: wrongPassword } });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.message, 'Invalid login credentials');
    const adminSid = await login('Administrator', adminPassword);
    assert.equal(await whoami({ sid: adminSid }), 'Administrator');

    // Frappe keys, made with the session cookie; the key is read back from the User.
    const generated = await call('/api/method/frappe.core.doctype.user.user.generate_keys', { sid: adminSid, json: { user: 'Administrator' } });
    assert.equal(generated.status, 200, generated.text);
    const adminSecret = String((generated.body.message as { api_secret: string }).api_secret);
    secrets.add(adminSecret);
    const adminDoc = await call('/api/resource/User/Administrator', { sid: adminSid });
    const adminKey = String((adminDoc.body.data as { api_key: string }).api_key);
    assert.ok(adminKey, adminDoc.text);
    const adminAuth = `token ${adminKey}:${adminSecret}`;
    assert.equal(await whoami({ auth: adminAuth }), 'Administrator');
    assert.equal(await whoami({ auth: `Basic ${Buffer.from(`${adminKey}:${adminSecret}`).toString('base64')}` }), 'Administrator');
    assert.equal(await whoami({ auth: `token ${adminKey}:${randomToken(32)}` }), 401);

    // Named keys: made by Alice in her session, used, rotated.
    const aliceSid = await login(ALICE, alicePassword);
    const created = await call('/api/method/cortado.api_keys.create', { sid: aliceSid, json: { label: 'socket test' } });
    assert.equal(created.status, 200, created.text);
    const named = created.body.message as { name: string; api_key: string; api_secret: string };
    secrets.add(named.api_secret);
    assert.equal(await whoami({ auth: `token ${named.api_key}:${named.api_secret}` }), ALICE);
    const rotated = await call('/api/method/cortado.api_keys.rotate', { sid: aliceSid, json: { name: named.name, grace_seconds: 0 } });
    assert.equal(rotated.status, 200, rotated.text);
    const newSecret = String((rotated.body.message as { api_secret: string }).api_secret);
    secrets.add(newSecret);
    assert.equal(await whoami({ auth: `token ${named.api_key}:${named.api_secret}` }), 401);
    assert.equal(await whoami({ auth: `token ${named.api_key}:${newSecret}` }), ALICE);

    // The custom key source: a Service Account made over REST, its secret in the body.
    const serviceKey = `svc-${randomToken(8)}`;
    const serviceSecret = randomToken(24);
    secrets.add(serviceSecret);
    const account = await call('/api/resource/Service%20Account', {
      auth: adminAuth,
      json: { title: 'socket', api_key: serviceKey, api_secret: serviceSecret, user: SERVICE, enabled: 1 },
    });
    assert.equal(account.status, 200, account.text);
    assert.ok(!account.text.includes(serviceSecret), 'the Password field is not sent back');
    const source = { 'Frappe-Authorization-Source': 'Service Account' };
    assert.equal(await whoami({ auth: `token ${serviceKey}:${serviceSecret}`, headers: source }), SERVICE);
    assert.equal(await whoami({ auth: `token ${serviceKey}:wrong`, headers: source }), 401);
    const unfit = await call(WHOAMI, { auth: `token ${serviceKey}:${serviceSecret}`, headers: { 'Frappe-Authorization-Source': 'Broken Source' } });
    assert.equal(unfit.status, 401);
    assert.equal(unfit.body.exc_type, 'AuthenticationError');

    // The auth hook of the gateway app.
    assert.equal(await whoami({ headers: { 'x-gateway-user': ALICE } }), ALICE);
    const blocked = await call(WHOAMI, { headers: { 'x-gateway-user': BLOCKED } });
    assert.equal(blocked.status, 401);
    assert.equal(blocked.body.exc_type, 'AuthenticationError');

    // An unhandled error is logged by the server; secrets sent in its query string are not.
    const crash = await call(`/api/method/gateway.crash?api_secret=${newSecret}&pwd=${alicePassword}&sid=${aliceSid}`, { auth: `token ${named.api_key}:${newSecret}` });
    assert.equal(crash.status, 500);
    assert.equal(crash.body.exc_type, 'Exception');

    const logout = await call('/api/method/logout', { method: 'POST', sid: aliceSid });
    assert.equal(logout.status, 200);
    assert.equal(await whoami({ sid: aliceSid }), 403);
  });

  test('after SIGTERM, no secret, password or sid appears in the output of any process or in the database files', async () => {
    assert.ok(server && serverOutput);
    assert.ok(secrets.size >= 8, `secrets were used (${secrets.size})`);
    server.kill('SIGTERM');
    const [code] = (await once(server, 'close')) as [number | null];
    assert.equal(code, 0, `serve exit:\n${serverOutput.stdout}\n${serverOutput.stderr}`);
    assert.match(serverOutput.stdout, /SIGTERM received/);
    // The unhandled error was logged: the logs are not simply empty.
    assert.match(serverOutput.stderr, /unhandled error/);
    assert.match(serverOutput.stderr, /gateway fixture crashed on purpose/);

    const everything = outputs.map((o) => `${o.stdout}\n${o.stderr}`).join('\n');
    for (const secret of secrets) assert.ok(!everything.includes(secret), `a secret (${secret.slice(0, 4)}…) appears in the output`);

    if (db === 'sqlite') {
      // The database read directly, byte for byte (main file, WAL and journal alike).
      for (const name of readdirSync(site)) {
        const path = join(site, name);
        if (!statSync(path).isFile()) continue;
        const bytes = readFileSync(path);
        for (const secret of secrets) assert.ok(!bytes.includes(secret), `a secret (${secret.slice(0, 4)}…) is stored in clear in ${name}`);
      }
    }
  });
});
