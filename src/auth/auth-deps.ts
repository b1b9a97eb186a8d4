/**
 * What the authentication layer works with, built once per site by the app layer. Auth keeps
 * its own bookkeeping (sessions, counters, logs) outside the request's transaction.
 */
import type { Cache } from '../cache/types.ts';
import type { Clock } from '../core/clock.ts';
import type { SiteConfig } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { MetaRegistry } from '../doctype/meta/meta-registry.ts';
import type { SystemSettings } from '../doctype/system-settings.ts';
import type { Storage } from '../storage/types.ts';

export interface AuthDeps {
  readonly storage: Storage;
  readonly cache: Cache;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: SiteConfig;
  readonly registry: MetaRegistry;
  /** Key for keyed hashes of high-entropy secrets (API secrets, session ids, tokens). */
  readonly hashKey: string;
  settings(): Promise<SystemSettings>;
  /**
   * The settings while the cached copy is fresh, else undefined: per-request paths take them
   * without a promise (`peekSettings?.() ?? await settings()`).
   */
  peekSettings?(): SystemSettings | undefined;
}
