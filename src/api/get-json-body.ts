/**
 * Frappe honours a JSON body on GET too (its own tests send `sid` and list parameters so).
 * Fastify never parses GET bodies; this reads one when the request says it is JSON, leaving
 * every other GET exactly as Fastify handles it (no 415 for odd content types on GET).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json/i;

function httpError(message: string, statusCode: number, code: string): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

export function registerGetJsonBody(app: FastifyInstance, bodyLimit: number): void {
  const read = async (request: FastifyRequest, payload: AsyncIterable<unknown>): Promise<Readable> => {
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
  };
  // Callback style: every other request passes without a promise.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const type = request.headers['content-type'];
    if (request.method !== 'GET' || type === undefined || !JSON_TYPE.test(type)) return done(null, payload);
    read(request, payload).then(
      (empty) => done(null, empty),
      (error: Error) => done(error),
    );
  });
}
