/**
 * Password login (`/api/method/login`) in Frappe's order: switches, credentials, lockout,
 * disabled users, forced password reset, two-factor, hooks, IP restriction, login hours, and
 * finally a new session. Failures answer Frappe's bare 401 bodies and are logged.
 */
import { createResetKey } from './password-reset.ts';
import { epochMs, formatDate, formatDatetime } from '../core/clock.ts';
import { frappeError, FrappeError } from '../core/errors.ts';
import type { RequestInfo } from '../core/request-info.ts';
import { decoyHash, verifyPassword } from '../core/passwords.ts';
import { getHashedField } from '../doctype/document/password-fields.ts';
import { principalFor, ADMINISTRATOR, GUEST, type Principal } from '../doctype/principal.ts';
import { rolesOf } from '../doctype/users.ts';
import type { SystemSettings } from '../doctype/system-settings.ts';
import type { AuthDeps } from './auth-deps.ts';
import type { SessionStore, SessionRecord } from './sessions/session-store.ts';
import type { LoginCollaborators, UserRow } from './login-collaborators.ts';

export type { LoginCollaborators } from './login-collaborators.ts';

const MAX_PASSWORD = 512;

export interface LoginOutcome {
  /** The JSON body of the response (v1 shape). */
  body: Record<string, unknown>;
  /** Set when a session was created: the sid goes into the cookie. */
  session?: { sid: string; record: SessionRecord; principal: Principal; user: UserRow; maxAge: number };
}

const USER_COLUMNS =
  '"name", "enabled", "user_type", "full_name", "first_name", "last_name", "restrict_ip", "login_before", "login_after", "last_password_reset_date", "user_image", "language", "simultaneous_sessions", "bypass_restrict_ip_check_if_2fa_enabled"';

export async function findUserForLogin(deps: AuthDeps, identifier: string, settings: SystemSettings): Promise<UserRow | undefined> {
  // No user name holds a NUL; PostgreSQL could not even compare one.
  if (identifier.includes('\u0000')) return undefined;
  const byName = await deps.storage.get<UserRow>(`SELECT ${USER_COLUMNS} FROM "tabUser" WHERE "name" = ? OR "email" = ?`, [identifier, identifier]);
  if (byName) return byName;
  if (settings.allow_login_using_mobile_number) {
    const row = await deps.storage.get<UserRow>(`SELECT ${USER_COLUMNS} FROM "tabUser" WHERE "mobile_no" = ?`, [identifier]);
    if (row) return row;
  }
  if (settings.allow_login_using_user_name) {
    return deps.storage.get<UserRow>(`SELECT ${USER_COLUMNS} FROM "tabUser" WHERE "username" = ?`, [identifier]);
  }
  return undefined;
}

export function createLoginService(deps: AuthDeps, sessions: SessionStore, collaborators: LoginCollaborators) {
  const { attempts, activity, twoFactor, ipRules, hooks } = collaborators;

  async function fail(message: string, user: string, info: RequestInfo): Promise<never> {
    await activity?.log({ user: user || 'Unknown User', operation: 'Login', status: 'Failed', subject: message, ip: info.ip });
    // Frappe's `fail()`: a bare AuthenticationError whose body carries `message`.
    throw frappeError('AuthenticationError', '', { extra: { message } });
  }

  async function assertNotLocked(kind: 'ip' | 'user', key: string, settings: SystemSettings): Promise<void> {
    if (!attempts) return;
    const state = await attempts.isLocked(kind, key, settings);
    if (state.locked) {
      await activity?.log({ user: kind === 'user' ? key : 'Unknown User', operation: 'Lockout', status: 'Failed', subject: `Login refused: locked (${kind})`, ip: '' });
      throw attempts.lockedError(state.retryAfter, settings.allow_login_after_fail);
    }
  }

  async function recordFailure(user: string | undefined, info: RequestInfo, settings: SystemSettings): Promise<void> {
    if (!attempts) return;
    await attempts.recordFailure('ip', info.ip, settings);
    if (user) await attempts.recordFailure('user', user, settings);
  }

  function ipMatches(row: UserRow, ip: string): boolean {
    return !ipRules || !row.restrict_ip ? true : ipRules.allowed(row.restrict_ip, ip);
  }

  async function createSession(row: UserRow, info: RequestInfo, settings: SystemSettings): Promise<LoginOutcome> {
    const principal = principalFor(row.name, await rolesOf(deps.storage, row.name), row.user_type === 'Website User' ? 'Website User' : 'System User');
    for (const hook of hooks.onLogin) await hook({ user: row.name, request: info });
    if (ipRules && row.restrict_ip && !ipRules.bypassed(row, settings) && !ipRules.allowed(row.restrict_ip, info.ip)) {
      throw ipRules.refusal(info.ip);
    }
    validateHours(row, deps.clock.now());
    const fullName = row.full_name || [row.first_name, row.last_name].filter(Boolean).join(' ') || row.name;
    const { sid, session } = await sessions.create({
      user: row.name,
      ip: info.ip,
      userAgent: info.headers['user-agent'],
      device: /mobile/i.test(info.headers['user-agent'] ?? '') ? 'mobile' : 'desktop',
      data: { full_name: fullName, user_type: principal.userType },
    });
    const limit = Math.max(1, Number(row.simultaneous_sessions) || 1);
    if (deps.config.deny_multiple_sessions || settings.deny_multiple_sessions) {
      const ended = await sessions.enforceLimit(row.name, session, limit);
      for (const _ of ended) {
        await activity?.log({ user: row.name, full_name: fullName, operation: 'Logout', status: 'Success', subject: `${fullName} logged out: Logged In From Another Session` });
      }
    }
    const now = formatDatetime(deps.clock.now());
    await deps.storage.run('UPDATE "tabUser" SET "last_login" = ?, "last_ip" = ?, "last_active" = ? WHERE "name" = ?', [now, info.ip, now, row.name]);
    for (const hook of hooks.onSessionCreation) await hook({ user: row.name, request: info });
    await activity?.log({ user: row.name, full_name: fullName, operation: 'Login', status: 'Success', subject: `${fullName} logged in`, ip: info.ip });
    const system = principal.userType === 'System User';
    return {
      body: { message: system ? 'Logged In' : 'No App', home_page: system ? '/app' : '/me', full_name: fullName },
      session: { sid, record: session, principal, user: row, maxAge: await sessions.idleSeconds() },
    };
  }

  async function passwordExpired(row: UserRow, settings: SystemSettings): Promise<LoginOutcome | undefined> {
    const days = settings.force_user_to_reset_password;
    if (!days || days <= 0 || row.name === ADMINISTRATOR || row.name === GUEST) return undefined;
    const last = row.last_password_reset_date ? Date.parse(`${row.last_password_reset_date}T00:00:00Z`) : Date.parse(`${formatDate(deps.clock.now())}T00:00:00Z`);
    if ((epochMs(deps.clock) - last) / 86_400_000 <= days) return undefined;
    const key = await createResetKey(deps.storage, row.name, deps.clock.now());
    const base = deps.config.host_name ?? '';
    return { body: { redirect_to: `${base}/update-password?key=${key}&password_expired=true`, message: 'Password Reset' } };
  }

  return {
    /**
     * A session for a user whose identity was proven another way (a password just changed with
     * a reset key): the same checks as a login after the password step.
     */
    async startSession(user: string, info: RequestInfo): Promise<LoginOutcome> {
      const settings = await deps.settings();
      const row = await findUserForLogin(deps, user, settings);
      if (!row || (Number(row.enabled) !== 1 && row.name !== ADMINISTRATOR)) return fail('User disabled or missing', user, info);
      return createSession(row, info, settings);
    },

    async login(args: Record<string, unknown>, info: RequestInfo): Promise<LoginOutcome> {
      const settings = await deps.settings();
      for (const hook of hooks.beforeLogin) await hook({ user: String(args.usr ?? ''), request: info });
      if (settings.disable_user_pass_login) {
        throw frappeError('AuthenticationError', 'Login with username and password is not allowed.');
      }
      const otp = typeof args.otp === 'string' ? args.otp : undefined;
      const tmpId = typeof args.tmp_id === 'string' ? args.tmp_id : undefined;
      if (twoFactor && otp !== undefined && tmpId !== undefined) {
        const pendingUser = await twoFactor.pendingUser(tmpId);
        const row = pendingUser ? await findUserForLogin(deps, pendingUser, settings) : undefined;
        await assertNotLocked('ip', info.ip, settings);
        if (row) await assertNotLocked('user', row.name, settings);
        try {
          const { user } = await twoFactor.confirm(tmpId, otp);
          const confirmed = user === row?.name ? row : await findUserForLogin(deps, user, settings);
          if (!confirmed) return fail('User disabled or missing', user, info);
          if (attempts) {
            await attempts.reset('ip', info.ip);
            await attempts.reset('user', confirmed.name);
          }
          return createSession(confirmed, info, settings);
        } catch (error) {
          if (error instanceof FrappeError && error.excType === 'AuthenticationError') {
            await recordFailure(row?.name, info, settings);
            await activity?.log({ user: row?.name ?? 'Unknown User', operation: 'Login', status: 'Failed', subject: error.message, ip: info.ip });
          }
          throw error;
        }
      }
      const usr = typeof args.usr === 'string' ? args.usr.trim() : '';
      const pwd = typeof args.pwd === 'string' ? args.pwd : '';
      delete args.pwd;
      if (!usr || !pwd) return fail('Incomplete login details', usr, info);
      if (pwd.length > MAX_PASSWORD) return fail('Password size exceeded the maximum allowed size', usr, info);
      const row = await findUserForLogin(deps, usr, settings);
      const stored = row ? await getHashedField(deps.storage, 'User', row.name, 'password') : undefined;
      const verified = await verifyPassword(pwd, stored ?? (await decoyHash()));
      const passwordOk = stored !== undefined && verified.ok;
      await assertNotLocked('ip', info.ip, settings);
      if (!row) {
        await recordFailure(undefined, info, settings);
        return fail('Invalid login credentials', usr, info);
      }
      await assertNotLocked('user', row.name, settings);
      if (!passwordOk) {
        await recordFailure(row.name, info, settings);
        return fail('Invalid login credentials', usr, info);
      }
      if (Number(row.enabled) !== 1 && row.name !== ADMINISTRATOR) {
        await recordFailure(row.name, info, settings);
        return fail('User disabled or missing', usr, info);
      }
      if (attempts) {
        await attempts.reset('ip', info.ip);
        await attempts.reset('user', row.name);
      }
      if (verified.needsRehash) await collaborators.rehash(row.name, pwd);
      const expired = await passwordExpired(row, settings);
      if (expired) return expired;
      if (twoFactor) {
        const roles = await rolesOf(deps.storage, row.name);
        const bypassIp = settings.bypass_2fa_for_retricted_ip_users && !!row.restrict_ip && ipMatches(row, info.ip);
        if (await twoFactor.applies(row.name, roles, settings, bypassIp)) {
          const started = await twoFactor.start(row.name, settings);
          return { body: { verification: started.verification, tmp_id: started.tmp_id } };
        }
      }
      return createSession(row, info, settings);
    },
  };
}

/** Frappe's `validate_hour`: `login_before` / `login_after` are whole hours of server time. */
function validateHours(row: UserRow, now: Date): void {
  const hour = now.getUTCHours();
  const before = Number(row.login_before) || 0;
  const after = Number(row.login_after) || 0;
  if ((before && hour >= before) || (after && hour < after)) {
    throw frappeError('AuthenticationError', 'Login not allowed at this time', { title: 'Not Allowed' });
  }
}

export type LoginService = ReturnType<typeof createLoginService>;
