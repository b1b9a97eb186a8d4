/**
 * The desk: the built single-page app (`ui/`, built into `dist/ui/` by `npm run build:ui`).
 *
 * - GET `/app` and `/app/<anything>`: `dist/ui/index.html` for logged-in System Users, with the
 *   session's CSRF token and a small boot object injected in a nonce'd script before `</head>`.
 *   Guests are sent to `/login?redirect-to=<the path>`, Website Users to `/`. A strict CSP
 *   (scripts from 'self' and that one nonce only), no framing, no caching.
 * - GET `/assets/desk/<path>`: the build's files, confined to the build folder; hashed files
 *   under `assets/` are cached for a year (`immutable`), the rest revalidate with an ETag.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionRecord } from '../../auth/sessions/session-store.ts';
import { frappeError } from '../../core/errors.ts';
import { GUEST } from '../../doctype/principal.ts';
import { PAGE_HEADERS, renderPage } from '../pages/page-layout.ts';
import { refuseOtherVerbs } from './method-not-allowed.ts';

/** `<repo>/dist/ui`, resolved from this module's location. */
export const DEFAULT_DESK_DIST = fileURLToPath(new URL('../../../dist/ui', import.meta.url));

export const DESK_ASSETS_PREFIX = '/assets/desk/';

export interface DeskRouteOptions {
  /** The built desk (`index.html`, `assets/…`); `<repo>/dist/ui` by default. */
  deskDist?: string;
  /** The session's CSRF token, made on first use (the same token the login and consent pages use). */
  ensureCsrfToken(session: SessionRecord): Promise<string>;
}

/** What the desk learns about its user at boot (`window.cortado_boot`). */
export interface DeskBoot {
  user: string;
  full_name: string;
  user_type: string;
  roles: string[];
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

export function deskContentType(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Vite's output names: `name-<hash>.ext`, the hash 8+ characters of [A-Za-z0-9_-]. */
const HASHED = /-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'public, max-age=0, must-revalidate';

/** The desk page's CSP: scripts only from this origin and the one nonce'd boot script. */
export function deskCsp(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: https:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

function deskHeaders(csp: string): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': csp,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

/** JSON that is safe inside a `<script>` element: no `<`, `>`, `&`, U+2028 or U+2029 left as such. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The boot script (token and user) placed just before `</head>` of the built index.html. */
export function injectBoot(html: string, nonce: string, csrfToken: string, boot: DeskBoot): string {
  const script = `<script nonce="${nonce}">window.csrf_token=${scriptSafeJson(csrfToken)};window.cortado_boot=${scriptSafeJson(boot)}</script>`;
  const at = html.search(/<\/head>/i);
  return at === -1 ? `${script}${html}` : `${html.slice(0, at)}${script}${html.slice(at)}`;
}

/** The file under `root` a request path names, or undefined when it would leave `root`. */
export function confinedPath(root: string, relative: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (decoded === '' || /[\u0000-\u001f\\]/.test(decoded)) return undefined;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.'))) return undefined;
  const base = resolve(root);
  const full = resolve(base, ...segments);
  return full.startsWith(base + sep) ? full : undefined;
}

function notBuiltPage(): string {
  return renderPage(
    'The desk is not built',
    '<h1>The desk is not built</h1><p>The desk is not built: run <code>npm run build:ui</code> (<code>npm ci</code> runs it), then reload this page.</p>',
  );
}

export function registerDeskRoutes(app: FastifyInstance, options: DeskRouteOptions): void {
  const dist = resolve(options.deskDist ?? DEFAULT_DESK_DIST);
  const indexPath = join(dist, 'index.html');
  let cachedIndex: { mtimeMs: number; html: string } | undefined;

  async function readIndex(): Promise<string | undefined> {
    try {
      const info = await stat(indexPath);
      if (cachedIndex?.mtimeMs !== info.mtimeMs) cachedIndex = { mtimeMs: info.mtimeMs, html: await readFile(indexPath, 'utf8') };
      return cachedIndex.html;
    } catch {
      cachedIndex = undefined;
      return undefined;
    }
  }

  async function shell(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const state = request.cortado;
    const principal = state.principal;
    if (principal.user === GUEST) {
      const path = request.url.split('#')[0] ?? '/app';
      return reply.code(302).header('Location', `/login?redirect-to=${encodeURIComponent(path)}`).send();
    }
    if (principal.userType !== 'System User') return reply.code(302).header('Location', '/').send();
    const html = await readIndex();
    if (html === undefined) return reply.code(503).headers({ ...PAGE_HEADERS, 'Retry-After': '60' }).send(notBuiltPage());
    const session = state.auth?.session;
    const csrfToken = session ? await options.ensureCsrfToken(session) : '';
    const nonce = randomBytes(18).toString('base64');
    const boot: DeskBoot = {
      user: principal.user,
      full_name: typeof session?.data.full_name === 'string' && session.data.full_name ? session.data.full_name : principal.user,
      user_type: principal.userType,
      roles: [...principal.roles].sort(),
    };
    return reply.code(200).headers(deskHeaders(deskCsp(nonce))).send(injectBoot(html, nonce, csrfToken, boot));
  }

  app.get('/app', shell);
  app.get('/app/*', shell);
  // Frappe's old desk address.
  app.get('/desk', (_request, reply) => reply.code(301).header('Location', '/app').send());
  // Browsers ask every page's origin for /favicon.ico: the desk's icon when built, else nothing.
  app.get('/favicon.ico', async (_request, reply) => {
    const icon = await readFile(join(dist, 'favicon.svg')).catch(() => undefined);
    if (!icon) return reply.code(204).header('Cache-Control', 'public, max-age=3600').send();
    return reply.code(200).headers({ 'Content-Type': 'image/svg+xml', 'Cache-Control': 'public, max-age=3600' }).send(icon);
  });

  app.get(`${DESK_ASSETS_PREFIX}*`, async (request, reply) => {
    const rawPath = (request.url.split('?')[0] ?? '').slice(DESK_ASSETS_PREFIX.length);
    const file = confinedPath(dist, rawPath);
    if (!file) throw frappeError('DoesNotExistError', 'Not found', { title: 'Not Found' });
    let info;
    try {
      info = await stat(file);
    } catch {
      info = undefined;
    }
    if (!info?.isFile()) throw frappeError('DoesNotExistError', 'Not found', { title: 'Not Found' });
    const relative = file.slice(dist.length + 1).split(sep).join('/');
    const immutable = relative.startsWith('assets/') && HASHED.test(relative);
    const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers: Record<string, string> = {
      'Content-Type': deskContentType(file),
      'Cache-Control': immutable ? IMMUTABLE : REVALIDATE,
      ETag: etag,
      'Last-Modified': info.mtime.toUTCString(),
      'X-Content-Type-Options': 'nosniff',
    };
    // A built HTML file opened directly gets no boot script: and no inline script either.
    if (extname(file).toLowerCase() === '.html') Object.assign(headers, { 'Content-Security-Policy': String(PAGE_HEADERS['Content-Security-Policy']), 'X-Frame-Options': 'DENY' });
    const match = request.headers['if-none-match'];
    if (typeof match === 'string' && match.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
      return reply.code(304).headers(headers).send();
    }
    const body = request.method === 'HEAD' ? '' : await readFile(file);
    if (request.method === 'HEAD') headers['Content-Length'] = String(info.size);
    return reply.code(200).headers(headers).send(body);
  });
  refuseOtherVerbs(app, `${DESK_ASSETS_PREFIX}*`, ['GET']);
}
