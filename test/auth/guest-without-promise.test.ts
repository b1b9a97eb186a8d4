/**
 * A request that presents nothing — no `sid`, no Authorization header — on a site without auth
 * hooks is Guest, answered without a promise; anything presented, or a hook to ask, takes the
 * awaited path and is looked at as before.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authServicesFor } from '../../src/app/auth-services.ts';
import { createServer } from '../../src/app/create-server.ts';
import type { RequestInfo } from '../../src/core/request-info.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';

const request = (headers: Record<string, string> = {}, cookies: Record<string, string> = {}): RequestInfo => ({
  method: 'GET',
  path: '/api/method/ping',
  headers,
  cookies,
  ip: '127.0.0.1',
  secure: false,
});

describe('Guest without a promise', () => {
  let t: TestSite;
  before(async () => {
    t = await createTestSite();
  });
  after(async () => t.cleanup());

  test('nothing presented and no hook: Guest, synchronously', () => {
    const result = authServicesFor(t.site).authenticate(request(), {});
    assert.ok(!(result instanceof Promise), 'answered without a promise');
    assert.equal(result.principal.user, 'Guest');
    assert.equal(result.method, 'guest');
    assert.equal(result.headerAuthenticated, false);
  });

  test('a credential, a sid cookie or a sid argument is looked at (awaited)', async () => {
    const authenticate = authServicesFor(t.site).authenticate;
    const withKey = authenticate(request({ authorization: 'token nokey:nosecret' }), {});
    assert.ok(withKey instanceof Promise);
    await assert.rejects(withKey, (error: { excType?: string }) => error.excType === 'AuthenticationError');
    const withCookie = authenticate(request({}, { sid: 'no-such-session' }), {});
    assert.ok(withCookie instanceof Promise);
    assert.equal((await withCookie).sessionExpired, true);
    const args: Record<string, unknown> = { sid: 'no-such-session' };
    const withArgument = authenticate(request(), args);
    assert.ok(withArgument instanceof Promise);
    assert.equal((await withArgument).sessionExpired, true);
    assert.equal('sid' in args, false, 'the sid argument is taken out of the arguments');
  });

  test('over HTTP: a guest ping answers, a guest read of User is refused as before', async () => {
    const app = await createServer(t.site);
    try {
      const ping = await app.inject({ method: 'GET', url: '/api/method/ping' });
      assert.equal(ping.statusCode, 200);
      assert.deepEqual(ping.json(), { message: 'pong' });
      const refused = await app.inject({ method: 'GET', url: '/api/resource/User' });
      assert.equal(refused.statusCode, 403);
      assert.equal((refused.json() as { exc_type: string }).exc_type, 'PermissionError');
    } finally {
      await app.close();
    }
  });
});

describe('Guest with an auth hook to ask', () => {
  let t: TestSite;
  let folder: string;
  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'cortado-guest-hook-'));
    const dir = join(folder, 'hook-app');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'index.mjs'),
      `export default { name: 'guest_hook', hooks: { auth_hooks: [({ request, setUser }) => { if (request.headers['x-hook-user']) setUser(request.headers['x-hook-user']); }] } };\n`,
    );
    t = await createTestSite({ apps: [dir] });
  });
  after(async () => {
    await t.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('the hook is asked even when nothing is presented', async () => {
    const authenticate = authServicesFor(t.site).authenticate;
    const plain = authenticate(request(), {});
    assert.ok(plain instanceof Promise, 'a hook to ask means the awaited path');
    assert.equal((await plain).principal.user, 'Guest');
    const chosen = await authenticate(request({ 'x-hook-user': 'Administrator' }), {});
    assert.equal(chosen.principal.user, 'Administrator');
    assert.equal(chosen.method, 'hook');
  });
});
