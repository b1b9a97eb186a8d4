/**
 * Frappe's `form_dict`: a non-empty JSON body is the whole argument set (an array arrives as
 * `data`); otherwise query-string arguments with form fields on top. `_` is dropped.
 */
import { frappeError } from '../core/errors.ts';

export type Args = Record<string, unknown>;

function firstValues(source: Record<string, unknown>): Args {
  const args: Args = {};
  for (const [key, value] of Object.entries(source)) {
    // Repeated keys: the first value wins, as with werkzeug's MultiDict.
    args[key] = Array.isArray(value) ? value[0] : value;
  }
  return args;
}

export function parseArgs(query: unknown, body: unknown, isJsonBody: boolean): Args {
  let args: Args;
  if (isJsonBody && body !== undefined) {
    if (Array.isArray(body)) args = { data: body };
    else if (typeof body === 'object' && body !== null) args = { ...(body as Args) };
    else throw frappeError('ValidationError', 'Invalid request arguments');
  } else {
    args = { ...firstValues((query ?? {}) as Record<string, unknown>) };
    if (body && typeof body === 'object' && !Buffer.isBuffer(body)) Object.assign(args, firstValues(body as Record<string, unknown>));
  }
  delete args._;
  return args;
}

/** A list-valued argument sent as JSON text (query strings, forms) or as native JSON. */
export function jsonArg(value: unknown, name: string): unknown {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  if (!trimmed.startsWith('[') && !trimmed.startsWith('{')) return value;
  try {
    return JSON.parse(trimmed);
  } catch {
    throw frappeError('ValidationError', `${name} must be valid JSON`);
  }
}

/** Frappe's `sbool`: "true"/"1" → true, "false"/"0" → false, anything else unchanged. */
export function sbool(value: unknown): unknown {
  if (value === 'true' || value === '1' || value === 1) return true;
  if (value === 'false' || value === '0' || value === 0) return false;
  return value;
}
