/**
 * `/login` as a page: the form, its POST (Frappe's login flow, including two-factor), and the
 * redirect to `redirect-to` when it names a path on this site.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LoginService } from '../../auth/login.ts';
import { setSessionLoginCookies } from '../../auth/sessions/session-cookies.ts';
import { FrappeError } from '../../core/errors.ts';
import { PAGE_HEADERS } from '../pages/page-layout.ts';
import { renderLoginPage, renderUpdatePasswordPage, safeRedirect } from '../pages/login-page.ts';
import type { PasswordChange } from '../../auth/password-reset.ts';

function page(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(html);
}

export function registerLoginPageRoutes(app: FastifyInstance, login: LoginService, changePassword: (change: PasswordChange) => Promise<string>): void {
  app.get('/update-password', async (request, reply) => {
    const key = typeof request.cortado.args.key === 'string' ? request.cortado.args.key : '';
    return page(reply, 200, renderUpdatePasswordPage({ key, expired: request.cortado.args.password_expired === 'true' }));
  });

  app.post('/update-password', async (request, reply) => {
    const state = request.cortado;
    const key = typeof state.args.key === 'string' ? state.args.key : '';
    if (state.args.new_password !== state.args.confirm_password) {
      return page(reply, 417, renderUpdatePasswordPage({ key, expired: false, error: 'The passwords do not match' }));
    }
    try {
      const user = await changePassword({ newPassword: state.args.new_password, key, currentUser: state.principal.user });
      await state.uow.finish(false);
      const outcome = await login.startSession(user, state.info);
      if (outcome.session) setSessionLoginCookies(state.response, outcome.session, state.info.secure);
      return reply.code(303).header('Location', outcome.session?.principal.userType === 'System User' ? '/app' : '/me').send();
    } catch (error) {
      if (!(error instanceof FrappeError)) throw error;
      await state.uow.finish(false);
      return page(reply, error.status, renderUpdatePasswordPage({ key, expired: false, error: error.message || 'The password could not be changed' }));
    }
  });

  app.get('/login', async (request, reply) => {
    const target = safeRedirect(request.cortado.args['redirect-to'], '');
    if (request.cortado.principal.user !== 'Guest' && request.cortado.args.force !== '1') {
      return reply.code(302).header('Location', target || (request.cortado.principal.userType === 'System User' ? '/app' : '/me')).send();
    }
    return page(reply, 200, renderLoginPage({ redirectTo: target }));
  });

  app.post('/login', async (request, reply) => {
    const state = request.cortado;
    const target = safeRedirect(state.args['redirect-to'], '');
    const usr = typeof state.args.usr === 'string' ? state.args.usr : undefined;
    try {
      const outcome = await login.login(state.args, state.info);
      await state.uow.finish(false);
      if (outcome.session) {
        setSessionLoginCookies(state.response, outcome.session, state.info.secure);
        return reply.code(303).header('Location', target || (outcome.session.principal.userType === 'System User' ? '/app' : '/me')).send();
      }
      const body = outcome.body as { verification?: { totp_uri?: string; prompt?: string }; tmp_id?: string; redirect_to?: string };
      if (body.tmp_id) return page(reply, 200, renderLoginPage({ redirectTo: target, otp: { tmpId: body.tmp_id, totpUri: body.verification?.totp_uri, prompt: body.verification?.prompt } }));
      if (body.redirect_to) return reply.code(303).header('Location', body.redirect_to).send();
      return page(reply, 401, renderLoginPage({ redirectTo: target, usr, error: 'Login failed' }));
    } catch (error) {
      if (!(error instanceof FrappeError)) throw error;
      await state.uow.finish(false);
      const message = (typeof error.extra.message === 'string' && error.extra.message) || error.message || 'Login failed';
      const otp = typeof state.args.tmp_id === 'string' && error.status !== 429 ? { tmpId: state.args.tmp_id } : undefined;
      return page(reply, error.status, renderLoginPage({ redirectTo: target, usr, error: message, otp }));
    }
  });
}
