/**
 * Security headers on every answer Fastify sends (API JSON, errors, 404s, files, pages, OAuth,
 * health), set in one `onSend` hook registered before any route (and by `apply` for the
 * router's own errors, which no hook sees):
 *
 * - `X-Content-Type-Options: nosniff` always;
 * - `Referrer-Policy`: what the route chose (pages: `no-referrer` / `same-origin`), else
 *   `same-origin` for HTML and `strict-origin-when-cross-origin` for everything else;
 * - `Strict-Transport-Security: max-age=63072000; includeSubDomains` only when the request came
 *   over https: a TLS socket, or a trusted proxy's `X-Forwarded-Proto: https` (the rule that
 *   decides the `Secure` cookie flag, `src/auth/client-ip.ts`); never over plain http, where a
 *   browser ignores it and a proxy could not have meant it;
 * - on HTML: `X-Frame-Options: DENY` and a CSP with `frame-ancestors 'none'` (appended to the
 *   route's own CSP when it has none).
 *
 * Answers Node writes itself before Fastify sees the request (400 for a malformed request,
 * 408 on a timeout, 431 for oversized headers) carry none of these: they have no body a
 * browser would render.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createTrustedPeerCheck } from '../auth/client-ip.ts';

export const HSTS = 'max-age=63072000; includeSubDomains';
export const API_REFERRER_POLICY = 'strict-origin-when-cross-origin';
export const PAGE_REFERRER_POLICY = 'same-origin';
const FRAME_ANCESTORS = "frame-ancestors 'none'";

export interface SecurityHeadersOptions {
  /** Site config `trusted_proxies`: whose `X-Forwarded-Proto` is believed. */
  trusted_proxies: readonly string[];
}

function isHtml(reply: FastifyReply): boolean {
  const type = reply.getHeader('content-type');
  return typeof type === 'string' && /^\s*text\/html\b/i.test(type);
}

export interface SecurityHeaders {
  /** Sets the headers on `reply` (its Content-Type already set); for answers sent outside the hooks. */
  apply(request: FastifyRequest, reply: FastifyReply): void;
  /** Adds the `onSend` hook; call before any route is registered. */
  register(app: FastifyInstance): void;
}

export function securityHeaders(options: SecurityHeadersOptions): SecurityHeaders {
  const trustedPeer = createTrustedPeerCheck(options.trusted_proxies);
  const overHttps = (request: FastifyRequest): boolean => {
    if ((request.socket as { encrypted?: boolean } | undefined)?.encrypted) return true;
    return trustedPeer(request.socket?.remoteAddress ?? '') && request.headers['x-forwarded-proto'] === 'https';
  };
  const apply = (request: FastifyRequest, reply: FastifyReply): void => {
    const html = isHtml(reply);
    void reply.header('X-Content-Type-Options', 'nosniff');
    if (!reply.hasHeader('referrer-policy')) void reply.header('Referrer-Policy', html ? PAGE_REFERRER_POLICY : API_REFERRER_POLICY);
    if (overHttps(request)) void reply.header('Strict-Transport-Security', HSTS);
    if (html) {
      void reply.header('X-Frame-Options', 'DENY');
      const csp = reply.getHeader('content-security-policy');
      if (typeof csp !== 'string' || csp.trim() === '') void reply.header('Content-Security-Policy', FRAME_ANCESTORS);
      else if (!/(^|;)\s*frame-ancestors\s/i.test(csp)) void reply.header('Content-Security-Policy', `${csp.replace(/;\s*$/, '')}; ${FRAME_ANCESTORS}`);
    }
  };
  return {
    apply,
    register(app) {
      // Callback style: no promise per answer.
      app.addHook('onSend', (request, reply, payload, done) => {
        apply(request, reply);
        done(null, payload);
      });
    },
  };
}
