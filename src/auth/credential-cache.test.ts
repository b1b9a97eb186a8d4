/**
 * The credential cache on its own (lifetimes, bounds, drops, the fill race) and the reading of
 * committed SQL into the changes that drop its entries.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { principalFor } from '../doctype/principal.ts';
import { CredentialCache } from './credential-cache.ts';
import { classifyCredentialWrite } from './credential-invalidation.ts';
import { SESSION_TOUCH_SQL, type SessionRecord } from './sessions/session-store.ts';

const access = (user: string) => ({ principal: principalFor(user, ['Role A'], 'System User'), restrictIp: null, bypass: null });
const session = (sidHash: string, user: string): SessionRecord => ({
  sidHash,
  user,
  created: '2025-01-01 00:00:00.000000',
  lastActive: '2025-01-01 00:00:00.000000',
  expiresAt: '2026-01-01 00:00:00.000000',
  ip: null,
  device: null,
  userAgent: null,
  data: {},
});

function cacheAt(start = 1_000_000, options: { ttlMs?: number; maxEntries?: number; external?: () => number | undefined } = {}) {
  const clock = { now: start };
  const cache = new CredentialCache({ ttlMs: options.ttlMs ?? 30_000, maxEntries: options.maxEntries, now: () => clock.now, externalChanges: options.external, externalCheckMs: 100 });
  return { cache, clock };
}

describe('credential cache', () => {
  test('entries live the TTL at most, and never past the credential’s own expiry', () => {
    const { cache, clock } = cacheAt();
    cache.setAccess('alice', access('alice'), cache.epoch);
    cache.setCredential('k1', { user: 'alice' }, cache.epoch);
    cache.setCredential('k2', { user: 'alice', validUntil: clock.now + 5_000 }, cache.epoch);
    cache.setCredential('k3', { user: 'alice', validUntil: clock.now - 1 }, cache.epoch);
    assert.equal(cache.credential('k3'), undefined, 'an expired credential is not stored');
    clock.now += 4_999;
    assert.ok(cache.credential('k2'));
    clock.now += 1;
    assert.equal(cache.credential('k2'), undefined, 'gone at its own expiry');
    assert.ok(cache.credential('k1') && cache.access('alice'));
    clock.now += 25_000;
    assert.equal(cache.credential('k1'), undefined, 'gone after the TTL');
    assert.equal(cache.access('alice'), undefined);
  });

  test('a fill that started before a drop is not stored (the fill race)', () => {
    const { cache } = cacheAt();
    const epoch = cache.epoch;
    // …the fill reads the database; meanwhile a change is committed and announced…
    cache.drop('u:alice');
    cache.setAccess('alice', access('alice'), epoch);
    cache.setCredential('k1', { user: 'alice' }, epoch);
    assert.equal(cache.access('alice'), undefined);
    assert.equal(cache.credential('k1'), undefined);
    cache.setAccess('alice', access('alice'), cache.epoch);
    assert.ok(cache.access('alice'), 'a fill after the change is stored');
  });

  test('drops are targeted: a user, a session, a named key, an OAuth token, a grant family', () => {
    const { cache } = cacheAt();
    const fill = () => {
      const e = cache.epoch;
      cache.setAccess('alice', access('alice'), e);
      cache.setAccess('bob', access('bob'), e);
      cache.setCredential('alice-key', { user: 'alice' }, e);
      cache.setCredential('bob-named', { user: 'bob', keyName: 'KEY-1' }, e);
      cache.setCredential('bob-bearer', { user: 'bob', tokenName: 'tok1', family: 'fam1' }, e);
      cache.setSession('s-alice', session('s-alice', 'alice'), e, Number.POSITIVE_INFINITY);
      cache.setSession('s-bob', session('s-bob', 'bob'), e, Number.POSITIVE_INFINITY);
    };
    fill();
    cache.drop('u:alice');
    assert.deepEqual(
      [cache.access('alice'), cache.credential('alice-key'), cache.session('s-alice')].map(Boolean),
      [false, false, false],
      'everything of alice',
    );
    assert.ok(cache.access('bob') && cache.credential('bob-named') && cache.session('s-bob'), 'nothing of bob');
    cache.drop('k:KEY-1');
    assert.equal(cache.credential('bob-named'), undefined);
    assert.ok(cache.credential('bob-bearer'));
    cache.drop('f:fam1');
    assert.equal(cache.credential('bob-bearer'), undefined);
    fill();
    cache.drop('t:tok1');
    assert.equal(cache.credential('bob-bearer'), undefined);
    cache.drop('s:s-bob');
    assert.equal(cache.session('s-bob'), undefined);
    assert.ok(cache.session('s-alice'));
    cache.drop('S*');
    assert.equal(cache.session('s-alice'), undefined);
    assert.ok(cache.access('bob'));
    cache.drop('*');
    assert.deepEqual(cache.size(), { access: 0, credentials: 0, sessions: 0 });
  });

  test('bounded: the oldest entries go first', () => {
    const { cache } = cacheAt(1_000_000, { maxEntries: 3 });
    for (const key of ['a', 'b', 'c', 'd']) cache.setCredential(key, { user: key }, cache.epoch);
    assert.equal(cache.credential('a'), undefined);
    assert.ok(cache.credential('b') && cache.credential('d'));
    assert.equal(cache.size().credentials, 3);
  });

  test('a TTL of 0 caches nothing', () => {
    const { cache } = cacheAt(1_000_000, { ttlMs: 0 });
    cache.setAccess('alice', access('alice'), cache.epoch);
    assert.equal(cache.access('alice'), undefined);
  });

  test('a write by another process (a changed external counter) drops everything', () => {
    let version = 1;
    const { cache, clock } = cacheAt(1_000_000, { external: () => version });
    cache.setAccess('alice', access('alice'), cache.epoch);
    version = 2;
    assert.ok(cache.access('alice'), 'not polled again within the check interval');
    clock.now += 100;
    assert.equal(cache.access('alice'), undefined);
  });
});

describe('which committed writes make credentials stale', () => {
  const changes = (sql: string, params: unknown[] = []) => classifyCredentialWrite(sql)?.(params as never[]);

  test('bookkeeping and inserts are not changes', () => {
    assert.equal(changes(SESSION_TOUCH_SQL), undefined, 'the batched last_active write');
    assert.equal(changes('UPDATE "tabUser" SET "last_login" = ?, "last_ip" = ?, "last_active" = ? WHERE "name" = ?'), undefined);
    assert.equal(changes('UPDATE "tabAPI Key" SET "last_used_at" = ?, "last_used_ip" = ? WHERE "name" = ?'), undefined);
    assert.equal(changes('INSERT INTO "__Sessions" ("sid_hash", "user") VALUES (?, ?)'), undefined);
    assert.equal(changes('INSERT INTO "__Auth" ("doctype", "name", "fieldname", "password", "encrypted") VALUES (?, ?, ?, ?, ?)'), undefined);
    assert.equal(changes('INSERT INTO "tabOAuth Bearer Token" ("name", "user") VALUES (?, ?)'), undefined);
    assert.equal(changes('UPDATE "tabToDo" SET "status" = ? WHERE "name" = ?'), undefined, 'other tables');
    assert.equal(changes('SELECT * FROM "tabUser" WHERE "name" = ?'), undefined);
  });

  test('changes name the rows they reach', () => {
    assert.deepEqual(changes('UPDATE "tabUser" SET "enabled" = ?, "modified" = ? WHERE "name" = ?', [0, 'x', 'alice']), ['u:alice']);
    assert.deepEqual(changes('UPDATE "tabUser" SET "api_key" = ?, "api_secret" = ? WHERE "name" = ?', ['k', '*', 'alice']), ['u:alice']);
    assert.deepEqual(changes('DELETE FROM "tabUser" WHERE "name" = ?', ['alice']), ['u:alice']);
    assert.deepEqual(changes('DELETE FROM "tabHas Role" WHERE "parent" = ? AND "parenttype" = ? AND "parentfield" = ?', ['alice', 'User', 'roles']), ['u:alice']);
    assert.deepEqual(
      changes('INSERT INTO "tabHas Role" ("name", "parent", "role") VALUES (?, ?, ?), (?, ?, ?)', ['r1', 'alice', 'A', 'r2', 'bob', 'B']),
      ['u:alice', 'u:bob'],
      'a role given',
    );
    assert.deepEqual(changes('DELETE FROM "__Auth" WHERE "doctype" = ? AND "name" = ? AND "fieldname" = ?', ['User', 'alice', 'api_secret']), ['u:alice', 'k:alice']);
    assert.deepEqual(changes('DELETE FROM "__Sessions" WHERE "sid_hash" = ?', ['h1']), ['s:h1']);
    assert.deepEqual(changes('DELETE FROM "__Sessions" WHERE "user" = ? AND "sid_hash" <> ?', ['alice', 'h1']), ['u:alice']);
    assert.deepEqual(changes('UPDATE "__Sessions" SET "data" = ? WHERE "sid_hash" = ?', ['{}', 'h1']), ['s:h1']);
    assert.deepEqual(changes('UPDATE "__Sessions" SET "last_active" = ? WHERE "user" = ?', ['2000-01-01', 'alice']), ['u:alice'], 'not the batched touch');
    assert.deepEqual(changes('UPDATE "tabAPI Key" SET "enabled" = ? WHERE "name" = ?', [0, 'KEY-1']), ['k:KEY-1']);
    assert.deepEqual(changes('UPDATE "tabOAuth Bearer Token" SET "status" = \'Revoked\' WHERE "grant_family" = ? AND "status" = \'Active\'', ['fam']), ['f:fam']);
    assert.deepEqual(changes('UPDATE "tabOAuth Bearer Token" SET "status" = \'Revoked\' WHERE "name" = ?', ['tok']), ['t:tok']);
  });

  test('what cannot be narrowed drops everything of its kind', () => {
    assert.deepEqual(changes('DELETE FROM "__Sessions"'), ['S*']);
    assert.deepEqual(changes('DELETE FROM "__Sessions" WHERE "expires_at" <= ? OR "last_active" < ?', ['a', 'b']), ['S*']);
    assert.deepEqual(changes('UPDATE "tabUser" SET "enabled" = 0 WHERE "name" = ? OR "email" = ?', ['a', 'b']), ['*']);
    assert.deepEqual(changes('UPDATE "tabUser" SET "enabled" = 0'), ['*']);
    assert.deepEqual(changes('UPDATE "tabOAuth Client" SET "app_name" = ? WHERE "name" = ?', ['x', 'c']), ['*']);
    assert.deepEqual(changes('INSERT INTO "tabUser" ("name") VALUES (?) ON CONFLICT ("name") DO UPDATE SET "enabled" = 0', ['a']), ['*'], 'an upsert');
    assert.deepEqual(changes('WITH x AS (SELECT 1) UPDATE "tabUser" SET "enabled" = 0'), ['*'], 'another shape naming a watched table');
  });
});
