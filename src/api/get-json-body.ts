/**
 * Frappe honours a JSON body on GET too (its own tests send `sid` and list parameters so).
 * Fastify never parses GET bodies; this reads one when the request says it is JSON, leaving
 * every other GET exactly as Fastify handles it (no 415 for odd content types on GET).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json/i;

function httpError(message: string, statusCode: number, code: string): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

export function registerGetJsonBody(app: FastifyInstance, bodyLimit: number): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (request.method !== 'GET' || !JSON_TYPE.test(String(request.headers['content-type'] ?? ''))) return payload;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += buffer.length;
      if (size > bodyLimit) throw httpError('Request body is too large', 413, 'FST_ERR_CTP_BODY_TOO_LARGE');
      chunks.push(buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() !== '') {
      try {
        request.body = JSON.parse(text);
      } catch {
        throw httpError('Invalid JSON in request body', 400, 'FST_ERR_CTP_INVALID_JSON_BODY');
      }
    }
    return Readable.from([]);
  });
}
