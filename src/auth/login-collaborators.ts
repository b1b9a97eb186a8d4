/** What the login flow delegates: lockout counters, logs, two-factor, IP rules and hooks. */
import type { FrappeError } from '../core/errors.ts';
import type { RequestInfo } from '../core/request-info.ts';
import type { SystemSettings } from '../doctype/system-settings.ts';

export interface UserRow {
  name: string;
  enabled: number | string;
  user_type: string | null;
  full_name: string | null;
  first_name: string | null;
  last_name: string | null;
  restrict_ip: string | null;
  login_before: number | string | null;
  login_after: number | string | null;
  last_password_reset_date: string | null;
  user_image: string | null;
  language: string | null;
  simultaneous_sessions: number | string | null;
  bypass_restrict_ip_check_if_2fa_enabled: number | string | null;
}

export interface LockStatePort {
  locked: boolean;
  retryAfter: number;
  failures?: number;
}

export interface LoginAttemptsPort {
  isLocked(kind: 'ip' | 'user', key: string, settings: SystemSettings): Promise<LockStatePort>;
  /** `isLocked`'s answer without a promise when it is at hand, else undefined. */
  lockedNow?(kind: 'ip' | 'user', key: string, settings: SystemSettings): LockStatePort | undefined;
  recordFailure(kind: 'ip' | 'user', key: string, settings: SystemSettings): Promise<unknown>;
  reset(kind: 'ip' | 'user', key: string): Promise<void>;
  lockedError(retryAfter: number, allowLoginAfterFail: number): FrappeError;
}

export interface ActivityLogPort {
  log(entry: { user: string; operation: string; status: 'Success' | 'Failed'; subject: string; full_name?: string; ip?: string }): Promise<void>;
}

export interface TwoFactorPort {
  applies(user: string, roles: string[], settings: SystemSettings, ipMatchesRestriction: boolean): Promise<boolean>;
  start(user: string, settings: SystemSettings): Promise<{ verification: unknown; tmp_id: string }>;
  /** The user a pending login belongs to, without consuming it. */
  pendingUser(tmpId: string): Promise<string | undefined>;
  confirm(tmpId: string, otp: string): Promise<{ user: string }>;
}

export interface IpRulesPort {
  allowed(restrictIp: string, ip: string): boolean;
  bypassed(user: { bypass_restrict_ip_check_if_2fa_enabled: number | string | null }, settings: SystemSettings): boolean;
  refusal(ip: string): FrappeError;
}

type SessionHook = (ctx: { user: string; request: RequestInfo }) => void | Promise<void>;

export interface LoginCollaborators {
  attempts?: LoginAttemptsPort;
  activity?: ActivityLogPort;
  twoFactor?: TwoFactorPort;
  ipRules?: IpRulesPort;
  hooks: { beforeLogin: SessionHook[]; onLogin: SessionHook[]; onSessionCreation: SessionHook[]; onLogout: SessionHook[] };
  /** Replaces a weaker stored hash after a successful check (Frappe pbkdf2 → argon2id). */
  rehash(user: string, password: string): Promise<void>;
}
