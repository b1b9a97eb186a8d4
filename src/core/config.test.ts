import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, deepFreeze, loadSiteConfig, parseSiteConfig } from './config.ts';

const encryption_key = randomBytes(32).toString('base64url');
const valid = (extra: Record<string, unknown> = {}) => ({ encryption_key, ...extra });

/** Asserts a ConfigError whose message is one line naming `key`. */
function refuses(raw: unknown, key: string, source = 'site_config.json'): ConfigError {
  let caught: unknown;
  try {
    parseSiteConfig(raw);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected ConfigError for ${JSON.stringify(raw)}, got ${String(caught)}`);
  assert.ok(!caught.message.includes('\n'), `message is not one line: ${caught.message}`);
  assert.ok(caught.message.startsWith(`${source}: ${key}: `), `message does not name ${key}: ${caught.message}`);
  assert.ok(caught.message.length > `${source}: ${key}: `.length, 'message says what is wrong');
  return caught;
}

describe('parseSiteConfig', () => {
  it('fills in defaults', () => {
    const config = parseSiteConfig(valid());
    assert.equal(config.encryption_key, encryption_key);
    assert.equal(config.db_url, undefined);
    assert.equal(config.redis_url, undefined);
    assert.equal(config.host_name, undefined);
    assert.equal(config.rate_limit, undefined);
    assert.deepEqual(config.installed_apps, []);
    assert.deepEqual(config.allowed_referrers, []);
    assert.deepEqual(config.trusted_proxies, ['127.0.0.1/8', '::1/128']);
    for (const flag of ['developer_mode', 'ignore_csrf', 'deny_multiple_sessions', 'maintenance_mode', 'allow_reads_during_maintenance'] as const) {
      assert.equal(config[flag], false, flag);
    }
    assert.equal(config.max_file_size, 25 * 1024 * 1024);
    assert.equal(config.db_pool_size, 10);
    assert.equal(config.read_cache_mb, 16);
    assert.equal(config.db_statement_timeout_ms, 60_000);
  });

  it('keeps given values', () => {
    const config = parseSiteConfig(
      valid({
        db_url: 'postgresql://u:p@db:5432/site',
        redis_url: 'rediss://cache:6380/0',
        host_name: 'https://erp.example.com',
        installed_apps: ['library'],
        allow_cors: ['https://a.example', 'https://b.example'],
        trusted_proxies: ['10.0.0.0/8'],
        rate_limit: { limit: 100, window: 60 },
        db_pool_size: 3,
        read_cache_mb: 0,
        db_statement_timeout_ms: 0,
      }),
    );
    assert.equal(config.db_url, 'postgresql://u:p@db:5432/site');
    assert.equal(config.redis_url, 'rediss://cache:6380/0');
    assert.equal(config.host_name, 'https://erp.example.com');
    assert.deepEqual(config.installed_apps, ['library']);
    assert.deepEqual(config.allow_cors, ['https://a.example', 'https://b.example']);
    assert.deepEqual(config.trusted_proxies, ['10.0.0.0/8']);
    assert.deepEqual(config.rate_limit, { limit: 100, window: 60 });
    assert.equal(config.db_pool_size, 3);
    assert.equal(config.read_cache_mb, 0);
    assert.equal(config.db_statement_timeout_ms, 0);
    assert.equal(parseSiteConfig(valid({ db_url: 'postgres://db/site', allow_cors: '*' })).allow_cors, '*');
  });

  it('accepts Frappe 0/1 flags as booleans', () => {
    const config = parseSiteConfig(valid({ developer_mode: 1, ignore_csrf: 0, deny_multiple_sessions: true, maintenance_mode: 1 }));
    assert.equal(config.developer_mode, true);
    assert.equal(config.ignore_csrf, false);
    assert.equal(config.deny_multiple_sessions, true);
    assert.equal(config.maintenance_mode, true);
    refuses(valid({ developer_mode: 2 }), 'developer_mode');
    refuses(valid({ ignore_csrf: '1' }), 'ignore_csrf');
    refuses(valid({ maintenance_mode: 'yes' }), 'maintenance_mode');
  });

  it('keeps unknown keys, which apps read', () => {
    const config = parseSiteConfig(valid({ library_loan_days: 14, mail_server: { host: 'smtp.example', port: 587 } }));
    assert.equal(config.library_loan_days, 14);
    assert.deepEqual(config.mail_server, { host: 'smtp.example', port: 587 });
  });

  it('returns a deep-frozen object', () => {
    const config = parseSiteConfig(valid({ rate_limit: { limit: 1, window: 1 }, custom: { nested: { list: [1, 2] } } }));
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.trusted_proxies));
    assert.ok(Object.isFrozen(config.installed_apps));
    assert.ok(Object.isFrozen(config.rate_limit));
    const custom = config.custom as { nested: { list: number[] } };
    assert.ok(Object.isFrozen(custom.nested.list));
    assert.throws(() => {
      (config as Record<string, unknown>).ignore_csrf = true;
    }, TypeError);
    assert.throws(() => {
      (config.trusted_proxies as string[]).push('0.0.0.0/0');
    }, TypeError);
    assert.throws(() => {
      custom.nested.list[0] = 9;
    }, TypeError);
    assert.equal(config.ignore_csrf, false);
  });

  it('refuses a db_url that is not PostgreSQL', () => {
    for (const db_url of ['mysql://root@localhost/site', 'sqlite:///tmp/x.db', '', 'localhost:5432', 42]) {
      refuses(valid({ db_url }), 'db_url');
    }
  });

  it('refuses a bad redis_url', () => {
    for (const redis_url of ['http://cache:6379', 'cache:6379', 'redis:/cache', '', 6379]) {
      refuses(valid({ redis_url }), 'redis_url');
    }
  });

  it('refuses a missing, short or non-base64url encryption_key', () => {
    refuses({}, 'encryption_key');
    refuses(valid({ encryption_key: 'short' }), 'encryption_key');
    refuses(valid({ encryption_key: randomBytes(31).toString('base64url') }), 'encryption_key');
    refuses(valid({ encryption_key: randomBytes(32).toString('hex').slice(0, 40) }), 'encryption_key');
    refuses(valid({ encryption_key: `${'a'.repeat(42)}+/` }), 'encryption_key');
    refuses(valid({ encryption_key: 12345 }), 'encryption_key');
  });

  it('refuses trusted_proxies that is not a list of strings', () => {
    refuses(valid({ trusted_proxies: '127.0.0.1' }), 'trusted_proxies');
    refuses(valid({ trusted_proxies: { a: '127.0.0.1' } }), 'trusted_proxies');
    refuses(valid({ trusted_proxies: [''] }), 'trusted_proxies.0');
    refuses(valid({ trusted_proxies: ['127.0.0.1', 7] }), 'trusted_proxies.1');
  });

  it('refuses a rate_limit with a negative, zero or fractional limit or window', () => {
    refuses(valid({ rate_limit: { limit: -1, window: 60 } }), 'rate_limit.limit');
    refuses(valid({ rate_limit: { limit: 0, window: 60 } }), 'rate_limit.limit');
    refuses(valid({ rate_limit: { limit: 1.5, window: 60 } }), 'rate_limit.limit');
    refuses(valid({ rate_limit: { limit: 10, window: -60 } }), 'rate_limit.window');
    refuses(valid({ rate_limit: { limit: 10 } }), 'rate_limit.window');
    refuses(valid({ rate_limit: 100 }), 'rate_limit');
  });

  it('refuses a host_name that is not a URL', () => {
    for (const host_name of ['erp example com', 'not a url', '', 42]) {
      refuses(valid({ host_name }), 'host_name');
    }
  });

  it('refuses other mistyped keys', () => {
    refuses(valid({ installed_apps: 'library' }), 'installed_apps');
    refuses(valid({ allowed_referrers: [''] }), 'allowed_referrers.0');
    refuses(valid({ max_file_size: -5 }), 'max_file_size');
    refuses(valid({ db_pool_size: 100000 }), 'db_pool_size');
    refuses(valid({ read_cache_mb: -1 }), 'read_cache_mb');
    refuses(valid({ read_cache_mb: '16' }), 'read_cache_mb');
    refuses(valid({ db_statement_timeout_ms: -1 }), 'db_statement_timeout_ms');
    refuses(valid({ db_statement_timeout_ms: 1.5 }), 'db_statement_timeout_ms');
  });

  it('refuses a config that is not an object, naming the root', () => {
    for (const raw of [null, [], 'text', 42]) refuses(raw, '(root)');
  });

  it('names the source it was given', () => {
    refuses(valid({ redis_url: 'nope' }), 'redis_url', 'site_config.json');
    assert.throws(() => parseSiteConfig(valid({ redis_url: 'nope' }), '/sites/a/site_config.json'), /^ConfigError: \/sites\/a\/site_config\.json: redis_url: /);
  });
});

describe('loadSiteConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cortado-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and validates a file', () => {
    const path = join(dir, 'good.json');
    writeFileSync(path, JSON.stringify(valid({ developer_mode: 1 })));
    const config = loadSiteConfig(path);
    assert.equal(config.developer_mode, true);
    assert.ok(Object.isFrozen(config));
  });

  it('refuses a missing file with a ConfigError naming the path', () => {
    const path = join(dir, 'missing.json');
    assert.throws(
      () => loadSiteConfig(path),
      (error: unknown) => error instanceof ConfigError && error.message === `${path}: cannot read (ENOENT)`,
    );
  });

  it('refuses invalid JSON with a ConfigError naming the path', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{"encryption_key": "abc",');
    assert.throws(
      () => loadSiteConfig(path),
      (error: unknown) => error instanceof ConfigError && error.message.startsWith(`${path}: not valid JSON (`) && !error.message.includes('\n'),
    );
  });

  it('refuses a bad value in the file, naming the path and the key', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify(valid({ rate_limit: { limit: -1, window: 60 } })));
    assert.throws(() => loadSiteConfig(path), (error: unknown) => error instanceof ConfigError && error.message.startsWith(`${path}: rate_limit.limit: `));
  });
});

describe('deepFreeze', () => {
  it('freezes nested objects and arrays and returns its argument', () => {
    const value = { a: [{ b: 1 }], c: { d: { e: 'x' } } };
    assert.equal(deepFreeze(value), value);
    assert.ok(Object.isFrozen(value.a[0]));
    assert.ok(Object.isFrozen(value.c.d));
    assert.equal(deepFreeze(null), null);
    assert.equal(deepFreeze('text'), 'text');
  });
});
