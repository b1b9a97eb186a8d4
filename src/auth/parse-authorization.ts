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

/** Reused: a fatal decoder stays usable after a failed decode, and making one costs more than the decode. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** `key:secret` split on its only colon (Frappe: exactly two parts), without arrays per request. */
function apiKeyPair(scheme: 'token' | 'basic', text: string): Authorization {
  const colon = text.indexOf(':');
  if (colon === -1 || text.indexOf(':', colon + 1) !== -1) return { kind: 'unusable', scheme };
  return { kind: 'api-key', scheme, key: text.slice(0, colon), secret: text.slice(colon + 1) };
}

export function parseAuthorization(header: string | undefined): Authorization {
  if (!header) return { kind: 'none' };
  const space = header.indexOf(' ');
  if (space === -1 || header.indexOf(' ', space + 1) !== -1) return { kind: 'none' };
  const scheme = header.slice(0, space).toLowerCase();
  const credential = header.slice(space + 1);
  if (scheme === 'bearer') return { kind: 'bearer', token: credential };
  if (scheme === 'token') return apiKeyPair('token', credential);
  if (scheme === 'basic') {
    // Python's decoder drops characters outside the alphabet, then insists on valid padding.
    const cleaned = credential.replace(/[^A-Za-z0-9+/=]/g, '');
    if (!BASE64.test(cleaned) || cleaned.length % 4 !== 0) {
      throw frappeError('InvalidAuthorizationToken', 'Failed to decode token, please provide a valid base64-encoded token.');
    }
    const bytes = Buffer.from(cleaned, 'base64');
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      return { kind: 'unusable', scheme };
    }
    return apiKeyPair('basic', text);
  }
  return { kind: 'unusable', scheme };
}
