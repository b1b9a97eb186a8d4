import type { RequestInfo } from '../core/request-info.ts';

/**
 * An app's `auth_hooks` entry: runs on every request after the built-in methods, as in
 * Frappe. It may set the user (`setUser`) or refuse by throwing an error whose `excType` is
 * `AuthenticationError`.
 */
export interface AuthHookContext {
  readonly request: RequestInfo;
  /** The user resolved so far (Guest when nothing authenticated). */
  readonly user: string;
  setUser(name: string): void;
}

export type AuthHook = (ctx: AuthHookContext) => void | Promise<void>;
