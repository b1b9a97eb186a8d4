/** What handlers and hooks may know of the HTTP request; header names are lower-case. */
export interface RequestInfo {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The client address: the socket's, or X-Forwarded-For's from a trusted proxy. */
  readonly ip: string;
}
