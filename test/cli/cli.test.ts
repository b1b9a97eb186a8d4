/**
 * The `cortado` command end to end: the real CLI as a child process on temporary site folders.
 * `serve` on a real socket (ping, graceful SIGTERM), every verb on good input, and every verb
 * refusing bad input with a non-zero exit code, one line on stderr and nothing half-written.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'cortado.mjs');
/** Relative to ROOT (the children's working directory), as a user would type it. */
const LIBRARY_APP = './test/fixtures/library-app';
const CONFIG = 'site_config.json';
const SPAWN_TIMEOUT_MS = 30_000;
/** Each CLI run costs about a second of CPU: more at once only makes every one slower. */
const MAX_RUNNING = Math.max(2, availableParallelism());

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

type Env = Record<string, string | undefined>;

const folders: string[] = [];
const children = new Set<ChildProcess>();

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cortado-cli-'));
  folders.push(folder);
  return folder;
}

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** The environment of a child: no admin password and no test-runner context unless given. */
function childEnv(extra: Env = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CORTADO_ADMIN_PASSWORD;
  delete env.NODE_TEST_CONTEXT;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function start(args: string[], env: Env = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

let running = 0;
const queue: (() => void)[] = [];

/** Runs `fn` once fewer than MAX_RUNNING runs are going. */
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => queue.push(resolve));
  running += 1;
  try {
    return await fn();
  } finally {
    running -= 1;
    queue.shift()?.();
  }
}

/** Runs `cortado ...args` to completion (killed after SPAWN_TIMEOUT_MS). */
const cortado = (args: string[], env: Env = {}): Promise<Result> => limited(() => runCortado(args, env));

async function runCortado(args: string[], env: Env): Promise<Result> {
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), SPAWN_TIMEOUT_MS);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

const describeResult = (result: Result) => `exit ${result.code ?? result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;

function assertOk(result: Result, stdout?: RegExp): void {
  assert.equal(result.code, 0, describeResult(result));
  if (stdout) assert.match(result.stdout, stdout, describeResult(result));
}

/** Non-zero exit, one non-empty line on stderr naming the problem, no stack trace, no output. */
function assertRefused(result: Result, problem: RegExp): void {
  const context = describeResult(result);
  assert.notEqual(result.code, null, `killed: ${context}`);
  assert.notEqual(result.code, 0, context);
  const line = result.stderr.trim();
  assert.ok(line.length > 0, `stderr is empty: ${context}`);
  assert.ok(!line.includes('\n'), `stderr is not one line: ${context}`);
  assert.ok(!result.stderr.includes('    at '), `stack trace on stderr: ${context}`);
  assert.match(line, problem, context);
  assert.equal(result.stdout, '', `a refused command printed: ${context}`);
}

const readConfigText = (site: string) => readFileSync(join(site, CONFIG), 'utf8');
const readConfig = (site: string) => JSON.parse(readConfigText(site)) as Record<string, unknown>;

/** Asserts that `fn` leaves the site's config byte for byte as it was. */
async function configUnchanged(site: string, fn: () => Promise<void>): Promise<void> {
  const before = readConfigText(site);
  await fn();
  assert.equal(readConfigText(site), before, 'site_config.json changed');
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  server.close();
  await once(server, 'close');
  return address.port;
}

/** A running `serve` child whose stdout is watched line by line. */
class Served {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  #waiters: (() => void)[] = [];

  constructor(args: string[], env: Env) {
    this.child = start(args, env);
    this.exited = once(this.child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const notify = () => this.#waiters.forEach((w) => w());
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => ((this.stdout += chunk), notify()));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => ((this.stderr += chunk), notify()));
    void this.exited.then(notify);
  }

  /** Resolves with the first stdout match of `pattern`; rejects on exit or after `ms`. */
  waitFor(pattern: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = this.stdout.match(pattern);
        if (match) return finish(() => resolve(match));
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          finish(() => reject(new Error(`serve exited before printing ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)));
        }
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${ms} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`))), ms);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        settle();
      };
      this.#waiters.push(check);
      check();
    });
  }

  /** The exit code, or a rejection if the process is still running after `ms`. */
  async exitCode(ms = 8_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`serve still running ${ms} ms after SIGTERM\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)), ms);
    });
    try {
      const [code] = await Promise.race([this.exited, timeout]);
      return code;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Collects a raw socket's data; `until` resolves once the data matches or the socket ends. */
function socketReader(socket: Socket) {
  let data = '';
  let ended = false;
  const waiters: (() => void)[] = [];
  const notify = () => waiters.forEach((w) => w());
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => ((data += chunk), notify()));
  socket.on('end', () => ((ended = true), notify()));
  socket.on('close', () => ((ended = true), notify()));
  socket.on('error', () => undefined);
  return {
    get data() {
      return data;
    },
    until(pattern: RegExp | 'end', ms = 10_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern === 'end' ? ended : pattern.test(data)) {
            clearTimeout(timer);
            resolve(data);
          } else if (ended) {
            clearTimeout(timer);
            reject(new Error(`socket ended before ${String(pattern)}: ${JSON.stringify(data)}`));
          }
        };
        const timer = setTimeout(() => reject(new Error(`no ${String(pattern)} within ${ms} ms: ${JSON.stringify(data)}`)), ms);
        waiters.push(check);
        check();
      });
    },
  };
}

/** Polls until nothing accepts connections on `port` any more (the listener has closed). */
async function untilRefused(port: number, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    const refused = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(false));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    socket.destroy();
    if (refused) return;
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts connections ${ms} ms after SIGTERM`);
    await sleep(50);
  }
}

describe('cortado serve', { concurrency: true }, () => {
  test('serve --init creates a site, prints a generated password, answers ping, and drains on SIGTERM', async () => {
    const site = join(tempFolder(), 'site');
    const port = await freePort();
    const server = new Served(['serve', '--init', '--port', String(port), '--site', site], { CORTADO_ADMIN_PASSWORD: undefined });
    const [, url] = await server.waitFor(/^cortado serving .* on (http:\/\/\S+)$/m);
    const [, password] = await server.waitFor(/^Administrator password: (\S+)/m);
    assert.ok(password && password.length >= 12, `weak generated password: ${password}`);
    assert.equal(statSync(join(site, CONFIG)).mode & 0o777, 0o600);
    assert.equal(url, `http://127.0.0.1:${port}`);

    const response = await fetch(`${url}/api/method/ping`, { headers: { connection: 'close' } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(await response.text(), '{"message":"pong"}');

    // A request in flight when SIGTERM arrives: the server has parsed its headers (it answered
    // "100 Continue") but not yet received its body.
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const reader = socketReader(socket);
    socket.write(
      'POST /api/method/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n' +
        'Content-Length: 2\r\nExpect: 100-continue\r\n\r\n',
    );
    await reader.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    server.child.kill('SIGTERM');
    await server.waitFor(/SIGTERM received/);
    await untilRefused(port);
    assert.equal(server.child.exitCode, null, 'serve exited with a request in flight');
    socket.end('{}');
    const raw = await reader.until('end');
    const final = raw.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
    assert.match(final, /^HTTP\/1\.1 200 /, raw);
    assert.equal(final.slice(final.indexOf('\r\n\r\n') + 4), '{"message":"pong"}', raw);

    assert.equal(await server.exitCode(), 0, `stdout: ${server.stdout}\nstderr: ${server.stderr}`);
    // The database was closed cleanly: the site opens and its schema is complete.
    assertOk(await cortado(['--site', site, 'migrate']), /^schema is up to date$/m);
  });

  test('serve --init with CORTADO_ADMIN_PASSWORD set prints no password', async () => {
    const site = join(tempFolder(), 'site');
    const port = await freePort();
    const secret = 'given-admin-password-1';
    const server = new Served(['--site', site, 'serve', '--init', '--port', String(port)], { CORTADO_ADMIN_PASSWORD: secret });
    await server.waitFor(/^cortado serving /m);
    assert.match(server.stdout, /^created site /m);
    assert.doesNotMatch(server.stdout, /password/i);
    assert.ok(!server.stdout.includes(secret) && !server.stderr.includes(secret), 'the password was printed');
    server.child.kill('SIGTERM');
    assert.equal(await server.exitCode(), 0, `stdout: ${server.stdout}\nstderr: ${server.stderr}`);
  });
});

describe('cortado verbs on good input', () => {
  test('new-site, migrate, install-app, list-apps, add-user, set-password, set-config, destroy-all-sessions', async () => {
    const site = join(tempFolder(), 'site');
    const created = await cortado(['new-site', site, '--admin-password', 'first-admin-pw']);
    assertOk(created, /^created site .* \(SQLite\)$/m);
    const configPath = join(site, CONFIG);
    assert.equal(statSync(configPath).mode & 0o777, 0o600, 'site_config.json must be readable by its owner only');
    const config = readConfig(site);
    assert.equal(typeof config.encryption_key, 'string');
    assert.match(config.encryption_key as string, /^[A-Za-z0-9_-]{43,}$/);
    assert.ok(!created.stdout.includes(config.encryption_key as string), 'new-site printed the encryption key');
    assert.ok(!created.stdout.includes('first-admin-pw'), 'new-site printed the admin password');
    assert.deepEqual(config.installed_apps, []);

    assertOk(await cortado(['--site', site, 'migrate']), /^schema is up to date$/m);

    const installed = await cortado(['--site', site, 'install-app', LIBRARY_APP]);
    assertOk(installed, /^installed library \(\d+ DocType\(s\), \d+ method\(s\)\)$/m);
    assert.deepEqual(readConfig(site).installed_apps, [join(ROOT, 'test', 'fixtures', 'library-app')]);

    // Independent verbs run side by side; the config writers (set-config) run one after another.
    await Promise.all([
      (async () => {
        const args = ['--first-name', 'Ann', '--last-name', 'Lee', '--password', 'pw-1', '--user-type', 'Website User', '--add-role', 'System Manager', '--add-role', 'All'];
        assertOk(await cortado(['--site', site, 'add-user', 'ann@example.com', ...args]), /^added user ann@example\.com$/m);
        assertOk(await cortado(['--site', site, 'set-password', 'ann@example.com', 'pw-2']), /^password set for ann@example\.com$/m);
        assertOk(await cortado(['--site', site, 'set-admin-password', 'second-admin-pw']), /^password set for Administrator$/m);
        assertOk(await cortado(['--site', site, 'destroy-all-sessions']), /^ended \d+ session\(s\)$/m);
      })(),
      (async () => {
        assertOk(await cortado(['--site', site, 'set-config', '-p', 'developer_mode', '1']), /^set developer_mode$/m);
        assertOk(await cortado(['--site', site, 'set-config', '-p', 'rate_limit', '{"limit":5,"window":60}']), /^set rate_limit$/m);
        assertOk(await cortado(['--site', site, 'set-config', 'my_app_key', '123']), /^set my_app_key$/m);
        const after = readConfig(site);
        assert.equal(after.developer_mode, 1);
        assert.deepEqual(after.rate_limit, { limit: 5, window: 60 });
        assert.equal(after.my_app_key, '123', 'without -p the value is a string');
        assert.equal(after.encryption_key, config.encryption_key);
        assert.equal(statSync(configPath).mode & 0o777, 0o600, 'set-config must keep site_config.json private');
      })(),
    ]);
    // The site still opens with everything that was written, the app's tables included.
    const listed = await cortado(['--site', site, 'list-apps']);
    assertOk(listed, /^frappe \(core\)$/m);
    assert.match(listed.stdout, /^library\s/m);
  });
});

describe('cortado refuses bad input', { concurrency: true }, () => {
  let folder: string;
  let site: string;
  let badName: string;
  let badDocType: string;

  before(async () => {
    folder = tempFolder();
    site = join(folder, 'site');
    assertOk(await cortado(['new-site', site, '--admin-password', 'admin-pw']));
    await Promise.all([
      cortado(['--site', site, 'install-app', LIBRARY_APP]).then((r) => assertOk(r, /^installed library/m)),
      cortado(['--site', site, 'add-user', 'taken@example.com']).then((r) => assertOk(r, /^added user/m)),
    ]);

    badName = join(folder, 'bad-name-app');
    mkdirSync(badName);
    writeFileSync(join(badName, 'package.json'), '{"type":"module"}\n');
    writeFileSync(join(badName, 'index.js'), "export default { name: 'Bad Name' };\n");

    badDocType = join(folder, 'bad-doctype-app');
    mkdirSync(join(badDocType, 'doctypes', 'widget'), { recursive: true });
    writeFileSync(join(badDocType, 'index.mjs'), "export default { name: 'widgets', doctypes: './doctypes' };\n");
    writeFileSync(
      join(badDocType, 'doctypes', 'widget', 'widget.json'),
      JSON.stringify({ doctype: 'DocType', name: 'Widget', fields: [{ fieldname: 'size', fieldtype: 'Nonsense' }] }),
    );
  });

  const run = (...args: string[]) => cortado(['--site', site, ...args]);

  test('new-site without --admin-password', async () => {
    const path = join(folder, 'no-password');
    assertRefused(await cortado(['new-site', path]), /admin-password/);
    assert.equal(existsSync(path), false);
  });

  test('new-site on an existing site leaves its config byte for byte', async () => {
    const before = readFileSync(join(site, CONFIG));
    assertRefused(await cortado(['new-site', site, '--admin-password', 'other']), /already exists/);
    assert.deepEqual(readFileSync(join(site, CONFIG)), before);
  });

  test('new-site with a MySQL URL leaves no folder', async () => {
    const path = join(folder, 'mysql-site');
    assertRefused(await cortado(['new-site', path, '--admin-password', 'pw', '--db-url', 'mysql://x']), /db_url.*postgres/);
    assert.equal(existsSync(path), false);
  });

  test('new-site on an unreachable PostgreSQL leaves no folder, and an existing folder as it was', async () => {
    const path = join(folder, 'pg-site');
    const existing = join(folder, 'pg-existing');
    mkdirSync(existing);
    writeFileSync(join(existing, 'keep.txt'), 'mine');
    const [fresh, into] = await Promise.all([
      cortado(['new-site', path, '--admin-password', 'pw', '--db-url', 'postgres://127.0.0.1:1/x']),
      cortado(['new-site', existing, '--admin-password', 'pw', '--db-url', 'postgres://u:secret@127.0.0.1:1/x']),
    ]);
    assertRefused(fresh, /database/);
    assertRefused(into, /database/);
    assert.ok(!into.stderr.includes('secret'), 'the database password was printed');
    assert.equal(existsSync(path), false);
    assert.deepEqual(readdirSync(existing), ['keep.txt']);
  });

  test('every verb on a folder without a site, creating nothing', async () => {
    const missing = join(folder, 'nowhere');
    const empty = join(folder, 'empty');
    mkdirSync(empty);
    // One verb per way of finding the site: withSite (migrate, list-apps, the user verbs,
    // destroy-all-sessions), serve's own opening, and install-app's and set-config's config reading.
    const verbs = [['migrate'], ['serve', '--port', '8123'], ['install-app', LIBRARY_APP], ['set-config', 'my_key', 'v']];
    const results = await Promise.all(verbs.map((verb, i) => cortado(['--site', i % 2 ? missing : empty, ...verb])));
    for (const result of results) assertRefused(result, /no site at/);
    assert.equal(existsSync(missing), false);
    assert.deepEqual(readdirSync(empty), []);
  });

  test('serve with a bad port', async () => {
    const results = await Promise.all(['0', '70000', 'abc'].map((port) => run('serve', '--port', port)));
    for (const result of results) assertRefused(result, /port/);
  });

  test('install-app of a missing path', () =>
    configUnchanged(site, async () => assertRefused(await run('install-app', join(folder, 'no-such-app')), /does not exist/)));

  test('install-app of an app with an invalid definition', () =>
    configUnchanged(site, async () => assertRefused(await run('install-app', badName), /"name" must be a snake_case identifier/)));

  test('install-app of a folder whose index.js is ESM without a package.json judges its definition', () =>
      configUnchanged(site, async () => {
        const plain = join(folder, 'plain-js-app');
        mkdirSync(plain);
        writeFileSync(join(plain, 'index.js'), "export default { name: 'Bad Name' };\n");
        assertRefused(await run('install-app', plain), /"name" must be a snake_case identifier/);
      }),
  );

  test('install-app of an app with a malformed doctype', () =>
    configUnchanged(site, async () => assertRefused(await run('install-app', badDocType), /unknown fieldtype "Nonsense"/)));

  test('install-app of an installed app', () =>
    configUnchanged(site, async () => {
      // The same folder, spelled differently.
      assertRefused(await run('install-app', `${LIBRARY_APP}/`), /already installed/);
    }));

  test('add-user with an invalid email, user type or role, or an existing email', async () => {
    const [badEmail, robot, noRole, duplicate] = await Promise.all([
      run('add-user', 'not-an-email'),
      run('add-user', 'robot@example.com', '--user-type', 'Robot'),
      run('add-user', 'norole@example.com', '--add-role', 'NoSuchRole'),
      run('add-user', 'taken@example.com'),
    ]);
    assertRefused(badEmail, /not-an-email.*email/);
    assertRefused(robot, /user-type.*Robot/);
    assertRefused(noRole, /NoSuchRole/);
    assertRefused(duplicate, /already exists|duplicate/i);
    // The refused user was not half-created: adding it again works.
    assertOk(await run('add-user', 'norole@example.com'), /^added user norole@example\.com$/m);
  });

  test('set-password of an unknown user, set-admin-password with an empty password', async () => {
    const [unknown, empty] = await Promise.all([run('set-password', 'nobody@example.com', 'pw'), run('set-admin-password', '')]);
    assertRefused(unknown, /nobody@example\.com/);
    assertRefused(empty, /empty/);
  });

  test('set-config with a bad key, bad JSON, a value the schema refuses, or encryption_key', () =>
    configUnchanged(site, async () => {
      const [badKey, badJson, badBoolean, badUrl, key] = await Promise.all([
        run('set-config', 'bad key!', 'x'),
        run('set-config', '-p', 'developer_mode', '{not json'),
        run('set-config', '-p', 'developer_mode', '"yes"'),
        run('set-config', 'db_url', 'notaurl'),
        run('set-config', 'encryption_key', 'A'.repeat(43)),
      ]);
      assertRefused(badKey, /bad key!/);
      assertRefused(badJson, /developer_mode.*JSON/);
      assertRefused(badBoolean, /developer_mode/);
      assertRefused(badUrl, /db_url/);
      assertRefused(key, /encryption_key/);
    }));

  test('an unknown verb', async () => {
    assertRefused(await run('frobnicate'), /unknown command 'frobnicate'/);
  });
});
