/**
 * Whitelisted methods that need the site's authentication services: login, logout, and the
 * session management cortado adds (list and revoke one's sessions; end a user's sessions).
 */
import { FullBody, type MethodContext, type MethodRegistry } from '../api/methods/method-registry.ts';
import { clearLoginCookies, setSessionLoginCookies } from '../auth/sessions/session-cookies.ts';
import { frappeError } from '../core/errors.ts';
import { GUEST } from '../doctype/principal.ts';
import type { AuthServices } from './auth-services.ts';
import { createNamedApiKey, revokeNamedApiKey, rotateNamedApiKey } from '../auth/named-api-keys.ts';
import { createResetKey, updatePassword } from '../auth/password-reset.ts';

function requireUser(ctx: MethodContext): void {
  if (ctx.user === GUEST) throw frappeError('PermissionError', 'Not permitted', { title: 'Not Permitted' });
}

export function registerAuthMethods(methods: MethodRegistry, auth: () => AuthServices): void {
  const sessionEvent = async (ctx: MethodContext, user: string, reason: string) =>
    void auth().activity.log({ user, operation: 'Logout', status: 'Success', subject: `${user} logged out: ${reason}`, ip: ctx.request.ip });
  // Logged without awaiting: on SQLite the request's own transaction holds the writer.
  const keyEvent = async (ctx: MethodContext, subject: string, name: string) =>
    void auth().activity.log({ user: ctx.user, operation: 'API Key', status: 'Success', subject, ip: ctx.request.ip, reference_doctype: 'API Key', reference_name: name });

  methods.register(
    'login',
    {
      allowGuest: true,
      async handler(args, ctx) {
        const outcome = await auth().login.login(args, ctx.request);
        if (outcome.session) setSessionLoginCookies(ctx.response, outcome.session, ctx.request.secure);
        return new FullBody(outcome.body);
      },
    },
    'frappe',
  );

  methods.register(
    'logout',
    {
      allowGuest: true,
      async handler(_args, ctx) {
        const services = auth();
        const session = ctx.auth.session;
        if (session) {
          for (const hook of services.hooks.onLogout) await hook({ user: session.user, request: ctx.request });
          await services.sessions.delete(session);
          const fullName = String(session.data.full_name ?? session.user);
          await services.activity.log({
            user: session.user,
            full_name: fullName,
            operation: 'Logout',
            status: 'Success',
            subject: `${fullName} logged out: User Manually Logged Out`,
            ip: ctx.request.ip,
          });
        }
        clearLoginCookies(ctx.response);
        return undefined;
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.sessions.list',
    {
      async handler(_args, ctx) {
        requireUser(ctx);
        const services = auth();
        const current = ctx.auth.session?.sidHash;
        return (await services.sessions.listForUser(ctx.user)).map((s) => ({
          id: services.sessions.publicId(s),
          device: s.device,
          ip: s.ip,
          user_agent: s.userAgent,
          created: s.created,
          last_active: s.lastActive,
          current: s.sidHash === current,
        }));
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.sessions.revoke',
    {
      methods: ['POST'],
      params: ['id'],
      async handler(args, ctx) {
        requireUser(ctx);
        const services = auth();
        const target = (await services.sessions.listForUser(ctx.user)).find((s) => services.sessions.publicId(s) === args.id);
        if (!target) throw frappeError('DoesNotExistError', 'Session not found');
        await services.sessions.delete(target);
        await sessionEvent(ctx, ctx.user, 'Force Logged out by the user');
        return 'ok';
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.sessions.revoke_others',
    {
      methods: ['POST'],
      async handler(_args, ctx) {
        requireUser(ctx);
        const ended = await auth().sessions.deleteForUser(ctx.user, ctx.auth.session?.sidHash);
        await sessionEvent(ctx, ctx.user, 'Force Logged out by the user');
        return ended;
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.sessions.end_all_for_user',
    {
      methods: ['POST'],
      params: ['user'],
      async handler(args, ctx) {
        if (!ctx.roles.has('System Manager') && !ctx.roles.has('Administrator')) throw frappeError('PermissionError', 'Not permitted');
        if (typeof args.user !== 'string' || !args.user) throw frappeError('ValidationError', 'user is required');
        const ended = await auth().sessions.deleteForUser(args.user);
        await sessionEvent(ctx, args.user, 'Deleted All Active Session');
        return ended;
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.api_keys.create',
    {
      methods: ['POST'],
      params: ['label', 'user', 'expires_on', 'scopes', 'restrict_ip'],
      async handler(args, ctx) {
        requireUser(ctx);
        const text = (key: string) => (typeof args[key] === 'string' && args[key] !== '' ? (args[key] as string) : undefined);
        const created = await createNamedApiKey(
          ctx.documents,
          { label: String(args.label ?? ''), user: text('user'), expires_on: text('expires_on'), scopes: text('scopes'), restrict_ip: text('restrict_ip') },
          auth().deps.hashKey,
        );
        await keyEvent(ctx, `API key ${created.api_key} created`, created.name);
        return created;
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.api_keys.rotate',
    {
      methods: ['POST'],
      params: ['name', 'grace_seconds'],
      async handler(args, ctx) {
        requireUser(ctx);
        const grace = args.grace_seconds === undefined || args.grace_seconds === '' ? 0 : Number(args.grace_seconds);
        if (!Number.isInteger(grace) || grace < 0) throw frappeError('ValidationError', 'grace_seconds must be a whole number of seconds');
        const rotated = await rotateNamedApiKey(ctx.documents, String(args.name ?? ''), auth().deps.hashKey, grace);
        await keyEvent(ctx, `API key secret rotated (grace ${grace} s)`, String(args.name));
        return rotated;
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.api_keys.revoke',
    {
      methods: ['POST'],
      params: ['name'],
      async handler(args, ctx) {
        requireUser(ctx);
        await revokeNamedApiKey(ctx.documents, String(args.name ?? ''));
        await keyEvent(ctx, 'API key revoked', String(args.name));
        return 'ok';
      },
    },
    'frappe',
  );

  methods.register(
    'frappe.core.doctype.user.user.update_password',
    {
      allowGuest: true,
      methods: ['POST', 'PUT'],
      params: ['new_password', 'key', 'old_password', 'logout_all_sessions'],
      async handler(args, ctx) {
        const services = auth();
        const user = await updatePassword(services.deps, { newPassword: args.new_password, key: args.key, oldPassword: args.old_password, currentUser: ctx.user });
        // As in Frappe, the user is logged in with the new password's session.
        const outcome = await services.login.startSession(user, ctx.request);
        if (outcome.session) setSessionLoginCookies(ctx.response, outcome.session, ctx.request.secure);
        return outcome.session?.principal.userType === 'System User' ? '/app' : '/me';
      },
    },
    'frappe',
  );

  methods.register(
    'cortado.users.make_reset_link',
    {
      methods: ['POST'],
      params: ['user'],
      async handler(args, ctx) {
        if (!ctx.roles.has('System Manager') && !ctx.roles.has('Administrator')) throw frappeError('PermissionError', 'Not permitted');
        if (typeof args.user !== 'string' || !args.user || args.user === GUEST) throw frappeError('ValidationError', 'user is required');
        const services = auth();
        if (!(await services.deps.storage.get('SELECT "name" FROM "tabUser" WHERE "name" = ?', [args.user]))) {
          throw frappeError('DoesNotExistError', `User ${args.user} not found`);
        }
        const key = await createResetKey(services.deps.storage, args.user, services.deps.clock.now());
        return `${services.deps.config.host_name ?? ''}/update-password?key=${key}`;
      },
    },
    'frappe',
  );

  methods.register(
    'frappe.core.doctype.user.user.impersonate',
    {
      methods: ['POST'],
      params: ['user', 'reason'],
      async handler(args, ctx) {
        // Frappe allows this to Administrator only, and records why.
        if (ctx.user !== 'Administrator') throw frappeError('PermissionError', 'Only Administrator can impersonate users');
        if (typeof args.user !== 'string' || !args.user || args.user === GUEST || args.user === 'Administrator') {
          throw frappeError('ValidationError', 'Choose a user to impersonate');
        }
        const reason = typeof args.reason === 'string' ? args.reason.trim().slice(0, 500) : '';
        if (!reason) throw frappeError('ValidationError', 'A reason is required to impersonate a user');
        const services = auth();
        const outcome = await services.login.startSession(args.user, ctx.request);
        if (!outcome.session) throw frappeError('ValidationError', `${args.user} cannot be impersonated`);
        await services.sessions.setData(outcome.session.record, { impersonated_by: ctx.user });
        setSessionLoginCookies(ctx.response, outcome.session, ctx.request.secure);
        void services.activity.log({ user: args.user, operation: 'Impersonate', status: 'Success', subject: `Administrator impersonated ${args.user}: ${reason}`, ip: ctx.request.ip });
        return undefined;
      },
    },
    'frappe',
  );
}
