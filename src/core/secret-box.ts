/**
 * Authenticated encryption of values that must stay readable (the `Password` fieldtype, e.g.
 * SMTP passwords), under the site's `encryption_key`.
 *
 * Frappe uses Fernet (AES-128-CBC + HMAC-SHA256) with the site key; cortado uses AES-256-GCM
 * with a key derived from the site key by HKDF-SHA256, and a versioned text token:
 *
 *     v1.<iv b64url>.<ciphertext b64url>.<tag b64url>
 *
 * The version is bound into the tag as associated data. Decrypting a tampered token, a token
 * made under another key or anything that is not a token throws a SecretBoxError whose message
 * names neither the key nor any plaintext.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const HKDF_INFO = 'cortado password field';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MIN_KEY_BYTES = 32;
const AAD = Buffer.from(`cortado:${VERSION}`);

export interface SecretBox {
  encrypt(plain: string): string;
  decrypt(token: string): string;
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64url');
}

/** Decodes the site key: base64url (Frappe's Fernet keys carry `=` padding; accepted). */
function decodeSiteKey(key: string): Buffer {
  if (typeof key !== 'string') throw new SecretBoxError('encryption_key must be a base64url string');
  const unpadded = key.trim().replace(/={1,2}$/, '');
  const bytes = decodeBase64url(unpadded);
  if (!bytes) throw new SecretBoxError('encryption_key must be a base64url string');
  if (bytes.length < MIN_KEY_BYTES) {
    throw new SecretBoxError(`encryption_key must hold at least ${MIN_KEY_BYTES} bytes`);
  }
  return bytes;
}

export function createSecretBox(key: string): SecretBox {
  const siteKey = decodeSiteKey(key);
  const aesKey = Buffer.from(hkdfSync('sha256', siteKey, Buffer.alloc(0), HKDF_INFO, 32));
  siteKey.fill(0);

  return {
    encrypt(plain: string): string {
      if (typeof plain !== 'string') throw new TypeError('only strings can be encrypted');
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', aesKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(AAD);
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
    },

    decrypt(token: string): string {
      const invalid = () => new SecretBoxError('Encrypted value is invalid or was encrypted under another key');
      if (typeof token !== 'string') throw invalid();
      const parts = token.split('.');
      if (parts.length !== 4 || parts[0] !== VERSION) throw invalid();
      const iv = decodeBase64url(parts[1] ?? '');
      const ciphertext = decodeBase64url(parts[2] ?? '');
      const tag = decodeBase64url(parts[3] ?? '');
      if (!iv || iv.length !== IV_BYTES || !ciphertext || !tag || tag.length !== TAG_BYTES) throw invalid();
      try {
        const decipher = createDecipheriv('aes-256-gcm', aesKey, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(AAD);
        decipher.setAuthTag(tag);
        const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
        return plain.toString('utf8');
      } catch {
        // Not chained as `cause`: OpenSSL's message is harmless, but nothing from here leaves.
        throw invalid();
      }
    },
  };
}

/** True when `value` looks like a token this module produced (it may still fail to decrypt). */
export function isSecretBoxToken(value: unknown): value is string {
  return typeof value === 'string' && /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/.test(value);
}
