/**
 * The desk's only way to the server: Frappe's REST API (`/api/resource`, `/api/method`) with
 * the session cookie and the CSRF token, exactly as Frappe's own desk calls it.
 */
export type Doc = Record<string, unknown>;
export type Filter = [string, string, unknown];

/** A Frappe error answer: its message is what the user should read. */
export class FrappeError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly excType: string | undefined,
    /** The server's title for it ("Duplicate Entry", "Not Permitted"), when it gave one. */
    readonly title?: string,
  ) {
    super(message);
  }
}

/** Server messages may carry HTML; the desk shows them as text. */
function plainText(html: string): string {
  return new DOMParser().parseFromString(html, 'text/html').body.textContent?.trim() ?? '';
}

/** `_server_messages` is a JSON list of JSON-encoded `{message, title, …}` objects. */
function serverMessages(body: Record<string, unknown>): { message: string; title?: string }[] {
  if (typeof body._server_messages !== 'string') return [];
  try {
    return (JSON.parse(body._server_messages) as string[]).map((entry) => {
      const parsed = JSON.parse(entry) as { message?: unknown; title?: unknown } | string;
      if (typeof parsed === 'string') return { message: plainText(parsed) };
      return { message: plainText(String(parsed.message ?? '')), title: typeof parsed.title === 'string' && parsed.title !== 'Message' ? parsed.title : undefined };
    });
  } catch {
    return [];
  }
}

function errorFrom(status: number, body: Record<string, unknown>): FrappeError {
  const excType = typeof body.exc_type === 'string' ? body.exc_type : undefined;
  const messages = serverMessages(body).filter((m) => m.message);
  const fallback = typeof body.exception === 'string' ? body.exception.replace(/^[\w.]+: /, '') : typeof body.message === 'string' ? body.message : '';
  const message = messages.map((m) => m.message).join('\n') || fallback || excType || `The server answered ${status}`;
  return new FrappeError(message, status, excType, messages.find((m) => m.title)?.title);
}

let loginCheck: Promise<void> | undefined;

/** A refused request may mean the session ended elsewhere: then the user logs in again. */
function checkStillLoggedIn(): Promise<void> {
  loginCheck ??= fetch('/api/method/frappe.auth.get_logged_user', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
    .then((res) => {
      if (res.status === 401 || res.status === 403) {
        window.location.assign(`/login?redirect-to=${encodeURIComponent(window.location.pathname + window.location.search)}`);
      }
    })
    .catch(() => undefined)
    .finally(() => (loginCheck = undefined));
  return loginCheck;
}

type Verb = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Query-string arguments: lists and objects as JSON, as Frappe reads them. */
function query(args: Record<string, unknown> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    params.set(key, typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function request<T>(verb: Verb, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', 'X-Frappe-CSRF-Token': window.csrf_token ?? '' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method: verb, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new FrappeError(`The server answered ${res.status} ${res.statusText}`, res.status, undefined);
  }
  if (!res.ok) {
    if (res.status === 401 || res.status === 403) await checkStillLoggedIn();
    throw errorFrom(res.status, parsed);
  }
  return parsed as T;
}

const resourceUrl = (doctype: string, name?: string) =>
  `/api/resource/${encodeURIComponent(doctype)}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

/** `/api/method/<name>`: GET sends the arguments in the query string, POST as a JSON body. */
export async function call<T = unknown>(method: string, args: Record<string, unknown> = {}, verb: 'GET' | 'POST' = 'GET'): Promise<T> {
  const url = `/api/method/${method}`;
  const answer = verb === 'GET' ? await request<{ message: T }>('GET', url + query(args)) : await request<{ message: T }>('POST', url, args);
  return answer.message;
}

export interface ListArgs {
  fields?: string[];
  filters?: Filter[];
  or_filters?: Filter[];
  order_by?: string;
  limit_start?: number;
  limit_page_length?: number;
}

export async function getList<T = Doc>(doctype: string, args: ListArgs = {}): Promise<T[]> {
  return (await request<{ data: T[] }>('GET', resourceUrl(doctype) + query({ ...args }))).data;
}

export function getCount(doctype: string, filters: Filter[] = [], orFilters: Filter[] = []): Promise<number> {
  return call<number>('frappe.desk.reportview.get_count', { doctype, filters, or_filters: orFilters });
}

export async function getDoc<T = Doc>(doctype: string, name: string): Promise<T> {
  return (await request<{ data: T }>('GET', resourceUrl(doctype, name))).data;
}

export async function insertDoc<T = Doc>(doctype: string, doc: Doc): Promise<T> {
  return (await request<{ data: T }>('POST', resourceUrl(doctype), doc)).data;
}

export async function updateDoc<T = Doc>(doctype: string, name: string, changes: Doc): Promise<T> {
  return (await request<{ data: T }>('PUT', resourceUrl(doctype, name), changes)).data;
}

export async function deleteDoc(doctype: string, name: string): Promise<void> {
  await request('DELETE', resourceUrl(doctype, name));
}

export async function logout(): Promise<void> {
  try {
    await request('POST', '/api/method/logout');
  } finally {
    window.location.assign('/login');
  }
}
