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

/**
 * Deepest nesting of arrays and objects accepted in the arguments, JSON text in an argument
 * included. Real requests nest a handful of levels; values nested thousands deep overflow the
 * stack of whatever walks them (JSON.stringify, String(), comparisons) — in Frappe too, where
 * Python's recursion limit makes them a 500.
 */
export const MAX_JSON_DEPTH = 100;

function tooDeep(): never {
  throw frappeError('ValidationError', `Request arguments may not be nested more than ${MAX_JSON_DEPTH} levels deep`);
}

/** Nesting depth of JSON text, by a scan (nothing is parsed): past MAX_JSON_DEPTH → tooDeep. */
function checkJsonText(text: string, depth: number): void {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) tooDeep();
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/**
 * Refuses values nested deeper than MAX_JSON_DEPTH, and arguments whose JSON text is: endpoints
 * parse argument strings (`filters`, `doc`, …); strings further in are data, never parsed.
 */
function checkDepth(value: unknown, depth: number): void {
  if (typeof value === 'string') {
    if (depth === 0 && /^\s*[[{]/.test(value)) checkJsonText(value, depth);
    return;
  }
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return;
  if (depth + 1 > MAX_JSON_DEPTH) tooDeep();
  for (const item of Array.isArray(value) ? value : Object.values(value)) checkDepth(item, depth + 1);
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
  for (const value of Object.values(args)) checkDepth(value, 0);
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
