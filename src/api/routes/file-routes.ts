/**
 * Uploaded files over HTTP: multipart parsing for every route (fields become arguments, the
 * `file` part goes to `upload_file`), public files at `/files/<name>`, private ones at
 * `/private/files/<name>` for users who may read them. A path never leaves its folder, and a
 * file a browser would run script in is only ever offered as a sandboxed download.
 */
import multipart, { type FastifyMultipartOptions } from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { frappeError } from '../../core/errors.ts';
import {
  canReadFileUrl,
  contentTypeFor,
  filesFolder,
  isActiveContent,
  isSafeSegment,
  multipartOptions,
  readMultipartBody,
  openLocalFile,
  settleUploads,
  type LocalFile,
} from '../methods/upload-file.ts';

export interface FileRoutesOptions {
  /** The site folder: files live in `<site>/public/files` and `<site>/private/files`. */
  sitePath: string;
  /** Site config `max_file_size`: larger multipart bodies are refused with 413. */
  maxFileSize: number;
}

const PUBLIC_MAX_AGE = 3600;

/** A `boundary` parameter, quoted or not, of 1 to 70 characters (RFC 2046 §5.1.1). */
const MULTIPART_BOUNDARY = /;\s*boundary=(?:"[^"\\]{1,70}"|[^\s";]{1,70})\s*(?:;|$)/i;

function notFound(): never {
  throw frappeError('DoesNotExistError', 'File not found', { title: 'Not Found' });
}

/** The raw request path after `prefix`, split and percent-decoded per segment; unsafe → 404. */
function segmentsOf(request: FastifyRequest, prefix: string): string[] {
  const path = request.url.split('?')[0] ?? '';
  if (!path.startsWith(prefix)) notFound();
  const rest = path.slice(prefix.length);
  if (rest.includes('\\') || /%5c/i.test(rest)) notFound();
  const segments = rest.split('/').map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return notFound();
    }
  });
  if (!segments.every(isSafeSegment)) notFound();
  return segments;
}

/** `attachment; filename="…"; filename*=UTF-8''…` with an ASCII fallback. */
function attachmentHeader(fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, file: LocalFile, isPublic: boolean): Promise<FastifyReply> {
  const opened = await openLocalFile(file);
  if (!opened) notFound();
  // Nothing more to read from the database: release it before streaming.
  await request.cortado.uow.finish(false);
  const name = file.segments[file.segments.length - 1] ?? '';
  const etag = `"${opened.size.toString(16)}-${Math.floor(opened.mtime.getTime()).toString(16)}"`;
  const headers: Record<string, string> = {
    'Content-Type': contentTypeFor(name),
    'X-Content-Type-Options': 'nosniff',
    'Last-Modified': opened.mtime.toUTCString(),
    ETag: etag,
  };
  if (isActiveContent(name)) {
    headers['Content-Disposition'] = attachmentHeader(name);
    headers['Content-Security-Policy'] = "default-src 'none'; sandbox";
  }
  if (isPublic) headers['Cache-Control'] = `public, max-age=${PUBLIC_MAX_AGE}`;
  void reply.headers(headers);
  const ifNoneMatch = request.headers['if-none-match'];
  const ifModifiedSince = request.headers['if-modified-since'];
  const notModified =
    ifNoneMatch !== undefined
      ? ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')
      : ifModifiedSince !== undefined && Math.floor(opened.mtime.getTime() / 1000) <= Math.floor(Date.parse(ifModifiedSince) / 1000);
  if (notModified) {
    await opened.handle.close();
    return reply.code(304).send();
  }
  void reply.header('Content-Length', String(opened.size));
  return reply.code(200).send(opened.handle.createReadStream());
}

/**
 * @fastify/multipart, with the `onResponse` hook it adds turned into a callback-style one that
 * runs the plugin's own only when the request saved temporary files (its disk mode, which
 * cortado does not use). As the plugin adds it, that hook is `async`: four promises on every
 * request of the server, multipart or not — about a fifth of a minimal Fastify request's CPU
 * (docs/performance.md, tenth pass). Registered like the plugin itself, at the app's level.
 */
export const multipartWithLazyCleanup = Object.assign(
  (instance: FastifyInstance, opts: FastifyMultipartOptions, done: (error?: Error) => void) => {
    const onlyWhenFilesSaved = new Proxy(instance, {
      get(target, property, receiver) {
        if (property !== 'addHook') return Reflect.get(target, property, receiver) as unknown;
        return (name: string, hook: (request: FastifyRequest) => Promise<void>) => {
          if (name !== 'onResponse') return target.addHook(name as 'onRequest', hook as never);
          return target.addHook('onResponse', (request, _reply, next) => {
            if (!(request as { tmpUploads?: unknown[] | null }).tmpUploads?.length) return next();
            hook.call(target, request).then(() => next(), next);
          });
        };
      },
    });
    multipart(onlyWhenFilesSaved, opts, done);
  },
  // fastify-plugin's marker: like the plugin, not encapsulated.
  { [Symbol.for('skip-override')]: true },
);

export async function registerFileRoutes(app: FastifyInstance, options: FileRoutesOptions): Promise<void> {
  const isMultipart = (request: FastifyRequest) => String(request.headers['content-type'] ?? '').toLowerCase().startsWith('multipart/');

  // Refuse an oversized body by its declared length before reading any of it. Callback style:
  // the requests that are not multipart pass without a promise.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!isMultipart(request)) return done();
    const length = Number(request.headers['content-length'] ?? 0);
    if (Number.isFinite(length) && length > options.maxFileSize) {
      return done(frappeError('RequestEntityTooLarge', `File size exceeded the maximum allowed size of ${options.maxFileSize} bytes`, {
        title: 'File too large',
        status: 413,
      }));
    }
    // The multipart parser throws a plain error (a 500) on a form-data type without a usable
    // boundary (RFC 2046: 1 to 70 characters): refused here as the malformed request it is.
    const type = String(request.headers['content-type']);
    if (/^multipart\/form-data/i.test(type) && !MULTIPART_BOUNDARY.test(type)) {
      return done(frappeError('ValidationError', 'Malformed multipart body: a boundary of 1 to 70 characters is required', { status: 400 }));
    }
    done();
  });
  await app.register(multipartWithLazyCleanup, multipartOptions(options.maxFileSize));
  // Callback style: the requests that are not multipart pass without a promise.
  app.addHook('preValidation', (request, _reply, done) => {
    if (!request.isMultipart()) return done();
    readMultipartBody(request, options.maxFileSize).then(() => done(), done);
  });

  // Files written by a request that then failed (or whose commit failed) are removed.
  app.addHook('onResponse', (request, reply, done) => {
    const removing = settleUploads(request.cortado?.info, reply.statusCode < 400);
    if (!removing) return done();
    removing.then(() => done(), done);
  });

  app.get('/files/*', {
    // A publicly cacheable answer must not carry the session's cookies.
    onSend: async (_request, reply, payload) => {
      if (reply.statusCode < 400) reply.removeHeader('set-cookie');
      return payload;
    },
    handler: async (request, reply) => {
      const segments = segmentsOf(request, '/files/');
      return sendFile(request, reply, { isPrivate: false, url: `/files/${segments.join('/')}`, folder: filesFolder(options.sitePath, false), segments }, true);
    },
  });

  app.get('/private/files/*', async (request, reply) => {
    const state = request.cortado;
    const refuse = () => frappeError('PermissionError', "You don't have permission to access this file", { title: 'Not Permitted' });
    // Guests are refused before anything about the file is looked at.
    if (state.principal.user === 'Guest') throw refuse();
    const segments = segmentsOf(request, '/private/files/');
    const url = `/private/files/${segments.join('/')}`;
    if (!(await canReadFileUrl(url, { user: state.principal.user, db: state.db(), sql: state.uow }))) throw refuse();
    return sendFile(request, reply, { isPrivate: true, url, folder: filesFolder(options.sitePath, true), segments }, false);
  });
}
