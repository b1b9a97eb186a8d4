import type { Authenticator } from '../auth/authenticate.ts';
import type { SiteConfig } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { RequestInfo } from '../core/request-info.ts';
import type { DocumentContext, RequestDb } from '../doctype/document/document-context.ts';
import type { MetaRegistry } from '../doctype/meta/meta-registry.ts';
import type { Principal } from '../doctype/principal.ts';
import type { Storage } from '../storage/types.ts';
import type { MethodRegistry } from './methods/method-registry.ts';

export interface RequestHooks {
  before: ((ctx: { request: RequestInfo; user: string }) => void | Promise<void>)[];
  after: ((ctx: { request: RequestInfo; user: string; status: number }) => void | Promise<void>)[];
}

/** What the API layer needs from the site, handed in by the app layer. */
export interface ApiServices {
  readonly config: SiteConfig;
  readonly logger: Logger;
  readonly storage: Storage;
  readonly registry: MetaRegistry;
  readonly methods: MethodRegistry;
  readonly authenticate: Authenticator;
  readonly requestHooks: RequestHooks;
  documentContext(principal: Principal, db: RequestDb): DocumentContext;
  /** Client IP from the socket, or X-Forwarded-For when the peer is a trusted proxy. */
  clientIp(socketAddress: string, forwardedFor: string | undefined): string;
}
