/**
 * Frappe's exceptions, by the name clients see in `exc_type`, with the HTTP status Frappe
 * answers them with (frappe/exceptions.py). Anything thrown that is not a FrappeError is a
 * server error (500) whose details are never shown to the client.
 */
const EXCEPTIONS = {
  ValidationError: { status: 417 },
  AuthenticationError: { status: 401 },
  SessionExpired: { status: 401 },
  InvalidKeyError: { status: 401 },
  PermissionError: { status: 403 },
  DoesNotExistError: { status: 404, parent: 'ValidationError' },
  PageDoesNotExistError: { status: 404, parent: 'ValidationError' },
  MethodNotAllowed: { status: 405 },
  CSRFTokenError: { status: 400 },
  InvalidAuthorizationHeader: { status: 400 },
  InvalidAuthorizationPrefix: { status: 400 },
  InvalidAuthorizationToken: { status: 400 },
  TooManyRequestsError: { status: 429 },
  RateLimitExceededError: { status: 429, parent: 'ValidationError' },
  SessionStopped: { status: 503 },
  InReadOnlyMode: { status: 503, parent: 'ValidationError' },
  NameError: { status: 409 },
  DuplicateEntryError: { status: 409, parent: 'NameError' },
  LinkExpired: { status: 410 },
  RequestEntityTooLarge: { status: 413 },
  UnsupportedMediaType: { status: 415 },
  MandatoryError: { status: 417, parent: 'ValidationError' },
  LinkValidationError: { status: 417, parent: 'ValidationError' },
  CancelledLinkError: { status: 417, parent: 'LinkValidationError' },
  TimestampMismatchError: { status: 417, parent: 'ValidationError' },
  UniqueValidationError: { status: 417, parent: 'ValidationError' },
  DataError: { status: 417, parent: 'ValidationError' },
  InvalidNameError: { status: 417, parent: 'ValidationError' },
  UpdateAfterSubmitError: { status: 417, parent: 'ValidationError' },
  DocstatusTransitionError: { status: 417, parent: 'ValidationError' },
  LinkExistsError: { status: 417, parent: 'ValidationError' },
  CannotChangeConstantError: { status: 417, parent: 'ValidationError' },
  CharacterLengthExceededError: { status: 417, parent: 'ValidationError' },
  InvalidEmailAddressError: { status: 417, parent: 'ValidationError' },
  AppNotInstalledError: { status: 417, parent: 'ValidationError' },
  InvalidStatusError: { status: 417, parent: 'ValidationError' },
  // Frappe answers a lockout with 500; cortado answers 429 (docs/compatibility.md).
  SecurityException: { status: 429 },
  // Storage unreachable: fail fast, the client may retry.
  ServiceUnavailable: { status: 503 },
  // A plain Exception in Frappe, so 500: a statement stopped by the database's timeout.
  QueryTimeoutError: { status: 500 },
  // Anything not raised as a Frappe exception; its details are logged, never sent.
  Exception: { status: 500 },
} as const satisfies Record<string, { status: number; parent?: string }>;

export type ExcType = keyof typeof EXCEPTIONS;

export function isExcType(name: unknown): name is ExcType {
  return typeof name === 'string' && Object.hasOwn(EXCEPTIONS, name);
}

/** The HTTP status Frappe answers an exception with. */
export function statusOf(excType: ExcType): number {
  return EXCEPTIONS[excType].status;
}

/** True when `excType` is `ancestor` or one of its subclasses in Frappe's hierarchy. */
export function isA(excType: ExcType, ancestor: ExcType): boolean {
  let current: ExcType | undefined = excType;
  while (current) {
    if (current === ancestor) return true;
    const entry: { status: number; parent?: string } = EXCEPTIONS[current];
    current = entry.parent as ExcType | undefined;
  }
  return false;
}

export interface FrappeErrorOptions {
  /** Title shown in Frappe's message dialog; defaults to "Message" as in Frappe. */
  title?: string;
  /** Overrides the status of the exception table (e.g. 429 carried by a Retry-After). */
  status?: number;
  /** Extra response headers, e.g. `Retry-After` or `WWW-Authenticate`. */
  headers?: Record<string, string>;
  /** Short message Frappe puts in `_error_message` (e.g. "No permission for ToDo"). */
  errorMessage?: string;
  /** Extra top-level keys merged into the v1 error body (e.g. `session_expired`). */
  extra?: Record<string, unknown>;
  cause?: unknown;
}

/** An error the client may see: its `exc_type`, message and status are Frappe's. */
export class FrappeError extends Error {
  readonly excType: ExcType;
  readonly status: number;
  readonly title: string;
  readonly headers: Record<string, string>;
  readonly errorMessage: string | undefined;
  readonly extra: Record<string, unknown>;

  constructor(excType: ExcType, message = '', options: FrappeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = excType;
    this.excType = excType;
    this.status = options.status ?? statusOf(excType);
    this.title = options.title ?? 'Message';
    this.headers = options.headers ?? {};
    this.errorMessage = options.errorMessage;
    this.extra = options.extra ?? {};
  }

  is(ancestor: ExcType): boolean {
    return isA(this.excType, ancestor);
  }
}

/**
 * Turns anything thrown by app code into a FrappeError when it names a Frappe exception
 * through an `excType` (or `exc_type`) property, as apps do without importing cortado.
 */
export function asFrappeError(error: unknown): FrappeError | undefined {
  if (error instanceof FrappeError) return error;
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { excType?: unknown; exc_type?: unknown; message?: unknown; title?: unknown };
  const name = record.excType ?? record.exc_type;
  if (!isExcType(name)) return undefined;
  const message = typeof record.message === 'string' ? record.message : '';
  return new FrappeError(name, message, typeof record.title === 'string' ? { title: record.title } : {});
}

/** Shorthand used across layers: `throw frappeError('PermissionError', 'Not permitted')`. */
export function frappeError(excType: ExcType, message = '', options?: FrappeErrorOptions): FrappeError {
  return new FrappeError(excType, message, options);
}
