/**
 * System Settings as typed values, read on almost every request by the auth layer. Cached per
 * process for a short time and dropped at once when the single is saved on this node; other
 * nodes see a change within the cache lifetime (or at once through pub/sub, see app/).
 */
import type { SqlExecutor } from '../storage/types.ts';
import type { MetaRegistry } from './meta/meta-registry.ts';
import { readSingle } from './singles.ts';

export interface SystemSettings {
  session_expiry: string;
  deny_multiple_sessions: boolean;
  allow_login_using_mobile_number: boolean;
  allow_login_using_user_name: boolean;
  disable_user_pass_login: boolean;
  allow_consecutive_login_attempts: number;
  allow_login_after_fail: number;
  enable_two_factor_auth: boolean;
  bypass_2fa_for_retricted_ip_users: boolean;
  bypass_restrict_ip_check_if_2fa_enabled: boolean;
  two_factor_method: string;
  otp_issuer_name: string;
  force_user_to_reset_password: number;
  allow_error_traceback: boolean;
  log_api_requests: boolean;
  api_request_log_retention_days: number;
  password_reset_limit: number;
  /** Every other field of the single, as stored. */
  raw: Record<string, unknown>;
}

const TTL_MS = 1000;

export class SystemSettingsReader {
  readonly #db: SqlExecutor;
  readonly #registry: MetaRegistry;
  readonly #now: () => number;
  #cached: { value: SystemSettings; at: number } | undefined;

  constructor(db: SqlExecutor, registry: MetaRegistry, now: () => number = Date.now) {
    this.#db = db;
    this.#registry = registry;
    this.#now = now;
  }

  /** Forgets the cached values (after a save, or an invalidation message from another node). */
  invalidate(): void {
    this.#cached = undefined;
  }

  /** The cached values while still fresh, else undefined (synchronous: for per-request checks). */
  peek(): SystemSettings | undefined {
    const cached = this.#cached;
    return cached && this.#now() - cached.at < TTL_MS ? cached.value : undefined;
  }

  async get(): Promise<SystemSettings> {
    const cached = this.#cached;
    if (cached && this.#now() - cached.at < TTL_MS) return cached.value;
    const value = await readSystemSettings(this.#db, this.#registry);
    this.#cached = { value, at: this.#now() };
    return value;
  }
}

export async function readSystemSettings(db: SqlExecutor, registry: MetaRegistry): Promise<SystemSettings> {
  const raw = await readSingle(db, registry, 'System Settings');
  const flag = (key: string) => Number(raw[key] ?? 0) === 1;
  const num = (key: string, fallback: number) => {
    const n = Number(raw[key]);
    return Number.isFinite(n) ? n : fallback;
  };
  return {
    session_expiry: typeof raw.session_expiry === 'string' && raw.session_expiry ? raw.session_expiry : '240:00',
    deny_multiple_sessions: flag('deny_multiple_sessions'),
    allow_login_using_mobile_number: flag('allow_login_using_mobile_number'),
    allow_login_using_user_name: flag('allow_login_using_user_name'),
    disable_user_pass_login: flag('disable_user_pass_login'),
    allow_consecutive_login_attempts: num('allow_consecutive_login_attempts', 10),
    allow_login_after_fail: num('allow_login_after_fail', 60),
    enable_two_factor_auth: flag('enable_two_factor_auth'),
    bypass_2fa_for_retricted_ip_users: flag('bypass_2fa_for_retricted_ip_users'),
    bypass_restrict_ip_check_if_2fa_enabled: flag('bypass_restrict_ip_check_if_2fa_enabled'),
    two_factor_method: String(raw.two_factor_method ?? 'OTP App'),
    otp_issuer_name: String(raw.otp_issuer_name ?? 'cortado'),
    force_user_to_reset_password: num('force_user_to_reset_password', 0),
    allow_error_traceback: flag('allow_error_traceback'),
    log_api_requests: flag('log_api_requests'),
    api_request_log_retention_days: num('api_request_log_retention_days', 30),
    password_reset_limit: num('password_reset_limit', 3),
    raw,
  };
}

/** Parses Frappe's `hh:mm` (or `hh:mm:ss`) expiry into seconds; invalid → undefined. */
export function parseSessionExpiry(text: string): number | undefined {
  const match = /^(\d+):([0-5]?\d)(?::([0-5]?\d))?$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3] ?? 0);
  return seconds > 0 ? seconds : undefined;
}
