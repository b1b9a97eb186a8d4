/**
 * Frappe's error bodies. v1 (`/api`, `/api/v1`): `exc_type`, `_server_messages` (a JSON string
 * of JSON strings), `_error_message`; v2 (`/api/v2`): `errors: [{type, message, title,
 * indicator}]`. HTML instead of JSON when the client asks for a page, as Frappe decides.
 */
import { randomHex } from '../core/crypto.ts';
import type { FrappeError } from '../core/errors.ts';
import type { ServerMessage } from './methods/method-registry.ts';

export type ApiVersion = 'v1' | 'v2';

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  contentType: string;
  body: string;
}

export function apiVersionOf(path: string): ApiVersion {
  return path.startsWith('/api/v2/') || path === '/api/v2' ? 'v2' : 'v1';
}

/** Frappe's rule: JSON for XHR or JSON-accepting clients, and for /api/ unless text is asked for. */
export function wantsJson(path: string, headers: Record<string, string | string[] | undefined>): boolean {
  const accept = String(headers.accept ?? '');
  const xhr = String(headers['x-requested-with'] ?? '') === 'XMLHttpRequest';
  if (accept && (xhr || accept.includes('application/json'))) return true;
  return path.startsWith('/api/') && !accept.startsWith('text');
}

const PAGE_TEXT: Record<number, [string, string]> = {
  401: ['Session Expired', 'Your session has expired, please login again to continue.'],
  403: ['Not Permitted', 'You do not have enough permissions to complete the action'],
  404: ['Not Found', 'The resource you are looking for is not available'],
  429: ['Too Many Requests', 'Too Many Requests'],
  500: ['Server Error', 'There was an error building this page'],
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function htmlPage(status: number, error: FrappeError): string {
  const [title, fallback] = PAGE_TEXT[status] ?? [error.title === 'Message' ? 'Error' : error.title, 'The request could not be completed'];
  const message = status >= 500 ? fallback : error.message || fallback;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`;
}

/** The v1 `_server_messages` value: a JSON string holding a list of JSON strings. */
export function serverMessages(messages: readonly object[]): string {
  return JSON.stringify(messages.map((m) => JSON.stringify(m)));
}

export interface RenderOptions {
  /** `msgprint` messages of the request before it failed. */
  messages?: readonly ServerMessage[];
  /**
   * Add Frappe's `exception`/`exc` keys (the caller decides: System User, System Settings
   * `allow_error_traceback`, not 404, not CSRF). They hold only the exception's type and message
   * under a placeholder frame: no stack, paths or code ever leave the server.
   */
  traceback?: boolean;
}

/** Frappe's `exception` value: the traceback's last line. */
export function exceptionLine(error: FrappeError): string {
  const type = error.excType === 'Exception' ? 'Exception' : `frappe.exceptions.${error.excType}`;
  return error.message ? `${type}: ${error.message}` : type;
}

/** The one "traceback" cortado shows: a placeholder frame, then `<ExcType>: <message>`. */
export function tracebackText(error: FrappeError): string {
  return `Traceback (most recent call last):\n  <cortado>\n${error.message ? `${error.excType}: ${error.message}` : error.excType}`;
}

export function renderError(
  error: FrappeError,
  request: { path: string; headers: Record<string, string | string[] | undefined> },
  options: RenderOptions = {},
): ErrorResponse {
  const status = error.status;
  const headers = { ...error.headers };
  if (!wantsJson(request.path, request.headers)) {
    return { status, headers, contentType: 'text/html; charset=utf-8', body: htmlPage(status, error) };
  }
  const earlier = options.messages ?? [];
  const message = { message: error.message, title: error.title, indicator: 'red', raise_exception: 1, __frappe_exc_id: randomHex(56) };
  if (apiVersionOf(request.path) === 'v2') {
    const { raise_exception: _r, __frappe_exc_id: _id, ...fields } = message;
    const failure = { type: error.excType, ...(options.traceback ? { exception: tracebackText(error) } : {}), ...(error.message ? fields : {}) };
    const body: Record<string, unknown> = { errors: [failure] };
    if (earlier.length > 0) body.messages = earlier;
    return { status, headers, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) };
  }
  const body: Record<string, unknown> = { ...error.extra, exc_type: error.excType };
  if (options.traceback) {
    body.exception = exceptionLine(error);
    body.exc = JSON.stringify([tracebackText(error)]);
  }
  const all = error.message ? [...earlier, message] : earlier;
  if (all.length > 0) body._server_messages = serverMessages(all);
  if (error.errorMessage) body._error_message = error.errorMessage;
  return { status, headers, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) };
}
