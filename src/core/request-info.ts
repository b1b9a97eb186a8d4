/** What handlers and hooks may know of the HTTP request; header names are lower-case. */
export interface RequestInfo {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly cookies: Readonly<Record<string, string | undefined>>;
  /** The client address: the socket's, or X-Forwarded-For's from a trusted proxy. */
  readonly ip: string;
  /** True when the client reached us over https (directly or through a trusted proxy). */
  readonly secure: boolean;
}

export interface CookieOptions {
  maxAge?: number;
  expires?: Date;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: 'lax' | 'strict' | 'none';
  path?: string;
}

/** What handlers may change of the response besides its body. */
export interface ResponseControl {
  setCookie(name: string, value: string, options?: CookieOptions): void;
  setHeader(name: string, value: string): void;
}
