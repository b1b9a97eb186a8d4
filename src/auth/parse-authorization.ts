/**
 * Parses the Authorization header as Frappe does: split on single spaces; only a two-part
 * value counts. `token key:secret` and `Basic base64(key:secret)` carry an API key pair.
 */
import { frappeError } from '../core/errors.ts';

export type Authorization =
  | { kind: 'none' }
  | { kind: 'api-key'; scheme: 'token' | 'basic'; key: string; secret: string }
  | { kind: 'bearer'; token: string }
  /** Two parts that carry no usable credential: Frappe answers 401 unless someone else authenticates. */
  | { kind: 'unusable'; scheme: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function splitPair(text: string): [string, string] | undefined {
  const parts = text.split(':');
  if (parts.length !== 2 || parts[0] === undefined || parts[1] === undefined) return undefined;
  return [parts[0], parts[1]];
}

export function parseAuthorization(header: string | undefined): Authorization {
  if (!header) return { kind: 'none' };
  const parts = header.split(' ');
  if (parts.length !== 2) return { kind: 'none' };
  const [rawScheme, credential] = parts as [string, string];
  const scheme = rawScheme.toLowerCase();
  if (scheme === 'bearer') return { kind: 'bearer', token: credential };
  if (scheme === 'token') {
    const pair = splitPair(credential);
    return pair ? { kind: 'api-key', scheme: 'token', key: pair[0], secret: pair[1] } : { kind: 'unusable', scheme };
  }
  if (scheme === 'basic') {
    // Python's decoder drops characters outside the alphabet, then insists on valid padding.
    const cleaned = credential.replace(/[^A-Za-z0-9+/=]/g, '');
    if (!BASE64.test(cleaned) || cleaned.length % 4 !== 0) {
      throw frappeError('InvalidAuthorizationToken', 'Failed to decode token, please provide a valid base64-encoded token.');
    }
    const bytes = Buffer.from(cleaned, 'base64');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return { kind: 'unusable', scheme };
    }
    const pair = splitPair(text);
    return pair ? { kind: 'api-key', scheme: 'basic', key: pair[0], secret: pair[1] } : { kind: 'unusable', scheme };
  }
  return { kind: 'unusable', scheme };
}
