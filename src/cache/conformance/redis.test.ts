// The cache conformance suite on the Redis adapter, each test under a fresh random key prefix
// of the Redis at CORTADO_TEST_REDIS_URL; plus the adapter's behaviour when Redis is down or
// goes away and comes back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisCache } from '../redis/redis-cache.ts';
import { CacheUnavailable } from '../types.ts';
import { TcpProxy } from '../../../test/helpers/tcp-proxy.ts';
import { runCacheConformance } from './cache.suite.ts';

const url = process.env.CORTADO_TEST_REDIS_URL;

/** Deletes every key under the prefix. */
async function clearPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

if (!url) {
  test('redis cache conformance', { skip: 'CORTADO_TEST_REDIS_URL is not set: Redis tests skipped' }, () => {});
} else {
  const redisUrl = url;
  const freshPrefix = () => `cortado-test:${randomBytes(6).toString('hex')}:`;

  runCacheConformance('redis', async () => {
    const keyPrefix = freshPrefix();
    const cache = new RedisCache({ url: redisUrl, keyPrefix, onHandlerError: () => {} });
    return {
      cache,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      cleanup: async () => {
        await cache.close();
        await clearPrefix(redisUrl, keyPrefix);
      },
    };
  });

  describe('redis adapter', () => {
    test('key prefixes isolate caches sharing one Redis, for keys and channels', async () => {
      const [a, b] = [freshPrefix(), freshPrefix()];
      const first = new RedisCache({ url: redisUrl, keyPrefix: a });
      const second = new RedisCache({ url: redisUrl, keyPrefix: b });
      try {
        await first.set('k', 'from a');
        assert.equal(await second.get('k'), undefined);
        const received: string[] = [];
        const stop = await second.subscribe('ch', (m) => received.push(m));
        await first.publish('ch', 'for a only');
        await second.publish('ch', 'for b');
        const deadline = Date.now() + 3000;
        while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(received, ['for b']);
        await stop();
        // The keys really carry the prefix.
        const raw = new Redis(redisUrl);
        try {
          assert.equal(await raw.get(`${a}k`), 'from a');
        } finally {
          raw.disconnect();
        }
      } finally {
        await first.close();
        await second.close();
        await clearPrefix(redisUrl, a);
        await clearPrefix(redisUrl, b);
      }
    });

    test('messages reach subscribers on another connection (another node)', async () => {
      const prefix = freshPrefix();
      const publisher = new RedisCache({ url: redisUrl, keyPrefix: prefix });
      const subscriber = new RedisCache({ url: redisUrl, keyPrefix: prefix });
      try {
        const received: string[] = [];
        const stop = await subscriber.subscribe('revoked', (m) => received.push(m));
        await publisher.publish('revoked', 'key-123');
        const deadline = Date.now() + 3000;
        while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(received, ['key-123']);
        await stop();
      } finally {
        await publisher.close();
        await subscriber.close();
      }
    });
  });

  describe('redis adapter when Redis is down or goes away', () => {
    test('a refused connection fails fast with CacheUnavailable and ping() answers false', async () => {
      const cache = new RedisCache({ url: 'redis://127.0.0.1:1' });
      try {
        const started = Date.now();
        await assert.rejects(cache.get('k'), CacheUnavailable);
        await assert.rejects(cache.set('k', 'v', 10), CacheUnavailable);
        await assert.rejects(cache.increment('n', 10), CacheUnavailable);
        await assert.rejects(cache.subscribe('c', () => {}), CacheUnavailable);
        assert.equal(await cache.ping(), false);
        assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
      } finally {
        await cache.close();
      }
    });

    test('a server that never answers fails with CacheUnavailable after the timeouts', async () => {
      const sockets = new Set<Socket>();
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      assert.ok(address && typeof address === 'object');
      const cache = new RedisCache({ url: `redis://127.0.0.1:${address.port}`, connectTimeoutMs: 200, commandTimeoutMs: 200 });
      try {
        const started = Date.now();
        await assert.rejects(cache.get('k'), CacheUnavailable);
        assert.equal(await cache.ping(), false);
        assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
      } finally {
        await cache.close();
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    test('a Redis that goes away fails fast, work resumes when it is back, and subscribers hear of the gap', async () => {
      const target = new URL(redisUrl);
      const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
      await proxy.open();
      const prefix = freshPrefix();
      const viaProxy = new RedisCache({ url: `redis://127.0.0.1:${proxy.port}${target.pathname}`, keyPrefix: prefix });
      const direct = new RedisCache({ url: redisUrl, keyPrefix: prefix });
      const until = async (what: string, check: () => Promise<boolean>) => {
        const deadline = Date.now() + 10_000;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      try {
        await viaProxy.set('k', 'v');
        const received: string[] = [];
        let gaps = 0;
        let receivedAtGap = -1;
        await viaProxy.subscribe(
          'ch',
          (m) => received.push(m),
          () => {
            gaps += 1;
            receivedAtGap = received.length;
            // Told once the channel is live again: a message published now must arrive.
            void direct.publish('ch', 'at the gap');
          },
        );
        await direct.publish('ch', 'before');
        await until('a message before the outage', async () => received.includes('before'));
        assert.equal(gaps, 0, 'no gap on the first connection');

        await proxy.close();
        await until('the cache to notice', async () => !(await viaProxy.ping()));
        const started = Date.now();
        await assert.rejects(viaProxy.get('k'), CacheUnavailable);
        await assert.rejects(viaProxy.increment('n'), CacheUnavailable);
        assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);

        await proxy.open();
        await until('the cache to reconnect', () => viaProxy.ping());
        assert.equal(await viaProxy.get('k'), 'v');
        // The subscription was restored on the new connection, and its subscriber told of the gap.
        await until('the gap to be reported', async () => gaps > 0);
        await until('the message published at the gap', async () => received.includes('at the gap'));
        assert.equal(gaps, 1);
        assert.deepEqual(received.slice(0, receivedAtGap), ['before']);
      } finally {
        await viaProxy.close();
        await direct.close();
        await proxy.close();
        await clearPrefix(redisUrl, prefix);
      }
    });
  });
}
