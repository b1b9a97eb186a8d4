/** An OAuth protocol error (RFC 6749 §5.2): answered as `{error, error_description}`. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(
    readonly code: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }

  body(): Record<string, string> {
    return { error: this.code, error_description: this.description };
  }
}
