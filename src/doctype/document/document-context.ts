import type { Clock } from '../../core/clock.ts';
import { frappeError } from '../../core/errors.ts';
import type { SqlExecutor } from '../../storage/types.ts';
import type { MetaRegistry } from '../meta/meta-registry.ts';
import type { Principal } from '../principal.ts';

export type Doc = Record<string, unknown>;

/** Document events apps hook into, as Frappe names them. */
export type DocEvent =
  | 'before_insert'
  | 'after_insert'
  | 'validate'
  | 'before_save'
  | 'on_update'
  | 'before_submit'
  | 'on_submit'
  | 'before_cancel'
  | 'on_cancel'
  | 'on_trash'
  | 'after_delete'
  | 'before_rename'
  | 'after_rename';

/** Runs the handlers apps registered for an event; may change `doc` or throw to refuse. */
export type DocEventRunner = (event: DocEvent, doctype: string, doc: Doc) => Promise<void>;

/** Encrypts and decrypts Password-field values (the site's secret box). */
export interface SecretCipher {
  encrypt(plain: string): string;
  decrypt(token: string): string;
}

/** A database handle that can open its transaction before a read that guards a write. */
export interface RequestDb extends SqlExecutor {
  begin(): Promise<unknown>;
}

/** What every document operation needs; built once per request by the layer above. */
export interface DocumentContext {
  readonly db: RequestDb;
  readonly registry: MetaRegistry;
  readonly principal: Principal;
  readonly clock: Clock;
  readonly cipher: SecretCipher;
  readonly runEvent?: DocEventRunner;
  /** Internal callers only (never from request arguments): skip permission checks. */
  readonly ignorePermissions?: boolean;
  /**
   * Narrows what the request may do below the user's rights (OAuth scopes, scoped API keys):
   * false refuses the DocType for that kind of access.
   */
  readonly scopeCheck?: (doctype: string, access: 'read' | 'write') => boolean;
}

const READ_RIGHTS = new Set(['read', 'select', 'report', 'export', 'print', 'email']);

/** Refuses (403, `insufficient_scope`) what the request's scopes do not reach. */
export function assertScope(ctx: DocumentContext, doctype: string, ptype: string): void {
  if (ctx.ignorePermissions || !ctx.scopeCheck) return;
  const access = READ_RIGHTS.has(ptype) ? 'read' : 'write';
  if (!ctx.scopeCheck(doctype, access)) {
    throw frappeError('PermissionError', `The token's scope does not allow ${access} access to ${doctype}`, {
      title: 'Not Permitted',
      headers: { 'WWW-Authenticate': `Bearer error="insufficient_scope", error_description="${access} access to ${doctype} is not in scope"` },
    });
  }
}
