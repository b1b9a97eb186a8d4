/**
 * Attacks on the HTTP layer itself, over a REAL socket (the server listens on 127.0.0.1:0;
 * requests are written byte by byte with `node:net`, so nothing between the test and the
 * server smooths them out):
 *
 * - oversized bodies: JSON, form and multipart bodies over `max_file_size`, declared or
 *   streamed chunked → 413 `RequestEntityTooLarge`, nothing written;
 * - oversized headers: one huge header, many headers, a huge URL → 431 from Node itself, at the
 *   limit createServer sets explicitly (`MAX_HEADER_SIZE`, 16 KiB); a request just under it is
 *   served;
 * - slow clients (slowloris): headers trickled slower than `http_headers_timeout_ms` → the
 *   connection is closed; a body that stalls, or trickles past `http_request_timeout_ms`, is
 *   cut (408 and close); a slow request that still arrives in time is served.
 *
 * The timeouts come from site config, set short here so the suite stays fast.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createServer, MAX_HEADER_SIZE } from '../../src/app/create-server.ts';
import { apiSecretHashKey, generateUserKeys } from '../../src/auth/api-keys.ts';
import { createTestSite, type TestSite } from '../helpers/test-site.ts';

const HEADERS_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 900;
const MAX_BODY = 64 * 1024;

interface RawAnswer {
  /** Everything the server wrote before closing. */
  text: string;
  status: number | undefined;
  /** Milliseconds from connect to the server closing the connection. */
  closedAfter: number;
  /** The server had not closed the connection when the test gave up. */
  stillOpen: boolean;
}

interface Step {
  data: string | Buffer;
  /** Wait this long before writing `data`. */
  delay?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `steps` on a fresh connection and collects the answer until the server closes it (or `giveUpMs`). */
function raw(port: number, steps: readonly Step[], giveUpMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let stillOpen = false;
    const giveUp = setTimeout(() => {
      stillOpen = true;
      socket.destroy();
    }, giveUpMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      clearTimeout(giveUp);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ text, status: status ? Number(status) : undefined, closedAfter: Date.now() - started, stillOpen });
    });
    socket.once('connect', async () => {
      for (const step of steps) {
        if (step.delay) await sleep(step.delay);
        if (closed || socket.destroyed) return;
        socket.write(step.data);
      }
    });
  });
}

/** The JSON body of a raw answer. */
function bodyOf(answer: RawAnswer): Record<string, unknown> {
  const at = answer.text.indexOf('\r\n\r\n');
  let body = answer.text.slice(at + 4);
  // A chunked answer: take the first chunk's data.
  if (/\r\ntransfer-encoding: chunked/i.test(answer.text.slice(0, at))) body = body.slice(body.indexOf('\r\n') + 2).split('\r\n')[0] ?? '';
  return JSON.parse(body) as Record<string, unknown>;
}

describe('HTTP limits over a real socket', () => {
  let t: TestSite;
  let app: FastifyInstance;
  let port = 0;
  let adminAuth = '';

  const todoCount = async () => Number((await t.site.storage.get<{ n: number | string }>('SELECT count(*) AS "n" FROM "tabToDo"'))?.n);

  before(async () => {
    t = await createTestSite({
      config: { http_headers_timeout_ms: HEADERS_TIMEOUT_MS, http_request_timeout_ms: REQUEST_TIMEOUT_MS, max_file_size: MAX_BODY },
    });
    const keys = await t.site.asAdministrator((ctx) => generateUserKeys(ctx, 'Administrator', apiSecretHashKey(t.site.config.encryption_key)));
    adminAuth = `token ${keys.api_key}:${keys.api_secret}`;
    app = await createServer(t.site);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
  });
  after(async () => {
    await app.close();
    await t.cleanup();
  });

  const head = (method: string, path: string, headers: Record<string, string | number>) =>
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;

  describe('oversized bodies: 413 RequestEntityTooLarge, nothing written', () => {
    const big = (size: number) => JSON.stringify({ doctype: 'ToDo', description: 'x'.repeat(size) });

    test('baseline: a body under the limit is served', async () => {
      const before_ = await todoCount();
      const body = big(1000);
      const res = await raw(port, [{ data: head('POST', '/api/resource/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) + body }]);
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.equal(await todoCount(), before_ + 1);
    });

    const cases: [string, () => Step[]][] = [
      ['JSON, declared length', () => {
        const body = big(MAX_BODY + 10);
        return [{ data: head('POST', '/api/resource/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) + body }];
      }],
      ['JSON, chunked (no length)', () => {
        const body = big(MAX_BODY + 10);
        const chunk = (part: string) => `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`;
        return [
          { data: head('POST', '/api/resource/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }) },
          { data: chunk(body.slice(0, 40_000)) },
          { data: chunk(body.slice(40_000)) + '0\r\n\r\n' },
        ];
      }],
      ['form body', () => {
        const body = `doctype=ToDo&description=${'y'.repeat(MAX_BODY + 10)}`;
        return [{ data: head('POST', '/api/method/frappe.client.insert', { authorization: adminAuth, 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length }) + body }];
      }],
      ['v2 JSON', () => {
        const body = big(MAX_BODY * 2);
        return [{ data: head('POST', '/api/v2/document/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) + body }];
      }],
      ['a declared length far over the limit, body never sent', () => [
        { data: head('POST', '/api/resource/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'content-length': 1024 * 1024 * 1024 }) },
      ]],
    ];
    for (const [name, steps] of cases) {
      test(name, async () => {
        const before_ = await todoCount();
        const res = await raw(port, steps());
        assert.equal(res.status, 413, `${name}: ${res.text.slice(0, 300)}`);
        const body = bodyOf(res);
        const excType = body.exc_type ?? (body.errors as { type: string }[] | undefined)?.[0]?.type;
        assert.equal(excType, 'RequestEntityTooLarge', name);
        assert.equal(await todoCount(), before_, `${name}: nothing written`);
      });
    }
  });

  describe(`oversized headers: 431 at the explicit ${MAX_HEADER_SIZE}-byte limit`, () => {
    test('the limit and the timeouts are set explicitly, from site config', () => {
      assert.equal(MAX_HEADER_SIZE, 16 * 1024);
      // Set explicitly (Node leaves the property undefined when it uses its default).
      assert.equal((app.server as { maxHeaderSize?: number }).maxHeaderSize, MAX_HEADER_SIZE);
      assert.equal(app.server.headersTimeout, HEADERS_TIMEOUT_MS);
      assert.equal(app.server.requestTimeout, REQUEST_TIMEOUT_MS);
    });

    test('a request just under the limit is served', async () => {
      const res = await raw(port, [{ data: head('GET', '/api/method/ping', { 'x-padding': 'p'.repeat(MAX_HEADER_SIZE - 1024) }) }]);
      assert.equal(res.status, 200, res.text.slice(0, 200));
    });

    const cases: [string, string][] = [
      ['one huge header', head('GET', '/api/method/ping', { 'x-padding': 'p'.repeat(MAX_HEADER_SIZE + 1) })],
      ['a huge cookie', head('GET', '/api/method/ping', { cookie: `sid=${'s'.repeat(MAX_HEADER_SIZE + 100)}` })],
      ['a huge Authorization header', head('GET', '/api/method/ping', { authorization: `token ${'k'.repeat(MAX_HEADER_SIZE)}:x` })],
      ['many headers', head('GET', '/api/method/ping', Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'v'.repeat(50)])))],
      ['a huge URL', head('GET', `/api/method/ping?q=${'u'.repeat(MAX_HEADER_SIZE + 1)}`, {})],
    ];
    for (const [name, request] of cases) {
      test(name, async () => {
        const res = await raw(port, [{ data: request }]);
        assert.equal(res.status, 431, `${name}: ${res.text.slice(0, 200)}`);
        assert.ok(!res.stillOpen, `${name}: the connection is closed`);
      });
    }
  });

  describe('slow clients', () => {
    test(`headers trickled slower than http_headers_timeout_ms (${HEADERS_TIMEOUT_MS} ms): the connection is closed`, async () => {
      const request = head('GET', '/api/method/ping', { 'x-slow': 'abcdefghijklmnopqrstuvwxyz' });
      // One byte every 60 ms: the whole block would take over 5 s.
      const steps: Step[] = [...request].map((ch, i) => ({ data: ch, delay: i === 0 ? 0 : 60 }));
      const res = await raw(port, steps, 4000);
      assert.ok(!res.stillOpen, 'the server closed the connection');
      assert.ok(res.status === undefined || res.status === 408, `never served: ${res.text.slice(0, 200)}`);
      assert.ok(res.closedAfter >= HEADERS_TIMEOUT_MS - 50, `closed after ${res.closedAfter} ms`);
      assert.ok(res.closedAfter < HEADERS_TIMEOUT_MS + 1500, `closed after ${res.closedAfter} ms`);
    });

    test('headers that stop half way: closed at the headers timeout', async () => {
      const res = await raw(port, [{ data: 'GET /api/method/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ' }], 4000);
      assert.ok(!res.stillOpen, 'the server closed the connection');
      assert.ok(res.status === undefined || res.status === 408, res.text.slice(0, 200));
      assert.ok(res.closedAfter < HEADERS_TIMEOUT_MS + 1500, `closed after ${res.closedAfter} ms`);
    });

    test(`a body that stalls is cut at http_request_timeout_ms (${REQUEST_TIMEOUT_MS} ms) with 408; nothing written`, async () => {
      const before_ = await todoCount();
      const body = JSON.stringify({ doctype: 'ToDo', description: 'stalled' });
      const res = await raw(
        port,
        [{ data: head('POST', '/api/resource/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) + body.slice(0, 10) }],
        5000,
      );
      assert.ok(!res.stillOpen, 'the server closed the connection');
      assert.equal(res.status, 408, res.text.slice(0, 200));
      assert.ok(res.closedAfter >= REQUEST_TIMEOUT_MS - 50 && res.closedAfter < REQUEST_TIMEOUT_MS + 1500, `closed after ${res.closedAfter} ms`);
      await sleep(100);
      assert.equal(await todoCount(), before_, 'nothing written');
    });

    test('a body trickled past the request timeout is cut too, however steady', async () => {
      const before_ = await todoCount();
      const body = JSON.stringify({ doctype: 'ToDo', description: 'trickle'.repeat(10) });
      const steps: Step[] = [
        { data: head('POST', '/api/resource/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) },
        ...[...body].map((ch) => ({ data: ch, delay: 40 })),
      ];
      const res = await raw(port, steps, 6000);
      assert.ok(!res.stillOpen, 'the server closed the connection');
      assert.equal(res.status, 408, res.text.slice(0, 200));
      assert.ok(res.closedAfter < REQUEST_TIMEOUT_MS + 1500, `closed after ${res.closedAfter} ms`);
      await sleep(100);
      assert.equal(await todoCount(), before_, 'nothing written');
    });

    test('a slow request that arrives within the timeouts is served', async () => {
      const before_ = await todoCount();
      const body = JSON.stringify({ doctype: 'ToDo', description: 'slow but fine' });
      const res = await raw(port, [
        { data: head('POST', '/api/resource/ToDo', { authorization: adminAuth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) },
        { data: body.slice(0, 10), delay: 100 },
        { data: body.slice(10), delay: 150 },
      ]);
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.equal(await todoCount(), before_ + 1);
    });
  });
});
