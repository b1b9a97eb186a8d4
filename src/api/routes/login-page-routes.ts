/**
 * The server-rendered pages: `/login` (Frappe's login flow, including two-factor, then
 * `redirect-to` when it names a path on this site), `/update-password` (a reset key, or the
 * current password when logged in), `/logout` (a POST with the session's CSRF token) and the
 * small home page `/` (also `/me`, where Frappe's login API sends Website Users).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sameOriginRequest } from '../../auth/csrf.ts';
import { clearLoginCookies, setSessionLoginCookies } from '../../auth/sessions/session-cookies.ts';
import { FrappeError, frappeError } from '../../core/errors.ts';
import { GUEST } from '../../doctype/principal.ts';
import type { ApiServices } from '../api-services.ts';
import { methodContext } from '../methods/method-context.ts';
import { PAGE_HEADERS, type PageUser } from '../pages/page-layout.ts';
import { homeOf, renderHomePage, renderLoginPage, renderUpdatePasswordPage, safeRedirect } from '../pages/login-page.ts';
import type { RequestState } from '../register-api.ts';
import { refuseOtherVerbs } from './method-not-allowed.ts';

function page(reply: FastifyReply, status: number, html: string, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers({ ...PAGE_HEADERS, ...headers }).send(html);
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** The message a refused login shows: Frappe's words; a lockout adds how long to wait. */
function loginMessage(error: FrappeError): string {
  const message = (typeof error.extra.message === 'string' && error.extra.message) || error.message || 'Login failed';
  const wait = Number(error.headers['Retry-After']);
  if (error.status === 429 && Number.isFinite(wait) && wait > 0) return `${message}. Try again in ${wait} second${wait === 1 ? '' : 's'}.`;
  return message;
}

export function registerLoginPageRoutes(app: FastifyInstance, services: ApiServices): void {
  const { login, changePassword } = services;
  if (!login || !changePassword) return;

  /** The logged-in user and the session's CSRF token, for pages with a Logout button. */
  async function pageUser(state: RequestState): Promise<{ user?: PageUser & { systemUser: boolean }; csrfToken?: string }> {
    if (state.principal.user === GUEST) return {};
    const session = state.auth?.session;
    const fullName = typeof session?.data.full_name === 'string' ? session.data.full_name : undefined;
    const csrfToken = session && services.oauth ? await services.oauth.ensureCsrfToken(session) : undefined;
    return { user: { name: state.principal.user, fullName, systemUser: state.principal.userType === 'System User' }, csrfToken };
  }

  const home = async (request: FastifyRequest, reply: FastifyReply) => page(reply, 200, renderHomePage(await pageUser(request.cortado)));
  app.get('/', home);
  app.get('/me', home);

  app.get('/update-password', async (request, reply) => {
    const state = request.cortado;
    const key = text(state.args.key);
    return page(reply, 200, renderUpdatePasswordPage({ key, expired: state.args.password_expired === 'true', ...(await pageUser(state)) }));
  });

  app.post('/update-password', async (request, reply) => {
    const state = request.cortado;
    const key = text(state.args.key);
    const again = async (status: number, error: string) => {
      await state.uow.finish(false);
      return page(reply, status, renderUpdatePasswordPage({ key, expired: false, error, ...(await pageUser(state)) }));
    };
    if (state.args.new_password !== state.args.confirm_password) return again(417, 'The passwords do not match');
    try {
      const user = await changePassword({ newPassword: state.args.new_password, key, oldPassword: state.args.old_password, currentUser: state.principal.user });
      await state.uow.finish(false);
      // The change ended every session of the user; this browser gets a fresh one.
      const outcome = await login.startSession(user, state.info);
      if (outcome.session) setSessionLoginCookies(state.response, outcome.session, state.info.secure);
      return reply.code(303).header('Location', homeOf(outcome.session?.principal.userType ?? 'Website User')).send();
    } catch (error) {
      if (!(error instanceof FrappeError)) throw error;
      return again(error.status, (typeof error.extra.message === 'string' && error.extra.message) || error.message || 'The password could not be changed');
    }
  });

  app.get('/login', async (request, reply) => {
    const state = request.cortado;
    const target = safeRedirect(state.args['redirect-to'], '');
    if (state.principal.user !== GUEST && state.args.force !== '1') {
      return reply.code(302).header('Location', target || homeOf(state.principal.userType)).send();
    }
    return page(reply, 200, renderLoginPage({ redirectTo: target }));
  });

  app.post('/login', async (request, reply) => {
    const state = request.cortado;
    const target = safeRedirect(state.args['redirect-to'], '');
    const usr = typeof state.args.usr === 'string' ? state.args.usr : undefined;
    // Login CSRF: another site must not log this browser in to an account of its choosing.
    if (!sameOriginRequest(state.info, services.csrf)) {
      await state.uow.finish(false);
      return page(reply, 400, renderLoginPage({ redirectTo: target, usr, error: 'Invalid Request' }));
    }
    try {
      const outcome = await login.login(state.args, state.info);
      await state.uow.finish(false);
      if (outcome.session) {
        setSessionLoginCookies(state.response, outcome.session, state.info.secure);
        return reply.code(303).header('Location', target || homeOf(outcome.session.principal.userType)).send();
      }
      const body = outcome.body as { verification?: { totp_uri?: string; prompt?: string }; tmp_id?: string; redirect_to?: string };
      if (body.tmp_id) return page(reply, 200, renderLoginPage({ redirectTo: target, otp: { tmpId: body.tmp_id, totpUri: body.verification?.totp_uri, prompt: body.verification?.prompt } }));
      if (body.redirect_to) return reply.code(303).header('Location', body.redirect_to).send();
      return page(reply, 401, renderLoginPage({ redirectTo: target, usr, error: 'Login failed' }));
    } catch (error) {
      if (!(error instanceof FrappeError)) throw error;
      await state.uow.finish(false);
      const otp = typeof state.args.tmp_id === 'string' && error.status !== 429 ? { tmpId: state.args.tmp_id } : undefined;
      const retry = error.headers['Retry-After'];
      return page(reply, error.status, renderLoginPage({ redirectTo: target, usr, error: loginMessage(error), otp }), retry ? { 'Retry-After': retry } : {});
    }
  });

  // Logout from a page: a POST (the pipeline has checked the session's CSRF token), then /login.
  app.post('/logout', async (request, reply) => {
    const state = request.cortado;
    const session = state.auth?.session;
    // Pages with a Logout button made the session's token; a session without one posted no such form.
    if (session && state.auth?.sessionViaCookie && typeof session.data.csrf_token !== 'string') {
      throw frappeError('CSRFTokenError', 'Invalid Request', { title: 'Invalid Request' });
    }
    const logout = services.methods.get('logout');
    if (logout && session) await logout.handler({}, methodContext(state));
    else clearLoginCookies(state.response);
    await state.uow.finish(true);
    return reply.code(303).header('Location', '/login').send();
  });
  refuseOtherVerbs(app, '/logout', ['POST']);
}
